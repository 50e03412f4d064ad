//! Observability: `/metrics` in Prometheus text format counts requests by route, decision and
//! status, has the upstream-latency and overhead histograms, usage per virtual key and plugin
//! reloads; `/health` answers; logs carry a request id and never a secret.

mod support;

use serde_json::json;
use support::host::{Host, MockUpstream, proxy_config};

#[test]
fn metrics_health_and_logs_after_traffic() {
    let mock = MockUpstream::start();
    let host = Host::start("observability", &proxy_config(&mock));
    let chat = |key: &str, model: &str| {
        host.request(
            "POST",
            "/v1/chat/completions",
            Some(&json!({"model": model, "max_tokens": 20, "messages": []})),
            &[("authorization", &format!("Bearer {key}"))],
        )
    };
    assert_eq!(chat("sk-bf-budget-0123456789", "openai/gpt-4o").status, 200);
    assert_eq!(chat("sk-bf-budget-0123456789", "openai/gpt-4o").status, 200);
    assert_eq!(chat("sk-bf-mini-0123456789", "openai/gpt-4o").status, 403);
    assert_eq!(host.admin("POST", "/api/plugins/reload", None).status, 200);

    let metrics = host.request("GET", "/metrics", None, &[]);
    assert_eq!(metrics.status, 200);
    let text = &metrics.text;
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.starts_with(needle) || l.contains(needle))
            .map(str::to_owned)
    };
    let admitted =
        line(r#"keyward_requests_total{route="chat_completion",decision="admitted",status="200"}"#)
            .unwrap_or_else(|| panic!("no admitted counter:\n{text}"));
    assert!(admitted.ends_with(" 2"), "{admitted}");
    let blocked = line(
        r#"keyward_requests_total{route="chat_completion",decision="model_blocked",status="403"}"#,
    )
    .unwrap_or_else(|| panic!("no denial counter:\n{text}"));
    assert!(blocked.ends_with(" 1"), "{blocked}");
    assert!(line("keyward_overhead_seconds_count 2").is_some(), "{text}");
    assert!(
        line(r#"keyward_upstream_latency_seconds_count{provider="openai"} 2"#).is_some(),
        "{text}"
    );
    let usage = line(r#"keyward_budget_usage_dollars{virtual_key="vk-budget",budget="b-small"}"#)
        .unwrap_or_else(|| panic!("no usage gauge:\n{text}"));
    assert!(usage.ends_with(" 0.4"), "{usage}");
    assert!(
        line(r#"keyward_plugin_reloads_total{outcome="success"} 1"#).is_some(),
        "{text}"
    );
    assert_eq!(
        host.request("GET", "/health", None, &[]).body["status"],
        "ok"
    );

    let logs = host.logs();
    assert!(logs.contains("request_id="), "{logs}");
    for secret in [
        "sk-main-0123456789",
        "sk-bf-budget-0123456789",
        "sk-bf-mini-0123456789",
        support::host::ADMIN_TOKEN,
    ] {
        assert!(!logs.contains(secret), "a secret in the logs: {secret}");
        assert!(!text.contains(secret), "a secret in the metrics: {secret}");
    }
}

#[test]
fn metrics_can_be_kept_to_the_admin() {
    let mock = MockUpstream::start();
    let mut config = proxy_config(&mock);
    config["admin"] = json!({"metrics": "admin"});
    let host = Host::start("metrics-admin", &config);
    let open = host.request("GET", "/metrics", None, &[]);
    assert_eq!(support::host::assert_envelope(&open, 401), "unauthorized");
    assert_eq!(open.body["error"]["code"], "admin_token_required");
    let virtual_key = host.request(
        "GET",
        "/metrics",
        None,
        &[("authorization", "Bearer sk-bf-budget-0123456789")],
    );
    assert_eq!(virtual_key.status, 401, "{}", virtual_key.text);
    let admin = host.admin("GET", "/metrics", None);
    assert_eq!(admin.status, 200, "{}", admin.text);
    assert!(admin.text.contains("keyward_"), "{}", admin.text);
    // An unknown value is refused at start, naming it.
    let mut wrong = proxy_config(&mock);
    wrong["admin"] = json!({"metrics": "everyone"});
    let refused = Host::start_in({
        let dir = support::host::scratch_dir("metrics-wrong");
        std::fs::write(dir.join("config.json"), wrong.to_string()).unwrap();
        dir
    });
    let error = refused.err().expect("refused at start");
    assert!(
        error.contains("admin.metrics") && error.contains("expected `open` or `admin`"),
        "{error}"
    );
}
