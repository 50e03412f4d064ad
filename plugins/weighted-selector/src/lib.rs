//! The weighted key-selection plugin: picks a provider key at random in proportion to its
//! `weight`, among the keys that serve the request's (provider, model), by Bifrost's rules.
//!
//! Its configuration is Bifrost `config.json`'s `providers` block,
//! `{"providers": {"openai": {"keys": [<Key>, ...]}}}` (see
//! [`KeysConfig`](keyward_plugin_api::model::key::config::KeysConfig)). Construction builds one
//! alias table per (provider, model, batch or not); a pick is O(1) in the number of keys,
//! allocates nothing, takes no lock and draws from a per-thread generator (`fastrand`).
//!
//! - [`alias_table`]: Vose's alias method.
//! - [`table`]: the per-(provider, model) tables.
//! - [`selector`]: the [`KeySelector`] role.

pub mod alias_table;
pub mod selector;
pub mod table;

use abi_stable::{
    export_root_module,
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{ROption, RResult, RStr},
};
use keyward_plugin_api::ffi::{
    ErrorCode, HostHandle, KeySelector_TO, KeySelectorBox, KeywardError, LogLevel, PluginInfo,
    PluginMod, PluginModRef, RoleMask, RoleSet,
};
pub use selector::WeightedSelector;

/// The plugin's name, as [`describe`] reports it.
pub const PLUGIN_NAME: &str = "weighted-selector";

/// The exported root module.
pub mod root {
    // `#[export_root_module]` generates an undocumented `#[no_mangle]` static (the loader's
    // symbol); the allowance covers that static and nothing else.
    #![allow(missing_docs)]

    use super::*;

    /// Builds the root module (`#[export_root_module]` exports it as the loader symbol).
    #[export_root_module]
    pub fn root_module() -> PluginModRef {
        PluginMod {
            describe,
            instantiate,
        }
        .leak_into_prefix()
    }
}

extern "C" fn describe() -> PluginInfo {
    PluginInfo {
        name: RStr::from_str(PLUGIN_NAME),
        version: RStr::from_str(env!("CARGO_PKG_VERSION")),
        roles: RoleMask::KEY_SELECTION,
        description: RStr::from_str(
            "weighted random provider-key selection (alias tables: O(1), allocation-free picks)",
        ),
    }
}

extern "C" fn instantiate(
    config: RStr<'_>,
    roles: RoleMask,
    host: HostHandle,
) -> RResult<RoleSet, KeywardError> {
    // The constructor must not unwind across the ABI either.
    let built = std::panic::catch_unwind(|| build_roles(config.as_str(), roles, &host));
    match built {
        Ok(result) => result.into(),
        Err(_) => RResult::RErr(KeywardError::new(
            ErrorCode::PLUGIN_PANICKED,
            "the weighted-selector constructor panicked",
        )),
    }
}

fn build_roles(config: &str, roles: RoleMask, host: &HostHandle) -> Result<RoleSet, KeywardError> {
    if !RoleMask::KEY_SELECTION.contains(roles) {
        return Err(KeywardError::new(
            ErrorCode::UNSUPPORTED,
            "weighted-selector provides key_selection only",
        ));
    }
    let mut set = RoleSet::empty();
    if roles.contains(RoleMask::KEY_SELECTION) {
        let selector = WeightedSelector::from_json(config)?;
        host.log(
            LogLevel::INFO,
            RStr::from_str(&format!(
                "{PLUGIN_NAME}: built {} candidate tables",
                selector.table_count()
            )),
        );
        set.key_selector = ROption::RSome(boxed(selector));
    }
    Ok(set)
}

/// Boxes a selector as it crosses the ABI (for in-process tests and benches).
pub fn boxed(selector: WeightedSelector) -> KeySelectorBox {
    KeySelector_TO::from_value(selector, TD_Opaque)
}
