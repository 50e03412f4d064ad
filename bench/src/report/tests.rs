use super::{Report, add_speedups, table};
use crate::measure::Row;

fn row(keys: usize, threads: usize, picks_per_sec: f64) -> Row {
    Row {
        keys,
        threads,
        median_ns: 20.0,
        p99_ns: 30.0,
        picks_per_sec,
        picks: 1_000,
        speedup_vs_1_thread: None,
    }
}

#[test]
fn speedups_compare_with_one_thread_at_the_same_key_count() {
    let mut rows = vec![
        row(3, 1, 40e6),
        row(3, 2, 76e6),
        row(25, 1, 20e6),
        row(25, 2, 30e6),
        row(200, 2, 50e6),
    ];
    add_speedups(&mut rows);
    let speedups: Vec<Option<f64>> = rows.iter().map(|r| r.speedup_vs_1_thread).collect();
    assert_eq!(speedups, [None, Some(1.9), None, Some(1.5), None]);
}

#[test]
fn the_table_and_json_show_every_row() {
    let mut rows = vec![row(3, 1, 40e6), row(3, 2, 76e6)];
    add_speedups(&mut rows);
    let report = Report {
        plugin: "lib.so".to_owned(),
        plugin_name: "weighted-selector 0.1.0".to_owned(),
        cores: 2,
        batch: 128,
        host_call: false,
        duration_secs: 1.0,
        rows,
    };
    let text = table(&report);
    assert!(text.contains("76.0M") && text.contains("1.90x"), "{text}");
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["rows"][1]["threads"], 2);
    assert_eq!(json["rows"][1]["median_ns"], 20.0);
    assert!(json["rows"][0].get("speedup_vs_1_thread").is_none());
}
