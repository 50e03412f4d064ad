//! Request extractors that answer bad input in the error envelope, naming the field:
//! [`JsonBody`] (path of the offending field, e.g. `weight` or `aliases.gpt-4o.model_id`; sizes
//! bounded by [`crate::http::bounds`]),
//! [`RawQuery`] (the query string as pairs, parsed by each route with per-parameter errors) and
//! [`Path`] (path parameters: a malformed percent-escape, or one that does not decode to UTF-8,
//! is a 400 naming the parameter, where axum's own `Path` answers plain text). A request body
//! that stalls ([`BodyStalled`]) is answered 408.

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request, rejection::PathRejection},
    http::{StatusCode, request::Parts},
};
use serde::de::DeserializeOwned;

use keyward_host_core::error::GatewayError;
use keyward_plugin_api::model::secret::without_input_values;

use crate::http::error::ApiError;

/// A request body, with a refusal (too large, unreadable, stalled) answered in the envelope.
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(request, state).await.map(RawBody).map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(status, "payload_too_large", "the request body is larger than the configured limit (client.max_request_body_size_mb)")
            } else if let Some(stalled) = BodyStalled::find(&rejection) {
                ApiError(stalled.answer())
            } else {
                ApiError::bad_request("body", format!("cannot read the request body: {rejection}"))
            }
        })
    }
}

/// The error of a request body that sent nothing for the body-read timeout
/// (`--body-read-timeout`; raised by the body the server hands the router).
#[derive(Clone, Copy, Debug)]
pub struct BodyStalled(pub Duration);

impl std::fmt::Display for BodyStalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body sent nothing for {:?} (--body-read-timeout)",
            self.0
        )
    }
}

impl std::error::Error for BodyStalled {}

impl BodyStalled {
    /// The stalled body behind `error` (itself or one of its sources), if it is one.
    pub fn find(error: &(dyn std::error::Error + 'static)) -> Option<Self> {
        std::iter::successors(Some(error), |error| error.source())
            .find_map(|error| error.downcast_ref::<Self>())
            .copied()
    }

    /// The answer: 408 `request_timeout` about `body` (the envelope of a 408 closes the
    /// connection: the rest of the body is never read).
    pub fn answer(&self) -> GatewayError {
        let mut error = GatewayError::new(408, "request_timeout", self.to_string());
        error.param = Some("body".to_owned());
        error
    }
}

/// axum's `Path`, with every refusal answered in the envelope: a malformed percent-escape in
/// the request path (`%` not followed by two hexadecimal digits, which axum would keep as
/// text) and a parameter that does not decode to UTF-8 are 400 `invalid_request`.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(at) = malformed_escape(parts.uri.path()) {
            let escape: String = parts.uri.path()[at..].chars().take(3).collect();
            return Err(ApiError::bad_request(
                "path",
                format!(
                    "the path has a malformed percent-escape `{escape}` (a `%` must be followed by two hexadecimal digits)"
                ),
            ));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|rejection| path_error(&rejection))
    }
}

/// Where the first `%` not followed by two hexadecimal digits is, if any.
fn malformed_escape(path: &str) -> Option<usize> {
    let bytes = path.as_bytes();
    bytes.iter().enumerate().find_map(|(at, &byte)| {
        let escape_ok = bytes
            .get(at + 1..at + 3)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit));
        (byte == b'%' && !escape_ok).then_some(at)
    })
}

fn path_error(rejection: &PathRejection) -> ApiError {
    use axum::extract::path::ErrorKind;
    match rejection {
        PathRejection::FailedToDeserializePathParams(failed) => {
            let param = match failed.kind() {
                ErrorKind::InvalidUtf8InPathParam { key }
                | ErrorKind::ParseErrorAtKey { key, .. } => key.clone(),
                _ => "path".to_owned(),
            };
            let message = match failed.kind() {
                ErrorKind::InvalidUtf8InPathParam { key } => {
                    format!("the path parameter {key} does not decode to UTF-8 text")
                }
                kind => format!(
                    "invalid path parameter: {}",
                    truncate(&without_input_values(&kind.to_string()))
                ),
            };
            ApiError::bad_request(param, message)
        }
        other => {
            tracing::error!(error = %other, "a route's path parameters do not match its handler");
            ApiError::internal("the route's path parameters cannot be read")
        }
    }
}

