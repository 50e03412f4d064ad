//! A built-in OpenAI-compatible mock upstream, so the quickstart and the tests run with no
//! network: `keyward-host --mock-upstream 127.0.0.1:18081` starts it next to the gateway.
//!
//! Deterministic answers: every chat or text completion uses [`PROMPT_TOKENS`] prompt tokens and
//! `min(max_tokens, COMPLETION_TOKENS)` completion tokens; embeddings use [`PROMPT_TOKENS`].
//! Streams send three content chunks, then (when `stream_options.include_usage`) a usage chunk,
//! then `[DONE]`. The credential picks a failure: one containing `limited` answers 429 (with
//! `Retry-After: 1`), `invalid` 401, `broken` 500; the model `mock-slow` answers after
//! [`SLOW_MILLIS`], and `mock-slow-stream` streams its chunks [`SLOW_CHUNK_MILLIS`] apart. The
//! model `mock-status-NNN` answers status NNN with OpenAI's error shape and no usage, and
//! `mock-no-usage` answers (or streams) without any usage, whatever the request asked;
//! `mock-stall-body` sends its headers and half a JSON body, then nothing, and
//! `mock-stall-stream` one event, then nothing (for the upstream timeouts); `mock-text-404`
//! answers 404 with a plain-text body, as a wrong base URL behind a proxy does, and
//! `mock-redirect` answers 302 to `https://example.invalid/moved`; `mock-absurd-usage` reports
//! `u64::MAX` completion tokens.
//! `GET /mock/requests` lists what was received (path, model, credential, pinned-key headers);
//! `DELETE /mock/requests` clears it.
//!
//! Azure's paths (`/openai/deployments/{deployment}/…`) answer like OpenAI's.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

/// Prompt tokens of every answer.
pub const PROMPT_TOKENS: u64 = 10;
/// Completion tokens of every answer without a smaller `max_tokens`.
pub const COMPLETION_TOKENS: u64 = 20;
/// How long `mock-slow` takes.
pub const SLOW_MILLIS: u64 = 3_000;
/// The pause between the chunks of a `mock-slow-stream` stream.
pub const SLOW_CHUNK_MILLIS: u64 = 300;
/// How many received requests are kept.
const KEPT: usize = 10_000;

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Value>>>);

/// The mock's router.
pub fn router() -> Router {
    let received = Received::default();
    Router::new()
        .route("/v1/chat/completions", post(chat))
        // An OpenAI-compatible server on a path of its own (a custom provider's
        // `request_path_overrides`).
        .route("/custom/v2/chat", post(custom_chat))
        .route("/v1/completions", post(text))
        .route("/v1/embeddings", post(embeddings))
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(azure_chat),
        )
        .route(
            "/openai/deployments/{deployment}/completions",
            post(azure_text),
        )
        .route(
            "/openai/deployments/{deployment}/embeddings",
            post(azure_embeddings),
        )
        .route("/v1/models", get(models))
        .route("/mock/requests", get(list_received).delete(clear_received))
        .with_state(received)
}

/// Serves the mock on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(crate::serve::nodelay(listener), router()).await
}

#[derive(Clone, Copy, PartialEq)]
enum Operation {
    Chat,
    Text,
    Embedding,
}

async fn chat(state: State<Received>, headers: HeaderMap, body: Bytes) -> Response {
    answer(
        state,
        headers,
        body,
        Operation::Chat,
        "/v1/chat/completions",
        None,
    )
    .await
}
async fn custom_chat(state: State<Received>, headers: HeaderMap, body: Bytes) -> Response {
    answer(
        state,
        headers,
        body,
        Operation::Chat,
        "/custom/v2/chat",
        None,
    )
    .await
}
async fn text(state: State<Received>, headers: HeaderMap, body: Bytes) -> Response {
    answer(
        state,
        headers,
        body,
        Operation::Text,
        "/v1/completions",
        None,
    )
    .await
}
async fn embeddings(state: State<Received>, headers: HeaderMap, body: Bytes) -> Response {
    answer(
        state,
        headers,
        body,
        Operation::Embedding,
        "/v1/embeddings",
        None,
    )
    .await
}
async fn azure_chat(
    state: State<Received>,
    Path(d): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(
        state,
        headers,
        body,
        Operation::Chat,
        "/openai/deployments/chat/completions",
        Some(d),
    )
    .await
}
async fn azure_text(
    state: State<Received>,
    Path(d): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(
        state,
        headers,
        body,
        Operation::Text,
        "/openai/deployments/completions",
        Some(d),
    )
    .await
}
async fn azure_embeddings(
    state: State<Received>,
    Path(d): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(
        state,
        headers,
        body,
        Operation::Embedding,
        "/openai/deployments/embeddings",
        Some(d),
    )
    .await
}

