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

use abi_stable::{sabi_trait::TD_Opaque, std_types::ROption};
use keyward_plugin_api::ffi::{
    HostHandle, KeySelector_TO, KeySelectorBox, KeywardError, RoleMask, RoleSet,
};
pub use selector::RoundRobinSelector;

/// The plugin's name, as it describes itself.
pub const PLUGIN_NAME: &str = "round-robin-selector";

keyward_plugin_api::export_plugin! {
    name: PLUGIN_NAME,
    roles: RoleMask::KEY_SELECTION,
    description: "round-robin provider-key selection; cursors survive hot swaps",
    build: build_roles,
}

/// Builds the selector from the configuration.
fn build_roles(config: &str, _roles: RoleMask, _host: HostHandle) -> Result<RoleSet, KeywardError> {
    let mut set = RoleSet::empty();
    set.key_selector = ROption::RSome(boxed(RoundRobinSelector::from_json(config)?));
    Ok(set)
}

/// Boxes a selector as it crosses the ABI (for in-process tests).
pub fn boxed(selector: RoundRobinSelector) -> KeySelectorBox {
    KeySelector_TO::from_value(selector, TD_Opaque)
}
