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
//!     // optional (0.3.1): fn(&str, RoleMask) -> Result<(), KeywardError>, checking a
//!     // configuration without building anything; without it, validation builds and drops.
//!     validate: validate_config,
//! }
//! ```
//!
//! `plugins/testing/panicking` is the smallest complete example.

use std::panic::{AssertUnwindSafe, catch_unwind};

use abi_stable::{
    prefix_type::PrefixTypeTrait,
    std_types::{RResult, RStr},
};

use crate::ffi::{
    ErrorCode, HostHandle, KeywardError, PluginInfo, PluginMod, PluginModRef, RoleMask, RoleSet,
};

/// The signature of an exported `describe`.
pub type DescribeFn = extern "C" fn() -> PluginInfo;
/// The signature of an exported `instantiate`.
pub type InstantiateFn =
    extern "C" fn(RStr<'_>, RoleMask, HostHandle) -> RResult<RoleSet, KeywardError>;
/// The signature of an exported `validate` (0.3.1).
pub type ValidateFn = extern "C" fn(RStr<'_>, RoleMask) -> RResult<(), KeywardError>;

/// The root module of the contract level this crate was built at, from the plugin's functions
/// (what [`export_plugin!`](crate::export_plugin) exports).
pub fn root_module(
    describe: DescribeFn,
    instantiate: InstantiateFn,
    validate: ValidateFn,
) -> PluginModRef {
    PluginMod {
        describe,
        instantiate,
        validate,
    }
    .leak_into_prefix()
}

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
    guarded(plugin, "constructor", provided, roles, || {
        build(config, roles, host)
    })
}

/// The body of every exported `validate`: refuses roles outside `provided`, then runs `check`
/// with a panic turned into [`ErrorCode::PLUGIN_PANICKED`].
pub fn validate_guarded(
    plugin: &str,
    provided: RoleMask,
    config: &str,
    roles: RoleMask,
    check: impl FnOnce(&str, RoleMask) -> Result<(), KeywardError>,
) -> RResult<(), KeywardError> {
    guarded(plugin, "validation", provided, roles, || {
        check(config, roles)
    })
}

/// Validation for a plugin that exports no check of its own: builds the roles with a host that
/// keeps no log, and drops them.
pub fn validate_by_building(
    config: &str,
    roles: RoleMask,
    build: impl FnOnce(&str, RoleMask, HostHandle) -> Result<RoleSet, KeywardError>,
) -> Result<(), KeywardError> {
    build(config, roles, crate::hosts::QuietHost::handle()).map(drop)
}

fn guarded<T>(
    plugin: &str,
    what: &str,
    provided: RoleMask,
    roles: RoleMask,
    run: impl FnOnce() -> Result<T, KeywardError>,
) -> RResult<T, KeywardError> {
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
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(result) => result.into(),
        Err(_) => RResult::RErr(KeywardError::new(
            ErrorCode::PLUGIN_PANICKED,
            format!("the {plugin} {what} panicked"),
        )),
    }
}

/// Exports a keyward plugin from its name, the roles it provides, a one-line description, its
/// builder (`fn(&str, RoleMask, HostHandle) -> Result<RoleSet, KeywardError>`, called with the
/// configuration JSON, the roles asked for — always a subset of `roles` — and the host's
/// services) and, optionally, its validation (`fn(&str, RoleMask) -> Result<(), KeywardError>`,
/// the same checks without building anything; without one, validation builds and drops). The
/// crate must depend on `abi_stable` (the export attribute refers to it).
#[macro_export]
macro_rules! export_plugin {
    (
        name: $name:expr,
        roles: $roles:expr,
        description: $description:expr,
        build: $build:expr,
        validate: $validate:expr $(,)?
    ) => {
        $crate::export_plugin! { @module $name, $roles, $description, $build }

        extern "C" fn keyward_validate(
            config: ::abi_stable::std_types::RStr<'_>,
            roles: $crate::ffi::RoleMask,
        ) -> ::abi_stable::std_types::RResult<(), $crate::ffi::KeywardError> {
            $crate::export::validate_guarded($name, $roles, config.as_str(), roles, $validate)
        }
    };
    (
        name: $name:expr,
        roles: $roles:expr,
        description: $description:expr,
        build: $build:expr $(,)?
    ) => {
        $crate::export_plugin! {
            name: $name,
            roles: $roles,
            description: $description,
            build: $build,
            validate: |config: &str, roles: $crate::ffi::RoleMask| {
                $crate::export::validate_by_building(config, roles, $build)
            },
        }
    };
    (@module $name:expr, $roles:expr, $description:expr, $build:expr) => {
        /// The exported root module: `#[export_root_module]` makes `root_module` the symbol the
        /// keyward loader looks for.
        pub mod keyward_root_module {
            // The attribute generates an undocumented `#[no_mangle]` static (the loader's
            // symbol); the allowance covers that static and nothing else.
            #![allow(missing_docs)]

            /// Builds the root module.
            #[::abi_stable::export_root_module]
            pub fn root_module() -> $crate::ffi::PluginModRef {
                $crate::export::root_module(
                    super::keyward_describe,
                    super::keyward_instantiate,
                    super::keyward_validate,
                )
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
