//! Model-level and provider-level limits (Bifrost's `governance.model_configs` and
//! `governance.providers`), looked up per request without allocating.
//!
//! Which entries a request for `(provider, model)` meets, each at most once, in checking order
//! (Bifrost's `EvaluateModelAndProviderRequest`, then the virtual key's own checks, then its
//! scoped model configs — every one that applies must pass, and all are charged):
//! 1. the provider's entry of `governance.providers`;
//! 2. global model configs, four tiers: the model on this provider, the model on every
//!    provider, every model (`"*"`) on this provider, every model on every provider — the model
//!    compared exactly, a dated name (`gpt-4o-2024-08-06`) also meeting its base name's config;
//! 3. (the virtual key's own path: provider config, key, team, customer);
//! 4. the virtual key's scoped model configs (`scope: "virtual_key"`), the same four tiers.

use rustc_hash::FxHashMap;

use crate::{catalog::base_name, policy::Path};

/// The most entries one request can meet: a provider entry and four tiers in each scope.
pub const MAX_MATCHED: usize = 9;

/// The "every provider" key of a [`ModelTable`].
const EVERY_PROVIDER: &str = "";
/// The "every model" key of a [`ModelTable`].
const EVERY_MODEL: &str = "*";

/// Model configs of one scope: provider (`""`: every provider) -> model (`"*"`: every model)
/// -> index into [`ModelLimits::paths`].
#[derive(Debug, Default)]
pub struct ModelTable(FxHashMap<Box<str>, FxHashMap<Box<str>, u32>>);

impl ModelTable {
    /// Adds an entry; `false` when one is there already for the same provider and model.
    pub fn insert(&mut self, provider: Option<&str>, model: &str, index: u32) -> bool {
        let models = self
            .0
            .entry(provider.unwrap_or(EVERY_PROVIDER).into())
            .or_default();
        if models.contains_key(model) {
            return false;
        }
        models.insert(model.into(), index);
        true
    }

    /// Whether it has no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[inline]
    fn get(&self, provider: &str, model: &str) -> Option<u32> {
        self.0
            .get(provider)
            .and_then(|models| models.get(model))
            .copied()
    }

    /// The entries of the four tiers for `(provider, model)`, appended to `matched`.
    #[inline]
    fn meet(&self, provider: &str, model: &str, matched: &mut Matched) {
        if self.0.is_empty() {
            return;
        }
        let base = base_name(model);
        let exact = |p: &str| self.get(p, model).or_else(|| self.get(p, base));
        for found in [
            exact(provider),
            exact(EVERY_PROVIDER),
            self.get(provider, EVERY_MODEL),
            self.get(EVERY_PROVIDER, EVERY_MODEL),
        ]
        .into_iter()
        .flatten()
        {
            matched.push(found);
        }
    }
}

/// The entries a request meets, by index into [`ModelLimits::paths`]: those checked before the
/// virtual key's own path (`..before`), then those after it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Matched {
    indices: [u32; MAX_MATCHED],
    len: u8,
    before: u8,
}

impl Default for Matched {
    fn default() -> Self {
        Self {
            indices: [0; MAX_MATCHED],
            len: 0,
            before: 0,
        }
    }
}

impl Matched {
    #[inline]
    fn push(&mut self, index: u32) {
        let len = usize::from(self.len);
        if len < MAX_MATCHED && !self.indices[..len].contains(&index) {
            self.indices[len] = index;
            self.len += 1;
        }
    }

    /// The entries checked before the virtual key's path.
    #[inline]
    pub fn before(&self) -> &[u32] {
        &self.indices[..usize::from(self.before)]
    }

    /// Every entry met, in checking order.
    #[inline]
    pub fn all(&self) -> &[u32] {
        &self.indices[..usize::from(self.len)]
    }

    /// The entries checked after it.
    #[inline]
    pub fn after(&self) -> &[u32] {
        &self.indices[usize::from(self.before)..usize::from(self.len)]
    }
}

/// Every model-level and provider-level limit, compiled.
#[derive(Debug, Default)]
pub struct ModelLimits {
    /// Each entry's reservation path (its own counters), by index.
    pub paths: Vec<Path>,
    /// Each entry's id in exported state (a model config's id, `provider/NAME`), by index.
    pub ids: Vec<String>,
    /// Provider entries, by provider.
    pub providers: FxHashMap<Box<str>, u32>,
    /// Global model configs.
    pub global: ModelTable,
}

impl ModelLimits {
    /// The entries a request for `(provider, model)` meets, given the virtual key's scoped
    /// model configs (`None`: no key).
    #[inline]
    pub fn matching(&self, scoped: Option<&ModelTable>, provider: &str, model: &str) -> Matched {
        let mut matched = Matched::default();
        if self.paths.is_empty() {
            return matched;
        }
        if let Some(&index) = self.providers.get(provider) {
            matched.push(index);
        }
        self.global.meet(provider, model, &mut matched);
        matched.before = matched.len;
        if let Some(scoped) = scoped {
            scoped.meet(provider, model, &mut matched);
        }
        matched
    }

    /// Adds an entry's path under its exported `id`; its index.
    pub fn add(&mut self, path: Path, id: String) -> u32 {
        let index = u32::try_from(self.paths.len()).unwrap_or(u32::MAX);
        self.paths.push(path);
        self.ids.push(id);
        index
    }

    /// The ids of entries (exported state).
    pub fn ids(&self, indices: &[u32]) -> Vec<String> {
        indices
            .iter()
            .filter_map(|&i| self.ids.get(i as usize).cloned())
            .collect()
    }

    /// The entries named by exported ids (those that no longer exist are dropped).
    pub fn by_ids(&self, before: &[String], after: &[String]) -> Matched {
        let mut matched = Matched::default();
        let index_of = |id: &String| {
            self.ids
                .iter()
                .position(|known| known == id)
                .and_then(|i| u32::try_from(i).ok())
        };
        for index in before.iter().filter_map(index_of) {
            matched.push(index);
        }
        matched.before = matched.len;
        for index in after.iter().filter_map(index_of) {
            matched.push(index);
        }
        matched
    }

    /// The path of entry `index`.
    #[inline]
    pub fn path(&self, index: u32) -> &Path {
        &self.paths[index as usize]
    }
}

#[cfg(test)]
mod tests;
