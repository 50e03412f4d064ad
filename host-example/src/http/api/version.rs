//! `GET /api/version`: the gateway's version, as Bifrost answers it (a JSON string, e.g.
//! `"0.1.0"`), so tools that ask Bifrost for its version get an answer here too.

use axum::{Json, Router, routing::get};

use crate::http::state::AppState;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/version", get(version))
}

async fn version() -> Json<&'static str> {
    Json(env!("CARGO_PKG_VERSION"))
}