async fn models() -> Json<Value> {
    Json(json!({"object": "list", "data": [
        {"id": "gpt-4o", "object": "model", "created": 0, "owned_by": "mock"},
        {"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "mock"}
    ]}))
}

async fn list_received(State(received): State<Received>) -> Json<Value> {
    Json(Value::Array(
        received.0.lock().map(|r| r.clone()).unwrap_or_default(),
    ))
}

async fn clear_received(State(received): State<Received>) -> StatusCode {
    if let Ok(mut list) = received.0.lock() {
        list.clear();
    }
    StatusCode::NO_CONTENT
}

async fn answer(
    State(received): State<Received>,
    headers: HeaderMap,
    body: Bytes,
    operation: Operation,
    path: &str,
    deployment: Option<String>,
) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").to_owned())
        .or_else(|| {
            headers
                .get("api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let model = request["model"]
        .as_str()
        .map(str::to_owned)
        .or(deployment.clone())
        .unwrap_or_default();
    if let Ok(mut list) = received.0.lock() {
        if list.len() >= KEPT {
            list.remove(0);
        }
        list.push(json!({
            "path": path,
            "deployment": deployment,
            "model": model,
            "credential": credential,
            "stream": request["stream"].as_bool().unwrap_or(false),
            "include_usage": request["stream_options"]["include_usage"].as_bool().unwrap_or(false),
            "virtual_key_forwarded": headers.contains_key("x-bf-vk"),
        }));
    }
    if let Some(status) = model
        .strip_prefix("mock-status-")
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
    {
        let body = json!({"error": {"message": format!("mock upstream: status {}", status.as_u16()), "type": "invalid_request_error", "param": null, "code": null}});
        return (status, Json(body)).into_response();
    }
    for (marker, status, kind) in [
        (
            "limited",
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
        ),
        ("invalid", StatusCode::UNAUTHORIZED, "invalid_api_key"),
        ("broken", StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    ] {
        if credential.contains(marker) {
            let body = json!({"error": {"message": format!("mock upstream: {kind}"), "type": kind, "param": null, "code": kind}});
            let mut response = (status, Json(body)).into_response();
            if status == StatusCode::TOO_MANY_REQUESTS {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            }
            return response;
        }
    }
    if model == "mock-text-404" {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain")],
            "404 page not found",
        )
            .into_response();
    }
    if model == "mock-redirect" {
        return (
            StatusCode::FOUND,
            [(header::LOCATION, "https://example.invalid/moved")],
        )
            .into_response();
    }
    if model == "mock-stall-body" || model == "mock-stall-stream" {
        let (content_type, first) = if model == "mock-stall-body" {
            (
                "application/json",
                Bytes::from_static(br#"{"id": "chatcmpl-stall", "choices": ["#),
            )
        } else {
            (
                "text/event-stream",
                Bytes::from_static(
                    b"data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\n",
                ),
            )
        };
        let stalled = futures_util::StreamExt::chain(
            futures_util::stream::iter([Ok::<_, Infallible>(first)]),
            futures_util::stream::pending(),
        );
        return Response::builder()
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from_stream(stalled))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    if model == "mock-slow" {
        tokio::time::sleep(Duration::from_millis(SLOW_MILLIS)).await;
    }
    let completion = request["max_completion_tokens"]
        .as_u64()
        .or(request["max_tokens"].as_u64())
        .map_or(COMPLETION_TOKENS, |cap| cap.min(COMPLETION_TOKENS));
    let no_usage = model == "mock-no-usage";
    let usage = match operation {
        _ if no_usage => Value::Null,
        // A broken upstream's count.
        _ if model == "mock-absurd-usage" => {
            json!({"prompt_tokens": PROMPT_TOKENS, "completion_tokens": u64::MAX, "total_tokens": u64::MAX})
        }
        Operation::Embedding => {
            json!({"prompt_tokens": PROMPT_TOKENS, "total_tokens": PROMPT_TOKENS})
        }
        _ => {
            json!({"prompt_tokens": PROMPT_TOKENS, "completion_tokens": completion, "total_tokens": PROMPT_TOKENS + completion})
        }
    };
    if request["stream"].as_bool() == Some(true) && operation != Operation::Embedding {
        let include_usage =
            !no_usage && request["stream_options"]["include_usage"].as_bool() == Some(true);
        return stream(model, usage, include_usage);
    }
    let mut body = match operation {
        Operation::Chat => json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the keyward mock upstream."}, "finish_reason": "stop"}],
            "usage": usage,
        }),
        Operation::Text => json!({
            "id": "cmpl-mock", "object": "text_completion", "created": 0, "model": model,
            "choices": [{"index": 0, "text": "Hello from the keyward mock upstream.", "finish_reason": "stop", "logprobs": null}],
            "usage": usage,
        }),
        Operation::Embedding => json!({
            "object": "list", "model": model,
            "data": [{"object": "embedding", "index": 0, "embedding": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]}],
            "usage": usage,
        }),
    };
    if no_usage && let Some(answer) = body.as_object_mut() {
        answer.remove("usage");
    }
    Json(body).into_response()
}

fn stream(model: String, usage: Value, include_usage: bool) -> Response {
    let mut events: Vec<Value> = ["Hello", " from the", " keyward mock."]
        .iter()
        .enumerate()
        .map(|(i, text)| {
            json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": model,
                   "choices": [{"index": 0, "delta": if i == 0 { json!({"role": "assistant", "content": text}) } else { json!({"content": text}) }, "finish_reason": null}]})
        })
        .collect();
    events.push(json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": model,
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}));
    if include_usage {
        events.push(json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [], "usage": usage}));
    }
    let mut frames: Vec<Result<Bytes, Infallible>> = events
        .into_iter()
        .map(|event| Ok(Bytes::from(format!("data: {event}\n\n"))))
        .collect();
    frames.push(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
    if model == "mock-slow-stream" {
        let paced = futures_util::stream::unfold(frames.into_iter(), |mut frames| async move {
            let frame = frames.next()?;
            tokio::time::sleep(Duration::from_millis(SLOW_CHUNK_MILLIS)).await;
            Some((frame, frames))
        });
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::from_stream(paced))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(futures_util::stream::iter(frames)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
