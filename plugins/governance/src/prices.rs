//! The price table the plugin charges with: the built-in default file
//! (`pricing/default.json`, list prices of common models at the time of writing), overridden
//! per model by the configuration's `pricing`, plus the unknown-model policy.
//!
//! Prices are held as integer femto-dollars (1e-15 $) per token so that even the cheapest
//! models price exactly; costs come out in nano-dollars, rounded up (a priced request never
//! costs zero). Keys are exact model names, optionally qualified as `provider/model`; the
//! qualified entry wins.

use keyward_plugin_api::model::governance::{ModelPrice, UnknownModelPricing};
use rustc_hash::FxHashMap;

/// The built-in default prices.
pub const DEFAULT_PRICING_JSON: &str = include_str!("../pricing/default.json");

const FEMTOS_PER_DOLLAR: f64 = 1e15;
const FEMTOS_PER_NANO: u128 = 1_000_000;

/// One model's price, in femto-dollars per token.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Price {
    /// Femto-dollars per uncached prompt token.
    input: u64,
    /// Femto-dollars per completion token.
    output: u64,
    /// Femto-dollars per cached prompt token.
    cached_input: u64,
}

fn femtos(dollars: f64) -> u64 {
    let value = (dollars * FEMTOS_PER_DOLLAR).round();
    if value.is_nan() || value <= 0.0 {
        0
    } else if value >= u64::MAX as f64 {
        u64::MAX
    } else {
        // Finite, positive and in range after the checks above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let value = value as u64;
        value
    }
}

fn nanos(femtos_total: u128) -> u64 {
    u64::try_from(femtos_total.div_ceil(FEMTOS_PER_NANO)).unwrap_or(u64::MAX)
}

impl Price {
    /// From a price document.
    pub fn from_model(price: &ModelPrice) -> Self {
        let input = femtos(price.input_cost_per_token);
        Self {
            input,
            output: femtos(price.output_cost_per_token),
            cached_input: price.cache_read_input_token_cost.map_or(input, femtos),
        }
    }

    /// The most a request can cost: every input token at the uncached price, plus the output
    /// allowance.
    #[inline]
    pub fn estimate_nanos(&self, input_tokens: u64, max_output_tokens: u64) -> u64 {
        nanos(
            u128::from(input_tokens) * u128::from(self.input)
                + u128::from(max_output_tokens) * u128::from(self.output),
        )
    }

    /// What a finished request costs.
    #[inline]
    pub fn charge_nanos(
        &self,
        input_tokens: u64,
        cached_input_tokens: u64,
        output_tokens: u64,
    ) -> u64 {
        let cached = cached_input_tokens.min(input_tokens);
        nanos(
            u128::from(input_tokens - cached) * u128::from(self.input)
                + u128::from(cached) * u128::from(self.cached_input)
                + u128::from(output_tokens) * u128::from(self.output),
        )
    }
}

/// Model prices by name, and the price of models not listed.
#[derive(Debug, Default)]
pub struct PriceTable {
    by_model: FxHashMap<Box<str>, Price>,
    by_provider: FxHashMap<Box<str>, FxHashMap<Box<str>, Price>>,
    unknown: Option<Price>,
}

impl PriceTable {
    /// Builds the table: the default file (when `with_defaults`), then `overrides`.
    pub fn build<'a>(
        with_defaults: bool,
        overrides: impl IntoIterator<Item = (&'a String, &'a ModelPrice)>,
        unknown: UnknownModelPricing,
    ) -> Result<Self, String> {
        let mut table = Self {
            unknown: match unknown {
                UnknownModelPricing::Deny => None,
                UnknownModelPricing::Price(price) => Some(Price::from_model(&price)),
            },
            ..Self::default()
        };
        if with_defaults {
            let defaults: std::collections::BTreeMap<String, ModelPrice> =
                serde_json::from_str(DEFAULT_PRICING_JSON)
                    .map_err(|e| format!("the built-in pricing file is invalid: {e}"))?;
            for (model, price) in &defaults {
                table.insert(model, price);
            }
        }
        for (model, price) in overrides {
            table.insert(model, price);
        }
        Ok(table)
    }

    fn insert(&mut self, name: &str, price: &ModelPrice) {
        let price = Price::from_model(price);
        match name.split_once('/') {
            Some((provider, model)) => {
                self.by_provider
                    .entry(provider.into())
                    .or_default()
                    .insert(model.into(), price);
            }
            None => {
                self.by_model.insert(name.into(), price);
            }
        }
    }

    /// Whether models not in the table have a price.
    pub fn has_default(&self) -> bool {
        self.unknown.is_some()
    }

    /// The price of `model` served by `provider`: the qualified entry, the bare one, or the
    /// unknown-model price (`None`: deny).
    #[inline]
    pub fn lookup(&self, provider: &str, model: &str) -> Option<Price> {
        if !self.by_provider.is_empty() {
            if let Some(price) = self.by_provider.get(provider).and_then(|m| m.get(model)) {
                return Some(*price);
            }
        }
        self.by_model.get(model).copied().or(self.unknown)
    }
}

#[cfg(test)]
mod tests;
