//! The `--svg` chart: median (solid) and p99 (dashed) ns per pick against the key count (log
//! scale), one colour per thread count. Plain SVG written by hand: no dependency.

use std::fmt::Write;

use crate::measure::Row;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

/// The chart as an SVG document.
pub fn chart(rows: &[Row], title: &str) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="14">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    if rows.is_empty() {
        svg.push_str("</svg>\n");
        return svg;
    }
    let min_keys = rows.iter().map(|r| r.keys).min().unwrap_or(1).max(1) as f64;
    let max_keys = rows.iter().map(|r| r.keys).max().unwrap_or(1).max(2) as f64;
    let max_ns = rows
        .iter()
        .map(|r| r.p99_ns)
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max)
        * 1.1;
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let log_span = (max_keys.ln() - min_keys.ln()).max(f64::EPSILON);
    let x = |keys: usize| LEFT + plot_w * ((keys.max(1) as f64).ln() - min_keys.ln()) / log_span;
    let y = |ns: f64| TOP + plot_h * (1.0 - ns / max_ns);

    // Axes, ticks and labels.
    let _ = writeln!(
        svg,
        r#"<path d="M{LEFT},{TOP} V{} H{}" fill="none" stroke="black"/>"#,
        TOP + plot_h,
        LEFT + plot_w
    );
    let mut key_ticks: Vec<usize> = rows.iter().map(|r| r.keys).collect();
    key_ticks.sort_unstable();
    key_ticks.dedup();
    for keys in key_ticks {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{keys}</text>"#,
            x(keys),
            TOP + plot_h + 18.0
        );
    }
    for step in 0..=4 {
        let ns = max_ns * f64::from(step) / 4.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{ns:.0}</text>"##,
            LEFT + plot_w,
            y(ns),
            y(ns),
            LEFT - 6.0,
            y(ns) + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">keys (log scale)</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 15.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(18,{:.1}) rotate(-90)" text-anchor="middle">ns per pick</text>"#,
        TOP + plot_h / 2.0
    );

    // One pair of lines per thread count.
    let mut thread_counts: Vec<usize> = rows.iter().map(|r| r.threads).collect();
    thread_counts.sort_unstable();
    thread_counts.dedup();
    for (i, threads) in thread_counts.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut series: Vec<&Row> = rows.iter().filter(|r| r.threads == *threads).collect();
        series.sort_by_key(|r| r.keys);
        for (value, dash) in [(|r: &Row| r.median_ns) as fn(&Row) -> f64, |r: &Row| {
            r.p99_ns
        }]
        .into_iter()
        .zip(["", r#" stroke-dasharray="5,4""#])
        {
            let points: Vec<String> = series
                .iter()
                .map(|r| format!("{:.1},{:.1}", x(r.keys), y(value(r))))
                .collect();
            let _ = writeln!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>"#,
                points.join(" ")
            );
        }
        for r in &series {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                x(r.keys),
                y(r.median_ns)
            );
        }
        let legend_y = TOP + 20.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{:.1}" x2="{:.1}" y1="{legend_y:.1}" y2="{legend_y:.1}" stroke="{colour}" stroke-width="2"/><text x="{:.1}" y="{:.1}">{threads} thread{}</text>"#,
            WIDTH - RIGHT + 15.0,
            WIDTH - RIGHT + 40.0,
            WIDTH - RIGHT + 46.0,
            legend_y + 4.0,
            if *threads == 1 { "" } else { "s" }
        );
    }
    let note_y = TOP + 20.0 * thread_counts.len() as f64 + 10.0;
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{note_y:.1}" font-size="11">solid: median</text><text x="{:.1}" y="{:.1}" font-size="11">dashed: p99</text>"#,
        WIDTH - RIGHT + 15.0,
        WIDTH - RIGHT + 15.0,
        note_y + 16.0
    );
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests;
