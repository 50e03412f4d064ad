//! [`export_plugin!`](crate::export_plugin): everything a plugin crate needs to be loadable,
//! written once — the root module (the loader's symbol, a prefix type), `describe`, and an
//! `instantiate` that refuses roles the plugin does not provide and turns a panicking
//! constructor into a typed error, so nothing unwinds across the ABI.
//!
//! ```ignore
//! keyward_plugin_api::export_plugin! {
//!     name: "my-selector",
//!     roles: RoleMask::KEY_SELECTION,
//!     description: "picks keys my way",
//!     build: build_roles, // fn(&str, RoleMask, HostHandle) -> Result<RoleSet, KeywardError>
//! }
//! ```
//!
//! `plugins/testing/panicking` is the smallest complete example.

use std::panic::{AssertUnwindSafe, catch_unwind};

use abi_stable::std_types::RResult;

use crate::ffi::{ErrorCode, HostHandle, KeywardError, RoleMask, RoleSet};

/// The body of every exported `instantiate`: refuses roles outside `provided`, then runs `build`
/// with a panic turned into [`ErrorCode::PLUGIN_PANICKED`].
pub fn instantiate_guarded(
    plugin: &str,
    provided: RoleMask,
    config: &str,
    roles: RoleMask,
    host: HostHandle,
    build: impl FnOnce(&str, RoleMask, HostHandle) -> Result<RoleSet, KeywardError>,
) -> RResult<RoleSet, KeywardError> {
    if !provided.contains(roles) {
        return RResult::RErr(KeywardError::new(
            ErrorCode::UNSUPPORTED,
            format!(
                "{plugin} provides {} only; asked for {}",
                provided.names().join(", "),
                roles.names().join(", ")
            ),
        ));
    }
    match catch_unwind(AssertUnwindSafe(|| build(config, roles, host))) {
        Ok(result) => result.into(),
        Err(_) => RResult::RErr(KeywardError::new(
            ErrorCode::PLUGIN_PANICKED,
            format!("the {plugin} constructor panicked"),
        )),
    }
}

/// Exports a keyward plugin from its name, the roles it provides, a one-line description and
/// its builder (`fn(&str, RoleMask, HostHandle) -> Result<RoleSet, KeywardError>`, called with
/// the configuration JSON, the roles asked for — always a subset of `roles` — and the host's
/// services). The crate must depend on `abi_stable` (the export attribute refers to it).
#[macro_export]
macro_rules! export_plugin {
    (
        name: $name:expr,
        roles: $roles:expr,
        description: $description:expr,
        build: $build:expr $(,)?
    ) => {
        /// The exported root module: `#[export_root_module]` makes `root_module` the symbol the
        /// keyward loader looks for.
        pub mod keyward_root_module {
            // The attribute generates an undocumented `#[no_mangle]` static (the loader's
            // symbol); the allowance covers that static and nothing else.
            #![allow(missing_docs)]

            use ::abi_stable::prefix_type::PrefixTypeTrait as _;

            /// Builds the root module.
            #[::abi_stable::export_root_module]
            pub fn root_module() -> $crate::ffi::PluginModRef {
                $crate::ffi::PluginMod {
                    describe: super::keyward_describe,
                    instantiate: super::keyward_instantiate,
                }
                .leak_into_prefix()
            }
        }

        extern "C" fn keyward_describe() -> $crate::ffi::PluginInfo {
            $crate::ffi::PluginInfo {
                name: ::abi_stable::std_types::RStr::from_str($name),
                version: ::abi_stable::std_types::RStr::from_str(env!("CARGO_PKG_VERSION")),
                roles: $roles,
                description: ::abi_stable::std_types::RStr::from_str($description),
            }
        }

        extern "C" fn keyward_instantiate(
            config: ::abi_stable::std_types::RStr<'_>,
            roles: $crate::ffi::RoleMask,
            host: $crate::ffi::HostHandle,
        ) -> ::abi_stable::std_types::RResult<$crate::ffi::RoleSet, $crate::ffi::KeywardError> {
            $crate::export::instantiate_guarded($name, $roles, config.as_str(), roles, host, $build)
        }
    };
}
