//! Bifrost's names of request types (`chat_completion`, `chat_completion_stream`, `embedding`,
//! …), as its custom providers' `allowed_requests`, its routing rules' `request_type` and its
//! pricing overrides' `request_types` name them. A stream is its own type.

use crate::ffi::RequestKind;

/// The name of a request of `kind`, streamed or not; `passthrough` for a kind Bifrost has no
/// name for.
pub fn request_type(kind: RequestKind, stream: bool) -> &'static str {
    match (kind, stream) {
        (RequestKind::CHAT_COMPLETION, false) => "chat_completion",
        (RequestKind::CHAT_COMPLETION, true) => "chat_completion_stream",
        (RequestKind::TEXT_COMPLETION, false) => "text_completion",
        (RequestKind::TEXT_COMPLETION, true) => "text_completion_stream",
        (RequestKind::RESPONSES, false) => "responses",
        (RequestKind::RESPONSES, true) => "responses_stream",
        (RequestKind::EMBEDDING, _) => "embedding",
        (RequestKind::IMAGE, _) => "image_generation",
        // keyward's audio route serves transcriptions and speech; it is named for the first.
        (RequestKind::AUDIO, _) => "transcription",
        (RequestKind::BATCH, _) => "batch",
        _ => "passthrough",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_its_own_type_where_bifrost_has_one() {
        assert_eq!(
            request_type(RequestKind::CHAT_COMPLETION, true),
            "chat_completion_stream"
        );
        assert_eq!(request_type(RequestKind::EMBEDDING, true), "embedding");
        assert_eq!(request_type(RequestKind::OTHER, false), "passthrough");
    }
}
