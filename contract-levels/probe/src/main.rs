//! The contract-level probe: a minimal host, built at two patch levels of the contract
//! (`keyward-contract-probe` at the current one, `keyward-contract-probe-previous` at the one
//! before), that loads the plugin named on its command line and uses it as a host of its level
//! does, printing one JSON line per step for `tests/contract_levels.rs`:
//!
//! - `{"step": "load", "ok": true, "plugin_interface": …, "host_interface": …}`, or
//!   `{"step": "load", "ok": false, "error": "IncompatibleVersion", "message": …}` (and stops);
//! - `{"step": "select", "key": …}`: a pick for `openai`/`gpt-4o` among keys `k1`, `k2`, `k3`;
//!   at the current level the request carries the private-use extension that asks for the
//!   table position 2;
//! - `{"step": "validate", "own": …, "error": …}`: a configuration whose key weight is a string
//!   checked through `LoadedPlugin::validate` (the plugin's own check when it exports one, else
//!   a build; both levels have it since 0.3.1).
//!
//! It never panics on what the plugin does: every outcome is printed.

use keyward_plugin_api::{
    ffi::{KeySelectorExt, RequestKind, RoleMask, SelectRequest},
    hosts::SystemHost,
    loader::{LoadError, load_plugin},
};
use serde_json::json;

/// The private-use key the contract-level plugin reads (`contract-levels/plugin`).
#[cfg(not(keyward_previous_patch))]
const PREFERRED_POSITION: keyward_plugin_api::ffi::ExtensionKey =
    keyward_plugin_api::ffi::ExtensionKey(keyward_plugin_api::ffi::ExtensionKey::PRIVATE_USE.0 + 1);

const KEYS: &str = r#"{"providers": {"openai": {"keys": [
    {"id": "k1", "name": "first", "value": "sk-1", "models": ["*"], "weight": 1},
    {"id": "k2", "name": "second", "value": "sk-2", "models": ["*"], "weight": 1},
    {"id": "k3", "name": "third", "value": "sk-3", "models": ["*"], "weight": 1}
]}}}"#;

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: keyward-contract-probe PLUGIN.so");
        std::process::exit(2);
    };
    let plugin = match load_plugin(path.as_ref()) {
        Ok(plugin) => plugin,
        Err(error) => {
            println!(
                "{}",
                json!({"step": "load", "ok": false, "error": kind(&error), "message": error.to_string()})
            );
            return;
        }
    };
    let report = plugin.report();
    println!(
        "{}",
        json!({"step": "load", "ok": true, "plugin_interface": report.interface_version,
               "host_interface": report.host_interface_version})
    );
    let roles = match plugin.instantiate(KEYS, RoleMask::KEY_SELECTION, SystemHost::handle()) {
        Ok(roles) => roles,
        Err(error) => {
            println!(
                "{}",
                json!({"step": "instantiate", "error": error.to_string()})
            );
            return;
        }
    };
    let Some(selector) = roles.key_selector.into_option() else {
        println!(
            "{}",
            json!({"step": "instantiate", "error": "no key selector"})
        );
        return;
    };
    #[allow(unused_mut)]
    let mut request = SelectRequest::new("openai", "gpt-4o", RequestKind::CHAT_COMPLETION);
    #[cfg(not(keyward_previous_patch))]
    let extensions = [keyward_plugin_api::ffi::Extension::number(
        PREFERRED_POSITION,
        2,
    )];
    #[cfg(not(keyward_previous_patch))]
    {
        request.extensions = keyward_plugin_api::ffi::Extensions::new(&extensions);
    }
    match selector.pick(&request).into_result() {
        Ok(choice) => println!(
            "{}",
            json!({"step": "select", "key": choice.key_id.as_str()})
        ),
        Err(error) => println!(
            "{}",
            json!({"step": "select", "error": error.message.as_str()})
        ),
    }
    {
        let mistyped = r#"{"providers": {"openai": {"keys": [{"id": "k1", "models": ["*"], "weight": "heavy"}]}}}"#;
        let outcome = plugin.validate(mistyped, RoleMask::KEY_SELECTION, SystemHost::handle());
        println!(
            "{}",
            json!({"step": "validate", "own": plugin.exports_validate(),
                   "error": outcome.err().map(|e| e.to_string())})
        );
    }
}

fn kind(error: &LoadError) -> &'static str {
    match error {
        LoadError::IncompatibleVersion { .. } => "IncompatibleVersion",
        LoadError::LayoutMismatch { .. } => "LayoutMismatch",
        LoadError::MissingRootModule { .. } => "MissingRootModule",
        _ => "Other",
    }
}
