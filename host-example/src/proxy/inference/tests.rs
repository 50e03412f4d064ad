use bytes::Bytes;

use super::Inference;

#[test]
fn reads_provider_model_stream_and_caps() {
    let body = br#"{"model": "openai/gpt-4o", "stream": true, "max_tokens": 50, "messages": []}"#;
    let inference = Inference::read(body).unwrap();
    assert_eq!(inference.provider.as_deref(), Some("openai"));
    assert_eq!(inference.model, "gpt-4o");
    assert!(inference.stream);
    assert_eq!(inference.max_output_tokens, Some(50));
    assert_eq!(
        inference.input_tokens_estimate,
        (body.len() as u64).div_ceil(4)
    );
    let plain = Inference::read(
        br#"{"model": "gpt-4o-mini", "max_completion_tokens": 9, "max_tokens": 1}"#,
    )
    .unwrap();
    assert_eq!(plain.provider, None);
    assert_eq!(
        plain.max_output_tokens,
        Some(9),
        "max_completion_tokens wins"
    );
}

#[test]
fn a_missing_or_empty_model_names_the_field() {
    for body in [
        &br#"{"messages": []}"#[..],
        br#"{"model": ""}"#,
        br#"{"model": null}"#,
    ] {
        let error = Inference::read(body).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("model"));
    }
    let error = Inference::read(b"not json").unwrap_err();
    assert_eq!(error.param.as_deref(), Some("body"));
    assert!(Inference::read(br#"{"model": 5}"#).is_err());
}

#[test]
fn the_upstream_body_replaces_the_model_and_asks_streams_for_usage() {
    let body = Bytes::from_static(br#"{"model":"openai/fast","stream":true,"messages":[{"role":"user","content":"\"model\""}]}"#);
    let inference = Inference::read(&body).unwrap();
    let out = inference.upstream_body(&body, "gpt-4o-2024", true);
    let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value["model"], "gpt-4o-2024");
    assert_eq!(value["stream_options"]["include_usage"], true);
    assert_eq!(value["messages"][0]["content"], "\"model\"");

    let kept = Bytes::from_static(
        br#"{"model":"gpt-4o","stream_options":{"include_usage":false},"stream":true}"#,
    );
    let out = Inference::read(&kept)
        .unwrap()
        .upstream_body(&kept, "gpt-4o", false);
    assert_eq!(out, kept, "nothing to change: the same bytes");
}
