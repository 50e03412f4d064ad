//! Upstream answers that are neither a success nor a refusal another key could cure, through
//! the real keyward-host and the mock upstream: an error whose body is not JSON (an HTML or
//! text page from a proxy or a wrong base URL) is answered in the gateway's envelope, since no
//! client SDK can read it, and a redirect is relayed with its `Location`. Neither is charged:
//! without a usage report a non-2xx answer releases its reservation. An absurd usage count is
//! read as no usage at all.

mod support;

use serde_json::json;
use support::host::{Host, MockUpstream, assert_envelope, proxy_config};

#[test]
fn a_text_error_is_answered_in_the_envelope_and_a_redirect_keeps_its_location() {
    let mock = MockUpstream::start();
    let mut config = proxy_config(&mock);
    for model in [
        "mock-text-404",
        "mock-redirect",
        "mock-status-404",
        "mock-absurd-usage",
    ] {
        config["governance"]["pricing"][model] =
            json!({"input_cost_per_token": 0.0, "output_cost_per_token": 0.01});
    }
    let host = Host::start("upstream-answers", &config);
    let chat = |model: &str| {
        host.request(
            "POST",
            "/v1/chat/completions",
            Some(&json!({"model": format!("openai/{model}"), "max_tokens": 20, "messages": []})),
            &[("authorization", "Bearer sk-bf-budget-0123456789")],
        )
    };

    let text = chat("mock-text-404");
    assert_eq!(assert_envelope(&text, 404), "upstream_error");
    assert!(
        text.text
            .contains("provider openai answered 404 with a body that is not JSON"),
        "{}",
        text.text
    );
    assert_eq!(text.body["is_bifrost_error"], false, "{}", text.text);
    assert_eq!(
        text.body["extra_fields"]["model_requested"],
        "mock-text-404"
    );

    let redirect = chat("mock-redirect");
    assert_eq!(redirect.status, 302, "{}", redirect.text);
    assert_eq!(
        redirect.header("location"),
        Some("https://example.invalid/moved")
    );

    // Both reached the upstream, and neither was charged (nor is the next one).
    assert_eq!(mock.received().len(), 2);
    assert_eq!(host.budget_usage("b-small"), 0.0);
    // An error in OpenAI's own JSON shape is still relayed as the upstream sent it.
    let json_error = chat("mock-status-404");
    assert_eq!(json_error.status, 404);
    assert_eq!(
        json_error.body["error"]["message"],
        "mock upstream: status 404"
    );
    assert!(
        json_error.body.get("event_id").is_none(),
        "{}",
        json_error.text
    );

    // An absurd usage (u64::MAX completion tokens) is a broken upstream's: the answer is
    // relayed, and charged as one without usage — the text it delivered, 37 bytes: 10 tokens
    // at $0.01 — not a budget filled in one request.
    let absurd = chat("mock-absurd-usage");
    assert_eq!(absurd.status, 200, "{}", absurd.text);
    let spent = host.budget_usage("b-small");
    assert!((spent - 0.10).abs() < 1e-9, "charged ${spent}");
}
