use keyward_plugin_api::ffi::RequestKind;
use serde_json::Value;

use super::{InferenceRequest, kind_name, kind_of};

fn chat(body: &[u8]) -> InferenceRequest {
    InferenceRequest::parse(RequestKind::CHAT_COMPLETION, body).unwrap()
}

#[test]
fn reads_provider_model_stream_and_caps() {
    let body = br#"{"model": "openai/gpt-4o", "stream": true, "max_tokens": 50, "messages": []}"#;
    let request = chat(body);
    assert_eq!(request.provider.as_deref(), Some("openai"));
    assert_eq!(request.model, "gpt-4o");
    assert!(request.stream);
    assert_eq!(request.max_output_tokens, Some(50));
    assert_eq!(request.estimate.max_output_tokens.into_option(), Some(50));
    assert_eq!(
        request.estimate.input_tokens,
        (body.len() as u64).div_ceil(4)
    );
    let plain = chat(br#"{"model": "gpt-4o-mini", "max_completion_tokens": 9, "max_tokens": 1}"#);
    assert_eq!(plain.provider, None);
    assert_eq!(
        plain.max_output_tokens,
        Some(9),
        "max_completion_tokens wins"
    );
    let responses = InferenceRequest::parse(
        RequestKind::RESPONSES,
        br#"{"model": "gpt-4o", "max_output_tokens": 12}"#,
    )
    .unwrap();
    assert_eq!(responses.max_output_tokens, Some(12));
    assert_eq!(
        chat(br#"{"model": "gpt-4o", "max_tokens": null}"#).max_output_tokens,
        None
    );
}

#[test]
fn a_missing_or_empty_model_names_the_field() {
    for body in [
        &br#"{"messages": []}"#[..],
        br#"{"model": ""}"#,
        br#"{"model": null}"#,
    ] {
        let error = InferenceRequest::parse(RequestKind::CHAT_COMPLETION, body).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("model"));
        assert_eq!(error.status, 400);
        assert_eq!(error.extra.request_type.as_deref(), Some("chat_completion"));
    }
    let error = InferenceRequest::parse(RequestKind::CHAT_COMPLETION, b"not json").unwrap_err();
    assert_eq!(error.param.as_deref(), Some("body"));
    assert!(InferenceRequest::parse(RequestKind::CHAT_COMPLETION, br#"{"model": 5}"#).is_err());
}

#[test]
fn an_output_cap_that_is_not_a_non_negative_integer_is_a_400_naming_it() {
    for (body, field) in [
        (&br#"{"model": "m", "max_tokens": -1}"#[..], "max_tokens"),
        (br#"{"model": "m", "max_tokens": 1.5}"#, "max_tokens"),
        (
            br#"{"model": "m", "max_completion_tokens": -3}"#,
            "max_completion_tokens",
        ),
    ] {
        let error = InferenceRequest::parse(RequestKind::CHAT_COMPLETION, body).unwrap_err();
        assert_eq!(error.status, 400);
        assert_eq!(error.param.as_deref(), Some(field));
        assert!(error.message.contains(field), "{}", error.message);
    }
}

#[test]
fn the_upstream_body_replaces_the_model_and_asks_streams_for_usage() {
    let body = br#"{"model":"openai/fast","stream":true,"messages":[{"role":"user","content":"\"model\""}]}"#;
    let out = chat(body).upstream_body(body, "gpt-4o-2024", true).unwrap();
    let value: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value["model"], "gpt-4o-2024");
    assert_eq!(value["stream_options"]["include_usage"], true);
    assert_eq!(value["messages"][0]["content"], "\"model\"");

    // A caller that declines the usage event is still metered: the upstream is asked for it,
    // the caller's other options kept, and the host strips the event from what it relays.
    let declined = br#"{"model":"gpt-4o","stream_options":{"include_usage":false,"include_obfuscation":true},"stream":true}"#;
    let request = chat(declined);
    assert!(request.strips_usage_event());
    let out = request.upstream_body(declined, "gpt-4o", true).unwrap();
    let value: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value["stream_options"]["include_usage"], true);
    assert_eq!(value["stream_options"]["include_obfuscation"], true);
    // A caller that asks for it gets the body as sent, and the event.
    let asked = br#"{"model":"gpt-4o","stream_options":{"include_usage":true},"stream":true}"#;
    assert_eq!(chat(asked).upstream_body(asked, "gpt-4o", true), None);
    assert!(!chat(asked).strips_usage_event());
    // Azure takes the deployment in the URL: the body keeps the caller's model.
    let azure = br#"{"model":"gpt-4o" , "n": 1}"#;
    assert_eq!(
        chat(azure).upstream_body(azure, "deployment-1", false),
        None
    );
}

#[test]
fn the_rewrite_keeps_key_order_and_spacing() {
    let body = br#"{ "temperature": 0.5,  "model" : "openai/gpt-4o", "n": 2 }"#;
    let out = chat(body).upstream_body(body, "gpt-4o", true).unwrap();
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"{ "temperature": 0.5,  "model" : "gpt-4o", "n": 2 }"#
    );
}

#[test]
fn kinds() {
    assert_eq!(kind_of("/v1/completions"), RequestKind::TEXT_COMPLETION);
    assert_eq!(
        kind_of("/v1/chat/completions?x=1"),
        RequestKind::CHAT_COMPLETION
    );
    assert_eq!(kind_of("/openai/v1/responses"), RequestKind::RESPONSES);
    assert_eq!(kind_of("/v1/models"), RequestKind::OTHER);
    assert_eq!(kind_name(RequestKind::CHAT_COMPLETION), "chat_completion");
}

#[test]
fn a_null_stream_options_is_replaced_not_duplicated() {
    let body = br#"{"model":"gpt-4o","stream":true,"stream_options":null,"messages":[]}"#;
    let out = chat(body).upstream_body(body, "gpt-4o", true).unwrap();
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#
    );
    // With the model rewritten too, both edits land in order.
    let body = br#"{"stream_options": null, "model": "openai/gpt-4o", "stream": true}"#;
    let out = chat(body).upstream_body(body, "gpt-4o", true).unwrap();
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"{"stream_options": {"include_usage":true}, "model": "gpt-4o", "stream": true}"#
    );
}

#[test]
fn the_output_cap_is_the_largest_cap_times_the_choices() {
    let both = chat(br#"{"model": "m", "max_tokens": 100, "max_completion_tokens": 10}"#);
    assert_eq!(
        both.max_output_tokens,
        Some(100),
        "the largest cap, whichever the upstream honours"
    );
    let choices = chat(br#"{"model": "m", "max_tokens": 10, "n": 4}"#);
    assert_eq!(choices.max_output_tokens, Some(40));
    assert_eq!(choices.estimate.max_output_tokens.into_option(), Some(40));
    let best_of = chat(br#"{"model": "m", "max_tokens": 10, "n": 2, "best_of": 3}"#);
    assert_eq!(best_of.max_output_tokens, Some(30));
    let error =
        InferenceRequest::parse(RequestKind::CHAT_COMPLETION, br#"{"model": "m", "n": -2}"#)
            .unwrap_err();
    assert_eq!(error.param.as_deref(), Some("n"));
}
