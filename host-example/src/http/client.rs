//! The upstream HTTP client: [`UpstreamClient`] holds the request ids and the pooled hyper client
//! (HTTP/1.1, HTTPS through rustls with the webpki roots) — one shared client with work-stealing
//! threading, one per serving thread with per-core threading.

use axum::body::Bytes;
use http_body_util::Full;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use keyward_host_core::session::RequestIds;

use crate::cli::Threading;

/// The pooled upstream client.
pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The proxy's shared parts: the request ids and, with work-stealing threading, the upstream
/// client (per-core threading gives each serving thread its own, [`UpstreamClient::client`]).
pub struct UpstreamClient {
    ids: RequestIds,
    shared_client: Option<HttpsClient>,
}

thread_local! {
    /// This serving thread's upstream client (per-core threading): its connections are driven
    /// by this thread's runtime, so a request and its upstream exchange stay on one thread (see
    /// [`crate::serve`]).
    static CLIENT: HttpsClient = upstream_client();
}

/// A pooled HTTP/1.1 client (HTTPS through rustls with the webpki roots).
fn upstream_client() -> HttpsClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(https)
}

impl UpstreamClient {
    /// A client whose request ids start from a per-process seed. With work-stealing threading
    /// one pooled client serves every worker (a task may move between workers, and one pool
    /// reuses connections best); per-core threading uses one client per serving thread.
    pub fn new(threading: Threading) -> Self {
        Self {
            ids: RequestIds::for_this_process(),
            shared_client: (threading == Threading::WorkStealing).then(upstream_client),
        }
    }

    /// The request ids.
    pub fn ids(&self) -> &RequestIds {
        &self.ids
    }

    /// The upstream client for this request.
    pub fn client(&self) -> HttpsClient {
        match &self.shared_client {
            Some(client) => client.clone(),
            None => CLIENT.with(Clone::clone),
        }
    }
}
