//! The OpenAI-compatible inference routes: `POST /v1/chat/completions` (streaming and not),
//! `POST /v1/completions`, `POST /v1/embeddings`, `GET /v1/models`.
//!
//! Per request: authorize (the virtual key, through the authorization plugin) → reserve (the
//! enforcement plugin) → select a provider key (the key-selection plugin) → forward → settle the
//! actual usage, or release the reservation on failure or cancellation. A 429, 5xx or transport
//! error from the upstream is retried with another key (the failed one excluded), a 401/403
//! excludes the key for the rest of the request; `network_config.max_retries` bounds the retries.
//! Errors reach the client in the envelope, whose `error` object is OpenAI's error shape.

pub mod mock_upstream;
mod models;
mod settle;
mod stream;
pub mod usage;

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use keyward_plugin_api::{
    abi_stable::std_types::{ROption, RSlice, RStr},
    ffi::{
        AuthorizeRequest, ErrorCode, FailedKey, FailureKind, Header, KeySelectorExt, KeywardError,
        RequestKind, ReserveRequest, SelectRequest, UsageEstimate,
    },
    loader::RoleSlot,
};

use tracing::Instrument;

use crate::cli::Threading;
use crate::plugins::call_with_retry;

use self::settle::Settlement;
use crate::api::{
    AppState,
    error::{ApiError, ExtraFields},
    extract::RawBody,
};
use keyward_host_core::request::InferenceRequest;
use keyward_host_core::upstream::ProviderKind;

/// The largest upstream answer read whole (non-streaming), in bytes.
pub const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The proxy's shared parts: the request-id counter and, with work-stealing threading, the
/// upstream client (per-core threading gives each serving thread its own, [`Proxy::client`]).
pub struct Proxy {
    next_request_id: AtomicU64,
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

impl Proxy {
    /// A proxy whose request ids start from a per-process seed. With work-stealing threading
    /// one pooled client serves every worker (a task may move between workers, and one pool
    /// reuses connections best); per-core threading uses one client per serving thread.
    pub fn new(threading: Threading) -> Self {
        let seed = u64::from(std::process::id()) << 40;
        Self {
            next_request_id: AtomicU64::new(seed),
            shared_client: (threading == Threading::WorkStealing).then(upstream_client),
        }
    }

    /// The upstream client for this request.
    fn client(&self) -> HttpsClient {
        match &self.shared_client {
            Some(client) => client.clone(),
            None => CLIENT.with(Clone::clone),
        }
    }

    fn request_id(&self) -> u64 {
        self.next_request_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(text_completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models::list))
}

async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    forward(
        state,
        RequestKind::CHAT_COMPLETION,
        "chat_completion",
        "/v1/chat/completions",
        headers,
        body,
    )
    .await
}

async fn text_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    forward(
        state,
        RequestKind::TEXT_COMPLETION,
        "text_completion",
        "/v1/completions",
        headers,
        body,
    )
    .await
}

async fn embeddings(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    forward(
        state,
        RequestKind::EMBEDDING,
        "embedding",
        "/v1/embeddings",
        headers,
        body,
    )
    .await
}

/// What authorization admitted, owned (it outlives the plugin call).
struct Admitted {
    virtual_key_id: String,
    provider: String,
    allowed_key_ids: Option<Vec<String>>,
}

async fn forward(
    state: AppState,
    kind: RequestKind,
    request_type: &'static str,
    path: &'static str,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = state.proxy.request_id();
    let span = tracing::info_span!("request", request_id, route = request_type);
    let metrics = state.metrics.clone();
    let response = forward_in_span(state, request_id, kind, request_type, path, headers, body)
        .instrument(span)
        .await;
    let decision = response
        .extensions()
        .get::<crate::metrics::ErrorKind>()
        .map(|kind| kind.0.clone())
        .unwrap_or_else(|| "admitted".to_owned());
    metrics.request(request_type, decision, response.status().as_u16());
    response
}

