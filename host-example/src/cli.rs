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
}

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}
