//! Bifrost's governance management API: virtual keys ([`virtual_keys`]), teams and customers
//! ([`org`]), and the budgets and rate limits they own ([`limits`]). Every change goes through
//! [`Store::update`](crate::store::Store::update), so the governance plugin is rebuilt from it at
//! once (counters carried over) and the change is saved atomically.
//!
//! Responses embed what the documents reference — a key's team (with its customer), customer,
//! budgets with their current usage, rate limit with its current usage, provider configs with
//! their keys — and redact every secret.

pub mod limits;
pub mod org;
pub mod usage;
pub mod virtual_keys;

use axum::Router;
use keyward_plugin_api::model::{governance::GovernanceDocument, secret::with_exposed_secrets};
use serde_json::Value;

use super::{AppState, error::ApiError};
use keyward_host_core::config::HostConfig;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(virtual_keys::routes())
        .merge(org::routes())
        .merge(limits::routes())
}

/// The fields of the governance block that hold documents (the others are plugin options).
const DOCUMENT_FIELDS: &[&str] = &[
    "virtual_keys",
    "teams",
    "customers",
    "budgets",
    "rate_limits",
];

/// The governance documents of a configuration.
pub fn document(config: &HostConfig) -> Result<GovernanceDocument, ApiError> {
    let documents: serde_json::Map<String, Value> = config
        .governance
        .iter()
        .filter(|(field, _)| DOCUMENT_FIELDS.contains(&field.as_str()))
        .map(|(field, value)| (field.clone(), value.clone()))
        .collect();
    serde_path_to_error::deserialize(Value::Object(documents)).map_err(|e| {
        ApiError::internal(format!(
            "the stored governance block is invalid at governance.{}: {}",
            e.path(),
            e.inner()
        ))
    })
}

/// Writes `document` back into the configuration, secrets in clear (the configuration is what
/// the plugin is built from and what is saved; responses never serialize it).
pub fn set_document(
    config: &mut HostConfig,
    document: &GovernanceDocument,
) -> Result<(), ApiError> {
    let value = with_exposed_secrets(|| serde_json::to_value(document))
        .map_err(|e| ApiError::internal(format!("cannot serialize the governance block: {e}")))?;
    if let Value::Object(fields) = value {
        for (field, value) in fields {
            config.governance.insert(field, value);
        }
    }
    Ok(())
}

/// A fresh id for a document that came without one.
pub fn fresh_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