async fn forward_in_span(
    state: AppState,
    request_id: u64,
    kind: RequestKind,
    request_type: &'static str,
    path: &'static str,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let inference = match InferenceRequest::parse(kind, &body) {
        Ok(inference) => inference,
        Err(error) => return ApiError::from(error).into_response(),
    };
    let extras = || {
        extra(
            inference.provider.as_deref(),
            Some(&inference.model),
            request_type,
        )
    };
    let plugins = state.store.plugins().clone();
    let estimate = inference.estimate;

    let admitted = match authorize(
        &plugins.roles.authorizer,
        request_id,
        &headers,
        &inference,
        kind,
        estimate,
    ) {
        Ok(admitted) => admitted,
        Err(error) => {
            count_plugin_failure(&state, "authorization", &error);
            tracing::info!(
                decision = error.code.as_str(),
                status = error.http_status,
                "denied"
            );
            return ApiError::from(error).with_extra(extras()).into_response();
        }
    };
    let reserve = ReserveRequest {
        request_id,
        virtual_key_id: RStr::from_str(&admitted.virtual_key_id),
        provider: RStr::from_str(&admitted.provider),
        model: RStr::from_str(&inference.model),
        estimate,
    };
    if let Err(error) = call_with_retry(&plugins.roles.enforcer, |e| e.reserve(&reserve)) {
        count_plugin_failure(&state, "enforcement", &error);
        tracing::info!(
            decision = error.code.as_str(),
            status = error.http_status,
            "limited"
        );
        return ApiError::from(error)
            .with_extra(extra(
                Some(&admitted.provider),
                Some(&inference.model),
                request_type,
            ))
            .into_response();
    }
    let settlement = Settlement::new(plugins.clone(), request_id, estimate);
    let extras = || {
        extra(
            Some(&admitted.provider),
            Some(&inference.model),
            request_type,
        )
    };

    let routes = state.store.routes();
    let Some(route) = routes.provider(&admitted.provider) else {
        settlement.release();
        return ApiError::bad_request(
            "model",
            format!("provider {} is not configured", admitted.provider),
        )
        .with_extra(extras())
        .into_response();
    };
    if let ProviderKind::Unsupported(reason) = &route.kind {
        settlement.release();
        return ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "provider_not_supported",
            reason.clone(),
        )
        .with_extra(extras())
        .into_response();
    }

    let mut failed: Vec<(String, FailureKind)> = Vec::new();
    let mut last_failure: Option<ApiError> = None;
    for attempt in 0..=route.max_retries {
        let choice = select(
            &plugins.roles.selector,
            &admitted,
            &inference.model,
            kind,
            &failed,
        );
        let (key_id, provider_model) = match choice {
            Ok(choice) => choice,
            Err(error) => {
                count_plugin_failure(&state, "key_selection", &error);
                settlement.release();
                return match last_failure {
                    Some(upstream_error) if !failed.is_empty() => {
                        upstream_error.with_extra(extras()).into_response()
                    }
                    _ => ApiError::from(error).with_extra(extras()).into_response(),
                };
            }
        };
        let target = match route.target(&admitted.provider, &key_id, &provider_model, path) {
            Ok(target) => target,
            Err(reason) => {
                settlement.release();
                return ApiError::internal(reason)
                    .with_extra(extras())
                    .into_response();
            }
        };
        let upstream_body =
            match inference.upstream_body(&body, &provider_model, target.replace_model) {
                Some(rewritten) => Bytes::from(rewritten),
                None => body.clone(),
            };
        let mut request = Request::builder().method(Method::POST).uri(&target.url);
        if let Some(headers) = request.headers_mut() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            for (name, value) in &route.extra_headers {
                headers.insert(name.clone(), value.clone());
            }
            if let Some((name, value)) = &target.auth {
                headers.insert(name.clone(), value.clone());
            }
        }
        let Ok(request) = request.body(Full::new(upstream_body)) else {
            settlement.release();
            return ApiError::internal(format!(
                "invalid upstream URL for provider {}",
                admitted.provider
            ))
            .into_response();
        };
        let upstream_started = Instant::now();
        let sent = tokio::time::timeout(route.timeout, state.proxy.client().request(request)).await;
        let failure = match sent {
            Err(_) => {
                last_failure = Some(ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    format!(
                        "provider {} did not answer within {}s",
                        admitted.provider,
                        route.timeout.as_secs()
                    ),
                ));
                FailureKind::TIMEOUT
            }
            Ok(Err(error)) => {
                tracing::warn!(key_id = %key_id, %error, "upstream transport error");
                last_failure = Some(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "upstream_unreachable",
                    format!("provider {} could not be reached", admitted.provider),
                ));
                FailureKind::OTHER
            }
            Ok(Ok(response)) => {
                let status = response.status();
                let failure = match status.as_u16() {
                    429 => Some(FailureKind::RATE_LIMITED),
                    401 | 403 => Some(FailureKind::CREDENTIALS),
                    500..=599 => Some(FailureKind::SERVER_ERROR),
                    _ => None,
                };
                match failure {
                    None => {
                        state.metrics.served(
                            &admitted.provider,
                            (upstream_started - started).as_secs_f64(),
                            upstream_started.elapsed().as_secs_f64(),
                        );
                        tracing::debug!(
                            key_id = %key_id,
                            status = status.as_u16(),
                            attempt,
                            upstream_ms = upstream_started.elapsed().as_secs_f64() * 1000.0,
                            overhead_us = (upstream_started - started).as_secs_f64() * 1e6,
                            "served"
                        );
                        return respond(response, inference.stream, settlement, extras()).await;
                    }
                    Some(kind) => {
                        last_failure = Some(upstream_error(response, &admitted.provider).await);
                        tracing::info!(key_id = %key_id, status = status.as_u16(), attempt, "upstream refused; trying another key");
                        kind
                    }
                }
            }
        };
        failed.push((key_id, failure));
    }
    settlement.release();
    last_failure
        .unwrap_or_else(|| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_failed",
                "every attempt failed",
            )
        })
        .with_extra(extras())
        .into_response()
}

