//! The OpenAI-compatible inference routes: `POST /v1/chat/completions` (streaming and not),
//! `POST /v1/completions`, `POST /v1/embeddings`, `GET /v1/models` — transport glue over the
//! gateway core's [`Session`]: parse, admit (authorize + reserve), then attempts (select a key,
//! send, on a 429 / 5xx / 401 / 403 / transport error try another key, then a fallback
//! provider), then relay the answer through a usage meter and finish (settle or release,
//! exactly once, by the core's charging rule). Errors reach the client in the core's envelope.
//! Upstream requests go through the shared [`UpstreamClient`](crate::http::client::UpstreamClient).

mod models;
mod stream;

use std::time::Instant;

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Request as ClientRequest, State},
    http::{HeaderMap, HeaderValue, Method, Request, header},
    response::Response,
    routing::{get, post},
};
use http_body_util::{BodyExt, Full, Limited};
use keyward_host_core::{
    admission::check_key,
    error::GatewayError,
    request::InferenceRequest,
    session::{
        Attempt, AttemptContext, Outcome, Session, failure_of_status, foreign_error, timed_out,
        unreachable, upstream_error,
    },
    usage::{BodyFormat, UsageMeter},
};
use keyward_plugin_api::{
    abi_stable::std_types::RStr,
    ffi::{FailureKind, Header, RequestKind},
};
use tracing::Instrument;

use crate::{
    http::{error::envelope_response, extract::BodyStalled, state::AppState},
    metrics::Metrics,
};

/// The largest upstream answer read whole (non-streaming), in bytes.
pub const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;
/// The largest upstream error answer read for its message, in bytes.
const MAX_UPSTREAM_ERROR_BODY: usize = 1024 * 1024;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(text_completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models::list))
}

async fn chat_completions(State(state): State<AppState>, request: ClientRequest) -> Response {
    forward(
        state,
        RequestKind::CHAT_COMPLETION,
        "chat_completion",
        "/v1/chat/completions",
        request,
    )
    .await
}

async fn text_completions(State(state): State<AppState>, request: ClientRequest) -> Response {
    forward(
        state,
        RequestKind::TEXT_COMPLETION,
        "text_completion",
        "/v1/completions",
        request,
    )
    .await
}

async fn embeddings(State(state): State<AppState>, request: ClientRequest) -> Response {
    forward(
        state,
        RequestKind::EMBEDDING,
        "embedding",
        "/v1/embeddings",
        request,
    )
    .await
}

/// How a request ended, for the metrics: the decision label and, when served, the outcome
/// (settled when the body ends: a stream reports it later, from its body).
struct Answered {
    response: Response,
    decision: String,
}

impl Answered {
    fn error(error: &GatewayError, metrics: &Metrics) -> Self {
        if let Some(role) = error.plugin_role
            && (error.error_type == "plugin_panicked" || error.error_type == "plugin_poisoned")
        {
            tracing::error!(role, code = %error.error_type, "plugin failed closed");
            metrics.plugin_failure(role, static_code(&error.error_type));
        }
        Self {
            response: envelope_response(error),
            decision: error.error_type.to_string(),
        }
    }
}

fn static_code(code: &str) -> &'static str {
    match code {
        "plugin_panicked" => "plugin_panicked",
        _ => "plugin_poisoned",
    }
}

async fn forward(
    state: AppState,
    kind: RequestKind,
    request_type: &'static str,
    path: &'static str,
    request: ClientRequest,
) -> Response {
    let metrics = state.metrics.clone();
    let span = tracing::info_span!(
        "request",
        route = request_type,
        request_id = tracing::field::Empty
    );
    let answered = forward_in_span(state, kind, path, request)
        .instrument(span)
        .await;
    metrics.request(
        request_type,
        answered.decision,
        answered.response.status().as_u16(),
    );
    answered.response
}

