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

/// A partial price (a pricing override's patch): the fields it sets, femto-dollars per token.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PricePatch {
    /// Uncached prompt tokens.
    pub input: Option<u64>,
    /// Completion tokens.
    pub output: Option<u64>,
    /// Cached prompt tokens.
    pub cached_input: Option<u64>,
}

impl PricePatch {
    /// Reads a patch (dollars per token): the fields keyward prices with are taken, the names
    /// of the others returned (they are not used). `Err(field, reason)` for a bad number.
    pub fn read(
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(Self, Vec<String>), (String, String)> {
        let mut patch = Self::default();
        let mut unused = Vec::new();
        for (name, value) in fields {
            let slot = match name.as_str() {
                "input_cost_per_token" => &mut patch.input,
                "output_cost_per_token" => &mut patch.output,
                "cache_read_input_token_cost" => &mut patch.cached_input,
                _ => {
                    unused.push(name.clone());
                    continue;
                }
            };
            let dollars = value
                .as_f64()
                .filter(|d| d.is_finite() && *d >= 0.0)
                .ok_or_else(|| {
                    (
                        name.clone(),
                        format!("must be a non-negative number, got {value}"),
                    )
                })?;
            *slot = Some(femtos(dollars));
        }
        Ok((patch, unused))
    }
}

impl Price {
    /// `base` (none: every price 0) with the fields `patch` sets replaced; a patched input
    /// price also prices cached input unless the patch or the base says otherwise.
    pub fn patched(base: Option<Price>, patch: &PricePatch) -> Price {
        let base = base.unwrap_or(Price {
            input: 0,
            output: 0,
            cached_input: 0,
        });
        let input = patch.input.unwrap_or(base.input);
        let cached_default = if patch.input.is_some() && base.cached_input == base.input {
            input
        } else {
            base.cached_input
        };
        Price {
            input,
            output: patch.output.unwrap_or(base.output),
            cached_input: patch.cached_input.unwrap_or(cached_default),
        }
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
