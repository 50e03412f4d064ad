//! `POST /api/plugins/reload`: loads the plugin `.so` files named in the configuration again (a
//! new build at the same path included), carries every role's state to the new instances and
//! switches atomically. With a body `{"plugins": {"key_selection": {"path": "/abs/new.so"}}}`
//! (the configuration's `plugins` shape, absolute paths) the roles it names switch to those
//! plugins, and the saved configuration keeps them. Answers what was loaded (paths, interface
//! versions, time taken); a failed load leaves the old plugins serving and answers the typed
//! load error.

use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use keyward_plugin_api::loader::LoadError;

use keyward_host_core::config::PluginsBlock;

use crate::{
    http::{
        error::ApiError,
        extract::{RawBody, parse_json},
        state::AppState,
    },
    service::plugins::{PluginError, ReloadReport},
};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/plugins/reload", post(reload))
}

/// The optional body of a reload.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Switch {
    /// The roles to switch, in the configuration's `plugins` shape.
    plugins: PluginsBlock,
}

async fn reload(
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<Json<ReloadReport>, ApiError> {
    let outcome = if body.iter().all(u8::is_ascii_whitespace) {
        state.store.reload_plugins().await
    } else {
        let switch: Switch = parse_json(&body)?;
        state.store.switch_plugins(switch.plugins).await
    };
    state.metrics.reload(outcome.is_ok());
    match outcome {
        Ok(report) => {
            tracing::info!(took_ms = report.took_ms, "plugins reloaded through the API");
            Ok(Json(report))
        }
        Err(error) => {
            tracing::error!(%error, "plugin reload failed; the old plugins keep serving");
            Err(load_error(&error))
        }
    }
}

/// The envelope of a failed reload: `type` = `plugin_load_failed`, `code` = the kind of failure.
fn load_error(error: &PluginError) -> ApiError {
    let code = match error {
        PluginError::Config(_) => "invalid_plugins_block",
        PluginError::Load(LoadError::NotFound { .. }) => "not_found",
        PluginError::Load(LoadError::NotASharedObject { .. }) => "not_a_shared_object",
        PluginError::Load(LoadError::MissingRootModule { .. }) => "missing_root_module",
        PluginError::Load(LoadError::IncompatibleVersion { .. }) => "incompatible_version",
        PluginError::Load(LoadError::LayoutMismatch { .. }) => "layout_mismatch",
        PluginError::Load(LoadError::IncompatibleAbiStable { .. }) => "incompatible_abi_stable",
        PluginError::Load(LoadError::Constructor { .. }) => "constructor_failed",
        PluginError::Load(LoadError::MissingRole { .. }) => "missing_role",
        PluginError::Load(LoadError::StateTransfer { .. }) => "state_transfer_failed",
        PluginError::Load(LoadError::Copy { .. }) => "copy_failed",
        PluginError::Load(_) => "load_failed",
    };
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "plugin_load_failed",
        error.to_string(),
    )
    .with_code(code)
}
