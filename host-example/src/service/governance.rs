//! The governance documents of a configuration: its `governance` block read as a
//! [`GovernanceDocument`] (virtual keys, teams, customers, budgets, rate limits) and written back.
//! The management API's governance routes change them through
//! [`Store::update`](crate::service::store::Store::update).

use keyward_host_core::{config::HostConfig, error::GatewayError};
use keyward_plugin_api::model::{governance::GovernanceDocument, secret::with_exposed_secrets};
use serde_json::Value;

/// The fields of the governance block that hold documents (the others are plugin options).
const DOCUMENT_FIELDS: &[&str] = &[
    "virtual_keys",
    "teams",
    "customers",
    "budgets",
    "rate_limits",
];

/// The governance documents of a configuration.
pub fn document(config: &HostConfig) -> Result<GovernanceDocument, GatewayError> {
    let documents: serde_json::Map<String, Value> = config
        .governance
        .iter()
        .filter(|(field, _)| DOCUMENT_FIELDS.contains(&field.as_str()))
        .map(|(field, value)| (field.clone(), value.clone()))
        .collect();
    serde_path_to_error::deserialize(Value::Object(documents)).map_err(|e| {
        GatewayError::internal(format!(
            "the stored governance block is invalid at governance.{}: {}",
            e.path(),
            keyward_plugin_api::model::secret::without_input_values(&e.inner().to_string())
        ))
    })
}

/// Writes `document` back into the configuration, secrets in clear (the configuration is what
/// the plugin is built from and what is saved; responses never serialize it).
pub fn set_document(
    config: &mut HostConfig,
    document: &GovernanceDocument,
) -> Result<(), GatewayError> {
    let value = with_exposed_secrets(|| serde_json::to_value(document)).map_err(|e| {
        GatewayError::internal(format!("cannot serialize the governance block: {e}"))
    })?;
    if let Value::Object(fields) = value {
        for (field, value) in fields {
            config.governance.insert(field, value);
        }
    }
    Ok(())
}
