//! A custom provider's `custom_provider_config.allowed_requests` and `request_path_overrides`
//! (Bifrost's schema and its custom-providers page):
//!
//! - `allowed_requests` absent: every request type is allowed; present: only the types set to
//!   `true` (a stream is its own type, `chat_completion_stream`), anything else is refused with
//!   400 `unsupported_operation` ("chat_completion_stream is not supported by openai-custom
//!   provider"), before any key is called;
//! - `request_path_overrides`: the path (appended to `base_url`, a leading `/` added) or the
//!   whole URL (with a scheme and host) called for a request type; a blank value keeps the
//!   default path.

use std::collections::HashMap;

use keyward_plugin_api::ffi::RequestKind;
use serde_json::Value;

use crate::{config::ProviderConfig, error::GatewayError};

pub use keyward_plugin_api::model::request_type::request_type;

/// Where a path override sends a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathOverride {
    /// A path on the provider's base URL.
    Path(String),
    /// A whole URL.
    Url(String),
}

/// A provider's request rules (empty for a standard provider).
#[derive(Clone, Debug, Default)]
pub struct RequestRules {
    allowed: Option<Vec<String>>,
    overrides: HashMap<String, PathOverride>,
}

impl RequestRules {
    /// The rules of a provider's `custom_provider_config`.
    pub fn of(provider: &ProviderConfig) -> Self {
        let Some(custom) = provider.other.get("custom_provider_config") else {
            return Self::default();
        };
        let allowed = custom
            .get("allowed_requests")
            .and_then(Value::as_object)
            .map(|types| {
                types
                    .iter()
                    .filter(|(_, on)| on.as_bool() == Some(true))
                    .map(|(name, _)| name.clone())
                    .collect()
            });
        let overrides = custom
            .get("request_path_overrides")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(kind, target)| {
                let target = target.as_str()?.trim();
                if target.is_empty() {
                    return None;
                }
                let over = if target.starts_with("http://") || target.starts_with("https://") {
                    PathOverride::Url(target.trim_end_matches('/').to_owned())
                } else if target.starts_with('/') {
                    PathOverride::Path(target.to_owned())
                } else {
                    PathOverride::Path(format!("/{target}"))
                };
                Some((kind.clone(), over))
            })
            .collect();
        Self { allowed, overrides }
    }

    /// The refusal of a request type the provider does not allow.
    pub fn refusal(&self, provider: &str, kind: RequestKind, stream: bool) -> Option<GatewayError> {
        let allowed = self.allowed.as_ref()?;
        let name = request_type(kind, stream);
        (!allowed.iter().any(|a| a == name)).then(|| {
            GatewayError::new(
                400,
                "unsupported_operation",
                format!("{name} is not supported by {provider} provider (custom_provider_config.allowed_requests)"),
            )
        })
    }

    /// The override for a request type, if any.
    pub fn path_override(&self, kind: RequestKind, stream: bool) -> Option<&PathOverride> {
        self.overrides.get(request_type(kind, stream))
    }
}

#[cfg(test)]
mod tests {
    use keyward_plugin_api::ffi::RequestKind;
    use serde_json::json;

    use super::{PathOverride, RequestRules};
    use crate::config::ProviderConfig;

    fn rules(custom: serde_json::Value) -> RequestRules {
        let provider: ProviderConfig =
            serde_json::from_value(json!({"custom_provider_config": custom})).unwrap();
        RequestRules::of(&provider)
    }

    #[test]
    fn only_the_allowed_request_types_pass_and_a_stream_is_its_own_type() {
        let only_chat = rules(json!({"base_provider_type": "openai",
                                     "allowed_requests": {"chat_completion": true, "embedding": false}}));
        assert!(
            only_chat
                .refusal("c", RequestKind::CHAT_COMPLETION, false)
                .is_none()
        );
        let stream = only_chat
            .refusal("c", RequestKind::CHAT_COMPLETION, true)
            .unwrap();
        assert_eq!(stream.status, 400);
        assert!(
            stream
                .message
                .contains("chat_completion_stream is not supported by c provider")
        );
        assert!(
            only_chat
                .refusal("c", RequestKind::EMBEDDING, false)
                .is_some()
        );
        let open = rules(json!({"base_provider_type": "openai"}));
        assert!(open.refusal("c", RequestKind::EMBEDDING, false).is_none());
        assert!(
            rules(json!({"allowed_requests": {}}))
                .refusal("c", RequestKind::CHAT_COMPLETION, false)
                .is_some()
        );
    }

    #[test]
    fn path_overrides_are_paths_or_whole_urls() {
        let r = rules(json!({"request_path_overrides": {
            "chat_completion": "/api/v2/chat", "chat_completion_stream": "api/v2/chat",
            "embedding": "http://another-service:8080/embeddings", "text_completion": " "}}));
        assert_eq!(
            r.path_override(RequestKind::CHAT_COMPLETION, false),
            Some(&PathOverride::Path("/api/v2/chat".into()))
        );
        assert_eq!(
            r.path_override(RequestKind::CHAT_COMPLETION, true),
            Some(&PathOverride::Path("/api/v2/chat".into()))
        );
        assert_eq!(
            r.path_override(RequestKind::EMBEDDING, false),
            Some(&PathOverride::Url(
                "http://another-service:8080/embeddings".into()
            ))
        );
        assert_eq!(r.path_override(RequestKind::TEXT_COMPLETION, false), None);
    }
}
