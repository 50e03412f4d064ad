//! What the proxy needs to know of an inference request body, read without building a tree:
//! the model (`provider/model` or plain), whether it streams, the output-token cap, and a
//! size-based estimate of the prompt tokens. And the rewritten body sent upstream: the provider's
//! model id spliced in place of the caller's, and, for streams, `stream_options.include_usage`
//! added so the final chunk carries the usage.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::json_scan::top_level_value;
use crate::api::error::ApiError;

/// Prompt tokens are estimated as one per this many body bytes (a conservative reading of the
/// usual four characters per token; the reservation is corrected by the actual usage).
pub const BYTES_PER_ESTIMATED_TOKEN: u64 = 4;

#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    stream_options: Option<IgnoredAny>,
}

/// The parts of a request the proxy acts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Inference {
    /// The provider named in `provider/model`, if any.
    pub provider: Option<String>,
    /// The model, without the provider prefix.
    pub model: String,
    /// Whether the response streams (server-sent events).
    pub stream: bool,
    /// `max_completion_tokens` or `max_tokens`.
    pub max_output_tokens: Option<u64>,
    /// Estimated prompt tokens.
    pub input_tokens_estimate: u64,
    has_stream_options: bool,
}

impl Inference {
    /// Reads a request body. A body that is not a JSON object, or has no string `model`, is a
    /// 400 naming the field.
    pub fn read(body: &[u8]) -> Result<Self, ApiError> {
        let peek: Peek<'_> = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(
                "body",
                format!("the request body is not a valid JSON object: {e}"),
            )
        })?;
        let Some(full) = peek.model.filter(|m| !m.trim().is_empty()) else {
            return Err(ApiError::bad_request("model", "model is required"));
        };
        let (provider, model) = match full.split_once('/') {
            Some((provider, model)) if !provider.is_empty() && !model.is_empty() => {
                (Some(provider.to_owned()), model.to_owned())
            }
            _ => (None, full.into_owned()),
        };
        Ok(Self {
            provider,
            model,
            stream: peek.stream.unwrap_or(false),
            max_output_tokens: peek.max_completion_tokens.or(peek.max_tokens),
            input_tokens_estimate: (body.len() as u64).div_ceil(BYTES_PER_ESTIMATED_TOKEN),
            has_stream_options: peek.stream_options.is_some(),
        })
    }

    /// The body to send upstream: `model` replaced by `provider_model` (when `replace_model`;
    /// Azure takes the deployment in the URL instead), and `stream_options.include_usage` added
    /// to a stream that sets no `stream_options`.
    pub fn upstream_body(&self, body: &Bytes, provider_model: &str, replace_model: bool) -> Bytes {
        let add_usage = self.stream && !self.has_stream_options;
        let model_span = replace_model
            .then(|| top_level_value(body, "model"))
            .flatten();
        if !add_usage && model_span.is_none() {
            return body.clone();
        }
        let quoted = serde_json::to_string(provider_model).unwrap_or_else(|_| "\"\"".to_owned());
        let mut out = Vec::with_capacity(body.len() + quoted.len() + 48);
        let mut rest_from = 0;
        if add_usage && let Some(open) = body.iter().position(|b| *b == b'{') {
            out.extend_from_slice(&body[..=open]);
            out.extend_from_slice(br#""stream_options":{"include_usage":true},"#);
            rest_from = open + 1;
        }
        match model_span {
            Some(span) => {
                out.extend_from_slice(&body[rest_from..span.start]);
                out.extend_from_slice(quoted.as_bytes());
                out.extend_from_slice(&body[span.end..]);
            }
            None => out.extend_from_slice(&body[rest_from..]),
        }
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests;
