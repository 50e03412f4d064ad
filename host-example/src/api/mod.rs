//! The HTTP surface: the management API (`/api/*`, admin-authenticated), health, and the
//! envelope every error is answered in.

pub mod auth;
pub mod error;
pub mod extract;
pub mod governance;
pub mod keys;
pub mod plugins;

use std::sync::Arc;

use axum::{Router, http::StatusCode, middleware, response::IntoResponse, routing::get};

use self::{auth::AdminAuth, error::ApiError};
use crate::store::Store;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The live configuration and plugins.
    pub store: Arc<Store>,
    /// The upstream client.
    pub proxy: Arc<crate::proxy::Proxy>,
    /// The metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The application router; request bodies are limited to `max_body_bytes`.
pub fn router(state: AppState, admin: AdminAuth, max_body_bytes: usize) -> Router {
    let management = Router::new()
        .merge(keys::routes())
        .merge(governance::routes())
        .merge(plugins::routes())
        .route_layer(middleware::from_fn_with_state(admin, auth::require_admin));
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(crate::metrics::scrape))
        .merge(crate::proxy::routes())
        .merge(management)
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}
