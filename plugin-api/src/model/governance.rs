//! Virtual keys, teams, customers, budgets, rate limits and model prices: Bifrost's governance
//! documents (`GET /api/governance/virtual-keys` and the `governance` block of `config.json`).
//!
//! The current shape (a virtual key with `budgets[]`, `rate_limit`, `provider_configs[]` carrying
//! their own budgets and rate limits, `mcp_configs[]`, an embedded `team` / `customer`) is what
//! serializes; the older shape (one `budget` object per key) is accepted on input. The key's
//! `value` is a [`Secret`](super::secret::Secret): it serializes redacted, and a key without one
//! gets `sk-bf-` + a random UUID.
//!
//! - [`duration`]: reset durations (`30s`, `5m`, `1h`, `1d`, `1w`, `1M`, `1Q`, `1Y`, `1h30m`)
//!   and the UTC calendar boundaries of calendar-aligned budgets.
//! - [`money`]: dollars as JSON numbers, nano-dollars as integers.
//! - [`budget`], [`rate_limit`]: the limit documents.
//! - [`model_config`]: model-level and provider-level limits (`model_configs`, `providers`).
//! - [`virtual_key`], [`mcp`], [`org`]: virtual keys with their provider and MCP configs; teams
//!   and customers.
//! - [`pricing`]: per-model token prices and the unknown-model policy; [`pricing_override`]:
//!   scoped price patches (`pricing_overrides`).
//! - [`routing_rule`]: CEL-conditioned routing to other providers and models (`routing_rules`).
//! - [`document`]: the whole `governance` block and the list response.
//!
//! Fields a document does not read are kept verbatim in its `other` map and written back, so a
//! document read and saved loses nothing; Go's `null` for a list reads as empty.
//!
//! ```
//! use keyward_plugin_api::model::governance::virtual_key::VirtualKey;
//!
//! let key: VirtualKey = serde_json::from_str(
//!     r#"{"id": "vk1", "name": "team-a", "value": "sk-bf-0123456789abcdef",
//!         "budget": {"id": "b1", "max_limit": 10, "reset_duration": "1M"}}"#,
//! ).unwrap();
//! assert_eq!(key.budgets.len(), 1);
//! let shown = serde_json::to_string(&key).unwrap();
//! // 22 characters: at most 5 shown (`sk-bf-` does not fit: `sk-` and the last 2).
//! assert!(shown.contains(&format!("sk-{}ef", "*".repeat(17))));
//! assert!(shown.contains(r#""budgets":[{"#));
//! ```

pub mod budget;
pub mod document;
pub mod duration;
pub mod mcp;
pub mod model_config;
pub mod money;
pub mod org;
pub mod pricing;
pub mod pricing_override;
pub mod rate_limit;
pub mod routing_rule;
pub mod virtual_key;

mod serde_null;

pub use budget::Budget;
pub use document::{GovernanceDocument, VirtualKeyList};
pub use duration::{DurationError, ResetDuration};
pub use model_config::{ModelConfig, ModelConfigScope, ProviderGovernance};
pub use org::{Customer, Team};
pub use pricing::{ModelPrice, UnknownModelPricing};
pub use pricing_override::{MatchType, OverrideScope, PricingOverride};
pub use rate_limit::RateLimit;
pub use routing_rule::{RoutingFallback, RoutingRule, RoutingTarget, RuleScope};
pub use virtual_key::{ProviderConfig, ProviderConfigKey, VirtualKey};

#[cfg(test)]
mod tests;