async fn forward_in_span(
    state: AppState,
    kind: RequestKind,
    path: &'static str,
    request: ClientRequest,
) -> Answered {
    let started = Instant::now();
    let metrics = &state.metrics;
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let pairs = header_pairs(&headers);
    let plugins = state.store.plugins().clone();
    // The key first, from the headers: a request no key admits is refused before its body is
    // read.
    if let Err(error) = check_key(&plugins.roles, state.client.ids(), &pairs, kind) {
        tracing::info!(decision = %error.error_type, status = error.status, "denied");
        // Read and drop what the client sends (never held), so it gets the answer rather than
        // a reset connection.
        discard_body(body, state.max_body_bytes, None).await;
        return Answered::error(&error, metrics);
    }
    // Room in the body budget, held until the request is answered (the body is kept for
    // retries); a declared length over the limit is refused before a byte is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let _held = match state.bodies.hold(declared).await {
        Ok(held) => held,
        Err(error) => {
            // Read and drop (never hold) what the client is still sending, up to the limit
            // and while it keeps coming, so it reads the answer rather than a reset
            // connection; one that sends nothing more is answered within a second.
            discard_body(body, state.max_body_bytes, Some(LINGER)).await;
            return Answered::error(&error, metrics);
        }
    };
    let body = match read_body(body, state.max_body_bytes).await {
        Ok(body) => body,
        Err(error) => return Answered::error(&error, metrics),
    };
    let request = match InferenceRequest::parse(kind, &body) {
        Ok(request) => request.with_query(parts.uri.query()),
        Err(error) => return Answered::error(&error, metrics),
    };
    let mut session =
        match Session::admit(plugins.roles.clone(), state.client.ids(), &pairs, request) {
            Ok(session) => session,
            Err(error) => {
                tracing::info!(decision = %error.error_type, status = error.status, "denied");
                return Answered::error(&error, metrics);
            }
        };
    tracing::Span::current().record("request_id", session.request_id());
    if session.decision() != "admit" {
        tracing::warn!(decision = %session.decision(), "shadow mode: admitted a request the policy denies");
    }
    let routes = state.store.routes();
    let context = AttemptContext {
        routes: &routes,
        path,
        headers: &pairs,
        ids: state.client.ids(),
    };
    loop {
        let attempt = match session.next_attempt(&context) {
            Ok(attempt) => attempt,
            Err(error) => return Answered::error(&error, metrics),
        };
        let upstream_body = match session.upstream_body(&body, &attempt) {
            Some(rewritten) => Bytes::from(rewritten),
            None => body.clone(),
        };
        let request = match upstream_request(&attempt, upstream_body) {
            Ok(request) => request,
            Err(error) => return Answered::error(&error, metrics),
        };
        let upstream_started = Instant::now();
        // One deadline for the answer's headers and, when it is not a stream, its whole body.
        let deadline = tokio::time::Instant::now() + attempt.timeout;
        let sent = tokio::time::timeout_at(deadline, state.client.client().request(request)).await;
        let response = match sent {
            Err(_) => {
                let error = timed_out(&attempt.provider, attempt.timeout.as_secs());
                session.attempt_failed(&attempt.key_id, FailureKind::TIMEOUT, error);
                continue;
            }
            Ok(Err(error)) => {
                tracing::warn!(key_id = %attempt.key_id, %error, "upstream transport error");
                session.attempt_failed(
                    &attempt.key_id,
                    FailureKind::OTHER,
                    unreachable(&attempt.provider),
                );
                continue;
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        if let Some(failure) = failure_of_status(status) {
            let refusal = refusal(response, &attempt.provider).await;
            tracing::info!(key_id = %attempt.key_id, status, attempt = attempt.number, "upstream refused; trying another key");
            session.attempt_failed(&attempt.key_id, failure, refusal);
            continue;
        }
        metrics.served(
            &attempt.provider,
            (upstream_started - started).as_secs_f64(),
            upstream_started.elapsed().as_secs_f64(),
        );
        tracing::debug!(
            key_id = %attempt.key_id,
            status,
            attempt = attempt.number,
            overhead_us = (upstream_started - started).as_secs_f64() * 1e6,
            "served"
        );
        return Answered {
            response: relay(response, session, deadline, attempt.stream_idle_timeout).await,
            decision: "admitted".to_owned(),
        };
    }
}

/// The answer when an upstream answer's head cannot be rebuilt for the client (its status or
/// content type refused by the `http` crate).
fn unbuildable_answer() -> Response {
    envelope_response(&GatewayError::internal(
        "the upstream answer could not be passed on",
    ))
}

/// Reads a request body up to `limit` bytes.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, GatewayError> {
    let too_large = || {
        GatewayError::new(
            413,
            "payload_too_large",
            "the request body is larger than the configured limit (client.max_request_body_size_mb)",
        )
    };
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(error) => Err(match BodyStalled::find(&*error) {
            Some(stalled) => stalled.answer(),
            None => {
                GatewayError::bad_request("body", format!("cannot read the request body: {error}"))
            }
        }),
    }
}

