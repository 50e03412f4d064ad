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
    sabi_trait::TD_Opaque,
    std_types::{ROption, RStr},
};
use keyward_plugin_api::ffi::{
    HostHandle, KeySelector_TO, KeySelectorBox, KeywardError, LogLevel, RoleMask, RoleSet,
};
pub use selector::WeightedSelector;

/// The plugin's name, as it describes itself.
pub const PLUGIN_NAME: &str = "weighted-selector";

keyward_plugin_api::export_plugin! {
    name: PLUGIN_NAME,
    roles: RoleMask::KEY_SELECTION,
    description: "weighted random provider-key selection (alias tables: O(1), allocation-free picks)",
    build: build_roles,
}

/// Builds the selector from the configuration and logs how many tables it built.
fn build_roles(config: &str, _roles: RoleMask, host: HostHandle) -> Result<RoleSet, KeywardError> {
    let selector = WeightedSelector::from_json(config)?;
    host.log(
        LogLevel::INFO,
        RStr::from_str(&format!(
            "{PLUGIN_NAME}: built {} candidate tables",
            selector.table_count()
        )),
    );
    let mut set = RoleSet::empty();
    set.key_selector = ROption::RSome(boxed(selector));
    Ok(set)
}

/// Boxes a selector as it crosses the ABI (for in-process tests and benches).
pub fn boxed(selector: WeightedSelector) -> KeySelectorBox {
    KeySelector_TO::from_value(selector, TD_Opaque)
}
