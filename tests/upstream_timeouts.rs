//! The upstream timeouts cover the whole answer, not only its headers: a non-streamed body that
//! stalls is a 504 `upstream_timeout` once `network_config.default_request_timeout_in_seconds`
//! has passed, and a stream that goes quiet is cut after `stream_idle_timeout_in_seconds`; both
//! sessions finish (the reservation is settled, not left open). Bounded by a few seconds of real
//! time: the mock stalls for ever.

#![allow(clippy::unwrap_used)]

mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use support::host::{Host, MockUpstream, proxy_config};

fn host(mock: &MockUpstream, name: &str) -> Host {
    let mut config = proxy_config(mock);
    let network = &mut config["providers"]["openai"]["network_config"];
    network["default_request_timeout_in_seconds"] = 1.into();
    network["stream_idle_timeout_in_seconds"] = 1.into();
    Host::start(name, &config)
}

/// Sends a chat completion and reads until the host closes the connection.
fn exchange(host: &Host, body: &str) -> (String, Duration) {
    let address = host.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: Bearer sk-bf-open-0123456789\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    (
        String::from_utf8_lossy(&raw).into_owned(),
        started.elapsed(),
    )
}

fn wait_for_finished(host: &Host) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let logs = host.logs();
        if let Some(line) = logs.lines().find(|l| l.contains(" finished")) {
            return line.to_owned();
        }
        assert!(Instant::now() < deadline, "no session finished:\n{logs}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_stalled_body_is_a_504_after_the_request_timeout() {
    let mock = MockUpstream::start();
    let host = host(&mock, "timeout-body");
    let (answer, took) = exchange(
        &host,
        r#"{"model": "openai/mock-stall-body", "max_tokens": 5, "messages": []}"#,
    );
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");
    assert!(answer.contains("\"upstream_timeout\""), "{answer}");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    let finished = wait_for_finished(&host);
    assert!(finished.contains("charge=settle:"), "{finished}");
}

#[test]
fn a_stream_that_goes_quiet_is_cut_after_the_idle_timeout() {
    let mock = MockUpstream::start();
    let host = host(&mock, "timeout-stream");
    let (answer, took) = exchange(
        &host,
        r#"{"model": "openai/mock-stall-stream", "stream": true, "max_tokens": 5, "messages": []}"#,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("Hello"),
        "the event before the stall reached the client: {answer}"
    );
    assert!(!answer.contains("[DONE]"));
    assert!(took < Duration::from_secs(5), "cut after {took:?}");
    let finished = wait_for_finished(&host);
    // The prompt estimate and the one event's text ("Hello": 2 tokens).
    assert!(
        finished.contains("charge=settle:") && finished.contains("/0/2"),
        "{finished}"
    );
}
