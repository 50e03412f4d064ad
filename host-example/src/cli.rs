//! The command line: `keyward-host --config FILE --listen ADDR --data-dir DIR`, plus the
//! serving options (threading, client-connection timeouts and cap).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;

/// keyward-host: an LLM gateway that loads the keyward governance plugins.
///
/// It reads a Bifrost-shaped config.json (providers, governance) plus a `plugins` block naming
/// the `.so` for each role, serves the OpenAI-compatible inference routes and Bifrost's
/// management API, and keeps its changes and usage counters in the data directory.
#[derive(Clone, Debug, Parser)]
#[command(name = "keyward-host", version, about, long_about)]
pub struct Args {
    /// The configuration file (Bifrost's config.json shape plus `plugins`). When the data
    /// directory already holds a configuration saved by the management API, that one is used
    /// and this file only seeds a fresh data directory.
    #[arg(
        long,
        short = 'c',
        env = "KEYWARD_CONFIG",
        default_value = "config.json"
    )]
    pub config: PathBuf,

    /// The address to listen on.
    #[arg(
        long,
        short = 'l',
        env = "KEYWARD_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,

    /// Where changes made through the API and usage snapshots are kept.
    #[arg(
        long,
        short = 'd',
        env = "KEYWARD_DATA_DIR",
        default_value = "./keyward-data"
    )]
    pub data_dir: PathBuf,

    /// Also start the built-in OpenAI-compatible mock upstream on this address (for the
    /// quickstart and tests: point a provider's `network_config.base_url` at it).
    #[arg(long, env = "KEYWARD_MOCK_UPSTREAM")]
    pub mock_upstream: Option<SocketAddr>,

    /// Log format.
    #[arg(long, env = "KEYWARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// How requests are spread over threads: `work-stealing` (one tokio runtime whose workers
    /// steal each other's tasks: robust when the cores are shared with other busy processes)
    /// or `per-core` (one single-threaded runtime per worker, a request served start to end on
    /// one thread: lower latency on dedicated cores). See docs/host.md.
    #[arg(long, env = "KEYWARD_THREADING", value_enum, default_value_t = Threading::WorkStealing)]
    pub threading: Threading,

    /// Check the configuration and have each plugin check its part, then exit (0: the host
    /// would start; 1: it would not, and why), as `nginx -t` does. Starts nothing and writes
    /// nothing.
    #[arg(long)]
    pub check_config: bool,

    /// Serving threads (default: one per CPU core).
    #[arg(long, env = "KEYWARD_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_threads: Option<u16>,

    /// The longest a client may take to send a request's head (request line and headers),
    /// counted from the connection's start or from the end of the previous answer; then the
    /// connection is closed. `30s`, `500ms`, `2m` (a bare number is seconds).
    #[arg(long, env = "KEYWARD_HEADER_READ_TIMEOUT", value_parser = parse_duration, default_value = "30s")]
    pub header_read_timeout: Duration,

    /// How long a connection may wait, with no request in progress and nothing received,
    /// before it is closed (the time before the first request, and between requests on a
    /// kept-alive connection).
    #[arg(long, env = "KEYWARD_KEEP_ALIVE_TIMEOUT", value_parser = parse_duration, default_value = "20s")]
    pub keep_alive_timeout: Duration,

    /// The longest the host waits for the next piece of a request body it is reading; then
    /// the request is answered 408 (`request_timeout`) and the connection closed.
    #[arg(long, env = "KEYWARD_BODY_READ_TIMEOUT", value_parser = parse_duration, default_value = "30s")]
    pub body_read_timeout: Duration,

    /// The most client connections open at once (default: from the open-file limit,
    /// RLIMIT_NOFILE, what leaves room for an upstream connection per client connection and a
    /// reserve for files and plugins). At the cap, a new connection makes the host close its
    /// longest-idle connection; when every connection has a request in progress, new ones wait
    /// in the listening socket's queue.
    #[arg(long, env = "KEYWARD_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
}

impl Args {
    /// How many serving threads to run.
    pub fn workers(&self) -> usize {
        self.worker_threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            usize::from,
        )
    }
}

/// A duration: a number with a unit (`500ms`, `30s`, `2m`), or a bare number of seconds; more
/// than zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (such as 500ms, 30s, 2m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        other => return Err(format!("unknown unit `{other}` (ms, s or m)")),
    };
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!("`{text}` must be more than 0 and at most a day"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// How requests are spread over threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Threading {
    /// One multi-threaded, work-stealing runtime.
    WorkStealing,
    /// One single-threaded runtime per serving thread.
    PerCore,
}

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit_or_are_seconds() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for refused in ["0", "0s", "-1s", "s", "", "1h", "1.2.3s", "2 days"] {
            assert!(parse_duration(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn the_connection_limits_have_defaults_and_flags() {
        let args = Args::parse_from(["keyward-host"]);
        assert_eq!(args.header_read_timeout, Duration::from_secs(30));
        assert_eq!(args.keep_alive_timeout, Duration::from_secs(20));
        assert_eq!(args.body_read_timeout, Duration::from_secs(30));
        assert_eq!(args.max_connections, None);
        let args = Args::parse_from([
            "keyward-host",
            "--header-read-timeout",
            "1s",
            "--max-connections",
            "100",
        ]);
        assert_eq!(args.header_read_timeout, Duration::from_secs(1));
        assert_eq!(args.max_connections, Some(100));
        assert!(Args::try_parse_from(["keyward-host", "--max-connections", "0"]).is_err());
    }
}
