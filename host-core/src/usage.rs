//! [`UsageMeter`]: what a response used, read from its body as it passes through — the `usage`
//! object of a JSON answer, or of the last server-sent event that carries one — and what it
//! delivered, for the charge when no usage comes (a stream cut short, an upstream that reports
//! none). Both hosts feed it the body bytes they relay; it keeps only the current SSE line (a
//! JSON answer up to [`MAX_BUFFERED`]), so a long stream costs no memory.
//!
//! The usage fields read, in every shape the OpenAI-compatible APIs send:
//! - chat / completions / embeddings: `usage.prompt_tokens`, `usage.completion_tokens`,
//!   `usage.prompt_tokens_details.cached_tokens`;
//! - Responses API: `usage.input_tokens`, `usage.output_tokens`,
//!   `usage.input_tokens_details.cached_tokens`, also inside `response` (the
//!   `response.completed` event);
//!
//! cached tokens are clamped to the input tokens; a `usage` with none of those counters reports
//! nothing, and so does one past [`MAX_PLAUSIBLE_TOKENS`] (a broken upstream's: charged as an
//! answer without usage, not its absurd count). Delivered output is counted from the text the answer carries (`content`,
//! `reasoning_content` / `reasoning`, `refusal`, tool-call and function-call names and
//! arguments, of `choices[].delta` and `choices[].message`; `choices[].text`; Responses `delta`
//! events and output items), or from the body's bytes when its shape is not one of those.
//!
//! [`strip`]: the gateway's own usage event, removed from a stream whose caller did not ask
//! for it.

pub mod strip;

pub use strip::UsageEventStrip;

use std::borrow::Cow;

use keyward_plugin_api::ffi::Usage;
use serde::Deserialize;

use crate::request::estimated_tokens;

/// The most tokens one request can plausibly use on either side (no model's context comes
/// near it): a usage reporting more is an upstream's error, read as no usage at all.
pub const MAX_PLAUSIBLE_TOKENS: u64 = 100_000_000;

/// The most bytes buffered for a JSON body or one SSE line; past that the usage is unknown and
/// the delivered bytes are counted instead.
pub const MAX_BUFFERED: usize = 4 << 20;

/// How the response body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    /// One JSON document.
    Json,
    /// Server-sent events (`text/event-stream`).
    EventStream,
}

impl BodyFormat {
    /// The format of a response with this `Content-Type`: its content type alone decides (the
    /// request's `stream` flag only decides what the gateway asks of the upstream).
    pub fn of_content_type(content_type: Option<&[u8]>) -> Self {
        match content_type {
            Some(value)
                if value.len() >= 17 && value[..17].eq_ignore_ascii_case(b"text/event-stream") =>
            {
                Self::EventStream
            }
            _ => Self::Json,
        }
    }
}

/// What a metered body reported and delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metered {
    /// The usage the upstream reported, if it did.
    pub usage: Option<Usage>,
    /// Output tokens delivered to the client, estimated from the text sent (from the body's
    /// bytes when the usage was reported: then nothing charges it).
    pub delivered_output_tokens: u64,
}

/// Reads usage and delivered output from a response body fed in pieces.
#[derive(Debug)]
pub struct UsageMeter {
    format: BodyFormat,
    buffer: Vec<u8>,
    overflow: bool,
    last: Option<Usage>,
    delivered_text_bytes: u64,
    body_bytes: u64,
    opaque: bool,
}

impl UsageMeter {
    /// A meter for a body of `format`.
    pub fn new(format: BodyFormat) -> Self {
        Self {
            format,
            buffer: Vec::new(),
            overflow: false,
            last: None,
            delivered_text_bytes: 0,
            body_bytes: 0,
            opaque: false,
        }
    }

    /// The body cannot be read (it is compressed): from now on its bytes are only counted, as
    /// delivered output.
    pub fn unreadable(&mut self) {
        self.opaque = true;
        self.buffer = Vec::new();
    }

    /// `len` bytes of the body passed where the meter cannot read them (an nginx buffer spilled
    /// to a file): they count as delivered output, and the usage they may carry is lost.
    pub fn skip(&mut self, len: u64) {
        self.body_bytes += len;
        self.delivered_text_bytes += len;
        self.overflow = true;
        self.buffer = Vec::new();
    }

    /// The body's format.
    pub fn format(&self) -> BodyFormat {
        self.format
    }

