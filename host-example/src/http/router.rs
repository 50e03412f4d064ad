//! The application router: health, `/metrics` (open, or behind the admin middleware with
//! `admin.metrics: "admin"`), the inference routes ([`crate::http::proxy`]), the management API
//! (`/api/*`, behind the admin middleware of [`crate::http::api::auth`]), and the fallbacks that
//! answer unknown routes and methods in the error envelope.

use axum::{Router, http::StatusCode, middleware, response::IntoResponse, routing::get};
use keyward_host_core::config::MetricsAccess;

use crate::http::{
    api::{
        auth::{self, AdminAuth},
        governance, keys, metrics, plugins, providers, version,
    },
    cors::Cors,
    error::ApiError,
    proxy,
    state::AppState,
};

/// What a connection is served by: the router behind the CORS rules.
pub type App = Cors<Router>;

/// The application router; request bodies are limited to `max_body_bytes`; cross-origin
/// requests follow `cors` (the configuration's `client.allowed_origins`); `/metrics` is read as
/// `metrics_access` says.
pub fn router(
    state: AppState,
    admin: AdminAuth,
    metrics_access: MetricsAccess,
    cors: std::sync::Arc<keyward_host_core::cors::CorsPolicy>,
    max_body_bytes: usize,
) -> App {
    let scrape = Router::new().route("/metrics", get(metrics::scrape));
    let mut management = Router::new()
        .merge(providers::routes())
        .merge(keys::routes())
        .merge(governance::routes())
        .merge(plugins::routes())
        .merge(version::routes());
    let open = match metrics_access {
        MetricsAccess::Open => scrape,
        MetricsAccess::Admin => {
            management = management.merge(scrape);
            Router::new()
        }
    };
    let management =
        management.route_layer(middleware::from_fn_with_state(admin, auth::require_admin));
    let routes = Router::new()
        .route("/health", get(health))
        .merge(open)
        .merge(proxy::routes())
        // The virtual key's own quota: the key is the credential, not the admin's.
        .merge(governance::quota::routes())
        .merge(management)
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    Cors::new(routes, cors)
}

/// `{"status": "ok"}`, plus `unusable`: the entries the gateway serves without because an
/// `env.NAME` they need is not set (kind, provider, id, the variable; never a value).
async fn health(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    let config = state.store.snapshot();
    axum::Json(serde_json::json!({"status": "ok", "unusable": config.unusable}))
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
