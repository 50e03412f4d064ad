//! The round-robin key-selection plugin: the keys that serve a (provider, model) take turns,
//! in configuration order, by the same candidate rules as the weighted selector (Bifrost's).
//! Zero-weight keys are skipped unless every candidate has weight zero.
//!
//! Its one piece of state, a cursor per table, is exported on a hot swap and imported by the
//! next instance, so a swap (or a reconfiguration) does not restart the rotation.
//!
//! - [`ring`]: a table of candidates with its cursor.
//! - [`selector`]: the [`KeySelector`](keyward_plugin_api::ffi::KeySelector) role and its state.

pub mod ring;
pub mod selector;

use abi_stable::{
    export_root_module,
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{ROption, RResult, RStr},
};
use keyward_plugin_api::ffi::{
    ErrorCode, HostHandle, KeySelector_TO, KeySelectorBox, KeywardError, PluginInfo, PluginMod,
    PluginModRef, RoleMask, RoleSet,
};
pub use selector::RoundRobinSelector;

/// The plugin's name, as `describe` reports it.
pub const PLUGIN_NAME: &str = "round-robin-selector";

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
            "round-robin provider-key selection; cursors survive hot swaps",
        ),
    }
}

extern "C" fn instantiate(
    config: RStr<'_>,
    roles: RoleMask,
    _host: HostHandle,
) -> RResult<RoleSet, KeywardError> {
    let built = std::panic::catch_unwind(|| build_roles(config.as_str(), roles));
    match built {
        Ok(result) => result.into(),
        Err(_) => RResult::RErr(KeywardError::new(
            ErrorCode::PLUGIN_PANICKED,
            "the round-robin-selector constructor panicked",
        )),
    }
}

fn build_roles(config: &str, roles: RoleMask) -> Result<RoleSet, KeywardError> {
    if !RoleMask::KEY_SELECTION.contains(roles) {
        return Err(KeywardError::new(
            ErrorCode::UNSUPPORTED,
            "round-robin-selector provides key_selection only",
        ));
    }
    let mut set = RoleSet::empty();
    if roles.contains(RoleMask::KEY_SELECTION) {
        set.key_selector = ROption::RSome(boxed(RoundRobinSelector::from_json(config)?));
    }
    Ok(set)
}

/// Boxes a selector as it crosses the ABI (for in-process tests).
pub fn boxed(selector: RoundRobinSelector) -> KeySelectorBox {
    KeySelector_TO::from_value(selector, TD_Opaque)
}
