//! A plugin that panics fails closed in the host: the request gets a 503 `plugin_panicked`, later
//! requests for that role a 503 `plugin_poisoned`, the rest of the host keeps serving, the
//! failures are counted, and a reload brings the role back.

mod support;

use serde_json::json;
use support::{
    host::{Host, MockUpstream, assert_envelope, proxy_config},
    plugin_path,
};

#[test]
fn a_panicking_selector_fails_closed_until_reloaded() {
    let mock = MockUpstream::start();
    let mut config = proxy_config(&mock);
    config["plugins"]["key_selection"] =
        json!({"path": plugin_path("keyward-testing-panicking"), "config": {"key_id": "oa-main"}});
    config["governance"]["pricing"]["panic"] =
        json!({"input_cost_per_token": 0.0, "output_cost_per_token": 0.0});
    let host = Host::start("plugin-failure", &config);
    let chat = |model: &str| {
        host.request(
            "POST",
            "/v1/chat/completions",
            Some(&json!({"model": format!("openai/{model}"), "max_tokens": 5, "messages": []})),
            &[("authorization", "Bearer sk-bf-open-0123456789")],
        )
    };
    assert_eq!(chat("gpt-4o").status, 200);
    assert_eq!(assert_envelope(&chat("panic"), 503), "plugin_panicked");
    assert_eq!(
        assert_envelope(&chat("gpt-4o"), 503),
        "plugin_poisoned",
        "fails closed after a panic"
    );
    assert_eq!(
        host.request("GET", "/health", None, &[]).status,
        200,
        "the host keeps serving"
    );
    assert_eq!(host.admin("GET", "/api/keys", None).status, 200);

    let metrics = host.request("GET", "/metrics", None, &[]).text;
    for code in ["plugin_panicked", "plugin_poisoned"] {
        let line =
            format!(r#"keyward_plugin_failures_total{{role="key_selection",code="{code}"}} 1"#);
        assert!(metrics.contains(&line), "{line} missing:\n{metrics}");
    }
    assert_eq!(host.admin("POST", "/api/plugins/reload", None).status, 200);
    assert_eq!(chat("gpt-4o").status, 200, "a reload brings the role back");
}
