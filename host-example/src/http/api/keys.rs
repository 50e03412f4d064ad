//! Provider keys, Bifrost-compatible: `GET /api/keys`; `GET|POST /api/providers/{provider}/keys`;
//! `GET|PUT|DELETE /api/providers/{provider}/keys/{key_id}`. Every key in every answer is
//! redacted, and carries Bifrost's listing fields `key_id` (its id) and `provider` beside the
//! key document; a body may carry them back (they must agree with the key and the route). An
//! update that sends a redacted value back keeps the stored secret.

use axum::{Json, Router, extract::State, routing::get};
use keyward_plugin_api::model::{
    key::Key,
    secret::{looks_redacted, with_exposed_secrets},
};
use serde_json::{Value, json};

use crate::{
    http::{
        error::ApiError,
        extract::{self, JsonBody, Path},
        state::AppState,
    },
    service::governance::document,
};
use keyward_host_core::config::HostConfig;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/keys", get(list_all))
        .route("/api/providers/{provider}/keys", get(list).post(create))
        .route(
            "/api/providers/{provider}/keys/{key_id}",
            get(read).put(update).delete(remove),
        )
}

/// A key as answers show it: the document (redacted) with `key_id` and `provider`.
fn shown(provider: &str, key: &Key) -> Value {
    let mut value = serde_json::to_value(key).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut value {
        fields.insert("key_id".to_owned(), Value::String(key.id.clone()));
        fields.insert("provider".to_owned(), Value::String(provider.to_owned()));
    }
    value
}

/// Takes Bifrost's listing fields off a key sent in a body: `provider` must be the route's,
/// `key_id` the key's id (it gives the id when `id` is absent).
fn take_listing_fields(provider: &str, key: &mut Key) -> Result<(), ApiError> {
    match key.other.0.remove("provider") {
        None => {}
        Some(Value::String(named)) if named == provider => {}
        Some(other) => {
            return Err(ApiError::bad_request(
                "provider",
                format!(
                    "provider is {}, but the route names provider {}",
                    extract::truncate(&other.to_string()),
                    extract::truncate(provider)
                ),
            ));
        }
    }
    match key.other.0.remove("key_id") {
        None => Ok(()),
        Some(Value::String(id)) if key.id.is_empty() || key.id == id => {
            key.id = id;
            Ok(())
        }
        Some(_) => Err(ApiError::bad_request(
            "key_id",
            "key_id must be a string equal to id (it is the key's id)",
        )),
    }
}

async fn list_all(State(state): State<AppState>) -> Json<Vec<Value>> {
    let config = state.store.snapshot();
    Json(
        config
            .providers
            .iter()
            .flat_map(|(name, p)| p.keys.iter().map(move |key| shown(name, key)))
            .collect(),
    )
}

async fn list(
    State(state): State<AppState>,
    Path(provider): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let config = state.store.snapshot();
    let keys: Vec<Value> = provider_of(&config, &provider)?
        .keys
        .iter()
        .map(|key| shown(&provider, key))
        .collect();
    Ok(Json(json!({ "total": keys.len(), "keys": keys })))
}

