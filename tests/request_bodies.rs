//! The memory request bodies may hold, through the real keyward-host: a declared
//! `Content-Length` over the body limit is refused before a byte of the body is read, and when
//! the bodies being read fill the budget (four of the largest, at least 64 MiB) the next request
//! waits, then is answered 503 `gateway_busy` — the host's memory stays bounded however many
//! large uploads arrive at once.

// Test code: helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use support::host::{Host, MockUpstream, proxy_config};

/// Sends the head of a chat request declaring `length` body bytes and `body_start` of it.
fn open_upload(host: &Host, length: u64, body_start: &str) -> TcpStream {
    let address = host.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {address}\r\n\
         authorization: Bearer sk-bf-open-0123456789\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\n\r\n{body_start}"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

/// Reads an answer's status line and JSON body (up to `wait`).
fn answer(mut stream: TcpStream, wait: Duration) -> (String, Value) {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&bytes);
        if let Some((_, body)) = text.split_once("\r\n\r\n")
            && let Ok(value) = serde_json::from_str::<Value>(body.trim())
        {
            return (text.lines().next().unwrap_or_default().to_owned(), value);
        }
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (
        text.lines().next().unwrap_or_default().to_owned(),
        Value::Null,
    )
}

#[test]
fn a_declared_body_over_the_limit_is_refused_unread_and_the_budget_bounds_the_rest() {
    let mock = MockUpstream::start();
    let mut config = proxy_config(&mock);
    config["client"]["max_request_body_size_mb"] = json!(1);
    let host = Host::start("request-bodies", &config);

    // 2 MB declared, a few bytes sent: answered at once, without waiting for the rest.
    let started = Instant::now();
    let (status, body) = answer(
        open_upload(&host, 2_000_000, r#"{"model""#),
        Duration::from_secs(3),
    );
    assert!(status.contains(" 413 "), "{status} {body}");
    assert_eq!(body["error"]["type"], "payload_too_large");
    assert!(started.elapsed() < Duration::from_secs(3));

    // The budget is 64 MiB: 64 uploads of 1 MiB declared, their bodies never sent, fill it.
    let limit = 1 << 20;
    let holding: Vec<TcpStream> = (0..64)
        .map(|_| open_upload(&host, limit, r#"{"model": "openai/gpt-4o""#))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let (status, body) = answer(
        open_upload(&host, limit, r#"{"model""#),
        Duration::from_secs(15),
    );
    assert!(status.contains(" 503 "), "{status} {body}");
    assert_eq!(body["error"]["type"], "gateway_busy");
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "it waited for room first"
    );
    // Once the uploads go away, requests are served again.
    drop(holding);
    std::thread::sleep(Duration::from_millis(500));
    let reply = host.request(
        "POST",
        "/v1/chat/completions",
        Some(&json!({"model": "openai/gpt-4o", "max_tokens": 5, "messages": []})),
        &[("authorization", "Bearer sk-bf-open-0123456789")],
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
}
