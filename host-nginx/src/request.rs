//! What the module learns from a request before calling the plugins: the request kind (from the
//! URI), the provider and model (from the JSON body's `model`, `provider/model` or plain), the
//! size estimate and whether the response will stream. Also the body rewrite that sends the
//! provider's model id upstream.

use keyward_plugin_api::ffi::{RequestKind, UsageEstimate};
use serde_json::Value;

/// A parsed request body.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestInfo {
    /// The request kind.
    pub kind: RequestKind,
    /// The provider the caller named with `provider/model`, if any.
    pub provider: Option<String>,
    /// The model, without the provider prefix.
    pub model: String,
    /// The model exactly as the caller sent it.
    pub model_requested: String,
    /// The size estimate.
    pub estimate: UsageEstimate,
    /// Whether the caller asked for a stream (`"stream": true`).
    pub stream: bool,
    /// Whether the body sets `stream_options` (a stream without it gets
    /// `stream_options.include_usage`, so its last event carries the usage).
    pub has_stream_options: bool,
}

/// Why a body cannot be gated.
#[derive(Clone, Debug, PartialEq)]
pub struct BodyError {
    /// The offending parameter.
    pub param: &'static str,
    /// What is wrong (never a secret: the body is not quoted).
    pub message: String,
}

/// The request kind of a URI path.
pub fn kind_of(path: &str) -> RequestKind {
    let path = path.trim_end_matches('/');
    if path.ends_with("/chat/completions") {
        RequestKind::CHAT_COMPLETION
    } else if path.ends_with("/completions") {
        RequestKind::TEXT_COMPLETION
    } else if path.ends_with("/embeddings") {
        RequestKind::EMBEDDING
    } else if path.ends_with("/responses") {
        RequestKind::RESPONSES
    } else if path.contains("/images/") {
        RequestKind::IMAGE
    } else if path.contains("/audio/") {
        RequestKind::AUDIO
    } else if path.contains("/batches") {
        RequestKind::BATCH
    } else {
        RequestKind::OTHER
    }
}

/// The name of a request kind in error envelopes (`extra_fields.request_type`).
pub fn kind_name(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::CHAT_COMPLETION => "chat_completion",
        RequestKind::TEXT_COMPLETION => "text_completion",
        RequestKind::EMBEDDING => "embedding",
        RequestKind::RESPONSES => "responses",
        RequestKind::IMAGE => "image_generation",
        RequestKind::AUDIO => "audio",
        RequestKind::BATCH => "batch",
        _ => "other",
    }
}

/// Parses a JSON request body sent to `path`.
pub fn parse(path: &str, body: &[u8]) -> Result<RequestInfo, BodyError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| BodyError {
        param: "body",
        message: format!("the request body is not a valid JSON object: {e}"),
    })?;
    let model_requested = value
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| BodyError {
            param: "model",
            message: "model is required".to_owned(),
        })?
        .to_owned();
    let (provider, model) = match model_requested.split_once('/') {
        Some((provider, model)) if !provider.is_empty() && !model.is_empty() => {
            (Some(provider.to_owned()), model.to_owned())
        }
        _ => (None, model_requested.clone()),
    };
    let max_output_tokens = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|field| value.get(*field).and_then(Value::as_u64));
    Ok(RequestInfo {
        kind: kind_of(path),
        provider,
        model,
        model_requested,
        estimate: UsageEstimate {
            input_tokens: estimate_input_tokens(body.len()),
            max_output_tokens: max_output_tokens.into(),
        },
        stream: value
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        has_stream_options: value.get("stream_options").is_some(),
    })
}

/// Prompt tokens are estimated as one per this many body bytes, as keyward-host does (the
/// reservation is corrected by the actual usage).
pub const BYTES_PER_ESTIMATED_TOKEN: usize = 4;

fn estimate_input_tokens(body_len: usize) -> u64 {
    u64::try_from(body_len.div_ceil(BYTES_PER_ESTIMATED_TOKEN)).unwrap_or(u64::MAX)
}

/// The body to send upstream, when it must change: `model` replaced by `provider_model` (the
/// provider prefix removed, an alias resolved) and, for a stream that sets no `stream_options`,
/// `"stream_options": {"include_usage": true}` added (as keyward-host does). `None`: send the
/// body as it came.
pub fn upstream_body(body: &[u8], info: &RequestInfo, provider_model: &str) -> Option<Vec<u8>> {
    let add_usage = info.stream && !info.has_stream_options;
    if !add_usage && info.model_requested == provider_model {
        return None;
    }
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object_mut()?;
    object.insert("model".to_owned(), Value::String(provider_model.to_owned()));
    if add_usage {
        object.insert(
            "stream_options".to_owned(),
            serde_json::json!({"include_usage": true}),
        );
    }
    serde_json::to_vec(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_prefix_and_estimate() {
        let body = br#"{"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 7, "stream": true}"#;
        let info = parse("/v1/chat/completions", body).unwrap();
        assert_eq!(info.kind, RequestKind::CHAT_COMPLETION);
        assert_eq!(info.provider.as_deref(), Some("openai"));
        assert_eq!(info.model, "gpt-4o");
        assert_eq!(info.model_requested, "openai/gpt-4o");
        assert_eq!(info.estimate.max_output_tokens.into_option(), Some(7));
        assert_eq!(info.estimate.input_tokens, (body.len() as u64).div_ceil(4));
        assert!(info.stream);
    }

    #[test]
    fn plain_model_and_errors() {
        let info = parse(
            "/v1/embeddings",
            br#"{"model": "text-embedding-3-small", "input": "x"}"#,
        )
        .unwrap();
        assert_eq!(info.provider, None);
        assert_eq!(info.kind, RequestKind::EMBEDDING);
        assert_eq!(
            parse("/v1/chat/completions", b"{}").unwrap_err().param,
            "model"
        );
        assert_eq!(
            parse("/v1/chat/completions", b"not json")
                .unwrap_err()
                .param,
            "body"
        );
    }

    #[test]
    fn kinds() {
        assert_eq!(kind_of("/v1/completions"), RequestKind::TEXT_COMPLETION);
        assert_eq!(kind_of("/openai/v1/responses"), RequestKind::RESPONSES);
        assert_eq!(kind_of("/v1/models"), RequestKind::OTHER);
        assert_eq!(kind_name(RequestKind::CHAT_COMPLETION), "chat_completion");
    }

    #[test]
    fn upstream_body_rewrites_model_and_asks_streams_for_usage() {
        let body = br#"{"model": "openai/gpt-4o", "n": 1}"#;
        let info = parse("/v1/chat/completions", body).unwrap();
        let value: Value =
            serde_json::from_slice(&upstream_body(body, &info, "gpt-4o").unwrap()).unwrap();
        assert_eq!(value["model"], "gpt-4o");
        assert_eq!(value["n"], 1);
        assert!(value.get("stream_options").is_none());

        let plain = br#"{"model": "gpt-4o"}"#;
        assert_eq!(
            upstream_body(
                plain,
                &parse("/v1/chat/completions", plain).unwrap(),
                "gpt-4o"
            ),
            None
        );

        let stream = br#"{"model": "gpt-4o", "stream": true}"#;
        let info = parse("/v1/chat/completions", stream).unwrap();
        let value: Value =
            serde_json::from_slice(&upstream_body(stream, &info, "gpt-4o").unwrap()).unwrap();
        assert_eq!(value["stream_options"]["include_usage"], true);

        let own =
            br#"{"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": false}}"#;
        assert_eq!(
            upstream_body(own, &parse("/v1/chat/completions", own).unwrap(), "gpt-4o"),
            None
        );
    }
}