async fn read(
    State(state): State<AppState>,
    Path((provider, key_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let config = state.store.snapshot();
    let keys = &provider_of(&config, &provider)?.keys;
    keys.iter()
        .find(|k| k.id == key_id)
        .map(|key| Json(shown(&provider, key)))
        .ok_or_else(|| key_not_found(&provider, &key_id))
}

async fn create(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    JsonBody(mut key): JsonBody<Key>,
) -> Result<Json<Value>, ApiError> {
    take_listing_fields(&provider, &mut key)?;
    if key.id.is_empty() {
        key.id = uuid::Uuid::new_v4().to_string();
    }
    key.enabled.get_or_insert(true);
    validate(&provider, &key)?;
    let created = state
        .store
        .update(move |config| -> Result<_, ApiError> {
            check_unique(config, &key, None)?;
            provider_of_mut(config, &provider)?.keys.push(key.clone());
            Ok(shown(&provider, &key))
        })
        .await?;
    Ok(Json(created))
}

async fn update(
    State(state): State<AppState>,
    Path((provider, key_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let updated = state
        .store
        .update(move |config| -> Result<_, ApiError> {
            let stored = provider_of(config, &provider)?
                .keys
                .iter()
                .find(|k| k.id == key_id)
                .cloned()
                .ok_or_else(|| key_not_found(&provider, &key_id))?;
            let mut key = keep_stored_secrets(&stored, body)?;
            if key.id.is_empty() {
                key.id.clone_from(&key_id);
            }
            take_listing_fields(&provider, &mut key)?;
            // Absent means enabled; a key sent back as shown stays as stored.
            if key.enabled.is_none() {
                key.enabled = stored.enabled;
            }
            if key.id != key_id {
                return Err(ApiError::bad_request(
                    "id",
                    "the id is the route's key id: it cannot be changed",
                ));
            }
            validate(&provider, &key)?;
            check_unique(config, &key, Some(&key_id))?;
            let slot = provider_of_mut(config, &provider)?
                .keys
                .iter_mut()
                .find(|k| k.id == key_id)
                .ok_or_else(|| key_not_found(&provider, &key_id))?;
            *slot = key.clone();
            Ok(shown(&provider, &key))
        })
        .await?;
    Ok(Json(updated))
}

async fn remove(
    State(state): State<AppState>,
    Path((provider, key_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let removed = state
        .store
        .update(move |config| -> Result<_, ApiError> {
            refuse_if_referenced(config, &provider, &key_id)?;
            let keys = &mut provider_of_mut(config, &provider)?.keys;
            let index = keys
                .iter()
                .position(|k| k.id == key_id)
                .ok_or_else(|| key_not_found(&provider, &key_id))?;
            Ok(shown(&provider, &keys.remove(index)))
        })
        .await?;
    Ok(Json(removed))
}

/// A key a virtual key's provider config lists cannot be deleted: dropping it from the list would
/// widen that config to every key (an empty list allows all), so the reference is removed first.
fn refuse_if_referenced(config: &HostConfig, provider: &str, key_id: &str) -> Result<(), ApiError> {
    let documents = document(config)?;
    let user = documents.virtual_keys.iter().find(|vk| {
        vk.provider_configs
            .iter()
            .any(|c| c.provider == provider && c.keys.iter().any(|k| k.key_id == key_id))
    });
    match user {
        Some(vk) => Err(ApiError::conflict(
            "key_id",
            format!(
                "provider key {} is allowed by virtual key {} ({}); remove it from that key's provider_configs first",
                extract::truncate(key_id),
                extract::truncate(&vk.name),
                extract::truncate(&vk.id)
            ),
        )),
        None => Ok(()),
    }
}

fn provider_of<'c>(
    config: &'c HostConfig,
    provider: &str,
) -> Result<&'c keyward_host_core::config::ProviderConfig, ApiError> {
    config.providers.get(provider).ok_or_else(|| {
        ApiError::not_found(format!(
            "provider not found: {}",
            extract::truncate(provider)
        ))
    })
}

fn provider_of_mut<'c>(
    config: &'c mut HostConfig,
    provider: &str,
) -> Result<&'c mut keyward_host_core::config::ProviderConfig, ApiError> {
    config.providers.get_mut(provider).ok_or_else(|| {
        ApiError::not_found(format!(
            "provider not found: {}",
            extract::truncate(provider)
        ))
    })
}

fn key_not_found(provider: &str, key_id: &str) -> ApiError {
    ApiError::not_found(format!(
        "provider key not found: {} (provider {})",
        extract::truncate(key_id),
        extract::truncate(provider)
    ))
}

/// Providers whose keys carry no secret (the key's `*_key_config.url` is the endpoint).
const KEYLESS_PROVIDERS: &[&str] = &["ollama", "vllm", "sgl"];

/// The rules a key must follow before it is stored.
pub fn validate(provider: &str, key: &Key) -> Result<(), ApiError> {
    if key.name.trim().is_empty() {
        return Err(ApiError::bad_request("name", "name is required"));
    }
    let keyless = KEYLESS_PROVIDERS.contains(&provider) || key.bedrock_key_config.is_some();
    if !keyless && key.value.expose().is_empty() && !key.value.from_env {
        return Err(ApiError::bad_request("value", "value must not be empty"));
    }
    if looks_redacted(key.value.expose()) {
        return Err(ApiError::bad_request(
            "value",
            "value is a redacted placeholder; send the real key (or send the redacted value back only in an update)",
        ));
    }
    let black = &key.blacklisted_models;
    if black.iter().any(|m| m == "*") && black.len() > 1 {
        return Err(ApiError::bad_request(
            "blacklisted_models",
            "blacklisted_models: `*` blocks every model and cannot be combined with other entries",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (index, model) in black.iter().enumerate() {
        if model.trim().is_empty() {
            return Err(ApiError::bad_request(
                format!("blacklisted_models[{index}]"),
                "model names must not be empty",
            ));
        }
        if !seen.insert(model.to_ascii_lowercase()) {
            return Err(ApiError::bad_request(
                format!("blacklisted_models[{index}]"),
                format!(
                    "blacklisted_models: duplicate entry `{}`",
                    extract::truncate(model)
                ),
            ));
        }
    }
    for (name, alias) in &key.aliases {
        let target = serde_json::to_value(alias).unwrap_or(Value::Null);
        let model_id = target
            .as_str()
            .or_else(|| target.get("model_id").and_then(Value::as_str));
        if name.trim().is_empty() || model_id.is_none_or(|m| m.trim().is_empty()) {
            return Err(ApiError::bad_request(
                format!("aliases.{}", extract::truncate(name)),
                "aliases: every alias needs a non-empty name and a non-empty provider model id",
            ));
        }
    }
    Ok(())
}

/// 409 when another key (of any provider) already has this name or id.
fn check_unique(config: &HostConfig, key: &Key, updating: Option<&str>) -> Result<(), ApiError> {
    for (provider, entry) in &config.providers {
        for other in &entry.keys {
            if Some(other.id.as_str()) == updating {
                continue;
            }
            if other.name == key.name {
                return Err(ApiError::conflict(
                    "name",
                    format!(
                        "key names must be unique across providers: `{}` is used by provider {provider}",
                        extract::truncate(&key.name)
                    ),
                ));
            }
            if updating.is_none() && other.id == key.id {
                return Err(ApiError::conflict(
                    "id",
                    "a key with this id already exists",
                ));
            }
        }
    }
    Ok(())
}

/// Parses an update body, putting back every secret the client sent in redacted form: any
/// `{"value": <redacted>, …}` object (or redacted string) whose redaction matches the stored
/// value at the same place keeps the stored value.
fn keep_stored_secrets(stored: &Key, mut body: Value) -> Result<Key, ApiError> {
    let stored_json = with_exposed_secrets(|| serde_json::to_value(stored))
        .map_err(|e| ApiError::internal(format!("cannot read the stored key: {e}")))?;
    restore(&mut body, &stored_json);
    extract::parse_json(body.to_string().as_bytes())
}

/// Puts back, in `incoming`, every secret sent in its redacted form where `stored` (the stored
/// document, secrets exposed) holds the value it redacts.
pub(crate) fn restore(incoming: &mut Value, stored: &Value) {
    match (incoming, stored) {
        (Value::Array(new), Value::Array(old)) => {
            for (value, old_value) in new.iter_mut().zip(old) {
                restore(value, old_value);
            }
        }
        (Value::Object(new), Value::Object(old)) => {
            // An environment-backed value sent back as shown (its resolved value redacted):
            // the same variable, read again from the environment.
            let variable = |object: &serde_json::Map<String, Value>| {
                let name = object.get("env_var").and_then(Value::as_str)?;
                (object.get("from_env") == Some(&Value::Bool(true)))
                    .then(|| name.strip_prefix("env.").unwrap_or(name).to_owned())
            };
            if let Some(name) = variable(new)
                && variable(old).as_deref() == Some(name.as_str())
                && new
                    .get("value")
                    .and_then(Value::as_str)
                    .is_some_and(looks_redacted)
            {
                new.insert("value".to_owned(), Value::String(String::new()));
            }
            for (field, value) in new.iter_mut() {
                if let Some(old_value) = old.get(field) {
                    restore(value, old_value);
                }
            }
        }
        (Value::String(new), old) => {
            let old_secret = old
                .as_str()
                .or_else(|| old.get("value").and_then(Value::as_str))
                .filter(|s| !s.is_empty());
            if let Some(old_secret) = old_secret
                && looks_redacted(new)
                && *new == keyward_plugin_api::model::secret::redact(old_secret)
            {
                *new = old_secret.to_owned();
            }
        }
        _ => {}
    }
}
