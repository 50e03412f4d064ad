//! The governance plugin: virtual keys, rate limits and budgets that cannot be overshot.
//!
//! One `instantiate` call builds both roles over shared state: the
//! [`VirtualKeyAuthorizer`](keyward_plugin_api::ffi::VirtualKeyAuthorizer) (find the virtual
//! key in the headers, check it, the provider and the model, choose a provider) and the
//! [`UsageEnforcer`](keyward_plugin_api::ffi::UsageEnforcer) (reserve request slots, tokens and
//! cost at every level before the upstream call; settle or release after it). The
//! configuration is Bifrost's `config.json` `governance` block plus a few options; see
//! `docs/governance.md`.
//!
//! - [`config`]: the configuration and its parsing; [`policy`]: the compiled, immutable policy.
//! - [`counter`]: the atomic windowed counters; [`prices`]: the price table.
//! - [`headers`], [`authorize`]: authorization; [`enforce`], [`reservations`]: enforcement.
//! - [`state`]: export and import for hot swaps; [`shadow`]: shadow-mode counts;
//!   [`smoothing`]: optional per-second GCRA smoothing per key (`governor`).
//! - [`engine`]: the shared state; [`roles`]: the ABI role objects.

pub mod authorize;
pub mod catalog;
pub mod config;
pub mod counter;
pub mod enforce;
pub mod engine;
pub mod headers;
pub mod intern;
pub mod model_limits;
pub mod policy;
pub mod price_overrides;
pub mod prices;
pub mod reservations;
pub mod roles;
pub mod routing;
pub mod shadow;
pub mod smoothing;
pub mod state;

use abi_stable::{sabi_trait::TD_Opaque, std_types::ROption};
use keyward_plugin_api::ffi::{
    ErrorCode, HostHandle, KeywardError, RoleMask, RoleSet, UsageEnforcer_TO,
    VirtualKeyAuthorizer_TO,
};

pub use roles::{GovernanceAuthorizer, GovernanceEnforcer};

/// The plugin's name.
pub const PLUGIN_NAME: &str = "governance";

const ROLES: RoleMask = RoleMask::AUTHORIZATION.union(RoleMask::ENFORCEMENT);

keyward_plugin_api::export_plugin! {
    name: PLUGIN_NAME,
    roles: ROLES,
    description: "virtual keys, rate limits and budgets that reserve before the upstream call",
    build: build_role_set,
}

/// Builds both roles over one engine from the configuration text (in-process use: tests and
/// benches).
pub fn build(
    config_json: &str,
    host: HostHandle,
) -> Result<(GovernanceAuthorizer, GovernanceEnforcer), KeywardError> {
    let config = config::parse(config_json)?;
    let engine = engine::Engine::new(&config, host)?;
    Ok(roles::roles(engine))
}

/// What `instantiate` does: the roles asked for, sharing one engine.
pub fn build_role_set(
    config_json: &str,
    roles: RoleMask,
    host: HostHandle,
) -> Result<RoleSet, KeywardError> {
    if !ROLES.contains(roles) {
        return Err(KeywardError::new(
            ErrorCode::UNSUPPORTED,
            "the governance plugin provides authorization and enforcement only",
        ));
    }
    let (authorizer, enforcer) = build(config_json, host)?;
    let mut set = RoleSet::empty();
    if roles.contains(RoleMask::AUTHORIZATION) {
        set.authorizer = ROption::RSome(VirtualKeyAuthorizer_TO::from_value(authorizer, TD_Opaque));
    }
    if roles.contains(RoleMask::ENFORCEMENT) {
        set.enforcer = ROption::RSome(UsageEnforcer_TO::from_value(enforcer, TD_Opaque));
    }
    Ok(set)
}
