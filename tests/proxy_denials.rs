//! Every governance decision through the gateway, with its status and error type in the envelope
//! (the OpenAI error shape inside it), and usage from the upstream's answer charged against the
//! budget, which runs out after the expected number of requests.

mod support;

use serde_json::json;
use support::host::{Host, MockUpstream, assert_envelope, proxy_config};

fn chat(host: &Host, key: Option<&str>, model: &str) -> support::host::Reply {
    let auth = key.map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    host.request(
        "POST",
        "/v1/chat/completions",
        Some(&json!({"model": model, "max_tokens": 20, "messages": []})),
        &headers,
    )
}

#[test]
fn each_denial_has_its_status_and_type() {
    let mock = MockUpstream::start();
    let host = Host::start("denials", &proxy_config(&mock));
    let cases = [
        (None, "openai/gpt-4o", 401, "virtual_key_required"),
        (
            Some("sk-bf-nobody-0123456789"),
            "openai/gpt-4o",
            403,
            "virtual_key_not_found",
        ),
        (
            Some("sk-bf-off-0123456789"),
            "openai/gpt-4o",
            403,
            "virtual_key_blocked",
        ),
        (
            Some("sk-bf-mini-0123456789"),
            "azure/gpt-4o",
            403,
            "provider_blocked",
        ),
        (
            Some("sk-bf-mini-0123456789"),
            "openai/gpt-4o",
            403,
            "model_blocked",
        ),
    ];
    for (key, model, status, kind) in cases {
        let reply = chat(&host, key, model);
        assert_eq!(assert_envelope(&reply, status), kind, "{key:?} {model}");
        assert_eq!(reply.body["type"], kind);
        assert!(
            !reply.text.contains("0123456789"),
            "no key value echoed: {}",
            reply.text
        );
    }
    assert!(
        mock.received().is_empty(),
        "no denied request reaches the upstream"
    );
}

#[test]
fn a_request_limit_answers_429_with_retry_after() {
    let mock = MockUpstream::start();
    let host = Host::start("denials-rate", &proxy_config(&mock));
    for _ in 0..3 {
        assert_eq!(
            chat(&host, Some("sk-bf-limited-0123456789"), "openai/gpt-4o").status,
            200
        );
    }
    let limited = chat(&host, Some("sk-bf-limited-0123456789"), "openai/gpt-4o");
    assert_eq!(assert_envelope(&limited, 429), "request_limited");
    let retry_after: u64 = limited
        .retry_after
        .as_deref()
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 3600, "{retry_after}");
    assert_eq!(mock.received().len(), 3);
}

#[test]
fn usage_is_charged_and_the_budget_runs_out_after_the_expected_requests() {
    let mock = MockUpstream::start();
    let host = Host::start("denials-budget", &proxy_config(&mock));
    // $1.00 budget, $0.20 per request (20 completion tokens at $0.01): five fit exactly.
    for n in 1..=5 {
        let reply = chat(&host, Some("sk-bf-budget-0123456789"), "openai/gpt-4o");
        assert_eq!(reply.status, 200, "request {n}: {}", reply.text);
    }
    let sixth = chat(&host, Some("sk-bf-budget-0123456789"), "openai/gpt-4o");
    assert_eq!(assert_envelope(&sixth, 402), "budget_exceeded");
    assert!(
        sixth.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("virtual key"),
        "names the level: {}",
        sixth.text
    );
    let used = host.budget_usage("b-small");
    assert!(
        (used - 1.0).abs() < 1e-9,
        "charged exactly five requests: {used}"
    );
}

#[test]
fn a_virtual_key_value_can_come_from_the_environment() {
    let mock = MockUpstream::start();
    let mut config = proxy_config(&mock);
    config["governance"]["virtual_keys"][0]["value"] =
        serde_json::json!("env.KEYWARD_TEST_VK_OPEN");
    let dir = support::host::scratch_dir("denials-env-vk");
    std::fs::write(dir.join("config.json"), config.to_string()).expect("write the config");
    // Without the variable the host serves the rest; the key matches nothing and is named.
    let without = Host::start_in(dir.clone()).expect("starts without the variable");
    assert!(
        without.logs().contains("KEYWARD_TEST_VK_OPEN"),
        "{}",
        without.logs()
    );
    let health = without.request("GET", "/health", None, &[]);
    assert_eq!(
        health.body["unusable"][0]["id"], "vk-open",
        "{}",
        health.text
    );
    assert_eq!(
        chat(&without, Some("sk-bf-budget-0123456789"), "openai/gpt-4o").status,
        200,
        "the other keys are served"
    );
    drop(without);
    let host = Host::start_with_env(
        dir,
        &[("KEYWARD_TEST_VK_OPEN", "sk-bf-from-env-0123456789")],
    )
    .expect("starts with the variable");
    assert_eq!(
        chat(&host, Some("sk-bf-from-env-0123456789"), "openai/gpt-4o").status,
        200
    );
    let literal = host.request(
        "POST",
        "/v1/chat/completions",
        Some(&json!({"model": "openai/gpt-4o", "max_tokens": 20, "messages": []})),
        &[("x-bf-vk", "env.KEYWARD_TEST_VK_OPEN")],
    );
    assert_eq!(
        assert_envelope(&literal, 403),
        "virtual_key_not_found",
        "the reference itself is not a key"
    );
}
