//! `GET /v1/models`: the models the caller's virtual key may use, in OpenAI's list shape
//! (`{"object": "list", "data": [{"id": "provider/model", "object": "model", "owned_by": …}]}`).
//! A model is listed when a key of the provider names it (in `models` or as an alias) or the
//! virtual key's provider config allows it by name, and the provider config does not block it.

use axum::{Json, extract::State, http::HeaderMap};
use keyward_plugin_api::model::governance::virtual_key::{
    ProviderConfig, VirtualKey, find_virtual_key,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;

use crate::api::{AppState, error::ApiError, governance::document};

/// The handler.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let config = state.store.snapshot();
    let documents = document(&config)?;
    let presented = find_virtual_key(
        headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
    );
    let vk: Option<&VirtualKey> = match presented {
        Some(value) => Some(
            documents
                .virtual_keys
                .iter()
                .find(|vk| vk.resolved_value().is_ok_and(|v| v == value))
                .ok_or_else(|| denial(403, "virtual_key_not_found", "virtual key not found"))?,
        ),
        None if config.client.enforce_auth_on_inference => {
            return Err(denial(
                401,
                "virtual_key_required",
                "a virtual key is required (x-bf-vk or Authorization: Bearer sk-bf-…)",
            ));
        }
        None => None,
    };
    if let Some(vk) = vk
        && !vk.is_usable_at(chrono::Utc::now())
    {
        return Err(denial(
            403,
            "virtual_key_blocked",
            "the virtual key is inactive or expired",
        ));
    }
    let mut data = Vec::new();
    for (provider, entry) in &config.providers {
        let provider_config: Option<&ProviderConfig> =
            vk.and_then(|vk| vk.provider_configs.iter().find(|c| &c.provider == provider));
        if vk.is_some_and(|vk| !vk.provider_configs.is_empty()) && provider_config.is_none() {
            continue;
        }
        let mut models = BTreeSet::new();
        for key in entry.keys.iter().filter(|k| k.is_enabled()) {
            models.extend(key.models.iter().filter(|m| m.as_str() != "*").cloned());
            models.extend(key.aliases.keys().cloned());
        }
        if let Some(config) = provider_config {
            models.extend(
                config
                    .allowed_models
                    .iter()
                    .filter(|m| m.as_str() != "*")
                    .cloned(),
            );
            models.retain(|m| config.allows_model(m));
        }
        data.extend(models.into_iter().map(|model| {
            json!({"id": format!("{provider}/{model}"), "object": "model", "created": 0, "owned_by": provider})
        }));
    }
    Ok(Json(json!({"object": "list", "data": data})))
}

fn denial(status: u16, error_type: &'static str, message: &str) -> ApiError {
    let status =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::FORBIDDEN);
    ApiError::new(status, error_type, message).with_code(error_type)
}
