//! Cross-origin requests: the core's [`CorsPolicy`] as an axum middleware around every route.
//! A preflight is answered here (200 with the headers, or 403 for a refused origin); any other
//! request is served, with the headers added for an allowed origin.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use keyward_host_core::cors::{CorsAnswer, CorsPolicy};

use crate::http::error::ApiError;

/// The middleware.
pub async fn cors(State(policy): State<Arc<CorsPolicy>>, request: Request, next: Next) -> Response {
    let answer = {
        let headers = request.headers();
        let text = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        policy.answer(
            request.method().as_str(),
            text(header::ORIGIN),
            text(header::ACCESS_CONTROL_REQUEST_METHOD),
            text(header::ACCESS_CONTROL_REQUEST_HEADERS),
        )
    };
    match answer {
        CorsAnswer::NotCors | CorsAnswer::Refused => next.run(request).await,
        CorsAnswer::RefusedPreflight => ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this origin is not in client.allowed_origins",
        )
        .into_response(),
        CorsAnswer::Allowed { preflight, headers } => {
            let mut response = if preflight {
                StatusCode::OK.into_response()
            } else {
                next.run(request).await
            };
            for (name, value) in headers {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response
                        .headers_mut()
                        .insert(HeaderName::from_static(name), value);
                }
            }
            response
        }
    }
}
