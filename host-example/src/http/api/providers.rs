//! Providers, Bifrost-compatible: `GET|POST /api/providers`,
//! `GET|PUT|DELETE /api/providers/{provider}`. A provider is its settings — `network_config`
//! and every other field of its entry (`concurrency_and_buffer_size`, `proxy_config`,
//! `custom_provider_config`, …, kept verbatim) — without its keys, which have routes of their
//! own ([`super::keys`]).
//!
//! Answers are Bifrost's `ProviderResponse`: `{name, network_config, …, provider_status}`
//! (`active`, or `error` when its `base_url` reads an unset `env.NAME`); the list is
//! `{providers, total}`, sorted by name. Header values and fields that name a secret
//! (`password`, `secret`, `token`, `api_key`, `authorization`) are shown redacted; sent back
//! redacted, the stored value is kept. `PUT` creates or updates: fields sent replace the
//! stored ones, omitted ones stay, `null` clears. A body carrying keys is refused (use the key
//! routes). A provider a virtual key's provider config names cannot be deleted (409).

use axum::{Json, Router, extract::State, routing::get};
use keyward_host_core::config::{HostConfig, ProviderConfig};
use keyward_plugin_api::model::secret::{redact_strings, with_exposed_secrets};
use serde_json::{Map, Value, json};

use super::keys::restore;
use crate::{
    http::{
        error::ApiError,
        extract::{JsonBody, Path, parse_json, truncate},
        state::AppState,
    },
    service::governance::document,
};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/providers", get(list).post(create))
        .route(
            "/api/providers/{provider}",
            get(read).put(upsert).delete(remove),
        )
}

fn names_a_secret(field: &str) -> bool {
    let field = field.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "api_key",
        "apikey",
        "authorization",
    ]
    .iter()
    .any(|word| field.contains(word))
}

/// The provider's settings as stored (secrets exposed), without its keys.
fn settings(provider: &ProviderConfig) -> Result<Map<String, Value>, ApiError> {
    match with_exposed_secrets(|| serde_json::to_value(provider)) {
        Ok(Value::Object(mut fields)) => {
            fields.remove("keys");
            Ok(fields)
        }
        _ => Err(ApiError::internal("cannot read the stored provider")),
    }
}

/// Bifrost's `ProviderResponse` for `name`.
fn shown(config: &HostConfig, name: &str, provider: &ProviderConfig) -> Result<Value, ApiError> {
    // Header values and secret-named fields.
    let secret = |name: &str| names_a_secret(name) || name == "extra_headers";
    let mut fields = match redact_strings(&Value::Object(settings(provider)?), &secret) {
        Value::Object(fields) => fields,
        _ => Map::new(),
    };
    fields.entry("network_config").or_insert_with(|| json!({}));
    let status = if config
        .unusable
        .iter()
        .any(|u| u.provider.as_deref() == Some(name) && u.id == name)
    {
        "error"
    } else {
        "active"
    };
    let mut answer = Map::new();
    answer.insert("name".to_owned(), Value::String(name.to_owned()));
    answer.extend(fields);
    answer.insert(
        "provider_status".to_owned(),
        Value::String(status.to_owned()),
    );
    Ok(Value::Object(answer))
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("provider not found: {}", truncate(name)))
}

async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let config = state.store.snapshot();
    let providers = config
        .providers
        .iter()
        .map(|(name, provider)| shown(&config, name, provider))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(
        json!({"total": providers.len(), "providers": providers}),
    ))
}

async fn read(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let config = state.store.snapshot();
    let provider = config
        .providers
        .get(&name)
        .ok_or_else(|| not_found(&name))?;
    Ok(Json(shown(&config, &name, provider)?))
}

/// The body as provider settings: an object, without keys and without the listing fields.
fn body_fields(body: Value) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(mut fields) = body else {
        return Err(ApiError::bad_request(
            "body",
            "the body must be a JSON object",
        ));
    };
    if fields
        .get("keys")
        .is_some_and(|k| !k.is_null() && k.as_array().is_none_or(|a| !a.is_empty()))
    {
        return Err(ApiError::bad_request(
            "keys",
            "keys are not accepted on this route: use POST/PUT /api/providers/{provider}/keys[/{key_id}]",
        ));
    }
    for view in ["keys", "name", "provider_status", "status", "description"] {
        fields.remove(view);
    }
    Ok(fields)
}

/// The provider with `changes` applied to `stored` (its keys kept).
fn changed(
    stored: Option<&ProviderConfig>,
    changes: Map<String, Value>,
) -> Result<ProviderConfig, ApiError> {
    let mut merged = match stored {
        Some(provider) => settings(provider)?,
        None => Map::new(),
    };
    let stored_json = Value::Object(merged.clone());
    let mut changes = Value::Object(changes);
    restore(&mut changes, &stored_json);
    if let Value::Object(changes) = changes {
        super::apply_fields(&mut merged, changes, &[]);
    }
    let mut provider: ProviderConfig = parse_json(Value::Object(merged).to_string().as_bytes())?;
    if let Some(stored) = stored {
        provider.keys.clone_from(&stored.keys);
    }
    Ok(provider)
}

fn valid_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "provider",
            "a provider name is 1 to 64 letters, digits, `-`, `_` or `.`",
        ))
    }
}

async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let name = body
        .get("provider")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("provider", "provider is required"))?;
    valid_name(&name)?;
    let mut fields = body_fields(body)?;
    fields.remove("provider");
    let answer = state
        .store
        .update(move |config| -> Result<_, ApiError> {
            if config.providers.contains_key(&name) {
                return Err(ApiError::conflict(
                    "provider",
                    format!("provider {} already exists", truncate(&name)),
                ));
            }
            let provider = changed(None, fields)?;
            config.providers.insert(name.clone(), provider);
            Ok(name)
        })
        .await?;
    let config = state.store.snapshot();
    Ok(Json(shown(&config, &answer, &config.providers[&answer])?))
}

async fn upsert(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    valid_name(&name)?;
    let mut fields = body_fields(body)?;
    if let Some(named) = fields.remove("provider")
        && named.as_str() != Some(name.as_str())
    {
        return Err(ApiError::bad_request(
            "provider",
            "the provider is the route's: it cannot be renamed",
        ));
    }
    let target = name.clone();
    state
        .store
        .update(move |config| -> Result<_, ApiError> {
            let provider = changed(config.providers.get(&target), fields)?;
            config.providers.insert(target, provider);
            Ok(())
        })
        .await?;
    let config = state.store.snapshot();
    Ok(Json(shown(&config, &name, &config.providers[&name])?))
}

async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let target = name.clone();
    state
        .store
        .update(move |config| -> Result<_, ApiError> {
            if !config.providers.contains_key(&target) {
                return Err(not_found(&target));
            }
            let documents = document(config)?;
            if let Some(vk) = documents
                .virtual_keys
                .iter()
                .find(|vk| vk.provider_configs.iter().any(|c| c.provider == target))
            {
                return Err(ApiError::conflict(
                    "provider",
                    format!(
                        "provider {} is allowed by virtual key {} ({}); remove it from that key's provider_configs first",
                        truncate(&target),
                        truncate(&vk.name),
                        truncate(&vk.id)
                    ),
                ));
            }
            config.providers.remove(&target);
            Ok(())
        })
        .await?;
    Ok(Json(json!({"name": name})))
}
