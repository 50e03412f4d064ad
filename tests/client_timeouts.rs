//! Client-connection limits through the real binary: a request head that stalls is cut at the
//! header-read timeout, an idle kept-alive connection at the keep-alive timeout, a request body
//! that stalls is answered 408 in the envelope; with the open-file limit lowered and more idle
//! connections opened than the cap allows, `/health` and an inference request from a fresh
//! connection are still answered at once, and the usage is still saved. Both threadings.

mod support;

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use serde_json::json;
use support::host::{Host, Launch, MockUpstream, proxy_config, scratch_dir, test_config};

/// The threadings, as the environment selects them.
const THREADINGS: [&[(&str, &str)]; 2] = [
    &[("KEYWARD_THREADING", "work-stealing")],
    &[
        ("KEYWARD_THREADING", "per-core"),
        ("KEYWARD_WORKER_THREADS", "2"),
    ],
];

fn start(name: &str, config: &serde_json::Value, launch: &Launch<'_>) -> Host {
    let dir = scratch_dir(name);
    std::fs::write(dir.join("config.json"), config.to_string()).expect("config written");
    Host::launch(dir, launch).expect("the host starts")
}

fn connect(host: &Host) -> TcpStream {
    let stream = TcpStream::connect(host.address()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
}

/// Reads until the host closes the connection (end of stream or reset); `Err` with what was
/// read when it is still open after the socket's read timeout.
fn read_until_closed(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(received),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!(
                    "still open after the read timeout; received {:?}",
                    String::from_utf8_lossy(&received)
                ));
            }
            // A reset is a close too.
            Err(_) => return Ok(received),
        }
    }
}

#[test]
fn a_request_head_that_stalls_is_cut_at_the_header_read_timeout() {
    for env in THREADINGS {
        let host = start(
            "timeouts-header",
            &test_config(),
            &Launch {
                env,
                args: &["--header-read-timeout", "1s"],
                ..Launch::default()
            },
        );
        // Half a request line, then nothing.
        let mut stream = connect(&host);
        let started = Instant::now();
        stream.write_all(b"GET /hea").expect("write");
        let closed = read_until_closed(&mut stream);
        let took = started.elapsed();
        assert!(closed.is_ok(), "{env:?}: {closed:?}\n{}", host.logs());
        assert!(
            took >= Duration::from_millis(800) && took < Duration::from_secs(4),
            "{env:?}: closed after {took:?}"
        );
        // Whole heads are still served.
        assert_eq!(host.request("GET", "/health", None, &[]).status, 200);
    }
}

#[test]
fn an_idle_kept_alive_connection_is_closed_at_the_keep_alive_timeout() {
    for env in THREADINGS {
        let host = start(
            "timeouts-keep-alive",
            &test_config(),
            &Launch {
                env,
                args: &["--keep-alive-timeout", "1s"],
                ..Launch::default()
            },
        );
        let mut stream = connect(&host);
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .expect("write");
        let started = Instant::now();
        let received = read_until_closed(&mut stream);
        let took = started.elapsed();
        let received = received.unwrap_or_else(|e| panic!("{env:?}: {e}\n{}", host.logs()));
        assert!(
            received.starts_with(b"HTTP/1.1 200"),
            "{env:?}: {:?}",
            String::from_utf8_lossy(&received)
        );
        assert!(
            took >= Duration::from_millis(800) && took < Duration::from_secs(4),
            "{env:?}: closed after {took:?}"
        );
    }
}

