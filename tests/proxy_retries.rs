//! Upstream failures: a 429 from one key is retried with another (the failed one excluded);
//! when every key fails the client gets the upstream's error in the OpenAI shape with its
//! Retry-After, and the reservation is released (nothing charged).

mod support;

use serde_json::json;
use support::host::{Host, MockUpstream, assert_envelope, proxy_config};

fn chat(host: &Host, model: &str) -> support::host::Reply {
    host.request(
        "POST",
        "/v1/chat/completions",
        Some(&json!({"model": model, "max_tokens": 20, "messages": []})),
        &[("authorization", "Bearer sk-bf-budget-0123456789")],
    )
}

#[test]
fn a_rate_limited_key_is_retried_with_another() {
    let mock = MockUpstream::start();
    let host = Host::start("retry-429", &proxy_config(&mock));
    let reply = chat(&host, "flaky/gpt-4o");
    assert_eq!(reply.status, 200, "{}", reply.text);
    let credentials: Vec<String> = mock
        .received()
        .iter()
        .map(|r| r["credential"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        credentials,
        ["sk-limited-0123456789", "sk-good-0123456789"],
        "the heavy key first, then the other"
    );
}

#[test]
fn when_every_key_fails_the_client_gets_the_upstream_error_and_nothing_is_charged() {
    let mock = MockUpstream::start();
    let host = Host::start("retry-exhausted", &proxy_config(&mock));
    let reply = chat(&host, "exhausted/gpt-4o");
    assert_eq!(assert_envelope(&reply, 429), "rate_limit_exceeded");
    assert_eq!(reply.body["is_bifrost_error"], false, "an upstream error");
    assert_eq!(reply.body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(reply.retry_after.as_deref(), Some("1"));
    assert!(mock.received().len() >= 2, "both keys were tried");
    assert_eq!(host.budget_usage("b-small"), 0.0, "released, not charged");
}
