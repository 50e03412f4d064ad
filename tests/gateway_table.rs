//! The behaviour table (`tests/behaviours/`) against keyward-host and against the test host on
//! the core alone; `host-nginx/tests/table.py` runs the same table against the nginx module.
//! Every step's status, envelope, what the upstream saw and what was charged must match.

#![allow(clippy::unwrap_used)]

mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{
    host::{Host, MockUpstream, default_plugins},
    table::{Observed, StepRequest, cases, check, config, expectations},
    test_host::TestHost,
};

/// Runs every case with `serve`, which answers one step (and tells what was charged); panics
/// listing every step that did not match.
fn run_table(host: &str, mock: &MockUpstream, mut serve: impl FnMut(&StepRequest) -> Observed) {
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in cases() {
        let name = case["name"].as_str().unwrap().to_owned();
        for (index, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let expect = match expectations(&case, step, host) {
                Ok(expect) => expect,
                Err(why) => {
                    eprintln!("skip {name}: {why}");
                    break;
                }
            };
            mock.clear();
            let request = StepRequest::of(step);
            let mut observed = serve(&request);
            observed.upstream = mock.received();
            let wrong = check(&expect, &request, &observed);
            ran += 1;
            if !wrong.is_empty() {
                failures.push(format!("{name} [step {index}]: {}", wrong.join("; ")));
            }
        }
    }
    assert!(ran >= 20, "the table ran {ran} steps");
    assert!(failures.is_empty(), "{host}:\n{}", failures.join("\n"));
}

#[test]
fn the_table_against_the_test_host() {
    let mock = MockUpstream::start();
    let config = config(&mock.base, default_plugins());
    let host = TestHost::start(&config.to_string()).expect("the test host starts");
    run_table("test-host", &mock, |request| {
        let answer = host.handle(
            &request.method,
            &request.path,
            &request.headers,
            &request.body,
            request.leave_after_events,
        );
        Observed {
            status: answer.status,
            content_type: answer.content_type,
            retry_after: answer.retry_after.map(|s| s.to_string()),
            body: answer.body,
            upstream: Vec::new(),
            charge: answer.outcome.map(|o| o.charge.to_string()),
        }
    });
}

#[test]
fn the_table_against_keyward_host() {
    let mock = MockUpstream::start();
    let host = Host::start("table", &config(&mock.base, default_plugins()));
    let address = host.base.trim_start_matches("http://").to_owned();
    let mut finished_lines = 0;
    run_table("keyward-host", &mock, |request| {
        let mut observed = send(&address, request);
        // The session logs `finished … charge=…` when it settles or releases (a stream: when
        // its body ends, or the host notices the client left).
        let patience = if request.leave_after_events.is_some() {
            Duration::from_secs(5)
        } else {
            Duration::from_millis(1500)
        };
        let deadline = Instant::now() + patience;
        let expect_line = observed.status < 300 || upstream_relayed(&observed);
        loop {
            let logs = host.logs();
            let finished: Vec<&str> = logs.lines().filter(|l| l.contains(" finished")).collect();
            if finished.len() > finished_lines {
                let line = finished[finished.len() - 1];
                finished_lines = finished.len();
                observed.charge = line
                    .split_whitespace()
                    .find_map(|field| field.strip_prefix("charge="))
                    .filter(|charge| *charge != "release")
                    .map(str::to_owned);
                break;
            }
            if !expect_line && Instant::now() > deadline - patience / 2 || Instant::now() > deadline
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        observed
    });
}

/// Whether the answer is an upstream's, relayed (it then finishes a session).
fn upstream_relayed(observed: &Observed) -> bool {
    serde_json::from_slice::<Value>(&observed.body)
        .map(|body| body.get("event_id").is_none())
        .unwrap_or(true)
}

/// Sends one request over a fresh connection; with `leave_after_events`, closes it after that
/// many server-sent events.
fn send(address: &str, request: &StepRequest) -> Observed {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        request.method,
        request.path,
        request.body.len()
    );
    for (name, value) in &request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&request.body).unwrap();
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(n) = request.leave_after_events
            && let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n")
            && raw[head_end + 4..]
                .windows(2)
                .filter(|w| w == b"\n\n")
                .count()
                >= n
        {
            break; // n events after the head: leave
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
        }
    }
    drop(stream);
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Observed {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let header = |wanted: &str| {
        head.lines().skip(1).find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case(wanted)
                .then(|| value.trim().to_owned())
        })
    };
    let mut body = raw[split + 4..].to_vec();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body);
    }
    Observed {
        status,
        content_type: header("content-type"),
        retry_after: header("retry-after"),
        body,
        upstream: Vec::new(),
        charge: None,
    }
}

/// Decodes a chunked body (as far as it arrived).
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        data = &data[end + 2..];
        if size == 0 {
            break;
        }
        let take = size.min(data.len());
        out.extend_from_slice(&data[..take]);
        data = &data[(take + 2).min(data.len())..];
    }
    out
}
