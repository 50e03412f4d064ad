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
use keyward_plugin_api::ffi::KeywardError;
use serde::Serialize;

/// Context copied into `extra_fields`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ExtraFields {
    /// The provider, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The model the caller asked for, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_requested: Option<String>,
    /// The kind of request (`chat_completion`, `management`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_type: Option<String>,
}

/// An error answered in the envelope (boxed: errors travel through many `Result`s).
#[derive(Clone, Debug)]
pub struct ApiError(Box<ApiErrorDetails>);

impl std::ops::Deref for ApiError {
    type Target = ApiErrorDetails;
    fn deref(&self) -> &ApiErrorDetails {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ApiErrorDetails {
        &mut self.0
    }
}

/// What an [`ApiError`] says.
#[derive(Clone, Debug)]
pub struct ApiErrorDetails {
    /// The HTTP status.
    pub status: StatusCode,
    /// `error.type` (and the top-level `type`).
    pub error_type: Cow<'static, str>,
    /// `error.code`, if more specific than the type.
    pub code: Option<Cow<'static, str>>,
    /// A message naming the field or the cause; never a secret.
    pub message: String,
    /// The offending parameter or JSON path.
    pub param: Option<String>,
    /// `Retry-After`, in seconds.
    pub retry_after_secs: Option<u64>,
    /// Whether the gateway (not an upstream) produced it.
    pub is_gateway_error: bool,
    /// Context.
    pub extra: ExtraFields,
}

impl ApiError {
    /// An error of `status` and `error_type`.
    pub fn new(status: StatusCode, error_type: &'static str, message: impl Into<String>) -> Self {
        Self::from_details(ApiErrorDetails {
            status,
            error_type: Cow::Borrowed(error_type),
            code: None,
            message: message.into(),
            param: None,
            retry_after_secs: None,
            is_gateway_error: true,
            extra: ExtraFields::default(),
        })
    }

    /// Wraps details.
    pub fn from_details(details: ApiErrorDetails) -> Self {
        Self(Box::new(details))
    }

    /// 400 `invalid_request` about `param`.
    pub fn bad_request(param: impl Into<String>, message: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::BAD_REQUEST, "invalid_request", message);
        error.param = Some(param.into());
        error
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
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }

    /// Sets `error.code`.
    pub fn with_code(mut self, code: impl Into<Cow<'static, str>>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets the context.
    pub fn with_extra(mut self, extra: ExtraFields) -> Self {
        self.extra = extra;
        self
    }
}

impl From<KeywardError> for ApiError {
    fn from(error: KeywardError) -> Self {
        let status =
            StatusCode::from_u16(error.http_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::from_details(ApiErrorDetails {
            status,
            error_type: Cow::Borrowed(error.code.as_str()),
            code: Some(Cow::Borrowed(error.code.as_str())),
            message: error.message.to_string(),
            param: None,
            retry_after_secs: error.retry_after_secs(),
            is_gateway_error: true,
            extra: ExtraFields::default(),
        })
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    event_id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    is_bifrost_error: bool,
    status_code: u16,
    error: Body<'a>,
    extra_fields: &'a ExtraFields,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    code: Option<&'a str>,
    message: &'a str,
    param: Option<&'a str>,
    event_id: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let event_id = uuid::Uuid::new_v4().to_string();
        let envelope = Envelope {
            event_id: &event_id,
            kind: &self.error_type,
            is_bifrost_error: self.is_gateway_error,
            status_code: self.status.as_u16(),
            error: Body {
                kind: &self.error_type,
                code: self.code.as_deref(),
                message: &self.message,
                param: self.param.as_deref(),
                event_id: &event_id,
            },
            extra_fields: &self.extra,
        };
        let body = serde_json::to_vec(&envelope).unwrap_or_else(|_| b"{}".to_vec());
        let status = self.status;
        let retry_after = self.retry_after_secs;
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
            .extensions_mut()
            .insert(crate::metrics::ErrorKind(self.error_type.to_string()));
        response
    }
}
