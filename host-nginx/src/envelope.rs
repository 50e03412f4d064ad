//! The error envelope nginx answers denials with: the same status, headers and JSON as
//! keyward-host (`host-example/src/api/error.rs`, Bifrost's shape with an OpenAI-style `error`
//! object):
//!
//! ```json
//! {"event_id": "…", "type": "budget_exceeded", "is_bifrost_error": true, "status_code": 402,
//!  "error": {"type": "budget_exceeded", "code": "budget_exceeded", "message": "…", "param": null, "event_id": "…"},
//!  "extra_fields": {"provider": "openai", "model_requested": "gpt-4o", "request_type": "chat_completion"}}
//! ```
//!
//! plus `Retry-After` (seconds) when the plugin gave a retry-after hint.

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
    /// The kind of request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_type: Option<String>,
}

/// A denial or a gateway error, answered by nginx without calling the upstream.
#[derive(Clone, Debug, PartialEq)]
pub struct Denial {
    /// The HTTP status.
    pub status: u16,
    /// `type` and `error.type`.
    pub error_type: &'static str,
    /// `error.code`.
    pub code: Option<&'static str>,
    /// The message; never a secret.
    pub message: String,
    /// `error.param`.
    pub param: Option<String>,
    /// `Retry-After`, in seconds.
    pub retry_after_secs: Option<u64>,
    /// Context (boxed: a denial travels in `Result`s).
    pub extra: Box<ExtraFields>,
}

impl Denial {
    /// A denial of `status` and `error_type`.
    pub fn new(status: u16, error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error_type,
            code: None,
            message: message.into(),
            param: None,
            retry_after_secs: None,
            extra: Box::default(),
        }
    }

    /// 400 `invalid_request` about `param`.
    pub fn bad_request(param: &str, message: impl Into<String>) -> Self {
        let mut denial = Self::new(400, "invalid_request", message);
        denial.param = Some(param.to_owned());
        denial
    }

    /// 500 `internal_error` with a generic message (the cause goes to the error log).
    pub fn internal() -> Self {
        Self::new(
            500,
            "internal_error",
            "the gateway could not process the request",
        )
    }

    /// Sets the context.
    pub fn with_extra(mut self, extra: ExtraFields) -> Self {
        self.extra = Box::new(extra);
        self
    }

    /// The decision text for `$keyward_decision`: `deny:<type>`.
    pub fn decision(&self) -> String {
        format!("deny:{}", self.error_type)
    }

    /// The JSON body, with a fresh event id.
    pub fn body(&self) -> Vec<u8> {
        let event_id = new_event_id();
        let envelope = Envelope {
            event_id: &event_id,
            kind: self.error_type,
            is_bifrost_error: true,
            status_code: self.status,
            error: Body {
                kind: self.error_type,
                code: self.code,
                message: &self.message,
                param: self.param.as_deref(),
                event_id: &event_id,
            },
            extra_fields: &self.extra,
        };
        serde_json::to_vec(&envelope).unwrap_or_else(|_| b"{}".to_vec())
    }
}

impl From<KeywardError> for Denial {
    fn from(error: KeywardError) -> Self {
        let status = if (100..=599).contains(&error.http_status) {
            error.http_status
        } else {
            500
        };
        Self {
            status,
            error_type: error.code.as_str(),
            code: Some(error.code.as_str()),
            message: error.message.to_string(),
            param: None,
            retry_after_secs: error.retry_after_secs(),
            extra: Box::default(),
        }
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

fn new_event_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use keyward_plugin_api::ffi::ErrorCode;
    use serde_json::Value;

    use super::*;

    #[test]
    fn same_shape_as_keyward_host() {
        let error = KeywardError::new(ErrorCode::REQUEST_LIMITED, "2 requests per minute")
            .with_retry_after_ms(1500);
        let denial = Denial::from(error).with_extra(ExtraFields {
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
    fn bad_request_has_param() {
        let body: Value =
            serde_json::from_slice(&Denial::bad_request("model", "required").body()).unwrap();
        assert_eq!(body["status_code"], 400);
        assert_eq!(body["error"]["param"], "model");
        assert_eq!(body["error"]["code"], Value::Null);
        assert!(body["extra_fields"].as_object().unwrap().is_empty());
    }
}
