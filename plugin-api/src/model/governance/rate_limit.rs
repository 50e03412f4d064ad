//! A rate limit: a token cap and a request cap, each with its own reset duration, with the usage
//! and last resets visible.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::duration::ResetDuration;

/// Bifrost's rate-limit document. A cap without a duration (or the reverse) is invalid; an absent
/// cap is no limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// The rate limit's id (may be empty in an embedded one).
    #[serde(default)]
    pub id: String,
    /// Tokens allowed per token window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_max_limit: Option<u64>,
    /// The token window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_reset_duration: Option<ResetDuration>,
    /// Tokens used in the current token window.
    #[serde(default)]
    pub token_current_usage: u64,
    /// When the token window last reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_last_reset: Option<DateTime<Utc>>,
    /// Requests allowed per request window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_max_limit: Option<u64>,
    /// The request window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_reset_duration: Option<ResetDuration>,
    /// Requests made in the current request window.
    #[serde(default)]
    pub request_current_usage: u64,
    /// When the request window last reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_last_reset: Option<DateTime<Utc>>,
    /// Bifrost's hash of the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Fields this model does not read (Bifrost's, or newer ones), kept verbatim so that a
    /// document read and written back loses nothing.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl RateLimit {
    /// Checks that every cap has a duration and every duration a cap. Returns `(field, reason)`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        match (self.token_max_limit, &self.token_reset_duration) {
            (Some(_), None) => {
                return Err((
                    "token_reset_duration",
                    "required when token_max_limit is set".to_owned(),
                ));
            }
            (None, Some(_)) => {
                return Err((
                    "token_max_limit",
                    "required when token_reset_duration is set".to_owned(),
                ));
            }
            _ => {}
        }
        match (self.request_max_limit, &self.request_reset_duration) {
            (Some(_), None) => Err((
                "request_reset_duration",
                "required when request_max_limit is set".to_owned(),
            )),
            (None, Some(_)) => Err((
                "request_max_limit",
                "required when request_reset_duration is set".to_owned(),
            )),
            _ => Ok(()),
        }
    }
}
