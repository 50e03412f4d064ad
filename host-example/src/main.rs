//! `keyward-host`: for now, a minimal host that loads a key-selection plugin, builds it from a
//! JSON configuration and answers picks; later issues make it a full gateway.
//!
//! ```text
//! keyward-host PLUGIN.so CONFIG.json PROVIDER MODEL
//! ```

use std::process::ExitCode;

use keyward_plugin_api::{
    ffi::{RequestKind, RoleMask, SelectRequest},
    hosts::SystemHost,
    loader::load_plugin,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [plugin, config, provider, model] = args.as_slice() else {
        eprintln!("usage: keyward-host PLUGIN.so CONFIG.json PROVIDER MODEL");
        return ExitCode::from(2);
    };
    match run(plugin, config, provider, model) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("keyward-host: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(plugin: &str, config: &str, provider: &str, model: &str) -> Result<(), String> {
    let config = std::fs::read_to_string(config).map_err(|e| format!("{config}: {e}"))?;
    let loaded = load_plugin(plugin.as_ref()).map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::to_string(loaded.report()).map_err(|e| e.to_string())?
    );
    let roles = loaded
        .instantiate(&config, RoleMask::KEY_SELECTION, SystemHost::handle())
        .map_err(|e| e.to_string())?;
    let selector = roles
        .key_selector
        .into_option()
        .ok_or("the plugin built no key selector")?;
    let request = SelectRequest::new(provider, model, RequestKind::CHAT_COMPLETION);
    let choice = selector
        .select(&request)
        .into_result()
        .map_err(|e| e.to_string())?;
    println!(
        "key {} ({}) serves {provider}/{}",
        choice.key_id, choice.key_name, choice.provider_model
    );
    Ok(())
}
