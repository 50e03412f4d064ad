//! Removing the gateway's own usage event from a relayed stream: the gateway asks every stream
//! for its usage ([`crate::request::InferenceRequest::upstream_body`]) so that it can charge
//! it, and when the caller did not ask for that event
//! ([`crate::request::InferenceRequest::strips_usage_event`]) the host relays the stream
//! through a [`UsageEventStrip`], which drops each event whose data is a chunk with no choices
//! and a usage object (OpenAI's final usage chunk) and passes everything else byte for byte.
//!
//! The meter is fed the upstream's bytes before they pass through here, so the usage is still
//! charged. Chunks made of whole events and holding no usage event pass without a copy.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;

/// A stream's filter (see the module docs).
#[derive(Debug, Default)]
pub struct UsageEventStrip {
    /// The start of an event whose end has not come yet.
    held: Vec<u8>,
}

/// What the filter reads of an event's data.
#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Option<Vec<IgnoredAny>>,
    #[serde(default)]
    usage: Option<IgnoredAny>,
}

/// Whether `event` (its lines, without the blank line that ends it) is a usage-only chunk.
fn is_usage_event(event: &[u8]) -> bool {
    event.split(|b| *b == b'\n').any(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(data) = line.strip_prefix(b"data:") else {
            return false;
        };
        let data = data.strip_prefix(b" ").unwrap_or(data);
        // Only an event that mentions its usage is parsed.
        data.windows(7).any(|w| w == b"\"usage\"")
            && serde_json::from_slice::<Chunk>(data).is_ok_and(|chunk| {
                chunk.usage.is_some() && chunk.choices.as_ref().is_some_and(Vec::is_empty)
            })
    })
}

/// The end of the first whole event in `bytes` (after its blank line), if one ends there.
fn event_end(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|b| *b == b'\n') {
        let newline = at + offset;
        let rest = &bytes[newline + 1..];
        let blank = if rest.starts_with(b"\n") {
            Some(1)
        } else if rest.starts_with(b"\r\n") {
            Some(2)
        } else {
            None
        };
        if let Some(len) = blank {
            return Some(newline + 1 + len);
        }
        at = newline + 1;
    }
    None
}

impl UsageEventStrip {
    /// What to relay of `chunk` now: the chunk itself when it holds whole events and no usage
    /// event (nothing is copied), else its events without the usage ones; the start of an event
    /// that does not end in it is held until it does.
    pub fn pass<'c>(&mut self, chunk: &'c [u8]) -> Cow<'c, [u8]> {
        if self.held.is_empty() && chunk.ends_with(b"\n\n") && !has_usage_event(chunk) {
            return Cow::Borrowed(chunk);
        }
        self.held.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(self.held.len());
        let mut from = 0;
        while let Some(len) = event_end(&self.held[from..]) {
            let event = &self.held[from..from + len];
            if !is_usage_event(event) {
                out.extend_from_slice(event);
            }
            from += len;
        }
        self.held.drain(..from);
        Cow::Owned(out)
    }

    /// What is left when the stream ends: an event that never ended, relayed as it came.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

/// Whether any whole event of `chunk` is a usage event.
fn has_usage_event(chunk: &[u8]) -> bool {
    let mut from = 0;
    while let Some(len) = event_end(&chunk[from..]) {
        if is_usage_event(&chunk[from..from + len]) {
            return true;
        }
        from += len;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTENT: &[u8] =
        b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n";
    const USAGE: &[u8] =
        b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":2}}\n\n";
    const DONE: &[u8] = b"data: [DONE]\n\n";

    fn relayed(chunks: &[&[u8]]) -> Vec<u8> {
        let mut strip = UsageEventStrip::default();
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend_from_slice(&strip.pass(chunk));
        }
        out.extend(strip.finish());
        out
    }

    #[test]
    fn the_usage_event_is_dropped_and_everything_else_kept_byte_for_byte() {
        let whole = [CONTENT, USAGE, DONE].concat();
        assert_eq!(relayed(&[&whole]), [CONTENT, DONE].concat());
        assert_eq!(relayed(&[CONTENT, USAGE, DONE]), [CONTENT, DONE].concat());
    }

    #[test]
    fn events_split_across_chunks_are_held_until_they_end() {
        let whole = [CONTENT, USAGE, DONE].concat();
        for cut in 1..whole.len() {
            let (a, b) = whole.split_at(cut);
            assert_eq!(relayed(&[a, b]), [CONTENT, DONE].concat(), "cut at {cut}");
        }
        // CRLF line ends too.
        let crlf =
            b"data: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\r\n\r\ndata: [DONE]\r\n\r\n";
        assert_eq!(relayed(&[crlf]), b"data: [DONE]\r\n\r\n");
    }

    #[test]
    fn a_chunk_of_whole_events_without_usage_passes_uncopied() {
        let mut strip = UsageEventStrip::default();
        let chunk = [CONTENT, CONTENT].concat();
        assert!(matches!(strip.pass(&chunk), Cow::Borrowed(_)));
        // A content chunk that carries a usage too (some providers) is content: kept.
        let both = b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":{\"total_tokens\":1}}\n\n";
        assert_eq!(relayed(&[both]), both.to_vec());
        // An event that never ends is relayed as it came.
        assert_eq!(
            relayed(&[b"data: {\"choices\":[]"]),
            b"data: {\"choices\":[]".to_vec()
        );
    }
}
