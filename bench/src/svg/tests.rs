use super::chart;
use crate::measure::Row;

#[test]
fn the_chart_has_a_line_per_thread_count_and_a_point_per_row() {
    let rows: Vec<Row> = [3, 25, 200]
        .into_iter()
        .flat_map(|keys| {
            [1, 2].map(|threads| Row {
                keys,
                threads,
                median_ns: 20.0 + threads as f64,
                p99_ns: 40.0,
                picks_per_sec: 1e6,
                picks: 1,
                speedup_vs_1_thread: None,
            })
        })
        .collect();
    let svg = chart(&rows, "a <title> & more");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(
        svg.matches("<polyline").count(),
        4,
        "median and p99 per thread count"
    );
    assert_eq!(svg.matches("<circle").count(), 6);
    assert!(svg.contains("a &lt;title&gt; &amp; more"));
    assert!(!svg.contains("NaN"));
    assert!(chart(&[], "empty").contains("</svg>"));
}