    /// Feeds the next bytes of the body, as they are relayed to the client.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        self.body_bytes += bytes.len() as u64;
        if self.opaque {
            return;
        }
        if self.format == BodyFormat::Json {
            self.push(bytes);
            return;
        }
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            self.push(&bytes[..end]);
            self.finish_line();
            bytes = &bytes[end + 1..];
        }
        self.push(bytes);
    }

    /// What was read so far: call when the body ended, or was cut short.
    pub fn finish(mut self) -> Metered {
        if self.opaque {
            return self.bytes_only();
        }
        match self.format {
            BodyFormat::EventStream => {
                self.finish_line();
                Metered {
                    usage: self.last,
                    delivered_output_tokens: estimated_tokens(self.delivered_text_bytes),
                }
            }
            BodyFormat::Json => {
                let buffer = std::mem::take(&mut self.buffer);
                if self.overflow {
                    return self.bytes_only();
                }
                self.finish_whole(&buffer)
            }
        }
    }

    /// [`finish`](Self::finish) for a JSON meter fed nothing, whose host holds the whole body
    /// (no copy is made).
    pub fn finish_whole(mut self, body: &[u8]) -> Metered {
        if self.body_bytes == 0 {
            self.body_bytes = body.len() as u64;
        }
        // Most answers report their usage: read only that (the rest is skipped, not built).
        if let Ok(reported) = serde_json::from_slice::<Reported>(body)
            && let Some(usage) = reported.usage()
        {
            return Metered {
                usage: Some(usage),
                delivered_output_tokens: estimated_tokens(self.body_bytes),
            };
        }
        match serde_json::from_slice::<Answer<'_>>(body) {
            Ok(answer) => {
                let text = answer.text_bytes();
                Metered {
                    usage: answer.usage(),
                    delivered_output_tokens: match text {
                        Some(text) => estimated_tokens(text),
                        None => estimated_tokens(self.body_bytes),
                    },
                }
            }
            Err(_) => self.bytes_only(),
        }
    }

    fn bytes_only(&self) -> Metered {
        Metered {
            usage: None,
            delivered_output_tokens: estimated_tokens(self.body_bytes),
        }
    }

    fn push(&mut self, part: &[u8]) {
        let stream = self.format == BodyFormat::EventStream;
        if self.overflow {
            if stream {
                self.delivered_text_bytes += part.len() as u64;
            }
        } else if self.buffer.len() + part.len() > MAX_BUFFERED {
            // Too large to read: an event's bytes count as delivered text.
            if stream {
                self.delivered_text_bytes += (self.buffer.len() + part.len()) as u64;
            }
            self.overflow = true;
            self.buffer = Vec::new();
        } else {
            self.buffer.extend_from_slice(part);
        }
    }

    fn finish_line(&mut self) {
        let overflow = std::mem::replace(&mut self.overflow, false);
        if overflow {
            // An event too large (or skipped) to read: its bytes were counted as they came.
            self.buffer.clear();
            return;
        }
        let line = self.buffer.strip_suffix(b"\r").unwrap_or(&self.buffer);
        if let Some(data) = line.strip_prefix(b"data:") {
            let data = data.strip_prefix(b" ").unwrap_or(data);
            if data != b"[DONE]" {
                match serde_json::from_slice::<Answer<'_>>(data) {
                    Ok(event) => {
                        if let Some(usage) = event.usage() {
                            self.last = Some(usage);
                        }
                        self.delivered_text_bytes +=
                            event.text_bytes().unwrap_or(data.len() as u64);
                    }
                    Err(_) => self.delivered_text_bytes += data.len() as u64,
                }
            }
        }
        self.buffer.clear();
    }
}

/// The usage in a whole JSON body, if it has one.
pub fn from_json(body: &[u8]) -> Option<Usage> {
    serde_json::from_slice::<Reported>(body).ok()?.usage()
}

/// Only the usage of an answer.
#[derive(Deserialize, Default)]
struct Reported {
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    response: Option<Inner>,
}

impl Reported {
    fn usage(&self) -> Option<Usage> {
        reported(self.usage, self.response.as_ref())
    }
}

/// The usage an answer reports: its own `usage`, else its `response`'s (Responses API).
fn reported(usage: Option<WireUsage>, response: Option<&Inner>) -> Option<Usage> {
    usage
        .or_else(|| response.and_then(|r| r.usage))
        .and_then(WireUsage::to_usage)
}