/// How long a refused body may go silent before its refusal is answered anyway.
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// Reads up to `limit` bytes of a body, dropping each piece as it comes (never held), until it
/// ends — or, with a `silence`, sends nothing for that long.
async fn discard_body(mut body: Body, limit: usize, silence: Option<std::time::Duration>) {
    let mut seen = 0usize;
    while seen <= limit {
        let frame = match silence {
            Some(silence) => match tokio::time::timeout(silence, body.frame()).await {
                Ok(frame) => frame,
                Err(_) => return,
            },
            None => body.frame().await,
        };
        match frame {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |data| data.len()),
            _ => return,
        }
    }
}

/// The request's headers as the plugins see them (values that are not text are left out).
pub(crate) fn header_pairs(headers: &HeaderMap) -> Vec<Header<'_>> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            Some(Header {
                name: RStr::from_str(name.as_str()),
                value: RStr::from_str(value.to_str().ok()?),
            })
        })
        .collect()
}

/// The upstream request of one attempt.
fn upstream_request(
    attempt: &Attempt<'_>,
    body: Bytes,
) -> Result<Request<Full<Bytes>>, GatewayError> {
    let mut request = Request::builder().method(Method::POST).uri(&attempt.url);
    if let Some(headers) = request.headers_mut() {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in attempt.extra_headers {
            headers.insert(name.clone(), value.clone());
        }
        if let Some((name, value)) = &attempt.auth {
            headers.insert(name.clone(), value.clone());
        }
    }
    request.body(Full::new(body)).map_err(|_| {
        GatewayError::internal(format!(
            "invalid upstream URL for provider {}",
            attempt.provider
        ))
    })
}

/// An upstream refusal (429, 5xx, 401 / 403), in the envelope.
async fn refusal(response: hyper::Response<hyper::body::Incoming>, provider: &str) -> GatewayError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = Limited::new(response.into_body(), MAX_UPSTREAM_ERROR_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    upstream_error(provider, status, retry_after, &body)
}

