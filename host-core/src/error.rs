//! [`GatewayError`]: every error a host answers a client with — a plugin's denial, a bad
//! request, an upstream failure — with its HTTP status, whether another attempt may succeed,
//! and the one envelope both hosts send (Bifrost's shape, which carries an OpenAI-style `error`
//! object so the OpenAI SDKs raise their usual typed errors):
//!
//! ```json
//! {"event_id": "…", "type": "budget_exceeded", "is_bifrost_error": true, "status_code": 402,
//!  "error": {"type": "budget_exceeded", "code": "budget_exceeded", "message": "…", "param": null, "event_id": "…"},
//!  "extra_fields": {"provider": "openai", "model_requested": "gpt-4o", "request_type": "chat_completion"}}
//! ```
//!
//! plus `Retry-After` (seconds) when a plugin or the upstream gave a hint.

use std::borrow::Cow;

use keyward_plugin_api::ffi::KeywardError;
use serde::Serialize;

/// Context copied into `extra_fields`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
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
#[derive(Clone, Debug, PartialEq)]
pub struct GatewayError(Box<GatewayErrorDetails>);

impl std::ops::Deref for GatewayError {
    type Target = GatewayErrorDetails;
    fn deref(&self) -> &GatewayErrorDetails {
        &self.0
    }
}

impl std::ops::DerefMut for GatewayError {
    fn deref_mut(&mut self) -> &mut GatewayErrorDetails {
        &mut self.0
    }
}

/// What a [`GatewayError`] says.
#[derive(Clone, Debug, PartialEq)]
pub struct GatewayErrorDetails {
    /// The HTTP status.
    pub status: u16,
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
    /// Whether the gateway (not an upstream) produced it (`is_bifrost_error`).
    pub is_gateway_error: bool,
    /// Whether another attempt (another key, another provider) may succeed.
    pub retryable: bool,
    /// The plugin role whose call produced it (`authorization`, `enforcement`,
    /// `key_selection`), when a plugin did.
    pub plugin_role: Option<&'static str>,
    /// Context.
    pub extra: ExtraFields,
}

impl GatewayError {
    /// An error of `status` and `error_type`.
    pub fn new(status: u16, error_type: &'static str, message: impl Into<String>) -> Self {
        Self(Box::new(GatewayErrorDetails {
            status,
            error_type: Cow::Borrowed(error_type),
            code: None,
            message: message.into(),
            param: None,
            retry_after_secs: None,
            is_gateway_error: true,
            retryable: false,
            plugin_role: None,
            extra: ExtraFields::default(),
        }))
    }

    /// 400 `invalid_request` about `param`.
    pub fn bad_request(param: impl Into<String>, message: impl Into<String>) -> Self {
        let mut error = Self::new(400, "invalid_request", message);
        error.param = Some(param.into());
        error
    }

    /// 500 `internal_error`: the message names the cause (a configuration gap, never a
    /// secret).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal_error", message)
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

    /// A plugin's error, naming the role it came from.
    pub fn from_plugin(role: &'static str, error: KeywardError) -> Self {
        let mut error = Self::from(error);
        error.plugin_role = Some(role);
        error
    }

    /// Marks it as one another attempt may not hit.
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }

    /// The decision text hosts log and expose (`deny:<type>`).
    pub fn decision(&self) -> String {
        format!("deny:{}", self.error_type)
    }

    /// The envelope's JSON body, with a fresh event id.
    pub fn body(&self) -> Vec<u8> {
        let event_id = uuid::Uuid::new_v4().to_string();
        let envelope = Envelope {
            event_id: &event_id,
            kind: &self.error_type,
            is_bifrost_error: self.is_gateway_error,
            status_code: self.status,
            error: Body {
                kind: &self.error_type,
                code: self.code.as_deref(),
                message: &self.message,
                param: self.param.as_deref(),
                event_id: &event_id,
            },
            extra_fields: &self.extra,
        };
        serde_json::to_vec(&envelope).unwrap_or_else(|_| b"{}".to_vec())
    }
}

impl From<KeywardError> for GatewayError {
    fn from(error: KeywardError) -> Self {
        let status = if (100..=599).contains(&error.http_status) {
            error.http_status
        } else {
            500
        };
        Self(Box::new(GatewayErrorDetails {
            status,
            error_type: Cow::Borrowed(error.code.as_str()),
            code: Some(Cow::Borrowed(error.code.as_str())),
            message: error.message.to_string(),
            param: None,
            retry_after_secs: error.retry_after_secs(),
            is_gateway_error: true,
            retryable: error.retryable,
            plugin_role: None,
            extra: ExtraFields::default(),
        }))
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

#[cfg(test)]
mod tests {
    use keyward_plugin_api::ffi::ErrorCode;
    use serde_json::Value;

    use super::*;

    #[test]
    fn a_plugin_denial_in_the_envelope() {
        let error = KeywardError::new(ErrorCode::REQUEST_LIMITED, "2 requests per minute")
            .with_retry_after_ms(1500);
        let denial = GatewayError::from(error).with_extra(ExtraFields {
            provider: Some("openai".into()),
            model_requested: Some("gpt-4o".into()),
            request_type: Some("chat_completion".into()),
        });
        assert_eq!(denial.status, 429);
        assert_eq!(denial.retry_after_secs, Some(2));
        assert_eq!(denial.decision(), "deny:request_limited");
        let body: Value = serde_json::from_slice(&denial.body()).unwrap();
        assert_eq!(body["type"], "request_limited");
        assert_eq!(body["is_bifrost_error"], true);
        assert_eq!(body["status_code"], 429);
        assert_eq!(body["error"]["type"], "request_limited");
        assert_eq!(body["error"]["code"], "request_limited");
        assert_eq!(body["error"]["message"], "2 requests per minute");
        assert_eq!(body["error"]["param"], Value::Null);
        assert_eq!(body["error"]["event_id"], body["event_id"]);
        assert_eq!(body["extra_fields"]["provider"], "openai");
        assert_eq!(body["extra_fields"]["model_requested"], "gpt-4o");
        assert_eq!(body["extra_fields"]["request_type"], "chat_completion");
    }

    #[test]
    fn a_bad_request_names_its_param() {
        let body: Value =
            serde_json::from_slice(&GatewayError::bad_request("model", "required").body()).unwrap();
        assert_eq!(body["status_code"], 400);
        assert_eq!(body["error"]["param"], "model");
        assert_eq!(body["error"]["code"], Value::Null);
        assert!(body["extra_fields"].as_object().unwrap().is_empty());
    }

    #[test]
    fn an_out_of_range_plugin_status_is_a_500() {
        let mut error = KeywardError::new(ErrorCode::INTERNAL, "x");
        error.http_status = 42;
        assert_eq!(GatewayError::from(error).status, 500);
    }
}
