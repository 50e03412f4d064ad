//! `GET /metrics`: the host's metrics ([`crate::metrics`]) in Prometheus' text format
//! (OpenMetrics), with the current budget and rate-limit usage read from the enforcer at scrape
//! time.

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use crate::{
    http::{error::ApiError, state::AppState},
    metrics::CONTENT_TYPE,
    service::governance::document,
};

/// The `/metrics` handler.
pub async fn scrape(State(state): State<AppState>) -> Response {
    let usage = state.store.plugins().snapshot_usage().ok();
    let documents = document(&state.store.snapshot()).ok();
    let current = usage.as_deref().zip(documents.as_ref());
    let Ok(text) = state.metrics.encode(current) else {
        return ApiError::internal("the metrics could not be encoded").into_response();
    };
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}
