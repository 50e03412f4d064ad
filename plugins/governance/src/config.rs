//! The plugin configuration: the `governance` block of Bifrost's `config.json`
//! (`virtual_keys`, `teams`, `customers`, `budgets`, `rate_limits`, `model_configs`,
//! `providers`, `pricing_overrides`, `routing_rules`) plus the plugin's own options next to it.
//! Parsed once per instance, with the JSON path of the offending field in every error. Unknown
//! fields (Bifrost's `auth_config`, …) are ignored.

use std::collections::BTreeMap;

use keyward_plugin_api::{
    ffi::{ErrorCode, KeywardError},
    model::governance::{
        Budget, Customer, ModelConfig, ModelPrice, PricingOverride, ProviderGovernance, RateLimit,
        RoutingRule, Team, UnknownModelPricing, VirtualKey,
    },
};
use serde::Deserialize;

/// The default output-token allowance of a request that sets no `max_tokens`.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 4_096;

/// The configuration `instantiate` receives.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PluginConfig {
    /// The virtual keys.
    #[serde(default)]
    pub virtual_keys: Option<Vec<VirtualKey>>,
    /// Teams.
    #[serde(default)]
    pub teams: Option<Vec<Team>>,
    /// Customers.
    #[serde(default)]
    pub customers: Option<Vec<Customer>>,
    /// Budgets referenced by id.
    #[serde(default)]
    pub budgets: Option<Vec<Budget>>,
    /// Rate limits referenced by id.
    #[serde(default)]
    pub rate_limits: Option<Vec<RateLimit>>,
    /// Model-level limits (`governance.model_configs`).
    #[serde(default)]
    pub model_configs: Option<Vec<ModelConfig>>,
    /// Provider-wide limits (`governance.providers`).
    #[serde(default)]
    pub providers: Option<Vec<ProviderGovernance>>,
    /// Scoped price patches (`governance.pricing_overrides`).
    #[serde(default)]
    pub pricing_overrides: Option<Vec<PricingOverride>>,
    /// CEL-conditioned routing to other providers and models (`governance.routing_rules`).
    #[serde(default)]
    pub routing_rules: Option<Vec<RoutingRule>>,
    /// How many chained routing rules one request may pass through (Bifrost's
    /// `client.routing_chain_max_depth`, given by the host; default 10).
    #[serde(default)]
    pub routing_chain_max_depth: Option<u64>,
    /// Whether a request without a virtual key is refused (`virtual_key_required`).
    #[serde(default)]
    pub enforce_virtual_keys: bool,
    /// Evaluate, count and log denials, but admit.
    #[serde(default)]
    pub shadow_mode: bool,
    /// Output tokens reserved for a request that sets no `max_tokens`.
    #[serde(default = "default_max_output_tokens")]
    pub default_max_output_tokens: u64,
    /// Prices by model (`"gpt-4o"` or `"openai/gpt-4o"`), over the built-in defaults.
    #[serde(default)]
    pub pricing: BTreeMap<String, ModelPrice>,
    /// Whether the built-in default prices apply (`true` unless disabled).
    #[serde(default = "default_true")]
    pub use_default_pricing: bool,
    /// What a model without a price costs: `"deny"` (default) or a price.
    #[serde(default)]
    pub unknown_model_pricing: UnknownModelPricing,
    /// Optional per-second smoothing of each virtual key's requests (a GCRA limiter).
    #[serde(default)]
    pub smoothing: Option<SmoothingConfig>,
    /// The file's allow-list semantics (Bifrost's top-level `version`, given by the host): `1`
    /// reads an empty `provider_configs`, `allowed_models` or `key_ids` as allowing everything
    /// (v1.4); otherwise (`2`, the default) an empty list allows nothing and `["*"]` everything.
    #[serde(default)]
    pub version: Option<u64>,
    /// What the host's configuration says of each provider's models (given by the host): with
    /// it, a bare model name goes only to providers the model catalog says serve it
    /// ([`crate::catalog`]).
    #[serde(default)]
    pub provider_models: Option<rustc_hash::FxHashMap<String, crate::catalog::ProviderModels>>,
}

/// Per-second request smoothing, per virtual key, next to the windowed limits.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SmoothingConfig {
    /// The rate every key gets (none: only the keys listed in `virtual_keys`).
    #[serde(default)]
    pub requests_per_second: Option<u32>,
    /// The burst every key gets (default: one second's worth).
    #[serde(default)]
    pub burst: Option<u32>,
    /// Rates of particular keys, by key id.
    #[serde(default)]
    pub virtual_keys: BTreeMap<String, SmoothingRate>,
}

/// One key's smoothing rate.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct SmoothingRate {
    /// Requests per second.
    pub requests_per_second: u32,
    /// Burst (default: one second's worth).
    #[serde(default)]
    pub burst: Option<u32>,
}

fn default_max_output_tokens() -> u64 {
    DEFAULT_MAX_OUTPUT_TOKENS
}

fn default_true() -> bool {
    true
}

/// An `invalid_config` error naming the JSON path.
pub fn invalid(path: &str, reason: impl std::fmt::Display) -> KeywardError {
    KeywardError::new(
        ErrorCode::INVALID_CONFIG,
        format!("invalid governance configuration at {path}: {reason}"),
    )
}

/// Parses the configuration text.
pub fn parse(json: &str) -> Result<PluginConfig, KeywardError> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    let deserializer = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." {
            "the top level".to_owned()
        } else {
            path
        };
        invalid(
            &path,
            keyward_plugin_api::model::secret::without_input_values(
                &error.into_inner().to_string(),
            ),
        )
    })
}
