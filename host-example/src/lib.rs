//! `keyward-host`: an LLM gateway host for the keyward plugins.
//!
//! It loads the plugins named in its configuration through the safe loader, keeps one
//! [`keyward_plugin_api::loader::RoleSlot`] per role, serves Bifrost's management API, and keeps
//! its changes and usage counters in the data directory; see `docs/host.md` and
//! `keyward-host --help`. The binary (`src/main.rs`) only parses the command line and calls
//! [`run`].
//!
//! The modules import downward only: [`service`] (the configuration store, the plugins,
//! persistence, start-up; no HTTP types) over the gateway core `keyward_host_core`; [`http`]
//! (axum handlers, the error envelope, extractors, the upstream client) over the service layer;
//! [`metrics`] records and encodes, importing neither. [`run`] wires them together.

pub mod cli;
pub mod http;
pub mod metrics;
pub mod mock_upstream;
pub mod serve;
pub mod service;

pub use serve::nodelay;

use std::{sync::Arc, time::Duration};

use crate::{
    cli::Args,
    http::{api::auth::AdminAuth, client::UpstreamClient, router::router, state::AppState},
    metrics::Metrics,
    service::{startup, store::Store},
};

/// The request body limit when `client.max_request_body_size_mb` is absent (Bifrost's default).
pub const DEFAULT_MAX_BODY_MB: u64 = 100;

/// Runs the host until SIGINT or SIGTERM.
pub async fn run(args: Args) -> Result<(), String> {
    if let Some(address) = args.mock_upstream {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| format!("--mock-upstream: cannot listen on {address}: {e}"))?;
        tracing::info!("mock upstream listening on {address}");
        tokio::spawn(mock_upstream::serve(listener));
    }
    let started = startup::start(&args)?;
    let max_body = started
        .config
        .client
        .max_request_body_size_mb
        .unwrap_or(DEFAULT_MAX_BODY_MB);
    let max_body = usize::try_from(max_body.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
    let cors = Arc::new(keyward_host_core::cors::CorsPolicy::from_client(
        &started.config.client.other,
    ));
    let metrics_access = started.config.admin.metrics;
    let store = Arc::new(Store::new(
        started.config,
        started.plugins,
        args.data_dir.clone(),
    ));
    let metrics = Arc::new(Metrics::new());
    let state = AppState {
        store: store.clone(),
        client: Arc::new(UpstreamClient::new(args.threading)),
        metrics: metrics.clone(),
        max_body_bytes: max_body,
        bodies: Arc::new(http::body_budget::BodyBudget::new(max_body)),
    };
    let admin = AdminAuth::new(started.admin_token, started.admin_basic);
    let app = router(state, admin, metrics_access, cors, max_body);
    let snapshots = tokio::spawn(snapshot_usage_every_second(store.clone()));
    let reloads = tokio::spawn(reload_on_sighup(store.clone(), metrics));
    let served = serve::serve(
        args.listen,
        args.threading,
        args.workers(),
        serve::ConnectionLimits::from_args(&args),
        app,
        shutdown_signal(),
    )
    .await;
    snapshots.abort();
    reloads.abort();
    let saved = store.save_usage();
    served?;
    saved
}

async fn snapshot_usage_every_second(store: Arc<Store>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.save_usage()).await {
            Ok(Ok(())) => {}
            Ok(Err(message)) => tracing::warn!("{message}"),
            Err(error) => tracing::warn!(%error, "usage snapshot task failed"),
        }
    }
}

async fn reload_on_sighup(store: Arc<Store>, metrics: Arc<Metrics>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        tracing::warn!("cannot listen for SIGHUP; reload through the API instead");
        return;
    };
    while hangups.recv().await.is_some() {
        let outcome = store.reload_plugins().await;
        metrics.reload(outcome.is_ok());
        match outcome {
            Ok(report) => tracing::info!(took_ms = report.took_ms, "plugins reloaded on SIGHUP"),
            Err(error) => {
                tracing::error!(%error, "SIGHUP reload failed; the old plugins keep serving")
            }
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
