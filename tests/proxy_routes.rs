//! The OpenAI-compatible routes through the real gateway and plugins to a mock upstream: the
//! selected key reaches the upstream, streams pass through with usage requested, and each
//! upstream kind (OpenAI-compatible, Azure, vLLM) gets its URL and credential header.

mod support;

use serde_json::{Value, json};
use support::host::{Host, MockUpstream, assert_envelope, proxy_config};

fn vk(value: &str) -> [(&'static str, String); 1] {
    [("authorization", format!("Bearer {value}"))]
}

fn post(host: &Host, path: &str, body: Value, key: &str) -> support::host::Reply {
    let headers = vk(key);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    host.request("POST", path, Some(&body), &headers)
}

#[test]
fn a_chat_completion_reaches_the_upstream_with_the_selected_key() {
    let mock = MockUpstream::start();
    let host = Host::start("proxy-chat", &proxy_config(&mock));
    let reply = post(
        &host,
        "/v1/chat/completions",
        json!({"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
        "sk-bf-mini-0123456789",
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["object"], "chat.completion");
    assert_eq!(reply.body["usage"]["completion_tokens"], 5);
    let received = mock.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["path"], "/v1/chat/completions");
    assert_eq!(
        received[0]["credential"], "sk-mini-0123456789",
        "the VK allows only oa-mini"
    );
    assert_eq!(received[0]["model"], "gpt-4o-mini");
}

#[test]
fn provider_prefixed_models_go_to_that_provider_and_the_prefix_is_removed() {
    let mock = MockUpstream::start();
    let host = Host::start("proxy-prefix", &proxy_config(&mock));
    let reply = post(
        &host,
        "/v1/chat/completions",
        json!({"model": "openai/gpt-4o", "messages": []}),
        "sk-bf-open-0123456789",
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let received = mock.received();
    assert_eq!(received[0]["model"], "gpt-4o");
    assert_eq!(
        received[0]["credential"], "sk-main-0123456789",
        "only oa-main serves gpt-4o"
    );
}

#[test]
fn streams_pass_through_and_ask_the_upstream_for_usage() {
    let mock = MockUpstream::start();
    let host = Host::start("proxy-stream", &proxy_config(&mock));
    // No stream_options, `include_usage: false`, and `include_usage: true`: the upstream is
    // asked for the usage each time (so the stream is charged what it used), and only the
    // caller that asked gets the usage event.
    for (options, asked) in [
        (None, false),
        (Some(json!({"include_usage": false})), false),
        (Some(json!({"include_usage": true})), true),
    ] {
        mock.clear();
        let spent_before = host.budget_usage("b-small");
        let mut body = json!({"model": "openai/gpt-4o-mini", "stream": true, "max_tokens": 20, "messages": []});
        if let Some(options) = &options {
            body["stream_options"] = options.clone();
        }
        let reply = post(
            &host,
            "/v1/chat/completions",
            body,
            "sk-bf-budget-0123456789",
        );
        assert_eq!(reply.status, 200, "{}", reply.text);
        let events: Vec<&str> = reply
            .text
            .lines()
            .filter(|l| l.starts_with("data: "))
            .collect();
        assert_eq!(*events.last().unwrap(), "data: [DONE]");
        assert!(reply.text.contains(" keyward mock."));
        let usage_event = events.iter().any(|e| e.contains("\"usage\":{"));
        assert_eq!(
            usage_event, asked,
            "{options:?}: the usage event reaches the caller only when asked: {}",
            reply.text
        );
        let received = mock.received();
        assert_eq!(received[0]["stream"], true);
        assert_eq!(
            received[0]["include_usage"], true,
            "{options:?}: the gateway asks for usage in the final chunk"
        );
        // The mock's usage (20 completion tokens at $0.01), not an estimate.
        let spent = host.budget_usage("b-small") - spent_before;
        assert!((spent - 0.20).abs() < 1e-9, "{options:?}: charged ${spent}");
    }
}

#[test]
fn completions_embeddings_azure_and_vllm_are_routed_by_provider_kind() {
    let mock = MockUpstream::start();
    let host = Host::start("proxy-kinds", &proxy_config(&mock));
    let key = "sk-bf-open-0123456789";
    let text = post(
        &host,
        "/v1/completions",
        json!({"model": "openai/gpt-4o", "prompt": "hi", "max_tokens": 3}),
        key,
    );
    assert_eq!(text.status, 200, "{}", text.text);
    assert_eq!(text.body["object"], "text_completion");
    let embedding = post(
        &host,
        "/v1/embeddings",
        json!({"model": "openai/text-embedding-3-small", "input": "hi"}),
        key,
    );
    assert_eq!(embedding.status, 200, "{}", embedding.text);
    assert_eq!(embedding.body["data"][0]["object"], "embedding");
    let azure = post(
        &host,
        "/v1/chat/completions",
        json!({"model": "azure/gpt-4o", "max_tokens": 3, "messages": []}),
        key,
    );
    assert_eq!(azure.status, 200, "{}", azure.text);
    let vllm = post(
        &host,
        "/v1/chat/completions",
        json!({"model": "vllm/llama-3", "max_tokens": 3, "messages": []}),
        key,
    );
    assert_eq!(vllm.status, 200, "{}", vllm.text);
    let received = mock.received();
    assert_eq!(received[0]["path"], "/v1/completions");
    assert_eq!(received[1]["path"], "/v1/embeddings");
    assert_eq!(received[2]["path"], "/openai/deployments/chat/completions");
    assert_eq!(
        received[2]["deployment"], "gpt4o-prod",
        "the deployment from the key's deployments map"
    );
    assert_eq!(
        received[2]["credential"], "azure-secret-0123456789",
        "Azure's api-key header"
    );
    assert_eq!(received[3]["model"], "llama-3");
    assert_eq!(
        received[3]["credential"], "",
        "a keyless vLLM key sends no credential"
    );
}

#[test]
fn unimplemented_providers_answer_501_naming_the_provider() {
    let mock = MockUpstream::start();
    let host = Host::start("proxy-501", &proxy_config(&mock));
    let reply = post(
        &host,
        "/v1/chat/completions",
        json!({"model": "bedrock/anthropic.claude-3", "messages": []}),
        "sk-bf-open-0123456789",
    );
    assert_eq!(assert_envelope(&reply, 501), "provider_not_supported");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bedrock"),
        "{}",
        reply.text
    );
    assert!(mock.received().is_empty());
}

#[test]
fn models_are_listed_as_the_virtual_key_allows() {
    let mock = MockUpstream::start();
    let host = Host::start("proxy-models", &proxy_config(&mock));
    let headers = [("x-bf-vk", "sk-bf-mini-0123456789")];
    let reply = host.request("GET", "/v1/models", None, &headers);
    assert_eq!(reply.status, 200, "{}", reply.text);
    let ids: Vec<&str> = reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["openai/gpt-4o-mini"]);
    let open = host.request(
        "GET",
        "/v1/models",
        None,
        &[("x-bf-vk", "sk-bf-open-0123456789")],
    );
    let ids: Vec<&str> = open.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"azure/gpt-4o") && ids.contains(&"vllm/llama-3"),
        "{ids:?}"
    );
    assert_eq!(
        assert_envelope(&host.request("GET", "/v1/models", None, &[]), 401),
        "virtual_key_required"
    );
}