/// An answer or a streamed event, as far as usage and delivered text go.
#[derive(Deserialize, Default)]
struct Answer<'a> {
    #[serde(default)]
    usage: Option<WireUsage>,
    /// Responses API: the `response.completed` (and similar) events carry the response.
    #[serde(default)]
    response: Option<Inner>,
    #[serde(default, borrow)]
    choices: Option<Vec<Choice<'a>>>,
    /// Responses API text and argument deltas (`response.output_text.delta`, …).
    #[serde(default, borrow)]
    delta: Option<Cow<'a, str>>,
    /// Responses API: a whole answer's output items.
    #[serde(default, borrow)]
    output: Option<Vec<OutputItem<'a>>>,
}

#[derive(Deserialize, Default)]
struct Inner {
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize, Default)]
struct Choice<'a> {
    #[serde(default, borrow)]
    delta: Option<Message<'a>>,
    #[serde(default, borrow)]
    message: Option<Message<'a>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Message<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<ToolCall<'a>>>,
    /// The legacy single function call.
    #[serde(default, borrow)]
    function_call: Option<Function<'a>>,
}

#[derive(Deserialize, Default)]
struct ToolCall<'a> {
    #[serde(default, borrow)]
    function: Option<Function<'a>>,
}

#[derive(Deserialize, Default)]
struct Function<'a> {
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct OutputItem<'a> {
    #[serde(default, borrow)]
    content: Option<Vec<OutputContent<'a>>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct OutputContent<'a> {
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<Details>,
    #[serde(default)]
    input_tokens_details: Option<Details>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct Details {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

impl WireUsage {
    /// The usage, or `None` when no token counter is present (`"usage": {}`, only
    /// `total_tokens`) or one is past [`MAX_PLAUSIBLE_TOKENS`]: that reports nothing, and the
    /// delivered output is charged instead.
    fn to_usage(self) -> Option<Usage> {
        let counted = [
            self.prompt_tokens,
            self.input_tokens,
            self.completion_tokens,
            self.output_tokens,
        ];
        if counted.iter().all(Option::is_none)
            || counted.iter().flatten().any(|&n| n > MAX_PLAUSIBLE_TOKENS)
        {
            return None;
        }
        let input = self.prompt_tokens.or(self.input_tokens).unwrap_or(0);
        let cached = self
            .prompt_tokens_details
            .or(self.input_tokens_details)
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0);
        Some(Usage {
            extensions: Default::default(),
            input_tokens: input,
            cached_input_tokens: cached.min(input),
            output_tokens: self.completion_tokens.or(self.output_tokens).unwrap_or(0),
            cost_nanos: None.into(),
            success: true,
        })
    }
}

impl Answer<'_> {
    fn usage(&self) -> Option<Usage> {
        reported(self.usage, self.response.as_ref())
    }

    /// Bytes of generated text this answer or event carries; `None` when it has none of the
    /// known shapes (the caller then counts the body's bytes).
    fn text_bytes(&self) -> Option<u64> {
        let len = |text: &Option<Cow<'_, str>>| text.as_ref().map_or(0, |t| t.len() as u64);
        let message = |m: &Message<'_>| {
            len(&m.content)
                + len(&m.reasoning_content)
                + len(&m.reasoning)
                + len(&m.refusal)
                + m.function_call
                    .as_ref()
                    .map_or(0, |f| len(&f.name) + len(&f.arguments))
                + m.tool_calls
                    .iter()
                    .flatten()
                    .map(|call| {
                        call.function
                            .as_ref()
                            .map_or(0, |f| len(&f.name) + len(&f.arguments))
                    })
                    .sum::<u64>()
        };
        let choices = self.choices.as_ref().map(|choices| {
            choices
                .iter()
                .map(|c| {
                    c.delta.as_ref().map_or(0, message)
                        + c.message.as_ref().map_or(0, message)
                        + len(&c.text)
                })
                .sum::<u64>()
        });
        let output = self.output.as_ref().map(|items| {
            items
                .iter()
                .map(|item| {
                    len(&item.arguments)
                        + item
                            .content
                            .iter()
                            .flatten()
                            .map(|c| len(&c.text))
                            .sum::<u64>()
                })
                .sum::<u64>()
        });
        let delta = self.delta.as_ref().map(|d| d.len() as u64);
        match (choices, output, delta) {
            (None, None, None) if self.usage.is_some() || self.response.is_some() => Some(0),
            (None, None, None) => None,
            (c, o, d) => Some(c.unwrap_or(0) + o.unwrap_or(0) + d.unwrap_or(0)),
        }
    }
}

#[cfg(test)]
mod tests;
