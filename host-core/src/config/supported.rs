//! Which fields of a Bifrost `config.json` keyward-host acts on. Everything else is reported once
//! at start as a warning naming the field ("not supported, ignored"), and kept when the
//! configuration is saved.

use serde_json::Value;

/// Top-level fields keyward reads (`plugins` only in its object form; a Bifrost array is kept).
const TOP_LEVEL: &[&str] = &[
    "$schema",
    "version",
    "providers",
    "governance",
    "client",
    "plugins",
    "keyward_plugins",
    "admin",
];

/// Provider fields keyward reads.
const PROVIDER: &[&str] = &["keys", "network_config", "custom_provider_config"];

/// Network fields keyward reads.
const NETWORK: &[&str] = &[
    "base_url",
    "extra_headers",
    "default_request_timeout_in_seconds",
    "stream_idle_timeout_in_seconds",
    "max_retries",
];

/// Client fields keyward reads.
const CLIENT: &[&str] = &[
    "enforce_auth_on_inference",
    "enforce_governance_header",
    "max_request_body_size_mb",
    "allowed_origins",
    "allowed_headers",
    "routing_chain_max_depth",
];

/// Governance fields the governance plugin reads.
const GOVERNANCE: &[&str] = &[
    "virtual_keys",
    "teams",
    "customers",
    "budgets",
    "rate_limits",
    "model_configs",
    "providers",
    "pricing_overrides",
    "routing_rules",
    "auth_config",
    "enforce_virtual_keys",
    "shadow_mode",
    "pricing",
    "unknown_model_pricing",
    "default_max_output_tokens",
    "use_default_pricing",
    "smoothing",
];

/// The unsupported fields of `document`, one message each.
pub fn unsupported_fields(document: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let Some(root) = document.as_object() else {
        return found;
    };
    unknown_keys(root, TOP_LEVEL, "", &mut found);
    if let Some(Value::Array(entries)) = root.get("plugins") {
        for (index, entry) in entries.iter().enumerate() {
            let name = entry.get("name").and_then(Value::as_str).unwrap_or("?");
            found.push(format!(
                "plugins[{index}] ({name}): Bifrost plugins are not run by keyward; the array is kept as it is, and keyward's own block (the .so for each role) goes under keyward_plugins"
            ));
        }
    }
    if let Some(Value::Object(providers)) = root.get("providers") {
        for (name, provider) in providers {
            if let Some(provider) = provider.as_object() {
                unknown_keys(
                    provider,
                    PROVIDER,
                    &format!("providers.{name}."),
                    &mut found,
                );
                if let Some(Value::Object(network)) = provider.get("network_config") {
                    unknown_keys(
                        network,
                        NETWORK,
                        &format!("providers.{name}.network_config."),
                        &mut found,
                    );
                }
            }
        }
    }
    if let Some(Value::Object(client)) = root.get("client") {
        unknown_keys(client, CLIENT, "client.", &mut found);
        if client.contains_key("enforce_governance_header") {
            found.push(
                "client.enforce_governance_header: deprecated (Bifrost), read as enforce_auth_on_inference".to_owned(),
            );
        }
    }
    if let Some(Value::Object(governance)) = root.get("governance") {
        unknown_keys(governance, GOVERNANCE, "governance.", &mut found);
    }
    found
}

fn unknown_keys(
    object: &serde_json::Map<String, Value>,
    known: &[&str],
    prefix: &str,
    found: &mut Vec<String>,
) {
    for key in object.keys() {
        if !known.contains(&key.as_str()) {
            found.push(format!(
                "{prefix}{key}: not supported by keyward-host, ignored"
            ));
        }
    }
}
