//! `GET /api/governance/virtual-keys/quota`: a virtual key reads its own budgets and rate limit
//! with their current usage, the virtual key itself being the credential (Bifrost's
//! self-service route; no admin credential, registered outside the admin middleware).
//!
//! The key is read from `x-bf-vk` (any value), else from `Authorization: Bearer`, `x-api-key`,
//! `x-goog-api-key` or `api-key` when the value starts with `sk-bf-`; values are compared in
//! constant time. No key: 401 `virtual_key_required`; an unknown one: 401
//! `virtual_key_not_found` (the value is never echoed). An inactive key still reads its quota
//! (`is_active: false`). The answer: `{virtual_key_name, is_active, budgets, rate_limit,
//! provider_configs}` — each budget and rate limit with its current usage, never a value.

use axum::{Json, Router, extract::State, http::HeaderMap, routing::get};
use keyward_plugin_api::model::governance::virtual_key::find_virtual_key;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::virtual_keys::embedded_key;
use crate::{
    http::{error::ApiError, state::AppState},
    service::governance::document,
};

/// The route of this module (outside the admin middleware).
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/governance/virtual-keys/quota", get(quota))
}

/// The virtual key a request presents: the governance plugin's rule
/// ([`find_virtual_key`]), over the request's headers.
fn presented(headers: &HeaderMap) -> Option<&str> {
    find_virtual_key(
        headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
    )
}

async fn quota(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let Some(candidate) = presented(&headers) else {
        return Err(ApiError::unauthorized(
            "missing virtual key: send it in x-bf-vk, Authorization: Bearer, x-api-key, x-goog-api-key or api-key",
        )
        .with_code("virtual_key_required"));
    };
    let config = state.store.snapshot();
    let documents = document(&config)?;
    let mut found = None;
    for vk in &documents.virtual_keys {
        // Every key is compared, whatever an earlier one said.
        let Ok(value) = vk.resolved_value() else {
            continue;
        };
        let same = value.len() == candidate.len()
            && bool::from(value.as_bytes().ct_eq(candidate.as_bytes()));
        if same {
            found = Some(vk.id.clone());
        }
    }
    let Some(id) = found else {
        return Err(
            ApiError::unauthorized("virtual key not found").with_code("virtual_key_not_found")
        );
    };
    let vk = embedded_key(&state, &id)?;
    let provider_configs: Vec<Value> = vk
        .provider_configs
        .iter()
        .map(|c| {
            json!({
                "provider": c.provider,
                "budgets": c.budgets,
                "rate_limit": c.rate_limit,
            })
        })
        .collect();
    Ok(Json(json!({
        "virtual_key_name": vk.name,
        "is_active": vk.is_active,
        "budgets": vk.budgets,
        "rate_limit": vk.rate_limit,
        "provider_configs": provider_configs,
    })))
}
