//! A test plugin whose key selector panics on demand — and the smallest complete keyward
//! plugin, so it doubles as the example `docs/abi.md` points to.
//!
//! It selects the key named in its configuration (`{"key_id": "k1"}`); a request for the model
//! `panic` makes it panic inside `select`. The panic is caught by [`PanicGuard`], returned as
//! `plugin_panicked`, and every later call fails closed with `plugin_poisoned`.

use abi_stable::{
    export_root_module,
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{ROption, RResult, RStr, RString},
};
use keyward_plugin_api::{
    ffi::{
        ErrorCode, HostHandle, KeyChoice, KeySelector, KeySelector_TO, KeywardError, PluginInfo,
        PluginMod, PluginModRef, RoleMask, RoleSet, SelectRequest,
    },
    guard::PanicGuard,
};

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
        name: RStr::from_str("testing-panicking"),
        version: RStr::from_str(env!("CARGO_PKG_VERSION")),
        roles: RoleMask::KEY_SELECTION,
        description: RStr::from_str("test plugin: a key selector that panics on model `panic`"),
    }
}

extern "C" fn instantiate(
    config: RStr<'_>,
    roles: RoleMask,
    _host: HostHandle,
) -> RResult<RoleSet, KeywardError> {
    if !RoleMask::KEY_SELECTION.contains(roles) {
        return RResult::RErr(KeywardError::new(
            ErrorCode::UNSUPPORTED,
            "testing-panicking provides key_selection only",
        ));
    }
    let key_id = config.as_str().split('"').nth(3).unwrap_or("k1").to_owned();
    let mut set = RoleSet::empty();
    if roles.contains(RoleMask::KEY_SELECTION) {
        let selector = PanickingSelector {
            key_id,
            guard: PanicGuard::new("testing-panicking"),
        };
        set.key_selector = ROption::RSome(KeySelector_TO::from_value(selector, TD_Opaque));
    }
    RResult::ROk(set)
}

/// Always picks the configured key; panics for the model `panic`.
pub struct PanickingSelector {
    key_id: String,
    guard: PanicGuard,
}

impl KeySelector for PanickingSelector {
    fn select<'a>(&'a self, request: &SelectRequest<'a>) -> RResult<KeyChoice<'a>, KeywardError> {
        self.guard.run(|| {
            if request.model.as_str() == "panic" {
                panic!("asked to panic");
            }
            RResult::ROk(KeyChoice {
                key_id: RStr::from_str(&self.key_id),
                key_name: RStr::from_str(&self.key_id),
                provider_model: request.model,
            })
        })
    }

    fn export_state(&self) -> RResult<RString, KeywardError> {
        self.guard.retire();
        RResult::ROk(RString::from("null"))
    }

    fn import_state(&self, _state: RStr<'_>) -> RResult<(), KeywardError> {
        RResult::ROk(())
    }
}

/// Boxes the selector, for in-process tests.
pub fn boxed(key_id: &str) -> keyward_plugin_api::ffi::KeySelectorBox {
    KeySelector_TO::from_value(
        PanickingSelector {
            key_id: key_id.to_owned(),
            guard: PanicGuard::new("testing-panicking"),
        },
        TD_Opaque,
    )
}
