//! Model-level and provider-level governance (`governance.model_configs`,
//! `governance.providers` of Bifrost's schema): budgets and rate limits that apply to every
//! request for a model (or every model, `"*"`), optionally on one provider, whoever sends it —
//! or, with `scope: "virtual_key"`, to one virtual key's requests only. A provider entry is the
//! same for every model of that provider.

use serde::{Deserialize, Serialize};

use super::serde_null::null_as_default;

/// The `model_name` of a model config that applies to every model.
pub const ALL_MODELS: &str = "*";

/// One entry of `governance.model_configs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Its id (what a budget's `model_config_id` names).
    pub id: String,
    /// The model it applies to (`"*"`: every model), compared exactly (a dated name also
    /// matches its base name).
    pub model_name: String,
    /// The provider it is limited to (absent: every provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `"global"` (the default: every request) or `"virtual_key"` (the requests of
    /// `scope_id`'s virtual key only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The virtual key's id, with `scope: "virtual_key"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_id: Option<String>,
    /// Whether its budgets reset on calendar boundaries.
    #[serde(default)]
    pub calendar_aligned: bool,
    /// A budget by id (deprecated in Bifrost: budgets now name their model config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_id: Option<String>,
    /// Budgets by id (the file's form; such a budget is owned by this config).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub budget_ids: Vec<String>,
    /// A rate limit by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_id: Option<String>,
    /// Fields this model does not read, kept verbatim.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Where a model config applies.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ModelConfigScope<'a> {
    /// Every request.
    Global,
    /// The requests of this virtual key.
    VirtualKey(&'a str),
}

impl ModelConfig {
    /// Its scope, checked: `(field, reason)` when it is not one Bifrost's open-source build
    /// knows, or a `virtual_key` scope names no key.
    pub fn checked_scope(&self) -> Result<ModelConfigScope<'_>, (&'static str, String)> {
        let scope_id = self.scope_id.as_deref().filter(|s| !s.is_empty());
        match self.scope.as_deref().unwrap_or("global") {
            "global" => Ok(ModelConfigScope::Global),
            "virtual_key" => scope_id.map(ModelConfigScope::VirtualKey).ok_or((
                "scope_id",
                "required when scope is \"virtual_key\"".to_owned(),
            )),
            other => Err((
                "scope",
                format!("must be \"global\" or \"virtual_key\", got {other:?}"),
            )),
        }
    }

    /// Checks the fields Bifrost checks on save. Returns `(field, reason)`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.id.trim().is_empty() {
            return Err(("id", "must not be empty".to_owned()));
        }
        if self.model_name.trim().is_empty() {
            return Err((
                "model_name",
                "must not be empty (\"*\" for every model)".to_owned(),
            ));
        }
        if self
            .provider
            .as_deref()
            .is_some_and(|p| p.trim().is_empty())
        {
            return Err((
                "provider",
                "must not be an empty string (leave it out for every provider)".to_owned(),
            ));
        }
        if self.budget_id.as_deref().is_some_and(str::is_empty) {
            return Err(("budget_id", "must not be an empty string".to_owned()));
        }
        self.checked_scope().map(|_| ())
    }
}

/// One entry of `governance.providers`: a provider-wide budget and rate limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderGovernance {
    /// The provider's name (`openai`, or a custom provider's).
    pub name: String,
    /// A budget by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_id: Option<String>,
    /// A rate limit by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_id: Option<String>,
    /// Fields this model does not read (network settings, …), kept verbatim.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}
