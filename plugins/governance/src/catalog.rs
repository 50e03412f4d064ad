//! The model catalog: which provider serves a bare model name (one sent without `provider/`).
//!
//! Bifrost reads a provider config's `allowed_models: ["*"]` as "every model the catalog says
//! this provider serves", so a virtual key allowing openai `["gpt-4o-mini"]` and anthropic
//! `["*"]` sends `gpt-4o-mini` to OpenAI only. The catalog here is, per provider:
//! - the built-in list (`pricing/catalog.json`: the providers that serve each model of the
//!   built-in price list);
//! - the models the host's configuration names for it (each enabled key's explicit `models`
//!   and aliases), given by the host as `provider_models`;
//! - every model, for a provider the catalog knows nothing about whose keys allow `["*"]` (a
//!   self-hosted vLLM or Ollama behind a name of its own).
//!
//! A model name with a date suffix (`gpt-4o-2024-08-06`, `claude-sonnet-4-20250514`) matches
//! its base name too. Matching is exact otherwise, allocation-free (the request path asks it).

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Deserialize;

/// The built-in catalog: provider -> models.
pub const DEFAULT_CATALOG_JSON: &str = include_str!("../pricing/catalog.json");

/// What the host's configuration says of one provider's models.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderModels {
    /// The models its enabled keys name explicitly (`models` entries other than `*`, aliases).
    #[serde(default)]
    pub models: Vec<String>,
    /// Whether one of its enabled keys allows every model (`models: ["*"]`).
    #[serde(default)]
    pub any_model: bool,
}

#[derive(Debug, Default)]
struct Provider {
    models: FxHashSet<Box<str>>,
    /// Serves every model: nothing is known of its models and a key allows all.
    open: bool,
}

/// Which provider serves which bare model name.
#[derive(Debug, Default)]
pub struct ModelCatalog {
    /// `None`: the host said nothing of its providers (every `["*"]` config may serve a name).
    providers: Option<FxHashMap<Box<str>, Provider>>,
}

impl ModelCatalog {
    /// Builds the catalog from the built-in list and the host's `provider_models` (absent: an
    /// empty catalog that restricts nothing).
    pub fn build(
        provider_models: Option<&FxHashMap<String, ProviderModels>>,
    ) -> Result<Self, String> {
        let Some(configured) = provider_models else {
            return Ok(Self::default());
        };
        let builtin: FxHashMap<String, Vec<String>> = serde_json::from_str(DEFAULT_CATALOG_JSON)
            .map_err(|e| format!("the built-in model catalog is invalid: {e}"))?;
        let mut providers: FxHashMap<Box<str>, Provider> = FxHashMap::default();
        for (name, models) in &builtin {
            providers
                .entry(name.as_str().into())
                .or_default()
                .models
                .extend(models.iter().map(|m| Box::<str>::from(m.as_str())));
        }
        for (name, described) in configured {
            let provider = providers.entry(name.as_str().into()).or_default();
            provider.models.extend(
                described
                    .models
                    .iter()
                    .map(|m| Box::<str>::from(m.as_str())),
            );
            let known_builtin = builtin.get(name).is_some_and(|m| !m.is_empty());
            provider.open = described.any_model && !known_builtin && described.models.is_empty();
        }
        Ok(Self {
            providers: Some(providers),
        })
    }

    /// Whether the catalog restricts anything (the host described its providers).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.providers.is_some()
    }

    /// Whether `provider` serves the bare model name `model`, as far as the catalog knows.
    #[inline]
    pub fn serves(&self, provider: &str, model: &str) -> bool {
        let Some(providers) = &self.providers else {
            return true;
        };
        let Some(entry) = providers.get(provider) else {
            return false;
        };
        entry.open || entry.models.contains(model) || entry.models.contains(base_name(model))
    }
}

/// `model` without a trailing date (`-2024-08-06`, `-20250514`), else `model`.
#[inline]
pub fn base_name(model: &str) -> &str {
    let bytes = model.as_bytes();
    let is_digit = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    let n = bytes.len();
    // `-YYYY-MM-DD`: 11 ASCII bytes at the end, so `n - 11` is a character boundary.
    if n > 11
        && bytes[n - 11] == b'-'
        && is_digit(n - 10..n - 6)
        && bytes[n - 6] == b'-'
        && is_digit(n - 5..n - 3)
        && bytes[n - 3] == b'-'
        && is_digit(n - 2..n)
    {
        return &model[..n - 11];
    }
    // `-YYYYMMDD`
    if n > 9 && bytes[n - 9] == b'-' && is_digit(n - 8..n) {
        return &model[..n - 9];
    }
    model
}

#[cfg(test)]
mod tests;
