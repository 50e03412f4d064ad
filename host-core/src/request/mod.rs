//! What the gateway needs to know of an inference request, read without building a JSON tree:
//! the kind (from the route), the model (`provider/model` or plain), whether it streams, the
//! output-token cap and a size-based estimate of the prompt; and the body sent upstream, with
//! the provider's model id spliced in place of the caller's and, for streams,
//! `stream_options.include_usage` set so the final event carries the usage — whatever the
//! caller asked: a stream the gateway cannot meter would be billed by estimate. When the caller
//! did not ask for the usage event, [`InferenceRequest::strips_usage_event`] says so, and the
//! host removes it from what it relays ([`crate::usage::UsageEventStrip`]).

mod json_scan;

use std::borrow::Cow;

use keyward_plugin_api::ffi::{RequestKind, UsageEstimate};
use serde::Deserialize;
use serde_json::Value;

use self::json_scan::top_level_value;
use crate::error::{ExtraFields, GatewayError};

/// Prompt tokens are estimated as one per this many body bytes (a conservative reading of the
/// usual four characters per token; the reservation is corrected by the actual usage). Output
/// delivered without a usage report is estimated the same way.
pub const BYTES_PER_ESTIMATED_TOKEN: u64 = 4;

/// Tokens estimated for `bytes` bytes of text.
pub fn estimated_tokens(bytes: u64) -> u64 {
    bytes.div_ceil(BYTES_PER_ESTIMATED_TOKEN)
}

#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    max_tokens: Option<serde_json::Number>,
    #[serde(default)]
    max_completion_tokens: Option<serde_json::Number>,
    #[serde(default)]
    max_output_tokens: Option<serde_json::Number>,
    #[serde(default)]
    n: Option<serde_json::Number>,
    #[serde(default)]
    best_of: Option<serde_json::Number>,
    /// Read whole only when sent (streams); `null` reads as absent.
    #[serde(default)]
    stream_options: Option<serde_json::Value>,
}

/// The parts of a request the gateway acts on.
#[derive(Clone, Debug, PartialEq)]
pub struct InferenceRequest {
    /// The request kind (from the route).
    pub kind: RequestKind,
    /// The provider named in `provider/model`, if any.
    pub provider: Option<String>,
    /// The model, without the provider prefix.
    pub model: String,
    /// Whether the caller asked for a stream (`"stream": true`).
    pub stream: bool,
    /// The output cap: the largest of `max_completion_tokens`, `max_output_tokens` (Responses
    /// API) and `max_tokens`, times the choices asked for (`n`, `best_of`) — a true worst case
    /// whichever field the upstream honours.
    pub max_output_tokens: Option<u64>,
    /// What admission reserves: the prompt estimate and the output cap.
    pub estimate: UsageEstimate,
    /// The URL's query string as sent (no `?`), for routing rules that read `params`; `None`
    /// when the URL has none.
    pub query: Option<String>,
    /// Whether the caller asked for the usage event (`stream_options.include_usage: true`).
    usage_asked: bool,
}

