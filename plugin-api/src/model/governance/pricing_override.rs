//! Bifrost's `governance.pricing_overrides`: a price patch for the models matching a pattern,
//! within a scope (`global`, `provider`, `provider_key`, `virtual_key`,
//! `virtual_key_provider`, `virtual_key_provider_key`), checked as Bifrost checks it on save
//! (`framework/modelcatalog/datasheet/overrides.go`, `IsValid`).

use serde::{Deserialize, Serialize};

use super::serde_null::null_as_default;

/// How a pattern matches a model name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchType {
    /// The model name equals the pattern.
    Exact,
    /// The model name starts with the pattern without its one trailing `*`.
    Wildcard,
}

/// The request types an override may name (base types: a stream counts as its base type).
pub const REQUEST_TYPES: &[&str] = &[
    "chat_completion",
    "text_completion",
    "responses",
    "embedding",
    "rerank",
    "speech",
    "transcription",
    "image_generation",
    "image_variation",
    "image_edit",
    "video_generation",
    "video_remix",
    "compaction",
];

/// One entry of `governance.pricing_overrides`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PricingOverride {
    /// Its id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Where it applies.
    pub scope_kind: String,
    /// The virtual key's id (`virtual_key*` scopes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_key_id: Option<String>,
    /// The provider's name (`provider`, `virtual_key_provider*` scopes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// The provider key's id (`*provider_key` scopes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_key_id: Option<String>,
    /// The provider key's name, the file's alias of `provider_key_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_key_name: Option<String>,
    /// `exact` or `wildcard`.
    pub match_type: MatchType,
    /// The model name, or a prefix ending in one `*`.
    pub pattern: String,
    /// The request types it prices (at least one).
    #[serde(default, deserialize_with = "null_as_default")]
    pub request_types: Vec<String>,
    /// The price fields it sets: a JSON object, or (Bifrost's form) a string holding one.
    pub pricing_patch: serde_json::Value,
    /// Fields this model does not read, kept verbatim.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Where an override applies, its identifiers checked.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OverrideScope<'a> {
    /// Every request.
    Global,
    /// Requests to a provider.
    Provider(&'a str),
    /// Requests through a provider key.
    ProviderKey(&'a str),
    /// Requests with a virtual key.
    VirtualKey(&'a str),
    /// Requests with a virtual key to a provider.
    VirtualKeyProvider(&'a str, &'a str),
    /// Requests with a virtual key through a provider key of a provider.
    VirtualKeyProviderKey(&'a str, &'a str, &'a str),
}

impl PricingOverride {
    fn key(&self) -> Option<&str> {
        self.provider_key_id
            .as_deref()
            .or(self.provider_key_name.as_deref())
            .filter(|s| !s.is_empty())
    }

    /// Its scope, checked: each kind takes exactly its identifiers. `(field, reason)` otherwise.
    pub fn scope(&self) -> Result<OverrideScope<'_>, (&'static str, String)> {
        let vk = self.virtual_key_id.as_deref().filter(|s| !s.is_empty());
        let provider = self.provider_id.as_deref().filter(|s| !s.is_empty());
        let key = self.key();
        let only = |wanted: (bool, bool, bool)| {
            if (vk.is_some(), provider.is_some(), key.is_some()) == wanted {
                Ok(())
            } else {
                Err((
                    "scope_kind",
                    format!(
                        "scope_kind {:?} takes {}",
                        self.scope_kind,
                        match wanted {
                            (false, false, false) => "no scope identifier",
                            (false, true, false) => "provider_id only",
                            (false, false, true) => "provider_key_id (or provider_key_name) only",
                            (true, false, false) => "virtual_key_id only",
                            (true, true, false) => "virtual_key_id and provider_id",
                            _ => "virtual_key_id, provider_id and provider_key_id",
                        }
                    ),
                ))
            }
        };
        match self.scope_kind.as_str() {
            "global" => only((false, false, false)).map(|()| OverrideScope::Global),
            "provider" => only((false, true, false))
                .map(|()| OverrideScope::Provider(provider.unwrap_or_default())),
            "provider_key" => only((false, false, true))
                .map(|()| OverrideScope::ProviderKey(key.unwrap_or_default())),
            "virtual_key" => only((true, false, false))
                .map(|()| OverrideScope::VirtualKey(vk.unwrap_or_default())),
            "virtual_key_provider" => only((true, true, false)).map(|()| {
                OverrideScope::VirtualKeyProvider(
                    vk.unwrap_or_default(),
                    provider.unwrap_or_default(),
                )
            }),
            "virtual_key_provider_key" => only((true, true, true)).map(|()| {
                OverrideScope::VirtualKeyProviderKey(
                    vk.unwrap_or_default(),
                    provider.unwrap_or_default(),
                    key.unwrap_or_default(),
                )
            }),
            other => Err(("scope_kind", format!("unsupported scope_kind {other:?}"))),
        }
    }

    /// The pattern's prefix for a wildcard, checked with Bifrost's rules; the pattern for an
    /// exact match. `(field, reason)` otherwise.
    pub fn checked_pattern(&self) -> Result<&str, (&'static str, String)> {
        if self.pattern.is_empty() {
            return Err(("pattern", "pattern is required".to_owned()));
        }
        match self.match_type {
            MatchType::Exact if self.pattern.contains('*') => Err((
                "pattern",
                "an exact match pattern must not contain wildcards".to_owned(),
            )),
            MatchType::Exact => Ok(&self.pattern),
            MatchType::Wildcard => match self.pattern.strip_suffix('*') {
                Some(prefix) if !prefix.contains('*') => Ok(prefix),
                Some(_) => Err((
                    "pattern",
                    "a wildcard pattern must contain exactly one trailing *".to_owned(),
                )),
                None => Err(("pattern", "a wildcard pattern must end with *".to_owned())),
            },
        }
    }

    /// The request types, checked (at least one, each a base type).
    pub fn checked_request_types(&self) -> Result<(), (&'static str, String)> {
        if self.request_types.is_empty() {
            return Err((
                "request_types",
                "request_types is required and must contain at least one value".to_owned(),
            ));
        }
        for kind in &self.request_types {
            if !REQUEST_TYPES.contains(&kind.as_str()) {
                let base = kind.strip_suffix("_stream").unwrap_or(kind);
                return Err((
                    "request_types",
                    if REQUEST_TYPES.contains(&base) {
                        format!(
                            "unsupported request_type {kind:?}: use the base type ({base:?} covers both streaming and non-streaming)"
                        )
                    } else {
                        format!("unsupported request_type {kind:?}")
                    },
                ));
            }
        }
        Ok(())
    }

    /// The patch as an object: Bifrost's JSON-encoded string, or an object.
    pub fn patch(
        &self,
    ) -> Result<serde_json::Map<String, serde_json::Value>, (&'static str, String)> {
        let value = match &self.pricing_patch {
            serde_json::Value::String(text) => serde_json::from_str(text).map_err(|e| {
                (
                    "pricing_patch",
                    format!("is not a JSON object in a string: {e}"),
                )
            })?,
            other => other.clone(),
        };
        match value {
            serde_json::Value::Object(fields) => Ok(fields),
            _ => Err((
                "pricing_patch",
                "must be a JSON object (or a string holding one)".to_owned(),
            )),
        }
    }
}
