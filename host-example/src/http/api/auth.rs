//! Admin authentication for every `/api/*` route: `Authorization: Bearer <admin token>`, the
//! token read from the environment variable the configuration names — and, when the
//! configuration enables Bifrost's `governance.auth_config`, `Authorization: Basic` with its
//! `admin_username` and `admin_password` (which then suffice: the token is optional). Both are
//! compared in constant time. A virtual key
//! (`sk-bf-…`) is refused on management routes, whatever its value.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use keyward_plugin_api::model::secret::Secret;
use subtle::ConstantTimeEq;

use crate::http::error::ApiError;

/// The admin credentials.
#[derive(Clone, Debug)]
pub struct AdminAuth {
    token: Option<Arc<Secret>>,
    basic: Option<Arc<(Secret, Secret)>>,
}

impl AdminAuth {
    /// The bearer `token` (when set), and Bifrost's `(username, password)` when basic auth is
    /// enabled.
    pub fn new(token: Option<Secret>, basic: Option<(Secret, Secret)>) -> Self {
        Self {
            token: token.map(Arc::new),
            basic: basic.map(Arc::new),
        }
    }

    /// Whether `candidate` is the token, in time independent of where they differ.
    pub fn token_matches(&self, candidate: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|token| same(token.expose(), candidate))
    }

    /// Whether `encoded` (the part after `Basic `) carries the admin username and password.
    pub fn basic_matches(&self, encoded: &str) -> bool {
        let Some(credentials) = &self.basic else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(decoded) = String::from_utf8(decoded) else {
            return false;
        };
        let (user, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
        // Both compared, whatever the first says.
        let user_ok = same(credentials.0.expose(), user);
        let password_ok = same(credentials.1.expose(), password);
        user_ok & password_ok
    }

    /// Whether basic auth is enabled.
    pub fn basic_enabled(&self) -> bool {
        self.basic.is_some()
    }
}

fn same(expected: &str, candidate: &str) -> bool {
    let (expected, candidate) = (expected.as_bytes(), candidate.as_bytes());
    expected.len() == candidate.len() && bool::from(expected.ct_eq(candidate))
}

/// Middleware: lets the request through only with the admin credentials.
pub async fn require_admin(
    State(auth): State<AdminAuth>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    let (scheme, value) = presented.split_once(' ').unwrap_or((presented, ""));
    let value = value.trim();
    let refusal = match scheme.to_ascii_lowercase().as_str() {
        "bearer" if value.starts_with("sk-bf-") => ApiError::unauthorized(
            "virtual keys are not accepted on management routes; use the admin token",
        )
        .with_code("virtual_key_not_allowed"),
        "bearer" if auth.token_matches(value) => return next.run(request).await,
        "bearer" => {
            ApiError::unauthorized("the admin token is not valid").with_code("invalid_admin_token")
        }
        "basic" if auth.basic_enabled() && auth.basic_matches(value) => {
            return next.run(request).await;
        }
        "basic" if auth.basic_enabled() => {
            ApiError::unauthorized("the admin username or password is not valid")
                .with_code("invalid_admin_credentials")
        }
        _ => ApiError::unauthorized(
            "management routes require `Authorization: Bearer <admin token>`",
        )
        .with_code("admin_token_required"),
    };
    refusal.into_response()
}
