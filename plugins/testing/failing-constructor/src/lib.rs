//! A test plugin whose constructor always refuses its configuration, the way a real plugin
//! refuses an invalid one: `invalid_config`, naming the field. The loader must surface it as
//! `LoadError::Constructor` carrying that typed error.

use keyward_plugin_api::ffi::{ErrorCode, HostHandle, KeywardError, RoleMask, RoleSet};

keyward_plugin_api::export_plugin! {
    name: "testing-failing-constructor",
    roles: RoleMask::KEY_SELECTION,
    description: "test plugin: the constructor always fails",
    build: refuse,
}

/// The message every construction fails with.
pub const FAILURE_MESSAGE: &str = "providers.openai.keys[0].weight: expected a number";

fn refuse(_config: &str, _roles: RoleMask, _host: HostHandle) -> Result<RoleSet, KeywardError> {
    Err(KeywardError::new(
        ErrorCode::INVALID_CONFIG,
        FAILURE_MESSAGE,
    ))
}