/// A JSON body deserialized with the failing field's path in the error.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawBody(bytes) = RawBody::from_request(request, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a JSON document, naming the offending field on error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "body",
            "the request body must be a JSON document",
        ));
    }
    // The size bounds first, on any document that parses (one that does not is named below).
    if let Ok(document) = serde_json::from_slice::<serde_json::Value>(bytes) {
        crate::http::bounds::check(&document)?;
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let param = if path.is_empty() || path == "." {
            "body".to_owned()
        } else {
            path
        };
        let reason = without_input_values(&error.inner().to_string());
        ApiError::bad_request(param.clone(), format!("{param}: {reason}"))
    })?;
    deserializer.end().map_err(|e| {
        ApiError::bad_request(
            "body",
            format!("trailing characters after the JSON document: {e}"),
        )
    })?;
    Ok(value)
}

/// The query string as `(name, value)` pairs, percent-decoded.
#[derive(Debug, Default)]
pub struct RawQuery(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for RawQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let pairs = form_urlencoded(query);
        Ok(RawQuery(pairs))
    }
}

impl RawQuery {
    /// The last value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `name` as a boolean (`true`/`false`/`1`/`0`), or `default`.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(other) => Err(ApiError::bad_request(
                name,
                format!("{name} must be true or false, got `{}`", truncate(other)),
            )),
        }
    }

    /// `name` as a non-negative integer, or `None` when absent.
    pub fn non_negative(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(text) => text.parse::<u64>().map(Some).map_err(|_| {
                ApiError::bad_request(
                    name,
                    format!(
                        "{name} must be a non-negative integer, got `{}`",
                        truncate(text)
                    ),
                )
            }),
        }
    }
}

/// A prefix of user input for messages (never the whole of a long value).
pub fn truncate(text: &str) -> String {
    let mut out: String = text.chars().take(64).collect();
    if text.chars().count() > 64 {
        out.push('…');
    }
    out
}

fn form_urlencoded(query: &str) -> Vec<(String, String)> {
    // Invalid UTF-8 after decoding is replaced rather than refused: parameters are validated
    // one by one by the routes, which name the parameter in their errors.
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_else(|_| {
        query
            .split('&')
            .filter_map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                let decode = |s: &str| {
                    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("x={s}"))
                        .ok()
                        .and_then(|mut v| v.pop())
                        .map(|(_, v)| v)
                        .unwrap_or_else(|| s.to_owned())
                };
                (!pair.is_empty()).then(|| (decode(name), decode(value)))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_percent_escapes_are_found() {
        assert_eq!(malformed_escape("/api/keys/vk%2Dalpha"), None);
        assert_eq!(malformed_escape("/api/keys/%ZZ"), Some(10));
        assert_eq!(malformed_escape("/api/keys/oa%2"), Some(12));
        assert_eq!(malformed_escape("/api/keys/%"), Some(10));
        assert_eq!(malformed_escape("/a%c3%A9"), None);
    }

    #[test]
    fn a_stalled_body_is_found_through_the_error_sources() {
        let stalled: Box<dyn std::error::Error + Send + Sync> =
            Box::new(BodyStalled(Duration::from_secs(1)));
        let wrapped = axum::Error::new(stalled);
        assert!(BodyStalled::find(&wrapped).is_some());
        let other = axum::Error::new(std::io::Error::other("reset"));
        assert!(BodyStalled::find(&other).is_none());
        let answer = BodyStalled(Duration::from_secs(1)).answer();
        assert_eq!(
            (answer.status, &*answer.error_type),
            (408, "request_timeout")
        );
    }
}
