//! [`CandidateIndex`]: the candidate keys of every (provider, model), built once per
//! configuration, off the request path, and looked up per request without allocating.
//!
//! Each provider has one entry per model any of its keys names (allow-list, black-list,
//! aliases, deployments, vLLM `model_name`), keyed by the lowercased name, plus an "unlisted"
//! entry for every other model (the keys that allow `*`). Each entry holds two tables, one for
//! ordinary requests and one for batch requests (`use_for_batch_api` keys only). What a table
//! is — an alias table, a round-robin ring — is the selector's choice: [`CandidateIndex::build`]
//! takes the function that builds one from its candidates.
//!
//! Lookups are case-insensitive (ASCII): an exact lookup first, then a lowercased copy in a
//! stack buffer, then (for names longer than the buffer) a scan.

mod model_map;

use std::collections::{BTreeMap, BTreeSet};

use super::{Key, config::KeysConfig, routing::Route};
use crate::{ffi::RequestKind, model::weight::Weight};
use model_map::{ModelMap, same_name};

/// Model names up to this many bytes are lowercased on the stack for a lookup.
const STACK_LOWERCASE_BYTES: usize = 128;

/// A key as the index keeps it: what a selector reports and weighs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedKey {
    /// The key's id.
    pub id: Box<str>,
    /// The key's name.
    pub name: Box<str>,
    /// The key's weight.
    pub weight: Weight,
}

/// A candidate key of one table, handed to the table builder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate<'k> {
    /// The key's position in [`ProviderIndex::keys`].
    pub key: u32,
    /// The key's id.
    pub id: &'k str,
    /// The key's name.
    pub name: &'k str,
    /// The key's weight.
    pub weight: Weight,
    /// The provider model id the key maps the model to (`None`: the model as requested).
    pub provider_model: Option<&'k str>,
}

/// The two tables of one (provider, model): all requests, and batch requests.
#[derive(Debug)]
pub struct Tables<T> {
    /// For every request kind but batch.
    pub any: T,
    /// For batch requests: `use_for_batch_api` keys only.
    pub batch: T,
}

impl<T> Tables<T> {
    /// The table for a request kind.
    #[inline]
    pub fn for_kind(&self, kind: RequestKind) -> &T {
        if kind.is_batch() {
            &self.batch
        } else {
            &self.any
        }
    }
}

/// One provider's keys and tables.
#[derive(Debug)]
pub struct ProviderIndex<T> {
    name: Box<str>,
    keys: Box<[IndexedKey]>,
    enabled_keys: usize,
    by_id: ModelMap<u32>,
    by_name: ModelMap<u32>,
    models: ModelMap<Tables<T>>,
    unlisted: Tables<T>,
}

impl<T> ProviderIndex<T> {
    /// The provider's name as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every configured key (disabled ones too), in configuration order.
    pub fn keys(&self) -> &[IndexedKey] {
        &self.keys
    }

    /// How many keys are enabled.
    pub fn enabled_keys(&self) -> usize {
        self.enabled_keys
    }

    /// The key with this id.
    #[inline]
    pub fn key_by_id(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    /// The key with this id, else the first key with this name (how a caller pins a key).
    pub fn key_by_id_or_name(&self, id_or_name: &str) -> Option<u32> {
        self.key_by_id(id_or_name)
            .or_else(|| self.by_name.get(id_or_name).copied())
    }

    /// The tables for `model` (case-insensitive), or the unlisted-model tables.
    #[inline]
    pub fn tables(&self, model: &str) -> &Tables<T> {
        if self.models.is_empty() {
            return &self.unlisted;
        }
        if let Some(tables) = self.models.get(model) {
            return tables;
        }
        if model.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.tables_lowercased(model);
        }
        &self.unlisted
    }

    #[cold]
    fn tables_lowercased(&self, model: &str) -> &Tables<T> {
        let bytes = model.as_bytes();
        if bytes.len() <= STACK_LOWERCASE_BYTES {
            let mut buffer = [0u8; STACK_LOWERCASE_BYTES];
            let lowered = &mut buffer[..bytes.len()];
            lowered.copy_from_slice(bytes);
            lowered.make_ascii_lowercase();
            // ASCII lowercasing keeps UTF-8 valid, so this never fails.
            if let Ok(lowered) = std::str::from_utf8(lowered) {
                return self.models.get(lowered).unwrap_or(&self.unlisted);
            }
            return &self.unlisted;
        }
        self.models
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(model))
            .map_or(&self.unlisted, |(_, tables)| tables)
    }

    /// Every entry: `Some(lowercased model)` for named models, `None` for the unlisted one.
    pub fn entries(&self) -> impl Iterator<Item = (Option<&str>, &Tables<T>)> {
        self.models
            .iter()
            .map(|(name, tables)| (Some(name), tables))
            .chain(std::iter::once((None, &self.unlisted)))
    }
}

