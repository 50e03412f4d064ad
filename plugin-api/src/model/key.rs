//! Provider keys: Bifrost's key document (`/api/keys`, `/api/providers/{provider}/keys/{id}`),
//! the selection rules that decide which keys serve a model, and the candidate index both
//! key-selection plugins build from a configuration.
//!
//! - [`Key`]: one provider key, with its per-provider configurations ([`provider_configs`]) and
//!   model [`aliases`]. Secret-bearing fields are [`EnvValue`]s, so they redact themselves in
//!   responses; [`Key::resolve_env`] reads `env.NAME` references ([`env`]); [`Key::config_hash`]
//!   is a stable SHA-256 of the configuration ([`hash`]).
//! - [`routing`]: whether a key serves a model, and the provider model id it maps it to.
//! - [`config`]: the plugin configuration `{"providers": {"openai": {"keys": [...]}}}`, parsed
//!   with field paths in errors.
//! - [`index`] and [`constraints`]: per-(provider, model) candidate tables built off the request
//!   path, and the per-request rules (pinned key, allow-list, failed keys) shared by selectors.
//!
//! Unknown fields are kept ([`KeptFields`]: saved verbatim, shown redacted). Go's `null` for a list or a map reads as
//! absent. `models` absent (or `null`) allows every model, like `["*"]`; an explicit empty list
//! allows none.
//!
//! ```
//! use keyward_plugin_api::model::key::Key;
//!
//! let key: Key = serde_json::from_str(
//!     r#"{"id": "k1", "name": "main", "value": "sk-0123456789abcdef", "models": ["gpt-4o"], "weight": 2}"#,
//! ).unwrap();
//! assert!(key.route("GPT-4o").is_some());
//! let shown = serde_json::to_string(&key).unwrap();
//! // 19 characters: at most 4 shown, the public `sk-` and the last one.
//! assert!(shown.contains(&format!("sk-{}f", "*".repeat(15))));
//! ```

pub mod aliases;
pub mod config;
pub mod constraints;
pub mod env;
pub mod hash;
pub mod index;
pub mod provider_configs;
pub mod records;
pub mod routing;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::{kept::KeptFields, secret::EnvValue, weight::Weight};
pub use aliases::{Alias, AliasDetails};
pub use provider_configs::{
    AzureKeyConfig, BatchS3Config, BedrockKeyConfig, HuggingfaceKeyConfig, OllamaKeyConfig,
    ReplicateKeyConfig, S3Bucket, SglKeyConfig, VertexKeyConfig, VllmKeyConfig,
};

/// The allow-list entry that allows every model.
pub const ALL_MODELS: &str = "*";

/// One provider key, exactly the fields of Bifrost's key document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Key {
    /// Unique identifier of the key.
    pub id: String,
    /// Human-readable name (a caller may pin a key by id or by name).
    pub name: String,
    /// The API key (env-backed, redacted in responses).
    pub value: EnvValue,
    /// The models this key serves (`["*"]`: all; `[]`: none). Case-insensitive.
    #[serde(deserialize_with = "null_as_all_models")]
    pub models: Vec<String>,
    /// Models this key never serves, even when `models` allows them. Case-insensitive.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub blacklisted_models: Vec<String>,
    /// The load-balancing weight (absent: 1.0).
    #[serde(deserialize_with = "null_as_default")]
    pub weight: Weight,
    /// User-facing model name -> provider model id.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub aliases: BTreeMap<String, Alias>,
    /// Azure-specific configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_key_config: Option<AzureKeyConfig>,
    /// Vertex-specific configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vertex_key_config: Option<VertexKeyConfig>,
    /// AWS Bedrock-specific configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bedrock_key_config: Option<BedrockKeyConfig>,
    /// Hugging Face-specific configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub huggingface_key_config: Option<HuggingfaceKeyConfig>,
    /// Replicate-specific configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicate_key_config: Option<ReplicateKeyConfig>,
    /// vLLM-specific configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vllm_key_config: Option<VllmKeyConfig>,
    /// Ollama-specific configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ollama_key_config: Option<OllamaKeyConfig>,
    /// SGLang-specific configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sgl_key_config: Option<SglKeyConfig>,
    /// Whether the key is active (absent: enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Whether the key serves batch API requests (absent: no).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_for_batch_api: Option<bool>,
    /// Hash of the key's configuration, for change detection (see [`Key::config_hash`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// Status of the key, e.g. `success`, `list_models_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Error or status description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Fields keyward does not read (a newer Bifrost's, say), kept verbatim and shown
    /// redacted; the host warns once naming them.
    #[serde(flatten, skip_serializing_if = "KeptFields::is_empty")]
    pub other: KeptFields,
}

