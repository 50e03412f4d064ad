//! Bifrost's `governance.pricing_overrides`, compiled: which price patch a request gets, looked
//! up without allocating.
//!
//! Scopes are tried from the most specific that applies to the request — the virtual key on
//! this provider, the virtual key, the provider, global — and within one scope an exact pattern
//! before wildcards, a longer wildcard prefix before a shorter one, in configuration order
//! otherwise. The first match is applied alone, over the model's base price (none: a price of
//! zero for the fields the patch leaves out). Overrides scoped to a provider key are warned and
//! not applied: keyward prices a request before a key is chosen.

use rustc_hash::FxHashMap;

use crate::prices::{Price, PricePatch, PriceTable};

/// The overrides of one scope.
#[derive(Debug, Default)]
pub struct OverrideSet {
    exact: FxHashMap<Box<str>, PricePatch>,
    /// Longest prefix first.
    wildcard: Vec<(Box<str>, PricePatch)>,
}

impl OverrideSet {
    /// Adds an override: an exact model name, or a wildcard prefix.
    pub fn insert(&mut self, pattern: &str, wildcard: bool, patch: PricePatch) {
        if wildcard {
            let at = self
                .wildcard
                .iter()
                .position(|(prefix, _)| prefix.len() < pattern.len())
                .unwrap_or(self.wildcard.len());
            self.wildcard.insert(at, (pattern.into(), patch));
        } else {
            self.exact.entry(pattern.into()).or_insert(patch);
        }
    }

    #[inline]
    fn find(&self, model: &str) -> Option<&PricePatch> {
        self.exact.get(model).or_else(|| {
            self.wildcard
                .iter()
                .find(|(prefix, _)| model.starts_with(&**prefix))
                .map(|(_, patch)| patch)
        })
    }
}

/// Every scope's overrides.
#[derive(Debug, Default)]
pub struct PriceOverrides {
    /// `global`.
    pub global: OverrideSet,
    /// `provider`, by provider.
    pub providers: FxHashMap<Box<str>, OverrideSet>,
    /// `virtual_key`, by virtual key id.
    pub keys: FxHashMap<Box<str>, OverrideSet>,
    /// `virtual_key_provider`, by virtual key id then provider.
    pub key_providers: FxHashMap<Box<str>, FxHashMap<Box<str>, OverrideSet>>,
    any: bool,
}

impl PriceOverrides {
    /// Marks that at least one override was added (lookups skip the maps otherwise).
    pub fn mark_used(&mut self) {
        self.any = true;
    }

    /// The price of `model` on `provider` for virtual key `key_id` (empty: none): the first
    /// override that applies, over the base price; else the base price.
    #[inline]
    pub fn price(
        &self,
        prices: &PriceTable,
        key_id: &str,
        provider: &str,
        model: &str,
    ) -> Option<Price> {
        let base = prices.lookup(provider, model);
        if !self.any {
            return base;
        }
        let key_provider = self
            .key_providers
            .get(key_id)
            .and_then(|by| by.get(provider));
        let found = [
            key_provider,
            self.keys.get(key_id),
            self.providers.get(provider),
            Some(&self.global),
        ]
        .into_iter()
        .flatten()
        .find_map(|set| set.find(model));
        match found {
            Some(patch) => Some(Price::patched(base, patch)),
            None => base,
        }
    }
}

#[cfg(test)]
mod tests;
