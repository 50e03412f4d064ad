//! A test plugin with the right interface version but a root module of another layout (its
//! `describe` returns a bare number). The loader must refuse it with `LoadError::LayoutMismatch`.

use abi_stable::{
    StableAbi, declare_root_module_statics, export_root_module, library::RootModule,
    prefix_type::PrefixTypeTrait, sabi_types::VersionStrings,
};

/// A root module with the real name and version but another layout.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// Differs from the real `describe`, which returns a `PluginInfo`.
    #[sabi(last_prefix_field)]
    pub describe: extern "C" fn() -> u32,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "keyward_plugin";
    const NAME: &'static str = "keyward_plugin";
    // Exactly the real interface version, so only the layout check can refuse it.
    const VERSION_STRINGS: VersionStrings =
        VersionStrings::new(keyward_plugin_api::INTERFACE_VERSION);
}

/// The exported root module.
pub mod root {
    // `#[export_root_module]` generates an undocumented `#[no_mangle]` static (the loader's
    // symbol); the allowance covers that static and nothing else.
    #![allow(missing_docs)]

    use super::*;

    /// Builds the root module.
    #[export_root_module]
    pub fn root_module() -> PluginModRef {
        PluginMod { describe }.leak_into_prefix()
    }
}

extern "C" fn describe() -> u32 {
    7
}
