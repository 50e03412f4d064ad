//! Presenting results: the terminal table, the JSON document and speedups.

use serde::Serialize;

use crate::measure::Row;

/// Everything a run measured, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The plugin file loaded.
    pub plugin: String,
    /// The plugin's name and version.
    pub plugin_name: String,
    /// Cores available to this process.
    pub cores: usize,
    /// Picks per timed batch.
    pub batch: u32,
    /// Whether picks went through the slot's `Instance::call` wrapper.
    pub host_call: bool,
    /// Seconds measured per row.
    pub duration_secs: f64,
    /// One row per (keys, threads).
    pub rows: Vec<Row>,
}

/// Fills each multi-thread row's speedup against the one-thread row with the same keys.
pub fn add_speedups(rows: &mut [Row]) {
    let single: Vec<(usize, f64)> = rows
        .iter()
        .filter(|r| r.threads == 1)
        .map(|r| (r.keys, r.picks_per_sec))
        .collect();
    for row in rows.iter_mut().filter(|r| r.threads > 1) {
        row.speedup_vs_1_thread = single
            .iter()
            .find(|(keys, _)| *keys == row.keys)
            .map(|(_, base)| row.picks_per_sec / base);
    }
}

/// The terminal table.
pub fn table(report: &Report) -> String {
    let mut out = format!(
        "{} ({}), {} cores, batches of {} picks, {:.1} s per row, {}\n\n",
        report.plugin_name,
        report.plugin,
        report.cores,
        report.batch,
        report.duration_secs,
        if report.host_call {
            "through Instance::call"
        } else {
            "direct ABI calls"
        }
    );
    out.push_str("   keys  threads  median ns/pick  p99 ns/pick    picks/s  speedup\n");
    out.push_str("-------  -------  --------------  -----------  ---------  -------\n");
    for row in &report.rows {
        let speedup = row
            .speedup_vs_1_thread
            .map_or_else(|| "-".to_owned(), |s| format!("{s:.2}x"));
        out.push_str(&format!(
            "{:>7}  {:>7}  {:>14.1}  {:>11.1}  {:>9}  {:>7}\n",
            row.keys,
            row.threads,
            row.median_ns,
            row.p99_ns,
            human_rate(row.picks_per_sec),
            speedup
        ));
    }
    out
}

fn human_rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.1}M", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1}k", per_sec / 1e3)
    } else {
        format!("{per_sec:.0}")
    }
}

#[cfg(test)]
mod tests;
