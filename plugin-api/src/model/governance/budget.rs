//! A budget: a spending cap in dollars that resets every `reset_duration`, on a rolling window
//! from `last_reset` or, when `calendar_aligned`, on UTC calendar boundaries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::duration::ResetDuration;

/// Bifrost's budget document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// The budget's id (may be empty in an embedded budget; the plugin then names it after its
    /// owner).
    #[serde(default)]
    pub id: String,
    /// The cap, in dollars.
    pub max_limit: f64,
    /// How often usage resets.
    pub reset_duration: ResetDuration,
    /// When usage last reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reset: Option<DateTime<Utc>>,
    /// Usage since the last reset, in dollars.
    #[serde(default)]
    pub current_usage: f64,
    /// Whether resets happen on UTC calendar boundaries (`1d`, `1w`, `1M`, `1Q`, `1Y` only).
    #[serde(default)]
    pub calendar_aligned: bool,
    /// Bifrost's hash of the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The owning team, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    /// The owning virtual key, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_key_id: Option<String>,
    /// The owning provider config (its integer `id`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_config_id: Option<u64>,
    /// The owning customer, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// The owning model config, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_config_id: Option<String>,
    /// Fields this model does not read (Bifrost's, or newer ones), kept verbatim so that a
    /// document read and written back loses nothing.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl Budget {
    /// A budget of `max_limit` dollars resetting every `reset_duration`.
    pub fn new(id: impl Into<String>, max_limit: f64, reset_duration: ResetDuration) -> Self {
        Self {
            id: id.into(),
            max_limit,
            reset_duration,
            last_reset: None,
            current_usage: 0.0,
            calendar_aligned: false,
            config_hash: None,
            created_at: None,
            updated_at: None,
            team_id: None,
            virtual_key_id: None,
            provider_config_id: None,
            customer_id: None,
            model_config_id: None,
            other: serde_json::Map::new(),
        }
    }

    /// The owner this budget names (Bifrost v1.5: a budget names its owner, and has at most
    /// one): `Ok(None)` for an unowned budget, `Err` naming the fields when it names several.
    pub fn owner(&self) -> Result<Option<BudgetOwner<'_>>, String> {
        fn named(id: &Option<String>) -> Option<&str> {
            id.as_deref().filter(|id| !id.is_empty())
        }
        let mut owners = Vec::new();
        if let Some(id) = named(&self.virtual_key_id) {
            owners.push(("virtual_key_id", BudgetOwner::VirtualKey(id)));
        }
        if let Some(id) = self.provider_config_id {
            owners.push(("provider_config_id", BudgetOwner::ProviderConfig(id)));
        }
        if let Some(id) = named(&self.team_id) {
            owners.push(("team_id", BudgetOwner::Team(id)));
        }
        if let Some(id) = named(&self.customer_id) {
            owners.push(("customer_id", BudgetOwner::Customer(id)));
        }
        if let Some(id) = named(&self.model_config_id) {
            owners.push(("model_config_id", BudgetOwner::ModelConfig(id)));
        }
        match owners.len() {
            0 => Ok(None),
            1 => Ok(owners.pop().map(|(_, owner)| owner)),
            _ => Err(format!(
                "a budget has one owner, this one names {}",
                owners
                    .iter()
                    .map(|(field, _)| *field)
                    .collect::<Vec<_>>()
                    .join(" and ")
            )),
        }
    }

    /// Checks the values serde cannot: a finite non-negative limit and usage, and a duration
    /// that can be calendar-aligned when asked to be (`aligned_by_owner`: the owner asks for
    /// every budget it has). Returns `(field, reason)`.
    pub fn validate(&self, aligned_by_owner: bool) -> Result<(), (&'static str, String)> {
        if !self.max_limit.is_finite() || self.max_limit < 0.0 {
            return Err((
                "max_limit",
                format!(
                    "must be a non-negative number of dollars, got {}",
                    self.max_limit
                ),
            ));
        }
        if !self.current_usage.is_finite() || self.current_usage < 0.0 {
            return Err((
                "current_usage",
                format!(
                    "must be a non-negative number of dollars, got {}",
                    self.current_usage
                ),
            ));
        }
        if self.calendar_aligned || aligned_by_owner {
            self.reset_duration
                .check_calendar_alignable()
                .map_err(|e| ("reset_duration", e.to_string()))?;
        }
        Ok(())
    }
}

/// Who owns a budget that names its owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BudgetOwner<'a> {
    /// `virtual_key_id`.
    VirtualKey(&'a str),
    /// `provider_config_id`: a virtual key's provider config, by its integer `id`.
    ProviderConfig(u64),
    /// `team_id`.
    Team(&'a str),
    /// `customer_id`.
    Customer(&'a str),
    /// `model_config_id`.
    ModelConfig(&'a str),
}
