//! An upstream's refusal, read the same way by every host: which statuses count as a key's
//! failure (another key is tried) and the envelope the client sees — the upstream's own
//! `error.message` and `error.code` when it sent OpenAI's shape, its status, its `Retry-After`.

use keyward_plugin_api::ffi::FailureKind;

use crate::error::GatewayError;

/// The failure a status means for the key that got it, or `None` for an answer to relay:
/// 429 (rate-limited), 401 / 403 (credentials: the key is never tried again in the request)
/// and 5xx (server error) are failures; everything else (2xx, and 400 / 404 / 422 … the
/// caller's own mistakes) is relayed.
pub fn failure_of_status(status: u16) -> Option<FailureKind> {
    match status {
        429 => Some(FailureKind::RATE_LIMITED),
        401 | 403 => Some(FailureKind::CREDENTIALS),
        500..=599 => Some(FailureKind::SERVER_ERROR),
        _ => None,
    }
}

/// The envelope of an upstream refusal of `status` with `body`.
pub fn upstream_error(
    provider: &str,
    status: u16,
    retry_after_secs: Option<u64>,
    body: &[u8],
) -> GatewayError {
    let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let error = &parsed["error"];
    // A refused credential's message often quotes the key (OpenAI shows part of it, some
    // servers all of it): the client gets a message of ours instead.
    let message = match status {
        401 | 403 => format!("provider {provider} refused the gateway's credential ({status})"),
        _ => error["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("provider {provider} answered {status}")),
    };
    let error_type = match status {
        401 => "authentication_error",
        403 => "permission_denied",
        429 => "rate_limit_exceeded",
        _ => "upstream_error",
    };
    let mut refusal = GatewayError::new(status, error_type, message);
    refusal.is_gateway_error = false;
    refusal.retry_after_secs = retry_after_secs;
    refusal.retryable = status == 429 || status >= 500;
    if let Some(code) = error["code"].as_str() {
        refusal = refusal.with_code(code.to_owned());
    }
    refusal
}

/// The envelope for an upstream error answer (4xx, 5xx) that is relayed rather than retried
/// but is not a JSON object — an HTML page or plain text from a proxy or a wrong base URL —
/// which no client SDK can read; `None` for a success, a redirect, or an error in JSON (the
/// provider's own shape, relayed as it is).
pub fn foreign_error(provider: &str, status: u16, body: &[u8]) -> Option<GatewayError> {
    if status < 400
        || serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body).is_ok()
    {
        return None;
    }
    let mut error = upstream_error(provider, status, None, b"");
    error.message = format!("provider {provider} answered {status} with a body that is not JSON");
    Some(error)
}

/// A transport failure: the provider could not be reached (retryable).
pub fn unreachable(provider: &str) -> GatewayError {
    GatewayError::new(
        502,
        "upstream_unreachable",
        format!("provider {provider} could not be reached"),
    )
    .retryable()
}

/// No answer within the attempt's timeout (retryable).
pub fn timed_out(provider: &str, timeout_secs: u64) -> GatewayError {
    GatewayError::new(
        504,
        "upstream_timeout",
        format!("provider {provider} did not answer within {timeout_secs}s"),
    )
    .retryable()
}
