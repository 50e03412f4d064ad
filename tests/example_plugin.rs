//! The out-of-tree example plugin (`examples/priority-selector`, a crate of its own that
//! depends on the contract by path) in keyward-host: built as a plugin author builds it,
//! loaded as the key selector, and swapped under load — replaced in place and reloaded — with
//! no failed request. The nginx module loads it too (`host-nginx/tests/e2e.py`).

#![allow(clippy::unwrap_used)]

mod support;

use std::{
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
};

use serde_json::json;
use support::{
    artifact_dir, build_out_of_tree,
    host::{Host, MockUpstream, proxy_config, scratch_dir},
};

fn build_example() -> PathBuf {
    build_out_of_tree("examples/priority-selector/Cargo.toml");
    artifact_dir().join("libpriority_selector.so")
}

fn chat(host: &Host) -> u16 {
    host.request(
        "POST",
        "/v1/chat/completions",
        Some(&json!({"model": "openai/gpt-4o", "max_tokens": 5, "messages": []})),
        &[("authorization", "Bearer sk-bf-open-0123456789")],
    )
    .status
}

/// The statuses of the chat requests a client sent, one after another, while `during` ran.
fn under_load(host: &Host, during: impl FnOnce()) -> Vec<u16> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let mut statuses = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                statuses.push(chat(host));
            }
            statuses
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        during();
        std::thread::sleep(std::time::Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        client.join().unwrap()
    })
}

#[test]
fn the_example_selector_serves_in_keyward_host_and_swaps_under_load_without_a_failed_request() {
    let built = build_example();
    let mock = MockUpstream::start();
    let dir = scratch_dir("example-plugin");
    let installed = dir.join("libpriority_selector.so");
    std::fs::copy(&built, &installed).unwrap();
    let mut config = proxy_config(&mock);
    config["plugins"]["key_selection"] = json!({"path": installed});
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    let host = Host::start_in(dir.clone()).expect("keyward-host starts with the example");
    assert!(
        host.logs().contains("plugin=priority-selector"),
        "{}",
        host.logs()
    );
    assert_eq!(chat(&host), 200);

    let statuses = under_load(&host, || {
        for round in 0..3 {
            // What a deployment does: write the new build beside the old, rename it over.
            let staged = dir.join(format!("libpriority_selector.so.{round}"));
            std::fs::copy(&built, &staged).unwrap();
            std::fs::rename(&staged, &installed).unwrap();
            let reload = host.admin("POST", "/api/plugins/reload", None);
            assert_eq!(reload.status, 200, "{}", reload.text);
            assert!(reload.text.contains("priority-selector"), "{}", reload.text);
        }
    });
    assert!(statuses.len() > 3, "{} requests", statuses.len());
    assert!(
        statuses.iter().all(|s| *s == 200),
        "{:?}",
        statuses.iter().filter(|s| **s != 200).collect::<Vec<_>>()
    );
}

#[test]
fn a_reload_naming_another_path_switches_the_role_under_load_and_a_restart_keeps_it() {
    let built = build_example();
    let mock = MockUpstream::start();
    let dir = scratch_dir("example-plugin-switch");
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let installed = elsewhere.join("libpriority_selector.so");
    std::fs::copy(&built, &installed).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&proxy_config(&mock)).unwrap(),
    )
    .unwrap();
    let mut host = Host::start_in(dir.clone()).expect("keyward-host starts");
    assert!(host.logs().contains("plugin=weighted-selector"));

    // Refusals change nothing: a relative path, a file that is not there, an unknown field.
    let relative = host.admin(
        "POST",
        "/api/plugins/reload",
        Some(&json!({"plugins": {"key_selection": {"path": "libpriority_selector.so"}}})),
    );
    assert_eq!(relative.status, 422, "{}", relative.text);
    assert!(
        relative.text.contains("key_selection.path"),
        "{}",
        relative.text
    );
    let missing = host.admin(
        "POST",
        "/api/plugins/reload",
        Some(&json!({"plugins": {"key_selection": {"path": elsewhere.join("absent.so")}}})),
    );
    assert_eq!(missing.status, 422, "{}", missing.text);
    assert!(missing.text.contains("absent.so"), "{}", missing.text);
    let unknown = host.admin(
        "POST",
        "/api/plugins/reload",
        Some(&json!({"plugins": {"key_selector": {"path": installed}}})),
    );
    assert_eq!(unknown.status, 400, "{}", unknown.text);
    assert!(unknown.text.contains("key_selector"), "{}", unknown.text);
    assert_eq!(chat(&host), 200, "the old plugins still serve");

    let statuses = under_load(&host, || {
        let switched = host.admin(
            "POST",
            "/api/plugins/reload",
            Some(&json!({"plugins": {"key_selection": {"path": installed}}})),
        );
        assert_eq!(switched.status, 200, "{}", switched.text);
        assert!(
            switched.text.contains("priority-selector"),
            "{}",
            switched.text
        );
        assert!(
            switched.text.contains("governance"),
            "the other role kept its plugin"
        );
    });
    assert!(statuses.len() > 3, "{} requests", statuses.len());
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    host.stop();
    let host = Host::start_in(dir).expect("restarts");
    assert!(
        host.logs().contains("plugin=priority-selector"),
        "the saved configuration keeps the switch: {}",
        host.logs()
    );
    assert_eq!(chat(&host), 200);
}
