//! Bifrost's `governance.pricing_overrides`, compiled: which price patch a request gets, looked
//! up without allocating.
//!
//! Scopes are tried from the most specific that applies to the request — the virtual key on
//! this provider, the virtual key, the provider, global — and within one scope an exact pattern
//! before wildcards, a longer wildcard prefix before a shorter one, in configuration order
//! otherwise. The first match is applied alone, over the model's base price (none: a price of
//! zero for the fields the patch leaves out). An override applies to the request types it names
//! (`request_types`, a stream counting as its base type); a request whose type the host does not
//! say meets every override. Overrides scoped to a provider key are warned and not applied:
//! keyward prices a request before a key is chosen.

use keyward_plugin_api::{
    ffi::RequestKind,
    model::{governance::pricing_override::REQUEST_TYPES, request_type::request_type},
};
use rustc_hash::FxHashMap;

use crate::prices::{Price, PricePatch, PriceTable};

/// A set of request types, one bit per entry of [`REQUEST_TYPES`].
pub type RequestTypes = u32;

/// Every request type.
pub const ALL_REQUEST_TYPES: RequestTypes = RequestTypes::MAX;

/// The bit of one of [`REQUEST_TYPES`] (none for a name it does not list).
pub fn request_type_bit(name: &str) -> RequestTypes {
    REQUEST_TYPES
        .iter()
        .position(|known| *known == name)
        .map_or(0, |at| 1 << at)
}

/// The request types a request of `kind` is, for matching overrides (`None`, or a kind with no
/// single type: every type).
pub fn request_types_of(kind: Option<RequestKind>) -> RequestTypes {
    match kind {
        // The audio route serves speech and transcriptions alike.
        Some(RequestKind::AUDIO) => request_type_bit("speech") | request_type_bit("transcription"),
        Some(kind) => match request_type_bit(request_type(kind, false)) {
            0 => ALL_REQUEST_TYPES,
            bit => bit,
        },
        None => ALL_REQUEST_TYPES,
    }
}

/// The overrides of one scope.
#[derive(Debug, Default)]
pub struct OverrideSet {
    /// By model name, each with the request types it prices, in configuration order.
    exact: FxHashMap<Box<str>, Vec<(RequestTypes, PricePatch)>>,
    /// Longest prefix first.
    wildcard: Vec<(Box<str>, RequestTypes, PricePatch)>,
}

impl OverrideSet {
    /// Adds an override for the request types `types`: an exact model name, or a wildcard
    /// prefix.
    pub fn insert(
        &mut self,
        pattern: &str,
        wildcard: bool,
        patch: PricePatch,
        types: RequestTypes,
    ) {
        if wildcard {
            let at = self
                .wildcard
                .iter()
                .position(|(prefix, ..)| prefix.len() < pattern.len())
                .unwrap_or(self.wildcard.len());
            self.wildcard.insert(at, (pattern.into(), types, patch));
        } else {
            self.exact
                .entry(pattern.into())
                .or_default()
                .push((types, patch));
        }
    }

    #[inline]
    fn find(&self, model: &str, types: RequestTypes) -> Option<&PricePatch> {
        self.exact
            .get(model)
            .and_then(|entries| entries.iter().find(|(t, _)| t & types != 0))
            .map(|(_, patch)| patch)
            .or_else(|| {
                self.wildcard
                    .iter()
                    .find(|(prefix, t, _)| t & types != 0 && model.starts_with(&**prefix))
                    .map(|(.., patch)| patch)
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

    /// The price of `model` on `provider` for virtual key `key_id` (empty: none) and a request
    /// of `types`: the first override that applies, over the base price; else the base price.
    #[inline]
    pub fn price(
        &self,
        prices: &PriceTable,
        key_id: &str,
        provider: &str,
        model: &str,
        types: RequestTypes,
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
        .find_map(|set| set.find(model, types));
        match found {
            Some(patch) => Some(Price::patched(base, patch)),
            None => base,
        }
    }
}

#[cfg(test)]
mod tests;