#[test]
fn a_request_that_outlasts_the_keep_alive_timeout_is_answered() {
    // The keep-alive timeout closes idle connections only: an answer that takes longer (the
    // mock's `mock-slow` takes 3 s) is still delivered.
    let mock = MockUpstream::start();
    let host = start(
        "timeouts-slow-answer",
        &proxy_config(&mock),
        &Launch {
            args: &["--keep-alive-timeout", "1s", "--body-read-timeout", "1s"],
            ..Launch::default()
        },
    );
    let reply = host.request(
        "POST",
        "/v1/chat/completions",
        Some(&json!({"model": "openai/mock-slow", "max_tokens": 20, "messages": []})),
        &[("authorization", "Bearer sk-bf-open-0123456789")],
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[test]
fn a_request_body_that_stalls_is_answered_408_in_the_envelope() {
    let mock = MockUpstream::start();
    for env in THREADINGS {
        let host = start(
            "timeouts-body",
            &proxy_config(&mock),
            &Launch {
                env,
                args: &["--body-read-timeout", "1s"],
                ..Launch::default()
            },
        );
        for (path, authorization) in [
            (
                "/v1/chat/completions",
                "Bearer sk-bf-open-0123456789".to_owned(),
            ),
            (
                "/api/governance/virtual-keys",
                format!("Bearer {}", support::host::ADMIN_TOKEN),
            ),
        ] {
            // 100 bytes announced, 10 sent.
            let mut stream = connect(&host);
            let started = Instant::now();
            stream
                .write_all(
                    format!(
                        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {authorization}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"model\": "
                    )
                    .as_bytes(),
                )
                .expect("write");
            let received = read_until_closed(&mut stream)
                .unwrap_or_else(|e| panic!("{env:?} {path}: {e}\n{}", host.logs()));
            let took = started.elapsed();
            let text = String::from_utf8_lossy(&received);
            assert!(text.starts_with("HTTP/1.1 408"), "{env:?} {path}: {text}");
            assert!(
                text.to_ascii_lowercase().contains("connection: close"),
                "{env:?} {path}: {text}"
            );
            let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
            let body: serde_json::Value = serde_json::from_str(body)
                .unwrap_or_else(|e| panic!("{env:?} {path}: not JSON ({e}): {text}"));
            assert_eq!(body["status_code"], 408, "{text}");
            assert_eq!(body["error"]["type"], "request_timeout", "{text}");
            assert!(
                took >= Duration::from_millis(800) && took < Duration::from_secs(4),
                "{env:?} {path}: answered after {took:?}"
            );
        }
    }
}

/// Sends `request` on a fresh connection and reads the answer's head and body (by its
/// `content-length`), all within `within`.
fn answered_within(host: &Host, request: &[u8], within: Duration) -> Result<String, String> {
    let started = Instant::now();
    let address = host.address().parse().expect("an address");
    let mut stream =
        TcpStream::connect_timeout(&address, within).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_write_timeout(Some(within))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request)
        .map_err(|e| format!("write: {e}"))?;
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = within
            .checked_sub(started.elapsed())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| {
                format!(
                    "not answered within {within:?}: {:?}",
                    String::from_utf8_lossy(&received)
                )
            })?;
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut chunk) {
            Ok(0) => return Err(format!("closed: {:?}", String::from_utf8_lossy(&received))),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(error) => {
                return Err(format!(
                    "{error} after {:?}: {:?}",
                    started.elapsed(),
                    String::from_utf8_lossy(&received)
                ));
            }
        }
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok());
            if length.is_some_and(|length| body.len() >= length) {
                return Ok(text);
            }
        }
    }
}

#[test]
fn idle_connections_beyond_the_cap_leave_room_for_health_inference_and_usage() {
    const OPEN_FILE_LIMIT: u64 = 256;
    const IDLE: usize = 300;
    let mock = MockUpstream::start();
    for env in THREADINGS {
        let mut host = start(
            "timeouts-cap",
            &proxy_config(&mock),
            &Launch {
                env,
                nofile: Some(OPEN_FILE_LIMIT),
                ..Launch::default()
            },
        );
        // More idle connections than the host has file descriptors: they send nothing (and
        // the default timeouts, tens of seconds, do not close them during the test).
        let idle: Vec<TcpStream> = (0..IDLE)
            .map(|n| {
                TcpStream::connect(host.address())
                    .unwrap_or_else(|e| panic!("{env:?}: idle connection {n}: {e}"))
            })
            .collect();
        // Let the host take them from the listening socket.
        std::thread::sleep(Duration::from_millis(500));

        let health = answered_within(
            &host,
            b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            Duration::from_secs(1),
        )
        .unwrap_or_else(|e| panic!("{env:?}: /health: {e}\n{}", host.logs()));
        assert!(health.starts_with("HTTP/1.1 200"), "{env:?}: {health}");

        let body = json!({"model": "openai/gpt-4o", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]})
            .to_string();
        let chat = answered_within(
            &host,
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-bf-budget-0123456789\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
            Duration::from_secs(1),
        )
        .unwrap_or_else(|e| panic!("{env:?}: chat completion: {e}\n{}", host.logs()));
        assert!(chat.starts_with("HTTP/1.1 200"), "{env:?}: {chat}");

        // A clean stop saves the usage (one request of $0.20 on budget b-small).
        host.stop();
        drop(idle);
        let host = Host::start_in(host.dir.clone()).expect("restarts");
        let used = host.budget_usage("b-small");
        assert!(
            (used - 0.2).abs() < 1e-9,
            "{env:?}: usage after restart: {used}"
        );
    }
}
