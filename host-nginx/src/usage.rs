//! Reading the actual usage from an upstream response: the `usage` object of a JSON body
//! (chat/completions, embeddings: `prompt_tokens`/`completion_tokens`; responses:
//! `input_tokens`/`output_tokens`), or of the last SSE `data:` event that carries one (streams
//! with `stream_options.include_usage`). The scanner keeps only the current line and the last
//! usage seen, so a long stream costs no memory.

use keyward_plugin_api::ffi::Usage;
use serde_json::Value;

/// The most bytes buffered for a JSON body or one SSE line; past that the usage is unknown.
pub const MAX_BUFFERED: usize = 4 << 20;

/// Reads a `usage` object, if the value has one.
pub fn from_value(value: &Value) -> Option<Usage> {
    let usage = value.get("usage").filter(|u| u.is_object())?;
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| usage.get(*n).and_then(Value::as_u64))
    };
    let input = field(&["prompt_tokens", "input_tokens"]).unwrap_or(0);
    let output = field(&["completion_tokens", "output_tokens"]).unwrap_or(0);
    let cached = ["prompt_tokens_details", "input_tokens_details"]
        .iter()
        .find_map(|d| {
            usage
                .get(*d)
                .and_then(|d| d.get("cached_tokens"))
                .and_then(Value::as_u64)
        })
        .unwrap_or(0);
    Some(Usage {
        input_tokens: input,
        cached_input_tokens: cached.min(input),
        output_tokens: output,
        cost_nanos: None.into(),
        success: true,
    })
}

/// Accumulates a response body and finds its usage at the end.
#[derive(Debug, Default)]
pub struct UsageScanner {
    sse: bool,
    buffer: Vec<u8>,
    overflow: bool,
    last: Option<Usage>,
}

impl UsageScanner {
    /// A scanner for a JSON body (`sse == false`) or an event stream.
    pub fn new(sse: bool) -> Self {
        Self {
            sse,
            ..Self::default()
        }
    }

    /// Feeds the next bytes of the body.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        if !self.sse {
            if self.buffer.len() + bytes.len() > MAX_BUFFERED {
                self.overflow = true;
                self.buffer = Vec::new();
            }
            if !self.overflow {
                self.buffer.extend_from_slice(bytes);
            }
            return;
        }
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            self.push_line_part(&bytes[..end]);
            self.finish_line();
            bytes = &bytes[end + 1..];
        }
        self.push_line_part(bytes);
    }

    /// The usage found, once the whole body was fed.
    pub fn finish(mut self) -> Option<Usage> {
        if self.sse {
            self.finish_line();
            return self.last;
        }
        if self.overflow {
            return None;
        }
        serde_json::from_slice::<Value>(&self.buffer)
            .ok()
            .as_ref()
            .and_then(from_value)
    }

    fn push_line_part(&mut self, part: &[u8]) {
        if self.buffer.len() + part.len() > MAX_BUFFERED {
            self.overflow = true;
        } else if !self.overflow {
            self.buffer.extend_from_slice(part);
        }
    }

    fn finish_line(&mut self) {
        let line = std::mem::take(&mut self.buffer);
        let overflow = std::mem::replace(&mut self.overflow, false);
        if overflow {
            return;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        // Cheap test first: most events carry no usage.
        if !data.windows(7).any(|w| w == b"\"usage\"") {
            return;
        }
        if let Some(usage) = serde_json::from_slice::<Value>(data)
            .ok()
            .as_ref()
            .and_then(from_value)
        {
            self.last = Some(usage);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_body_in_pieces() {
        let body = br#"{"id": "x", "usage": {"prompt_tokens": 10, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 4}}}"#;
        let mut scanner = UsageScanner::new(false);
        for chunk in body.chunks(7) {
            scanner.feed(chunk);
        }
        let usage = scanner.finish().unwrap();
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cached_input_tokens
            ),
            (10, 5, 4)
        );
        assert!(usage.success);
    }

    #[test]
    fn responses_api_fields() {
        let value: Value =
            serde_json::from_str(r#"{"usage": {"input_tokens": 3, "output_tokens": 2}}"#).unwrap();
        let usage = from_value(&value).unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (3, 2));
        assert_eq!(from_value(&serde_json::json!({"usage": null})), None);
    }

    #[test]
    fn sse_last_usage_wins() {
        let stream = b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\r\n\r\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
        let mut scanner = UsageScanner::new(true);
        for chunk in stream.chunks(5) {
            scanner.feed(chunk);
        }
        let usage = scanner.finish().unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (8, 2));
    }

    #[test]
    fn no_usage() {
        let mut scanner = UsageScanner::new(false);
        scanner.feed(b"{\"id\": 1}");
        assert_eq!(scanner.finish(), None);
    }
}
