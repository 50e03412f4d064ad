//! Request extractors that answer bad input in the error envelope, naming the field:
//! [`JsonBody`] (path of the offending field, e.g. `weight` or `aliases.gpt-4o.model_id`; sizes
//! bounded by [`crate::http::bounds`]) and
//! [`RawQuery`] (the query string as pairs, parsed by each route with per-parameter errors).

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{StatusCode, request::Parts},
};
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;

/// A request body, with a refusal (too large, unreadable) answered in the envelope.
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(request, state).await.map(RawBody).map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(status, "payload_too_large", "the request body is larger than the configured limit (client.max_request_body_size_mb)")
            } else {
                ApiError::bad_request("body", format!("cannot read the request body: {rejection}"))
            }
        })
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
        let reason =
            keyward_plugin_api::model::secret::without_input_values(&error.inner().to_string());
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
