//! Usage counters survive restarts: snapshotted to the data directory every second and on
//! shutdown, restored at start. A clean restart loses nothing; a `kill -9` loses at most the last
//! second.

mod support;

use std::time::Duration;

use serde_json::json;
use support::host::{Host, MockUpstream, proxy_config};

fn spend(host: &Host, requests: usize) {
    for n in 0..requests {
        let reply = host.request(
            "POST",
            "/v1/chat/completions",
            Some(&json!({"model": "openai/gpt-4o", "max_tokens": 20, "messages": []})),
            &[("authorization", "Bearer sk-bf-budget-0123456789")],
        );
        assert_eq!(reply.status, 200, "request {n}: {}", reply.text);
    }
}

fn used(host: &Host) -> f64 {
    host.budget_usage("b-small")
}

#[test]
fn a_clean_restart_loses_no_usage() {
    let mock = MockUpstream::start();
    let host = Host::start("usage-clean", &proxy_config(&mock));
    spend(&host, 2);
    assert!((used(&host) - 0.4).abs() < 1e-9);
    let host = host.restart();
    assert!(
        (used(&host) - 0.4).abs() < 1e-9,
        "usage after restart: {}",
        used(&host)
    );
    spend(&host, 3);
    let refused = host.request(
        "POST",
        "/v1/chat/completions",
        Some(&json!({"model": "openai/gpt-4o", "max_tokens": 20, "messages": []})),
        &[("authorization", "Bearer sk-bf-budget-0123456789")],
    );
    assert_eq!(
        refused.status, 402,
        "the restored usage counts against the budget"
    );
}

#[test]
fn a_kill_9_loses_at_most_the_last_second() {
    let mock = MockUpstream::start();
    let mut host = Host::start("usage-kill", &proxy_config(&mock));
    spend(&host, 3);
    // Let at least one snapshot (every second) happen after the spending.
    std::thread::sleep(Duration::from_millis(2_200));
    host.kill9();
    let host = Host::start_in(host.dir.clone()).expect("restarts after kill -9");
    assert!(
        (used(&host) - 0.6).abs() < 1e-9,
        "usage after kill -9: {}",
        used(&host)
    );
}
