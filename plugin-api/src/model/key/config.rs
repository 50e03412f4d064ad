//! The key-selection plugins' configuration: Bifrost `config.json`'s `providers` block,
//! `{"providers": {"openai": {"keys": [<Key>, ...], ...}, ...}}`. Other fields of a provider
//! (`network_config`, ...) are tolerated and ignored.
//!
//! [`KeysConfig::load`] parses, validates (every key has an id — a missing id takes the key's
//! name — and ids are unique per provider) and resolves `env.NAME` references. Every error
//! names the JSON path of the bad field, e.g. `providers.openai.keys[2].weight: invalid type:
//! string "heavy", expected f64`, and never a secret.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Key, null_as_default};
use crate::ffi::{ErrorCode, KeywardError};

/// The keys of every provider.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeysConfig {
    /// Provider name (`openai`, `azure`, ...) -> its keys.
    #[serde(deserialize_with = "null_as_default")]
    pub providers: BTreeMap<String, ProviderKeys>,
    /// The file's allow-list semantics (Bifrost's top-level `version`): `1` reads a key's
    /// empty `models` as every model (v1.4); otherwise an empty list serves none (v1.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// One provider's keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderKeys {
    /// The keys, in configuration order.
    #[serde(deserialize_with = "null_as_default")]
    pub keys: Vec<Key>,
}

/// An invalid configuration: the JSON path of the bad field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// The field's path, e.g. `providers.openai.keys[2].weight`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl From<ConfigError> for KeywardError {
    fn from(error: ConfigError) -> Self {
        KeywardError::new(ErrorCode::INVALID_CONFIG, error.to_string())
    }
}

/// Parses JSON text into any model type, naming the path of a bad field in the error (for a
/// single [`Key`] in a management API body: `models[1]: invalid type: ...`).
pub fn parse_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, ConfigError> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| ConfigError {
        path: error.path().to_string(),
        message: crate::model::secret::without_input_values(&error.inner().to_string()),
    })
}

impl KeysConfig {
    /// Parses the JSON text, without validating or resolving anything.
    pub fn parse(json: &str) -> Result<Self, ConfigError> {
        parse_json(json)
    }

    /// Parses, validates and resolves `env.NAME` references from the process environment.
    pub fn load(json: &str) -> Result<Self, ConfigError> {
        Self::load_with(json, |name| std::env::var(name).ok())
    }

    /// [`load`](Self::load) with a custom environment lookup.
    pub fn load_with(
        json: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut config = Self::parse(json)?;
        config.validate()?;
        for (provider, keys) in &mut config.providers {
            // A disabled key is never picked, so what it reads need not be set (a host
            // disables the keys whose `env.NAME` is unset and keeps serving the others).
            for (index, key) in keys.keys.iter_mut().enumerate() {
                if !key.is_enabled() {
                    continue;
                }
                key.resolve_env_with(&lookup).map_err(|error| ConfigError {
                    path: format!("providers.{provider}.keys[{index}].{}", error.field),
                    message: error.to_string(),
                })?;
            }
        }
        Ok(config)
    }

    /// Gives id-less keys their name as id, and refuses keys with neither and duplicate ids.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        let empty_allows_all = crate::model::allow_lists::empty_list_allows_all(self.version)
            .map_err(|message| ConfigError {
                path: "version".to_owned(),
                message,
            })?;
        for (provider, keys) in &mut self.providers {
            if empty_allows_all {
                for key in keys.keys.iter_mut().filter(|k| k.models.is_empty()) {
                    key.models = vec![super::ALL_MODELS.to_owned()];
                }
            }
            let mut seen = BTreeSet::new();
            for (index, key) in keys.keys.iter_mut().enumerate() {
                let path = format!("providers.{provider}.keys[{index}].id");
                if key.id.is_empty() {
                    if key.name.is_empty() {
                        return Err(ConfigError {
                            path,
                            message: "a key needs an id or a name".to_owned(),
                        });
                    }
                    key.id = key.name.clone();
                }
                if !seen.insert(key.id.clone()) {
                    return Err(ConfigError {
                        path,
                        message: format!("duplicate key id `{}`", key.id),
                    });
                }
            }
        }
        Ok(())
    }
}
