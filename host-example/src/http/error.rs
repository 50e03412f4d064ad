//! The error envelope every failing route answers with (Bifrost's shape, which also carries an
//! OpenAI-style `error` object so OpenAI SDKs raise their usual typed errors):
//!
//! ```json
//! {"event_id": "…", "type": "invalid_request", "is_bifrost_error": true, "status_code": 400,
//!  "error": {"type": "invalid_request", "code": "…", "message": "…", "param": "…", "event_id": "…"},
//!  "extra_fields": {"provider": "…", "model_requested": "…", "request_type": "…"}}
//! ```

use std::borrow::Cow;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use keyward_host_core::error::GatewayError;
use keyward_plugin_api::ffi::KeywardError;

pub use keyward_host_core::error::ExtraFields;

/// An error answered in the envelope: the core's [`GatewayError`], answered by axum.
#[derive(Clone, Debug)]
pub struct ApiError(pub GatewayError);

impl std::ops::Deref for ApiError {
    type Target = GatewayError;
    fn deref(&self) -> &GatewayError {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut GatewayError {
        &mut self.0
    }
}

impl ApiError {
    /// An error of `status` and `error_type`.
    pub fn new(status: StatusCode, error_type: &'static str, message: impl Into<String>) -> Self {
        Self(GatewayError::new(status.as_u16(), error_type, message))
    }

    /// 400 `invalid_request` about `param`.
    pub fn bad_request(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self(GatewayError::bad_request(param, message))
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 `conflict` about `param`.
    pub fn conflict(param: impl Into<String>, message: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::CONFLICT, "conflict", message);
        error.param = Some(param.into());
        error
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 500 `internal_error`; the message is logged by the caller, the client sees a generic one.
    pub fn internal(message: impl Into<String>) -> Self {
        Self(GatewayError::internal(message))
    }

    /// Sets `error.code`.
    pub fn with_code(self, code: impl Into<Cow<'static, str>>) -> Self {
        Self(self.0.with_code(code))
    }

    /// Sets the context.
    pub fn with_extra(self, extra: ExtraFields) -> Self {
        Self(self.0.with_extra(extra))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<KeywardError> for ApiError {
    fn from(error: KeywardError) -> Self {
        Self(GatewayError::from(error))
    }
}

impl From<GatewayError> for ApiError {
    fn from(error: GatewayError) -> Self {
        Self(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        envelope_response(&self.0)
    }
}

/// The envelope of `error` as an axum response (status, JSON body, `Retry-After`; a 408, whose
/// request body was not read to its end, also closes the connection).
pub fn envelope_response(error: &GatewayError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, error.body()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(secs) = error.retry_after_secs {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if status == StatusCode::REQUEST_TIMEOUT {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
