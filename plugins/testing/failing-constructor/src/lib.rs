//! A test plugin whose constructor always refuses its configuration, the way a real plugin
//! refuses an invalid one: `invalid_config`, naming the field. The loader must surface it as
//! `LoadError::Constructor` carrying that typed error.

use abi_stable::{
    export_root_module,
    prefix_type::PrefixTypeTrait,
    std_types::{RResult, RStr},
};
use keyward_plugin_api::ffi::{
    ErrorCode, HostHandle, KeywardError, PluginInfo, PluginMod, PluginModRef, RoleMask, RoleSet,
};

/// The exported root module.
pub mod root {
    // `#[export_root_module]` generates an undocumented `#[no_mangle]` static (the loader's
    // symbol); the allowance covers that static and nothing else.
    #![allow(missing_docs)]

    use super::*;

    /// Builds the root module.
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
        name: RStr::from_str("testing-failing-constructor"),
        version: RStr::from_str(env!("CARGO_PKG_VERSION")),
        roles: RoleMask::KEY_SELECTION,
        description: RStr::from_str("test plugin: the constructor always fails"),
    }
}

/// The message every construction fails with.
pub const FAILURE_MESSAGE: &str = "providers.openai.keys[0].weight: expected a number";

extern "C" fn instantiate(
    _config: RStr<'_>,
    _roles: RoleMask,
    _host: HostHandle,
) -> RResult<RoleSet, KeywardError> {
    RResult::RErr(KeywardError::new(
        ErrorCode::INVALID_CONFIG,
        FAILURE_MESSAGE,
    ))
}