impl InferenceRequest {
    /// Reads a request body sent to a route of `kind`. A body that is not a JSON object, has no
    /// string `model`, or an output cap that is not a non-negative integer is a 400 naming the
    /// field.
    pub fn parse(kind: RequestKind, body: &[u8]) -> Result<Self, GatewayError> {
        let extra = || ExtraFields {
            request_type: Some(kind_name(kind).to_owned()),
            ..ExtraFields::default()
        };
        let peek: Peek<'_> = serde_json::from_slice(body).map_err(|e| {
            GatewayError::bad_request(
                "body",
                format!("the request body is not a valid JSON object: {e}"),
            )
            .with_extra(extra())
        })?;
        let Some(full) = peek.model.filter(|m| !m.trim().is_empty()) else {
            return Err(GatewayError::bad_request("model", "model is required").with_extra(extra()));
        };
        let cap = |name: &'static str, value: Option<serde_json::Number>| match value {
            None => Ok(None),
            Some(number) => number.as_u64().map(Some).ok_or_else(|| {
                GatewayError::bad_request(
                    name,
                    format!("{name} must be a non-negative integer, got {number}"),
                )
                .with_extra(extra())
            }),
        };
        let max_completion_tokens = cap("max_completion_tokens", peek.max_completion_tokens)?;
        let max_output_tokens = cap("max_output_tokens", peek.max_output_tokens)?;
        let max_tokens = cap("max_tokens", peek.max_tokens)?;
        let choices = cap("n", peek.n)?
            .unwrap_or(1)
            .max(cap("best_of", peek.best_of)?.unwrap_or(1))
            .max(1);
        let (provider, model) = match full.split_once('/') {
            Some((provider, model)) if !provider.is_empty() && !model.is_empty() => {
                (Some(provider.to_owned()), model.to_owned())
            }
            _ => (None, full.into_owned()),
        };
        let max_output_tokens = [max_completion_tokens, max_output_tokens, max_tokens]
            .into_iter()
            .flatten()
            .max()
            .map(|cap| cap.saturating_mul(choices));
        Ok(Self {
            kind,
            provider,
            model,
            stream: peek.stream.unwrap_or(false),
            max_output_tokens,
            estimate: UsageEstimate {
                input_tokens: estimated_tokens(body.len() as u64),
                max_output_tokens: max_output_tokens.into(),
            },
            query: None,
            usage_asked: peek
                .stream_options
                .as_ref()
                .is_some_and(|options| options["include_usage"] == true),
        })
    }

    /// Whether the stream's usage event is the gateway's own (it asked the upstream for it, the
    /// caller did not): the host then removes it from what it relays.
    pub fn strips_usage_event(&self) -> bool {
        self.stream && !self.usage_asked
    }

    /// The request with the URL's query string (`None` or empty: none).
    pub fn with_query(mut self, query: Option<&str>) -> Self {
        self.query = query.filter(|q| !q.is_empty()).map(str::to_owned);
        self
    }

    /// The context of this request's errors.
    pub fn extra(&self, provider: Option<&str>) -> ExtraFields {
        ExtraFields {
            provider: provider.or(self.provider.as_deref()).map(str::to_owned),
            model_requested: Some(self.model.clone()),
            request_type: Some(kind_name(self.kind).to_owned()),
        }
    }

    /// The body to send upstream, or `None` to send it as it came: `model` replaced by
    /// `provider_model` when `replace_model` (Azure takes the deployment in the URL instead)
    /// and the value differs, and `stream_options.include_usage: true` set on a stream that does
    /// not ask for it (other `stream_options` fields kept). The rest of the body is kept byte
    /// for byte.
    pub fn upstream_body(
        &self,
        body: &[u8],
        provider_model: &str,
        replace_model: bool,
    ) -> Option<Vec<u8>> {
        let add_usage = self.stream && !self.usage_asked;
        let model_span = replace_model
            .then(|| top_level_value(body, "model"))
            .flatten()
            .filter(|span| {
                serde_json::from_slice::<Cow<'_, str>>(&body[span.clone()])
                    .map_or(true, |current| current != provider_model)
            });
        if !add_usage && model_span.is_none() {
            return None;
        }
        // At most two edits, as (byte range replaced, replacement), applied in body order.
        let quoted = serde_json::to_string(provider_model).unwrap_or_else(|_| "\"\"".to_owned());
        let model_edit = model_span.map(|span| (span, quoted.as_bytes()));
        let options_with_usage;
        let usage_edit: Option<(std::ops::Range<usize>, &[u8])> = if add_usage {
            // An object gets `include_usage: true` among its fields; `null` (or another value)
            // is replaced; no `stream_options` gets one, first.
            Some(match top_level_value(body, "stream_options") {
                Some(span) => match serde_json::from_slice::<Value>(&body[span.clone()]) {
                    Ok(Value::Object(mut options)) => {
                        options.insert("include_usage".to_owned(), Value::Bool(true));
                        options_with_usage = Value::Object(options).to_string();
                        (span, options_with_usage.as_bytes())
                    }
                    _ => (span, br#"{"include_usage":true}"#),
                },
                None => {
                    let at = body.iter().position(|b| *b == b'{')? + 1;
                    (at..at, br#""stream_options":{"include_usage":true},"#)
                }
            })
        } else {
            None
        };
        let mut edits = [model_edit, usage_edit];
        if let [Some(first), Some(second)] = &edits
            && second.0.start < first.0.start
        {
            edits.swap(0, 1);
        }
        let mut out = Vec::with_capacity(body.len() + quoted.len() + 48);
        let mut from = 0;
        for (span, replacement) in edits.into_iter().flatten() {
            out.extend_from_slice(&body[from..span.start]);
            out.extend_from_slice(replacement);
            from = span.end;
        }
        out.extend_from_slice(&body[from..]);
        Some(out)
    }
}

/// The request kind of a URI path (`/v1/chat/completions`, `/openai/v1/responses`, …).
pub fn kind_of(path: &str) -> RequestKind {
    let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
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

/// The name of a request kind in error envelopes (`extra_fields.request_type`) and metrics.
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

#[cfg(test)]
mod tests;