/// Relays an upstream answer: an event stream passes through as it comes (metered, finished
/// when it ends or the client leaves); any other body is read whole, metered and returned.
async fn relay(
    response: hyper::Response<hyper::body::Incoming>,
    session: Session,
    deadline: tokio::time::Instant,
    stream_idle_timeout: std::time::Duration,
) -> Response {
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let meter = session.respond(content_type.as_ref().map(HeaderValue::as_bytes));
    let mut builder = Response::builder().status(status);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    // A redirect keeps where it points.
    if let Some(location) = response.headers().get(header::LOCATION) {
        builder = builder.header(header::LOCATION, location.clone());
    }
    if meter.format() == BodyFormat::EventStream {
        let body = stream::metered_body(
            response.into_body(),
            session,
            meter,
            status.as_u16(),
            stream_idle_timeout,
        );
        return builder
            .header(header::CACHE_CONTROL, "no-cache")
            .body(body)
            .unwrap_or_else(|_| unbuildable_answer());
    }
    // The client may leave while the answer is read: the guard then finishes the session with
    // what was read (a 2xx is charged, not released), as the stream's body does.
    let mut relaying = Relaying::new(session, meter, status.as_u16());
    let read = tokio::time::timeout_at(
        deadline,
        Limited::new(response.into_body(), MAX_UPSTREAM_BODY).collect(),
    )
    .await;
    let Some((session, meter)) = relaying.open.take() else {
        return envelope_response(&GatewayError::internal(
            "the upstream answer's session was already finished",
        ));
    };
    let read = match read {
        Ok(read) => read,
        Err(_) => {
            // The body did not arrive in time: nothing reached the client; the session is
            // finished with what was read (a 2xx charges its prompt estimate).
            let provider = session.provider().to_owned();
            let extra = session.request().extra(Some(&provider));
            tracing::warn!(provider = %provider, "upstream body not complete within the request timeout");
            log_outcome(session.finish(status.as_u16(), meter.finish()));
            return envelope_response(
                &GatewayError::new(
                    504,
                    "upstream_timeout",
                    format!("provider {provider} did not send its whole answer within the request timeout"),
                )
                .with_extra(extra),
            );
        }
    };
    match read {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            let foreign = foreign_error(session.provider(), status.as_u16(), &bytes)
                .map(|error| error.with_extra(session.request().extra(Some(session.provider()))));
            log_outcome(session.finish(status.as_u16(), meter.finish_whole(&bytes)));
            if let Some(error) = foreign {
                // Charged by the rule above (nothing, without a usage report); answered in
                // the envelope, since no client can read an HTML or text error.
                return envelope_response(&error);
            }
            builder
                .body(Body::from(bytes))
                .unwrap_or_else(|_| unbuildable_answer())
        }
        Err(error) => {
            tracing::warn!(%error, "upstream body could not be read");
            let provider = session.provider().to_owned();
            let extra = session.request().extra(Some(&provider));
            log_outcome(session.finish(status.as_u16(), meter.finish()));
            envelope_response(
                &GatewayError::new(
                    502,
                    "upstream_body_error",
                    "the upstream answer could not be read",
                )
                .with_extra(extra),
            )
        }
    }
}

/// A session whose answer is being relayed, with its meter: finished with what was metered
/// when [`finish`](Self::finish) is called or when it is dropped first (the client left), once.
pub(super) struct Relaying {
    open: Option<(Session, UsageMeter)>,
    status: u16,
}

impl Relaying {
    pub(super) fn new(session: Session, meter: UsageMeter, status: u16) -> Self {
        Self {
            open: Some((session, meter)),
            status,
        }
    }

    /// Feeds relayed bytes to the meter (nothing once finished).
    pub(super) fn feed(&mut self, bytes: &[u8]) {
        if let Some((_, meter)) = self.open.as_mut() {
            meter.feed(bytes);
        }
    }

    /// Finishes the session with what was metered, if it is still open.
    pub(super) fn finish(&mut self) {
        if let Some((session, meter)) = self.open.take() {
            log_outcome(session.finish(self.status, meter.finish()));
        }
    }
}

impl Drop for Relaying {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Logs a finished request's outcome (and an enforcer that could not settle).
pub(crate) fn log_outcome(outcome: Outcome) {
    if let Some(error) = &outcome.enforcer_error {
        tracing::error!(request_id = outcome.request_id, %error, "settlement failed");
    }
    tracing::info!(
        request_id = outcome.request_id,
        provider = %outcome.provider,
        status = outcome.status,
        attempts = outcome.attempts,
        charge = %outcome.charge,
        routing_rule = outcome.routing_rule.as_deref().unwrap_or(""),
        "finished"
    );
}
