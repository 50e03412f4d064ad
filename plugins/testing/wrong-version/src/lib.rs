//! A test plugin built "against another interface version": its root module has the layout of
//! [`keyward_plugin_api::ffi::PluginMod`] but declares interface version 0.99.0. The loader must
//! refuse it with `LoadError::IncompatibleVersion` before touching its layout.

use abi_stable::{
    StableAbi, declare_root_module_statics, export_root_module,
    library::RootModule,
    prefix_type::PrefixTypeTrait,
    sabi_types::VersionStrings,
    std_types::{RResult, RStr},
};
use keyward_plugin_api::ffi::{HostHandle, KeywardError, PluginInfo, RoleMask, RoleSet};

/// The interface version this plugin claims.
pub const CLAIMED_VERSION: &str = "0.99.0";

/// A root module shaped like the real one, under another version.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = OtherPluginModRef)))]
#[sabi(missing_field(panic))]
pub struct OtherPluginMod {
    /// Same as the real field.
    pub describe: extern "C" fn() -> PluginInfo,
    /// Same as the real field.
    #[sabi(last_prefix_field)]
    pub instantiate:
        extern "C" fn(RStr<'_>, RoleMask, HostHandle) -> RResult<RoleSet, KeywardError>,
}

impl RootModule for OtherPluginModRef {
    declare_root_module_statics! {OtherPluginModRef}
    const BASE_NAME: &'static str = "keyward_plugin";
    const NAME: &'static str = "keyward_plugin";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new(CLAIMED_VERSION);
}

/// The exported root module.
pub mod root {
    // `#[export_root_module]` generates an undocumented `#[no_mangle]` static (the loader's
    // symbol); the allowance covers that static and nothing else.
    #![allow(missing_docs)]

    use super::*;

    /// Builds the root module.
    #[export_root_module]
    pub fn root_module() -> OtherPluginModRef {
        OtherPluginMod {
            describe,
            instantiate,
        }
        .leak_into_prefix()
    }
}

extern "C" fn describe() -> PluginInfo {
    PluginInfo {
        name: RStr::from_str("testing-wrong-version"),
        version: RStr::from_str(CLAIMED_VERSION),
        roles: RoleMask::KEY_SELECTION,
        description: RStr::from_str("test plugin: built against interface 0.99.0"),
    }
}

extern "C" fn instantiate(
    _config: RStr<'_>,
    _roles: RoleMask,
    _host: HostHandle,
) -> RResult<RoleSet, KeywardError> {
    RResult::ROk(RoleSet::empty())
}
