//! Model aliases: a user-facing model name mapped to a provider model id, given either as a
//! plain string or as an object with `model_id` and provider-specific fields (kept as given).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The target of an alias.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Alias {
    /// `"gpt-4o": "my-gpt4o-deployment"`.
    ModelId(String),
    /// `"gpt-4o": {"model_id": "...", ...provider-specific fields}`.
    Detailed(AliasDetails),
}

/// The object form of an alias.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AliasDetails {
    /// The provider model id requests are sent with.
    pub model_id: String,
    /// Provider-specific fields (e.g. an inference profile ARN), kept as given.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Alias {
    /// The provider model id.
    pub fn model_id(&self) -> &str {
        match self {
            Alias::ModelId(id) => id,
            Alias::Detailed(details) => &details.model_id,
        }
    }
}