impl Default for Key {
    fn default() -> Self {
        Self {
            id: String::new(),
            name: String::new(),
            value: EnvValue::default(),
            models: vec![ALL_MODELS.to_owned()],
            blacklisted_models: Vec::new(),
            weight: Weight::default(),
            aliases: BTreeMap::new(),
            azure_key_config: None,
            vertex_key_config: None,
            bedrock_key_config: None,
            huggingface_key_config: None,
            replicate_key_config: None,
            vllm_key_config: None,
            ollama_key_config: None,
            sgl_key_config: None,
            enabled: None,
            use_for_batch_api: None,
            config_hash: None,
            status: None,
            description: None,
            other: KeptFields::default(),
        }
    }
}

impl Key {
    /// Whether the key is enabled (absent means enabled).
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }

    /// Whether the key may serve batch API requests.
    pub fn serves_batch(&self) -> bool {
        self.use_for_batch_api.unwrap_or(false)
    }

    /// The model names this key names explicitly: its `models` entries other than `"*"`, and
    /// its aliases.
    pub fn named_models(&self) -> impl Iterator<Item = &String> {
        self.models
            .iter()
            .filter(|m| m.as_str() != ALL_MODELS)
            .chain(self.aliases.keys())
    }

    /// Whether this key serves every model (`"*"` in `models`).
    pub fn allows_every_model(&self) -> bool {
        self.models.iter().any(|m| m == ALL_MODELS)
    }

    /// The fields of this key's document keyward does not read, by path within the key
    /// (`role_arn`, `bedrock_key_config.role_arn`, …).
    pub fn unread_fields(&self) -> Vec<String> {
        let mut names = self.other.names("");
        let mut nested = |prefix: &str, kept: Option<&KeptFields>| {
            if let Some(kept) = kept {
                names.extend(kept.names(&format!("{prefix}.")));
            }
        };
        nested(
            "azure_key_config",
            self.azure_key_config.as_ref().map(|c| &c.other),
        );
        nested(
            "vertex_key_config",
            self.vertex_key_config.as_ref().map(|c| &c.other),
        );
        nested(
            "bedrock_key_config",
            self.bedrock_key_config.as_ref().map(|c| &c.other),
        );
        nested(
            "huggingface_key_config",
            self.huggingface_key_config.as_ref().map(|c| &c.other),
        );
        nested(
            "replicate_key_config",
            self.replicate_key_config.as_ref().map(|c| &c.other),
        );
        nested(
            "vllm_key_config",
            self.vllm_key_config.as_ref().map(|c| &c.other),
        );
        nested(
            "ollama_key_config",
            self.ollama_key_config.as_ref().map(|c| &c.other),
        );
        nested(
            "sgl_key_config",
            self.sgl_key_config.as_ref().map(|c| &c.other),
        );
        names
    }

    /// How the key is named in messages: its name, else its id. Never a secret.
    pub fn label(&self) -> &str {
        if self.name.is_empty() {
            &self.id
        } else {
            &self.name
        }
    }
}

/// Reads `null` as the type's default (Go serializes nil slices and maps as `null`).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads `null` models as "all models", like an absent field.
fn null_as_all_models<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(deserializer)?
        .unwrap_or_else(|| vec![ALL_MODELS.to_owned()]))
}

#[cfg(test)]
mod tests;
