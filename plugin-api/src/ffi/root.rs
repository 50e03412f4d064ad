//! The root module every plugin exports: a prefix type, so fields are only ever appended (after
//! the `#[sabi(last_prefix_field)]` one): an older host still loads a newer plugin (it never
//! reads what it does not know) and a newer host an older plugin (an appended field it lacks
//! reads as `None`, `missing_field(option)`, and each appended field documents what the host
//! does then).
//!
//! A plugin declares it with `#[export_root_module]`; see `plugins/testing/panicking` for the
//! smallest complete plugin and `docs/abi.md` for the evolution rules.

// Scoped allowance for the `StableAbi` derive of the prefix type in this module, and nothing
// else here: the accessor it generates for an appended field (which an older plugin may lack)
// reads that field through an `unsafe` block written by abi_stable, not by us.
#![allow(unsafe_code)]

use abi_stable::{
    StableAbi, declare_root_module_statics,
    library::RootModule,
    package_version_strings,
    sabi_types::VersionStrings,
    std_types::{ROption, RResult, RStr},
};

use super::{AuthorizerBox, EnforcerBox, HostHandle, KeySelectorBox, KeywardError};

/// A set of roles, as bits.
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct RoleMask(pub u32);

impl RoleMask {
    /// No role.
    pub const NONE: Self = Self(0);
    /// [`KeySelector`](super::KeySelector).
    pub const KEY_SELECTION: Self = Self(1);
    /// [`VirtualKeyAuthorizer`](super::VirtualKeyAuthorizer).
    pub const AUTHORIZATION: Self = Self(1 << 1);
    /// [`UsageEnforcer`](super::UsageEnforcer).
    pub const ENFORCEMENT: Self = Self(1 << 2);

    /// Both roles.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether every role of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The role names, for messages (`key_selection`, `authorization`, `enforcement`).
    pub fn names(self) -> Vec<&'static str> {
        let mut names = Vec::new();
        for (role, name) in [
            (Self::KEY_SELECTION, "key_selection"),
            (Self::AUTHORIZATION, "authorization"),
            (Self::ENFORCEMENT, "enforcement"),
        ] {
            if self.contains(role) {
                names.push(name);
            }
        }
        names
    }
}

/// What a plugin says about itself, without constructing anything.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct PluginInfo {
    /// The plugin's name, e.g. `weighted-key-selector`.
    pub name: RStr<'static>,
    /// The plugin's own version.
    pub version: RStr<'static>,
    /// The roles it can provide.
    pub roles: RoleMask,
    /// One line on what it does.
    pub description: RStr<'static>,
}

/// The role instances built by one [`PluginMod::instantiate`] call. Roles built together share
/// state (the governance plugin's authorizer and enforcer see the same counters).
#[repr(C)]
#[derive(StableAbi)]
pub struct RoleSet {
    /// The key selector, if asked for.
    pub key_selector: ROption<KeySelectorBox>,
    /// The authorizer, if asked for.
    pub authorizer: ROption<AuthorizerBox>,
    /// The enforcer, if asked for.
    pub enforcer: ROption<EnforcerBox>,
}

impl std::fmt::Debug for RoleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleSet")
            .field("key_selector", &self.key_selector.is_some())
            .field("authorizer", &self.authorizer.is_some())
            .field("enforcer", &self.enforcer.is_some())
            .finish()
    }
}

impl RoleSet {
    /// An empty set.
    pub fn empty() -> Self {
        Self {
            key_selector: ROption::RNone,
            authorizer: ROption::RNone,
            enforcer: ROption::RNone,
        }
    }
}

/// The root module of a keyward plugin.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(option))]
pub struct PluginMod {
    /// Describes the plugin.
    pub describe: extern "C" fn() -> PluginInfo,

    /// Builds the `roles` asked for from the configuration, given as JSON text. Roles the plugin
    /// does not provide are an [`ErrorCode::UNSUPPORTED`](super::ErrorCode) error; an invalid
    /// configuration is [`ErrorCode::INVALID_CONFIG`](super::ErrorCode), naming the field.
    #[sabi(last_prefix_field)]
    pub instantiate: extern "C" fn(
        config_json: RStr<'_>,
        roles: RoleMask,
        host: HostHandle,
    ) -> RResult<RoleSet, KeywardError>,

    /// Checks the configuration for the `roles` asked for, keeping nothing, so a host can check
    /// a configuration before it is used (`keyward-host --check-config`): a plugin's own check
    /// builds nothing (no connection, no state, no log); `export_plugin!` without one builds
    /// the roles with a host that keeps no log and drops them. The same errors as
    /// `instantiate`. **Added in 0.3.1**: a
    /// plugin built against 0.3.0 lacks it (the host reads it as absent), and hosts then build
    /// the roles and drop them
    /// ([`LoadedPlugin::validate`](crate::loader::LoadedPlugin::validate)).
    pub validate:
        extern "C" fn(config_json: RStr<'_>, roles: RoleMask) -> RResult<(), KeywardError>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "keyward_plugin";
    const NAME: &'static str = "keyward_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
