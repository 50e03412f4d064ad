//! Heap allocations per plain request through keyward-host: the host runs in this process under
//! a counting allocator (`stats_alloc`), in front of the mock upstream (another process); a
//! client on one keep-alive connection sends admitted chat completions and reads each answer
//! into a fixed buffer, so what is counted is the host's work (axum, hyper, the session, the
//! plugins, the upstream exchange). The fewest allocations per request over five batches is the
//! figure (a batch that met the once-a-second usage snapshot counts more); it must stay at or
//! below the figure the previous host (before the gateway core) measured, `BEFORE_CORE`.

// Test code: helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

mod support;

use std::{
    alloc::System,
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    time::{Duration, Instant},
};

use clap::Parser;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use support::host::{MockUpstream, default_plugins, proxy_config, scratch_dir};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations per plain request measured with this test on the commit before the gateway core
/// (f561670), this machine, 2026-12-02.
const BEFORE_CORE: f64 = 62.0;

const BATCHES: usize = 5;
const PER_BATCH: usize = 200;

#[test]
fn a_plain_request_allocates_no_more_than_before_the_core() {
    let mock = MockUpstream::start();
    let dir = scratch_dir("allocations");
    let mut config = proxy_config(&mock);
    config["plugins"] = default_plugins();
    // The management API is not used here: its token may be any variable that is set.
    config["admin"] = serde_json::json!({"token_env": "PATH"});
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let args = keyward_host::cli::Args::parse_from([
        "keyward-host".to_owned(),
        "--config".to_owned(),
        dir.join("config.json").display().to_string(),
        "--data-dir".to_owned(),
        dir.join("data").display().to_string(),
        "--listen".to_owned(),
        format!("127.0.0.1:{port}"),
    ]);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = runtime.block_on(keyward_host::run(args));
    });
    let mut connection = connect(port);
    let body = br#"{"model": "openai/gpt-4o-mini", "max_tokens": 20, "messages": [{"role": "user", "content": "Hello"}]}"#;
    let request = [
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer sk-bf-open-0123456789\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes(),
        body.to_vec(),
    ]
    .concat();
    let mut buffer = vec![0u8; 64 * 1024];
    for _ in 0..100 {
        exchange(&mut connection, &request, &mut buffer);
    }
    let mut fewest = f64::MAX;
    for _ in 0..BATCHES {
        let region = Region::new(GLOBAL);
        for _ in 0..PER_BATCH {
            exchange(&mut connection, &request, &mut buffer);
        }
        let per_request = region.change().allocations as f64 / PER_BATCH as f64;
        fewest = fewest.min(per_request);
    }
    eprintln!("allocations per plain request: {fewest:.1} (before the core: {BEFORE_CORE:.1})");
    assert!(fewest > 0.0, "the count must see the host's work");
    assert!(
        fewest <= BEFORE_CORE,
        "{fewest:.1} allocations per request, more than the {BEFORE_CORE:.1} before the core"
    );
}

fn connect(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => return stream,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(error) => panic!("keyward-host did not listen: {error}"),
        }
    }
}

/// Sends the request and reads one whole answer (by its Content-Length) into `buffer`.
fn exchange(connection: &mut TcpStream, request: &[u8], buffer: &mut [u8]) {
    connection.write_all(request).unwrap();
    let mut filled = 0;
    loop {
        let n = connection.read(&mut buffer[filled..]).unwrap();
        assert!(n > 0, "the host closed the connection");
        filled += n;
        let Some(head_end) = buffer[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&buffer[..head_end]).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        // Read without allocating: the client's own work must not be counted.
        let length: usize = head
            .split("\r\n")
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())
                    .flatten()
            })
            .expect("a Content-Length");
        if filled >= head_end + 4 + length {
            return;
        }
    }
}
