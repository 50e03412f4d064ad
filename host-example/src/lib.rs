//! `keyward-host`: an LLM gateway host for the keyward plugins.
//!
//! It loads the plugins named in its configuration through the safe loader, keeps one
//! [`keyward_plugin_api::loader::RoleSlot`] per role, and serves the management API; see
//! `docs/host.md` and `keyward-host --help`. The binary (`src/main.rs`) only parses the command
//! line and calls [`run`].

pub mod api;
pub mod cli;
pub mod persist;
pub mod plugins;

use std::sync::Arc;

use keyward_plugin_api::model::secret::Secret;

use crate::{api::auth::AdminToken, cli::Args};

/// Runs the host until it is stopped.
pub async fn run(args: Args) -> Result<(), String> {
    let token = std::env::var("KEYWARD_ADMIN_TOKEN")
        .map_err(|_| "KEYWARD_ADMIN_TOKEN is not set".to_owned())?;
    let app = api::router(AdminToken(Arc::new(Secret::new(token))));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    tracing::info!(listen = %args.listen, "keyward-host serving");
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