#[test]
fn bad_bodies_are_400s_naming_the_field() {
    let mock = MockUpstream::start();
    let host = Host::start("proxy-bad", &proxy_config(&mock));
    let headers = [("authorization", "Bearer sk-bf-open-0123456789")];
    let missing = host.request(
        "POST",
        "/v1/chat/completions",
        Some(&json!({"messages": []})),
        &headers,
    );
    assert_envelope(&missing, 400);
    assert_eq!(missing.body["error"]["param"], "model");
    let garbage = host.raw("POST", "/v1/chat/completions", Some("{not json"), &headers);
    assert_envelope(&garbage, 400);
    assert!(mock.received().is_empty());
}

#[test]
fn a_body_over_the_limit_is_a_413_in_the_envelope() {
    let mock = MockUpstream::start();
    let mut config = proxy_config(&mock);
    config["client"]["max_request_body_size_mb"] = json!(1);
    let host = Host::start("proxy-413", &config);
    let big = format!(
        r#"{{"model": "openai/gpt-4o", "messages": [{{"role": "user", "content": "{}"}}]}}"#,
        "x".repeat(1_100_000)
    );
    let reply = host.raw(
        "POST",
        "/v1/chat/completions",
        Some(&big),
        &[("authorization", "Bearer sk-bf-open-0123456789")],
    );
    assert_eq!(assert_envelope(&reply, 413), "payload_too_large");
    assert!(mock.received().is_empty());
}
