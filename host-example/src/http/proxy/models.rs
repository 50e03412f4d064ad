//! `GET /v1/models`: the core's model list ([`keyward_host_core::models`]), which asks the
//! authorizer which of the configuration's models the caller's virtual key may use.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use keyward_host_core::models::list_models;

use crate::http::{error::envelope_response, state::AppState};

/// The handler.
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let pairs = super::header_pairs(&headers);
    let plugins = state.store.plugins().clone();
    match list_models(
        &plugins.roles,
        state.client.ids(),
        &pairs,
        &state.store.catalog(),
    ) {
        Ok(body) => {
            let mut response = body.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => envelope_response(&error),
    }
}
