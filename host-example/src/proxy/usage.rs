//! The usage of a finished request, read from the upstream's answer: the `usage` object of a JSON
//! response, or of the final server-sent event of a stream (`prompt_tokens`,
//! `completion_tokens`, `prompt_tokens_details.cached_tokens`).

use keyward_plugin_api::ffi::Usage;
use serde::Deserialize;

#[derive(Deserialize, Default)]
struct Body {
    #[serde(default)]
    usage: Option<Wire>,
}

#[derive(Deserialize, Default)]
struct Wire {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<Details>,
}

#[derive(Deserialize, Default)]
struct Details {
    #[serde(default)]
    cached_tokens: u64,
}

/// The usage in a JSON response body, if it has one.
pub fn from_json(body: &[u8]) -> Option<Usage> {
    let body: Body = serde_json::from_slice(body).ok()?;
    body.usage.map(|wire| Usage {
        input_tokens: wire.prompt_tokens,
        cached_input_tokens: wire
            .prompt_tokens_details
            .map(|d| d.cached_tokens)
            .unwrap_or(0),
        output_tokens: wire.completion_tokens,
        cost_nanos: keyward_plugin_api::abi_stable::std_types::ROption::RNone,
        success: true,
    })
}

/// Scans a server-sent-event stream chunk by chunk and keeps the last `usage` it saw.
#[derive(Debug, Default)]
pub struct StreamUsage {
    pending: Vec<u8>,
    usage: Option<Usage>,
    /// Bytes of event data seen, for an estimate when the stream ends without usage.
    pub data_bytes: u64,
}

impl StreamUsage {
    /// Feeds a chunk of the stream.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.pending.extend_from_slice(chunk);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(data) = line.strip_prefix(b"data:") {
                let data = data.strip_prefix(b" ").unwrap_or(data);
                self.data_bytes += data.len() as u64;
                // Only the chunk that carries usage is parsed.
                if data != b"[DONE]"
                    && contains(data, b"\"usage\"")
                    && let Some(usage) = from_json(data)
                {
                    self.usage = Some(usage);
                }
            }
        }
    }

    /// The usage, once the final chunk carried it.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::{StreamUsage, from_json};

    #[test]
    fn reads_usage_from_a_json_body() {
        let usage = from_json(br#"{"id":"x","usage":{"prompt_tokens":12,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4}}}"#).unwrap();
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cached_input_tokens
            ),
            (12, 5, 4)
        );
        assert!(from_json(br#"{"id":"x"}"#).is_none());
        assert!(from_json(b"garbage").is_none());
    }

    #[test]
    fn finds_the_final_usage_in_a_stream_split_anywhere() {
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
                      data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\n\
                      data: [DONE]\n\n";
        for split in [1, 7, 64, stream.len()] {
            let mut scanner = StreamUsage::default();
            for chunk in stream.as_bytes().chunks(split) {
                scanner.feed(chunk);
            }
            let usage = scanner.usage().expect("usage found");
            assert_eq!(
                (usage.input_tokens, usage.output_tokens),
                (7, 3),
                "split {split}"
            );
        }
    }
}
