//! Teams and customers: the levels above a virtual key, each with its own budgets (and optional
//! rate limit). A team may belong to a customer; a key belongs to a team or directly to a
//! customer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{budget::Budget, rate_limit::RateLimit, serde_null::null_as_default};

/// Bifrost's team document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Team {
    /// The team's id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// The customer it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// A budget referenced by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_id: Option<String>,
    /// Its budget (the response shape's single budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// More budgets.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub budgets: Vec<Budget>,
    /// A rate limit referenced by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_id: Option<String>,
    /// Its rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// The customer, embedded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Box<Customer>>,
    /// Free-form profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<serde_json::Value>,
    /// Free-form config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
    /// Free-form claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<serde_json::Value>,
    /// Whether every budget this owner resets is aligned to calendar boundaries (Bifrost's
    /// owner-level `calendar_aligned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar_aligned: Option<bool>,
    /// Bifrost's hash of the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Fields this model does not read (Bifrost's, or newer ones), kept verbatim so that a
    /// document read and written back loses nothing.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Bifrost's customer document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// The customer's id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// A budget referenced by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_id: Option<String>,
    /// Its budget (the response shape's single budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// More budgets.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub budgets: Vec<Budget>,
    /// A rate limit referenced by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_id: Option<String>,
    /// Its rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Whether every budget this owner resets is aligned to calendar boundaries (Bifrost's
    /// owner-level `calendar_aligned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar_aligned: Option<bool>,
    /// Bifrost's hash of the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Fields this model does not read (Bifrost's, or newer ones), kept verbatim so that a
    /// document read and written back loses nothing.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl Team {
    /// Every budget it owns (the single `budget` first).
    pub fn all_budgets(&self) -> impl Iterator<Item = &Budget> {
        self.budget.iter().chain(self.budgets.iter())
    }
}

impl Customer {
    /// Every budget it owns (the single `budget` first).
    pub fn all_budgets(&self) -> impl Iterator<Item = &Budget> {
        self.budget.iter().chain(self.budgets.iter())
    }
}
