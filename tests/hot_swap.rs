//! Hot swap under load: while client threads keep sending requests, the key selector at the
//! configured path is replaced by another plugin (weighted <-> round-robin), the governance
//! plugin by a new build, and the host reloads them (API and SIGHUP). Not one request fails and
//! no usage is lost; a failed load leaves the old plugins serving.

mod support;

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::json;
use support::{
    host::{Host, MockUpstream, proxy_config, scratch_dir},
    plugin_path,
};

/// Puts `from` at `to` the way a deployment does: a new file renamed into place.
fn deploy(from: &Path, to: &Path) {
    let staging = to.with_extension("staging");
    std::fs::copy(from, &staging).expect("copy the plugin");
    std::fs::rename(&staging, to).expect("rename it into place");
}

#[test]
fn swaps_under_load_fail_no_request_and_lose_no_usage() {
    let mock = MockUpstream::start();
    let dir = scratch_dir("hot-swap");
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let selector = plugins.join("selector.so");
    let governance = plugins.join("governance.so");
    let weighted = plugin_path("keyward-weighted-selector");
    let round_robin = plugin_path("keyward-round-robin-selector");
    deploy(&weighted, &selector);
    deploy(&plugin_path("keyward-governance"), &governance);

    let mut config = proxy_config(&mock);
    config["plugins"] =
        json!({"key_selection": {"path": selector}, "governance": {"path": governance}});
    config["governance"]["budgets"] =
        json!([{"id": "b-load", "max_limit": 100000.0, "reset_duration": "1d"}]);
    config["governance"]["rate_limits"] =
        json!([{"id": "rl-load", "request_max_limit": 1000000, "request_reset_duration": "1h"}]);
    config["governance"]["virtual_keys"] = json!([{"id": "vk-load", "name": "load", "value": "sk-bf-load-0123456789", "budget_id": "b-load", "rate_limit_id": "rl-load"}]);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let host = Host::start_in(dir.clone()).expect("starts");

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (base, stop, ok, failures) = (
                host.base.clone(),
                stop.clone(),
                ok.clone(),
                failures.clone(),
            );
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build()
                    .into();
                let body = json!({"model": "openai/gpt-4o-mini", "max_tokens": 20, "messages": []})
                    .to_string();
                while !stop.load(Ordering::Relaxed) {
                    let sent = agent
                        .post(format!("{base}/v1/chat/completions"))
                        .header("authorization", "Bearer sk-bf-load-0123456789")
                        .header("content-type", "application/json")
                        .send(&body);
                    match sent {
                        Ok(mut response) if response.status() == 200 => {
                            let _ = response.body_mut().read_to_string();
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(mut response) => failures.lock().unwrap().push(format!(
                            "{}: {}",
                            response.status(),
                            response.body_mut().read_to_string().unwrap_or_default()
                        )),
                        Err(error) => failures.lock().unwrap().push(error.to_string()),
                    }
                }
            })
        })
        .collect();

    let mut served_by = Vec::new();
    for round in 0..8 {
        std::thread::sleep(Duration::from_millis(150));
        let next = if round % 2 == 0 {
            &round_robin
        } else {
            &weighted
        };
        deploy(next, &selector);
        deploy(&plugin_path("keyward-governance"), &governance);
        if round == 5 {
            let before = host.request("GET", "/metrics", None, &[]).text;
            host.signal("HUP");
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let now = host.request("GET", "/metrics", None, &[]).text;
                if now
                    .lines()
                    .find(|l| l.starts_with("keyward_plugin_reloads_total"))
                    != before
                        .lines()
                        .find(|l| l.starts_with("keyward_plugin_reloads_total"))
                {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "SIGHUP reload did not happen"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            continue;
        }
        let reload = host.admin("POST", "/api/plugins/reload", None);
        assert_eq!(reload.status, 200, "{}", reload.text);
        let plugins = reload.body["plugins"].as_array().unwrap();
        assert_eq!(plugins.len(), 2);
        for plugin in plugins {
            assert_eq!(
                plugin["interface_version"],
                plugin["host_interface_version"]
            );
            assert!(plugin["path"].as_str().is_some());
        }
        assert!(reload.body["took_ms"].as_f64().unwrap() >= 0.0);
        served_by.push(plugins[0]["name"].as_str().unwrap().to_owned());
    }

    // A failed load leaves the old plugins serving.
    std::fs::write(&selector, b"not a shared object").unwrap();
    let failed = host.admin("POST", "/api/plugins/reload", None);
    assert_eq!(failed.status, 422, "{}", failed.text);
    assert_eq!(failed.body["error"]["code"], "not_a_shared_object");
    std::thread::sleep(Duration::from_millis(200));

    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} requests failed during swaps, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    let ok = ok.load(Ordering::Relaxed);
    eprintln!(
        "{ok} requests served across {} reloads",
        served_by.len() + 2
    );
    assert!(ok > 50, "the load kept flowing: {ok} requests");
    let distinct: std::collections::BTreeSet<&String> = served_by.iter().collect();
    assert_eq!(distinct.len(), 2, "both selectors served: {served_by:?}");

    // No usage lost: every served request was charged $0.20 (20 completion tokens at $0.01)
    // and counted once by the rate limit, across every swap.
    let used = host.budget_usage("b-load");
    let expected = ok as f64 * 0.2;
    assert!(
        (used - expected).abs() < 1e-6,
        "charged {used}, expected {expected} for {ok} requests"
    );
    let limits = host.admin("GET", "/api/governance/rate-limits", None);
    let counted = limits.body["rate_limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "rl-load")
        .unwrap()["request_current_usage"]
        .as_u64()
        .unwrap();
    assert_eq!(counted, ok, "every request counted once by the rate limit");
}