/// The candidate tables of every provider.
#[derive(Debug)]
pub struct CandidateIndex<T> {
    providers: Box<[ProviderIndex<T>]>,
}

impl<T> CandidateIndex<T> {
    /// Builds every table with `table`, given its candidates in configuration order. The
    /// candidates borrow from `config`, so a table may keep borrowing from it (a selector that
    /// owns the configuration next to its index, as the weighted selector does).
    pub fn build<'k>(config: &'k KeysConfig, mut table: impl FnMut(&[Candidate<'k>]) -> T) -> Self {
        let providers = config
            .providers
            .iter()
            .map(|(name, provider)| build_provider(name, &provider.keys, &mut table))
            .collect();
        Self { providers }
    }

    /// The provider named `name` (exact, then ASCII case-insensitive).
    #[inline]
    pub fn provider(&self, name: &str) -> Option<&ProviderIndex<T>> {
        self.providers
            .iter()
            .find(|p| same_name(&p.name, name))
            .or_else(|| {
                self.providers
                    .iter()
                    .find(|p| p.name.eq_ignore_ascii_case(name))
            })
    }

    /// Every provider.
    pub fn providers(&self) -> &[ProviderIndex<T>] {
        &self.providers
    }
}

fn build_provider<'k, T>(
    name: &str,
    keys: &'k [Key],
    table: &mut impl FnMut(&[Candidate<'k>]) -> T,
) -> ProviderIndex<T> {
    let mut mentions: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut open_keys = Vec::new();
    for (position, key) in (0u32..).zip(keys) {
        for model in key.mentioned_models() {
            let holders = mentions.entry(model.to_ascii_lowercase()).or_default();
            if holders.last() != Some(&position) {
                holders.push(position);
            }
        }
        if key.models.iter().any(|m| m == super::ALL_MODELS) {
            open_keys.push(position);
        }
    }
    let mut build_tables = |routes: &mut dyn Iterator<Item = (u32, Route<'k>)>| {
        let (mut any, mut batch) = (Vec::new(), Vec::new());
        for (position, route) in routes {
            let key = &keys[position as usize];
            let candidate = Candidate {
                key: position,
                id: &key.id,
                name: &key.name,
                weight: key.weight,
                provider_model: match route {
                    Route::AsRequested => None,
                    Route::Mapped(model) => Some(model),
                },
            };
            if key.serves_batch() {
                batch.push(candidate);
            }
            any.push(candidate);
        }
        Tables {
            any: table(&any),
            batch: table(&batch),
        }
    };
    let mut models = Vec::with_capacity(mentions.len());
    for (model, holders) in &mentions {
        let mut positions = merge_sorted(holders, &open_keys);
        let mut routes = positions
            .drain(..)
            .filter_map(|p| keys[p as usize].route(model).map(|route| (p, route)));
        let tables = build_tables(&mut routes);
        models.push((model.clone().into_boxed_str(), tables));
    }
    let mut unlisted_routes = open_keys
        .iter()
        .filter_map(|&p| keys[p as usize].route_unlisted().map(|route| (p, route)));
    let unlisted = build_tables(&mut unlisted_routes);
    let (mut ids, mut names) = (BTreeSet::new(), BTreeSet::new());
    let mut by_id = Vec::with_capacity(keys.len());
    let mut by_name = Vec::with_capacity(keys.len());
    for (position, key) in (0u32..).zip(keys) {
        if ids.insert(key.id.as_str()) {
            by_id.push((key.id.as_str().into(), position));
        }
        if names.insert(key.name.as_str()) {
            by_name.push((key.name.as_str().into(), position));
        }
    }
    ProviderIndex {
        name: name.into(),
        keys: keys
            .iter()
            .map(|key| IndexedKey {
                id: key.id.as_str().into(),
                name: key.name.as_str().into(),
                weight: key.weight,
            })
            .collect(),
        enabled_keys: keys.iter().filter(|k| k.is_enabled()).count(),
        by_id: ModelMap::new(by_id),
        by_name: ModelMap::new(by_name),
        models: ModelMap::new(models),
        unlisted,
    }
}

/// The sorted union of two sorted lists.
fn merge_sorted(left: &[u32], right: &[u32]) -> Vec<u32> {
    let mut merged = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() || j < right.len() {
        let next = match (left.get(i), right.get(j)) {
            (Some(&a), Some(&b)) if a <= b => {
                i += 1;
                if a == b {
                    j += 1;
                }
                a
            }
            (_, Some(&b)) => {
                j += 1;
                b
            }
            (Some(&a), None) => {
                i += 1;
                a
            }
            (None, None) => break,
        };
        merged.push(next);
    }
    merged
}

#[cfg(test)]
mod tests;
