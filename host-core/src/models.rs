//! `GET /v1/models`: the models the caller may use, in OpenAI's list shape
//! (`{"object": "list", "data": [{"id": "provider/model", "object": "model", "owned_by": …}]}`).
//! The candidates come from the configuration ([`ModelCatalog`]: what each enabled key names,
//! in `models` or as an alias, and what the virtual keys' provider configs allow by name); the
//! authorizer decides which of them the caller's virtual key may use — the same decision an
//! inference request gets, not a second copy of it. A denial of the virtual key itself
//! (missing, unknown, inactive) is the answer.

use std::collections::BTreeSet;

use keyward_plugin_api::ffi::{Header, RequestKind};
use serde_json::{Value, json};

use crate::{
    admission::{authorize_probe, is_about_the_key},
    config::HostConfig,
    error::GatewayError,
    roles::Roles,
    session::RequestIds,
};

/// Every `(provider, model)` the configuration names.
#[derive(Clone, Debug, Default)]
pub struct ModelCatalog {
    entries: Vec<(String, String)>,
}

impl ModelCatalog {
    /// The candidates of `config`, sorted by provider then model.
    pub fn build(config: &HostConfig) -> Self {
        let mut entries = BTreeSet::new();
        for (provider, entry) in &config.providers {
            for key in entry.keys.iter().filter(|k| k.is_enabled()) {
                for model in key.named_models() {
                    entries.insert((provider.clone(), model.clone()));
                }
            }
        }
        let virtual_keys = config
            .governance
            .get("virtual_keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for vk in virtual_keys {
            let configs = vk["provider_configs"].as_array().into_iter().flatten();
            for provider_config in configs {
                let Some(provider) = provider_config["provider"].as_str() else {
                    continue;
                };
                if !config.providers.contains_key(provider) {
                    continue;
                }
                let models = provider_config["allowed_models"]
                    .as_array()
                    .into_iter()
                    .flatten();
                for model in models.filter_map(Value::as_str).filter(|m| *m != "*") {
                    entries.insert((provider.to_owned(), model.to_owned()));
                }
            }
        }
        Self {
            entries: entries.into_iter().collect(),
        }
    }

    /// The candidates.
    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }
}

/// The models list for a caller presenting `headers`, as JSON.
pub fn list_models(
    roles: &Roles,
    ids: &RequestIds,
    headers: &[Header<'_>],
    catalog: &ModelCatalog,
) -> Result<Vec<u8>, GatewayError> {
    let authorize = |provider: Option<&str>, model: &str| {
        authorize_probe(roles, ids, headers, provider, model, RequestKind::OTHER)
    };
    // The key itself first, so a caller with no usable key learns why even when the catalog
    // is empty.
    let probe = catalog
        .entries()
        .first()
        .map(|(p, m)| (Some(p.as_str()), m.as_str()))
        .unwrap_or((None, "*"));
    if let Err(error) = authorize(probe.0, probe.1)
        && is_about_the_key(error.code)
    {
        return Err(GatewayError::from_plugin("authorization", error));
    }
    let mut data = Vec::new();
    for (provider, model) in catalog.entries() {
        match authorize(Some(provider), model) {
            Ok(()) => data.push(json!({
                "id": format!("{provider}/{model}"), "object": "model", "created": 0, "owned_by": provider,
            })),
            Err(error) if is_about_the_key(error.code) => {
                return Err(GatewayError::from_plugin("authorization", error));
            }
            Err(_) => {}
        }
    }
    Ok(serde_json::to_vec(&json!({"object": "list", "data": data})).unwrap_or_default())
}
