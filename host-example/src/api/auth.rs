//! Admin authentication for every `/api/*` route: `Authorization: Bearer <admin token>`, the
//! token read from the environment variable the configuration names, compared in constant time.
//! A virtual key (`sk-bf-…`) is refused on management routes, whatever its value.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};
use keyward_plugin_api::model::secret::Secret;
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// The admin token.
#[derive(Clone, Debug)]
pub struct AdminToken(pub Arc<Secret>);

impl AdminToken {
    /// Whether `candidate` is the token, in time independent of where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        let expected = self.0.expose().as_bytes();
        let candidate = candidate.as_bytes();
        expected.len() == candidate.len() && bool::from(expected.ct_eq(candidate))
    }
}

/// Middleware: lets the request through only with the admin bearer token.
pub async fn require_admin(
    State(token): State<AdminToken>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let bearer = presented.and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .map(str::trim)
    });
    match bearer {
        None => ApiError::unauthorized(
            "management routes require `Authorization: Bearer <admin token>`",
        )
        .with_code("admin_token_required")
        .into_response(),
        Some(value) if value.starts_with("sk-bf-") => ApiError::unauthorized(
            "virtual keys are not accepted on management routes; use the admin token",
        )
        .with_code("virtual_key_not_allowed")
        .into_response(),
        Some(value) if token.matches(value) => next.run(request).await,
        Some(_) => ApiError::unauthorized("the admin token is not valid")
            .with_code("invalid_admin_token")
            .into_response(),
    }
}
