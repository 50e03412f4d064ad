//! The command line: `keyward-host --config FILE --listen ADDR --data-dir DIR`.

use std::{net::SocketAddr, path::PathBuf};

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
