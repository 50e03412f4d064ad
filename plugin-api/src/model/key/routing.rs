//! Bifrost's selection rules for one key and one model, case-insensitively (ASCII):
//!
//! 1. the key is enabled (absent means enabled);
//! 2. the model is allowed: `models` holds `*` or the model (an empty list allows none);
//! 3. the model is not black-listed (`blacklisted_models`; the black-list wins, `*` blocks all);
//! 4. a vLLM key with `model_name` serves only that model;
//! 5. an alias for the model maps it to the alias's provider model id (the allow-list and the
//!    black-list see the name the caller sent);
//! 6. otherwise, a non-empty legacy `deployments` map must hold the model, and maps it to its
//!    deployment (Bifrost's Azure, Bedrock and Vertex behaviour).
//!
//! The batch flag (`use_for_batch_api`) and per-request constraints are applied by the
//! candidate index and the selectors.

use super::{ALL_MODELS, Key, provider_configs::Deployments};

/// How a key serves a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'k> {
    /// Sent upstream with the model the caller asked for.
    AsRequested,
    /// Sent upstream as this provider model id (an alias or a deployment).
    Mapped(&'k str),
}

fn contains_ignoring_case(list: &[String], model: &str) -> bool {
    list.iter().any(|entry| entry.eq_ignore_ascii_case(model))
}

impl Key {
    /// The legacy deployments maps of every per-provider configuration the key has.
    pub fn deployment_maps(&self) -> impl Iterator<Item = &Deployments> {
        [
            self.azure_key_config.as_ref().map(|c| &c.deployments),
            self.vertex_key_config.as_ref().map(|c| &c.deployments),
            self.bedrock_key_config.as_ref().map(|c| &c.deployments),
            self.huggingface_key_config.as_ref().map(|c| &c.deployments),
            self.replicate_key_config.as_ref().map(|c| &c.deployments),
        ]
        .into_iter()
        .flatten()
    }

    fn vllm_model(&self) -> Option<&str> {
        self.vllm_key_config
            .as_ref()
            .and_then(|c| c.model_name.as_deref())
            .filter(|name| !name.is_empty())
    }

    fn allows_all_models(&self) -> bool {
        self.models.iter().any(|m| m == ALL_MODELS)
    }

    fn has_deployments(&self) -> bool {
        self.deployment_maps().any(|map| !map.is_empty())
    }

    /// How the key serves `model`, or `None` when it is disabled or does not serve it.
    pub fn route(&self, model: &str) -> Option<Route<'_>> {
        if !self.is_enabled()
            || !(self.allows_all_models() || contains_ignoring_case(&self.models, model))
            || self.blacklisted_models.iter().any(|m| m == ALL_MODELS)
            || contains_ignoring_case(&self.blacklisted_models, model)
        {
            return None;
        }
        if let Some(only) = self.vllm_model()
            && !only.eq_ignore_ascii_case(model)
        {
            return None;
        }
        if let Some((_, alias)) = self
            .aliases
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(model))
        {
            return Some(Route::Mapped(alias.model_id()));
        }
        if !self.has_deployments() {
            return Some(Route::AsRequested);
        }
        self.deployment_maps()
            .flat_map(|map| map.iter())
            .find(|(name, _)| name.eq_ignore_ascii_case(model))
            .map(|(_, deployment)| Route::Mapped(deployment.as_str()))
    }

    /// How the key serves a model that no key of its provider names anywhere (in `models`,
    /// `blacklisted_models`, aliases, deployments or a vLLM `model_name`).
    pub fn route_unlisted(&self) -> Option<Route<'static>> {
        (self.is_enabled()
            && self.allows_all_models()
            && !self.blacklisted_models.iter().any(|m| m == ALL_MODELS)
            && self.vllm_model().is_none()
            && !self.has_deployments())
        .then_some(Route::AsRequested)
    }

    /// Every model name the key mentions (so a candidate index gives each its own table).
    pub fn mentioned_models(&self) -> impl Iterator<Item = &str> {
        self.models
            .iter()
            .chain(&self.blacklisted_models)
            .map(String::as_str)
            .filter(|m| *m != ALL_MODELS)
            .chain(self.aliases.keys().map(String::as_str))
            .chain(
                self.deployment_maps()
                    .flat_map(|map| map.keys().map(String::as_str)),
            )
            .chain(self.vllm_model())
    }
}
