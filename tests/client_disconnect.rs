//! A client that goes away: mid-stream, the gateway settles what was delivered (the prompt
//! estimate and the output sent so far, never more than the request's cap); before the answer,
//! it releases the reservation — nothing is charged, and nothing stays reserved.

mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use serde_json::json;
use support::host::{Host, MockUpstream, proxy_config};

fn config(mock: &MockUpstream) -> serde_json::Value {
    let mut config = proxy_config(mock);
    for model in ["mock-slow-stream", "mock-slow"] {
        config["governance"]["pricing"][model] =
            json!({"input_cost_per_token": 0.0, "output_cost_per_token": 0.01});
    }
    config["governance"]["budgets"] =
        json!([{"id": "b-big", "max_limit": 100.0, "reset_duration": "1d"}]);
    config["governance"]["virtual_keys"] = json!([{"id": "vk-stream", "name": "stream", "value": "sk-bf-stream-0123456789", "budget_id": "b-big"}]);
    config
}

/// Sends a raw HTTP/1.1 request and returns the open connection.
fn send(host: &Host, body: &serde_json::Value) -> TcpStream {
    let address = host.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect");
    let body = body.to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer sk-bf-stream-0123456789\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    stream
}

fn wait_for(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn a_client_leaving_mid_stream_is_charged_what_was_delivered() {
    let mock = MockUpstream::start();
    let host = Host::start("disconnect-stream", &config(&mock));
    let mut stream = send(
        &host,
        &json!({"model": "openai/mock-slow-stream", "stream": true, "max_tokens": 1000, "messages": []}),
    );
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&received).contains("data: ") {
        let n = stream.read(&mut buffer).expect("read the first chunk");
        assert!(
            n > 0,
            "the stream ended early: {}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buffer[..n]);
    }
    drop(stream);
    // The stream had four more chunks to go (300 ms apart); the gateway notices the client is gone.
    assert!(
        wait_for(|| host.budget_usage("b-big") > 0.0),
        "nothing was charged after the disconnect"
    );
    let charged = host.budget_usage("b-big");
    assert!(
        charged <= 10.0,
        "charged {charged}, more than the reservation ($10 = 1,000 tokens)"
    );
    assert!(
        charged < 1.0,
        "charged {charged}: more than one delivered chunk's worth"
    );
    // The rest of the reservation was returned: the whole budget but the charge is available.
    let allowed = host.request(
        "POST",
        "/v1/chat/completions",
        Some(&json!({"model": "openai/gpt-4o", "max_tokens": 9_000, "messages": []})),
        &[("authorization", "Bearer sk-bf-stream-0123456789")],
    );
    assert_eq!(
        allowed.status, 200,
        "a $90 reservation fits once the stream's is released: {}",
        allowed.text
    );
}

#[test]
fn a_client_leaving_before_the_answer_has_its_reservation_released() {
    let mock = MockUpstream::start();
    let host = Host::start("disconnect-wait", &config(&mock));
    let stream = send(
        &host,
        &json!({"model": "openai/mock-slow", "max_tokens": 1000, "messages": []}),
    );
    assert!(
        wait_for(|| !mock.received().is_empty()),
        "the request reached the upstream"
    );
    drop(stream);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(host.budget_usage("b-big"), 0.0, "nothing charged");
    let allowed = host.request(
        "POST",
        "/v1/chat/completions",
        Some(&json!({"model": "openai/gpt-4o", "max_tokens": 9_900, "messages": []})),
        &[("authorization", "Bearer sk-bf-stream-0123456789")],
    );
    assert_eq!(
        allowed.status, 200,
        "the whole budget is free again: {}",
        allowed.text
    );
}
