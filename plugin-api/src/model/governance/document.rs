//! The whole governance document: the `governance` block of Bifrost's `config.json`, where
//! keys, teams and customers reference budgets and rate limits by id or embed them; and the
//! list response of `GET /api/governance/virtual-keys`.

use serde::{Deserialize, Serialize};

use super::{
    budget::Budget, org::Customer, org::Team, rate_limit::RateLimit, serde_null::null_as_default,
    virtual_key::VirtualKey,
};

/// `{"virtual_keys", "teams", "customers", "budgets", "rate_limits"}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GovernanceDocument {
    /// The virtual keys.
    #[serde(default, deserialize_with = "null_as_default")]
    pub virtual_keys: Vec<VirtualKey>,
    /// The teams.
    #[serde(default, deserialize_with = "null_as_default")]
    pub teams: Vec<Team>,
    /// The customers.
    #[serde(default, deserialize_with = "null_as_default")]
    pub customers: Vec<Customer>,
    /// Budgets referenced by id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub budgets: Vec<Budget>,
    /// Rate limits referenced by id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub rate_limits: Vec<RateLimit>,
}

/// The response of `GET /api/governance/virtual-keys` (current shape; `count` only in the older
/// one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualKeyList {
    /// The page of keys.
    #[serde(default, deserialize_with = "null_as_default")]
    pub virtual_keys: Vec<VirtualKey>,
    /// Keys in this page.
    #[serde(default)]
    pub count: u64,
    /// Keys matching the query.
    #[serde(default)]
    pub total_count: u64,
    /// The page size.
    #[serde(default)]
    pub limit: u64,
    /// The page offset.
    #[serde(default)]
    pub offset: u64,
}