/// Counts a plugin call that failed closed (a panic, or an instance poisoned by one).
fn count_plugin_failure(state: &AppState, role: &'static str, error: &KeywardError) {
    if error.is_poison() {
        tracing::error!(role, code = error.code.as_str(), "plugin failed closed");
        state.metrics.plugin_failure(role, error.code.as_str());
    }
}

fn extra(provider: Option<&str>, model: Option<&str>, request_type: &str) -> ExtraFields {
    ExtraFields {
        provider: provider.map(str::to_owned),
        model_requested: model.map(str::to_owned),
        request_type: Some(request_type.to_owned()),
    }
}

fn authorize(
    slot: &RoleSlot<keyward_plugin_api::ffi::AuthorizerBox>,
    request_id: u64,
    headers: &HeaderMap,
    inference: &InferenceRequest,
    kind: RequestKind,
    estimate: UsageEstimate,
) -> Result<Admitted, KeywardError> {
    let pairs: Vec<Header<'_>> = headers
        .iter()
        .filter_map(|(name, value)| {
            Some(Header {
                name: RStr::from_str(name.as_str()),
                value: RStr::from_str(value.to_str().ok()?),
            })
        })
        .collect();
    let request = AuthorizeRequest {
        request_id,
        headers: RSlice::from_slice(&pairs),
        provider: inference.provider.as_deref().map(RStr::from_str).into(),
        model: RStr::from_str(&inference.model),
        kind,
        estimate,
    };
    let (admitted, would_deny) = call_with_retry(slot, |a| {
        a.authorize(&request).map(|admission| {
            let admitted = Admitted {
                virtual_key_id: admission.virtual_key_id.to_string(),
                provider: admission.provider.to_string(),
                allowed_key_ids: admission
                    .allowed_key_ids
                    .into_option()
                    .map(|ids| ids.iter().map(|id| id.to_string()).collect()),
            };
            (admitted, admission.would_deny)
        })
    })?;
    if would_deny != ErrorCode::NONE {
        tracing::warn!(
            would_deny = would_deny.as_str(),
            "shadow mode: admitted a request the policy denies"
        );
    }
    Ok(admitted)
}

fn select(
    slot: &RoleSlot<keyward_plugin_api::ffi::KeySelectorBox>,
    admitted: &Admitted,
    model: &str,
    kind: RequestKind,
    failed: &[(String, FailureKind)],
) -> Result<(String, String), KeywardError> {
    let failed: Vec<FailedKey<'_>> = failed
        .iter()
        .map(|(id, failure)| FailedKey {
            key_id: RStr::from_str(id),
            failure: *failure,
        })
        .collect();
    let allowed: Option<Vec<RStr<'_>>> = admitted
        .allowed_key_ids
        .as_ref()
        .map(|ids| ids.iter().map(|id| RStr::from_str(id)).collect());
    let request = SelectRequest {
        provider: RStr::from_str(&admitted.provider),
        model: RStr::from_str(model),
        kind,
        pinned_key: ROption::RNone,
        allowed_key_ids: allowed.as_deref().map(RSlice::from_slice).into(),
        failed: RSlice::from_slice(&failed),
    };
    call_with_retry(slot, |s| {
        s.pick(&request)
            .map(|choice| (choice.key_id.to_string(), choice.provider_model.to_string()))
    })
}

/// Answers a successful upstream response: streamed through (settling at its end), or read
/// whole, settled from its `usage`, and returned.
async fn respond(
    response: hyper::Response<hyper::body::Incoming>,
    stream: bool,
    settlement: Settlement,
    extras: ExtraFields,
) -> Response {
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let is_event_stream = content_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let mut builder = Response::builder().status(status);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    if stream && is_event_stream {
        let body = stream::watched_body(response.into_body(), settlement);
        return builder
            .header(header::CACHE_CONTROL, "no-cache")
            .body(body)
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    match Limited::new(response.into_body(), MAX_UPSTREAM_BODY)
        .collect()
        .await
    {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            settlement.settle(usage::from_json(&bytes));
            builder
                .body(Body::from(bytes))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Err(error) => {
            tracing::warn!(%error, "upstream body could not be read");
            settlement.settle(None);
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_body_error",
                "the upstream answer could not be read",
            )
            .with_extra(extras)
            .into_response()
        }
    }
}

/// An upstream error answer, in the envelope: the upstream's own `error` fields when it sent
/// OpenAI's shape, its status, and its `Retry-After`.
async fn upstream_error(
    response: hyper::Response<hyper::body::Incoming>,
    provider: &str,
) -> ApiError {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = Limited::new(response.into_body(), 1024 * 1024)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let error = &parsed["error"];
    let message = error["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("provider {provider} answered {status}"));
    let error_type = match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_denied",
        429 => "rate_limit_exceeded",
        _ => "upstream_error",
    };
    let mut api_error = ApiError::new(status, error_type, message);
    api_error.is_gateway_error = false;
    api_error.retry_after_secs = retry_after;
    if let Some(code) = error["code"].as_str() {
        api_error = api_error.with_code(code.to_owned());
    }
    api_error
}
