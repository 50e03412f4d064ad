//! [`AppState`]: what every handler shares.

use std::sync::Arc;

use crate::{http::client::UpstreamClient, metrics::Metrics, service::store::Store};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The live configuration and plugins.
    pub store: Arc<Store>,
    /// The upstream client.
    pub client: Arc<UpstreamClient>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The largest request body read (`client.max_request_body_size_mb`), in bytes.
    pub max_body_bytes: usize,
    /// The memory the inference routes' request bodies may hold at once.
    pub bodies: Arc<crate::http::body_budget::BodyBudget>,
}
