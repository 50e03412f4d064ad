//! The host's two threadings (`--threading work-stealing|per-core`, `--worker-threads N`): with
//! one single-threaded runtime per serving thread, concurrent requests on many connections are
//! all served and charged exactly once, streams settle, a SIGTERM shuts every thread down and
//! saves usage; a wrong value is refused by name.

mod support;

use std::process::Command;

use serde_json::json;
use support::host::{Host, MockUpstream, host_binary, proxy_config, scratch_dir};

fn start_per_core(name: &str, mock: &MockUpstream) -> Host {
    let dir = scratch_dir(name);
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&proxy_config(mock)).expect("config serializes"),
    )
    .expect("config written");
    Host::start_with_env(
        dir,
        &[
            ("KEYWARD_THREADING", "per-core"),
            ("KEYWARD_WORKER_THREADS", "3"),
        ],
    )
    .expect("the host starts per-core")
}

fn chat(host: &Host, stream: bool) -> support::host::Reply {
    host.request(
        "POST",
        "/v1/chat/completions",
        Some(
            &json!({"model": "openai/gpt-4o", "max_tokens": 20, "stream": stream, "messages": []}),
        ),
        &[("authorization", "Bearer sk-bf-budget-0123456789")],
    )
}

#[test]
fn per_core_threads_serve_concurrent_connections_and_charge_each_request_once() {
    let mock = MockUpstream::start();
    let mut host = start_per_core("threading-per-core", &mock);
    assert!(
        host.logs().contains("PerCore") && host.logs().contains("workers=3"),
        "{}",
        host.logs()
    );
    // Four clients at once, each with its own connection pool: connections land on different
    // serving threads. The budget (b-small) allows exactly five requests of this cost.
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| chat(&host, false).status))
            .collect();
        for client in clients {
            assert_eq!(client.join().expect("client thread"), 200);
        }
    });
    let streamed = chat(&host, true);
    assert_eq!(streamed.status, 200, "{}", streamed.text);
    assert!(streamed.text.contains("[DONE]"), "{}", streamed.text);
    let used = host.budget_usage("b-small");
    assert!((used - 1.0).abs() < 1e-9, "five requests charged: {used}");
    assert_eq!(chat(&host, false).status, 402, "the budget is spent");

    // A clean stop (SIGTERM) ends every serving thread and saves the usage.
    host.stop();
    let host = Host::start_in(host.dir.clone()).expect("restarts (work-stealing)");
    let restored = host.budget_usage("b-small");
    assert!(
        (restored - 1.0).abs() < 1e-9,
        "usage after restart: {restored}"
    );
}

#[test]
fn an_unknown_threading_is_refused_by_name() {
    let output = Command::new(host_binary())
        .args(["--threading", "fibers", "--config", "/nonexistent.json"])
        .output()
        .expect("runs keyward-host");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--threading") && stderr.contains("fibers") && stderr.contains("per-core"),
        "{stderr}"
    );
}
