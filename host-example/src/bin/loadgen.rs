//! `keyward-loadgen`: an open-loop HTTP load generator for the gateway benchmarks. It sends
//! requests at a fixed rate whatever the answers' latency (each request is scheduled in
//! advance), and measures each latency from its scheduled send time, so queueing is counted
//! rather than hidden (no coordinated omission). It also records each request's service time
//! (from the moment it is actually sent): tokio's timer fires up to a millisecond late, so the
//! schedule-based figures include that slack, and added latency is best read from service times.
//! See `scripts/bench-gateway` and `docs/benchmarks.md`.
//!
//! ```text
//! keyward-loadgen --url http://127.0.0.1:8080/v1/chat/completions --rate 1000 --duration 10 \
//!     --header 'authorization: Bearer sk-bf-…' --body '{"model": "gpt-4o-mini", "messages": []}'
//! ```

use std::{
    process::ExitCode,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

/// Sends requests at a fixed rate and reports the latency distribution.
#[derive(Parser, Debug)]
#[command(name = "keyward-loadgen", version, about)]
struct Args {
    /// The URL to POST to.
    #[arg(long)]
    url: String,
    /// Requests per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds to send for.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds sent first and not measured.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// The JSON body.
    #[arg(
        long,
        default_value = r#"{"model": "gpt-4o-mini", "max_tokens": 20, "messages": [{"role": "user", "content": "Hello"}]}"#
    )]
    body: String,
    /// A header, `name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// Print one JSON object instead of a line.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("keyward-loadgen: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("keyward-loadgen: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<(), String> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build(connector);
    let headers: Vec<(String, String)> = args
        .headers
        .iter()
        .map(|h| {
            h.split_once(':')
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        })
        .collect::<Option<_>>()
        .ok_or("--header takes `name: value`")?;
    let body = Bytes::from(args.body.clone());
    let interval = Duration::from_nanos(1_000_000_000 / args.rate.max(1));
    let total = args.rate * (args.duration + args.warmup);
    let warmup = args.rate * args.warmup;
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(
        usize::try_from(total).unwrap_or(0),
    )));
    let errors = Arc::new(Mutex::new(0u64));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for n in 0..total {
        let scheduled = start + interval * u32::try_from(n).unwrap_or(u32::MAX);
        tokio::time::sleep_until(scheduled.into()).await;
        let mut request = hyper::Request::builder()
            .method("POST")
            .uri(&args.url)
            .header("content-type", "application/json");
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(body.clone()))
            .map_err(|e| e.to_string())?;
        let (client, latencies, errors) = (client.clone(), latencies.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let ok = match client.request(request).await {
                Ok(response) => {
                    let status = response.status();
                    response.into_body().collect().await.is_ok() && status.is_success()
                }
                Err(_) => false,
            };
            let (elapsed, service) = (scheduled.elapsed(), sent.elapsed());
            if n >= warmup {
                if ok {
                    latencies
                        .lock()
                        .map(|mut l| l.push((elapsed, service)))
                        .ok();
                } else {
                    errors.lock().map(|mut e| *e += 1).ok();
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let sent_for = start.elapsed();
    let pairs = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    let mut scheduled: Vec<Duration> = pairs.iter().map(|(s, _)| *s).collect();
    let mut service: Vec<Duration> = pairs.iter().map(|(_, s)| *s).collect();
    scheduled.sort();
    service.sort();
    let errors = errors.lock().map(|e| *e).unwrap_or(0);
    let pick = |sorted: &[Duration], q: f64| {
        let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    let (p50, p90, p99, max) = (
        pick(&scheduled, 0.5),
        pick(&scheduled, 0.9),
        pick(&scheduled, 0.99),
        pick(&scheduled, 1.0),
    );
    let (s50, s99) = (pick(&service, 0.5), pick(&service, 0.99));
    let measured = scheduled.len();
    if args.json {
        println!(
            "{}",
            serde_json::json!({"rate": args.rate, "duration_s": args.duration, "measured": measured, "errors": errors,
                "p50_us": p50, "p90_us": p90, "p99_us": p99, "max_us": max,
                "service_p50_us": s50, "service_p99_us": s99, "wall_s": sent_for.as_secs_f64()})
        );
    } else {
        println!(
            "rate {} rps, {measured} measured, {errors} errors: p50 {p50:.0} µs, p90 {p90:.0} µs, p99 {p99:.0} µs, max {max:.0} µs (service p50 {s50:.0} µs, p99 {s99:.0} µs)",
            args.rate
        );
    }
    Ok(())
}
