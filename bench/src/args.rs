//! Command-line options.

use std::path::PathBuf;

use clap::Parser;

/// Measures key selection through the plugin ABI: loads a selector `.so` exactly as a host
/// does, configures it with N generated keys, and times picks from 1 and more threads.
#[derive(Debug, Parser)]
#[command(name = "keyward-bench", version)]
pub struct Args {
    /// The selector plugin to load (default: `libkeyward_weighted_selector.so` next to this
    /// binary, i.e. `target/release/` after `cargo build --release`).
    #[arg(long)]
    pub plugin: Option<PathBuf>,

    /// Key counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "3,25,200,1000,10000")]
    pub keys: Vec<usize>,

    /// Thread counts to measure, comma-separated (default: 1 and every core).
    #[arg(long, value_delimiter = ',')]
    pub threads: Vec<usize>,

    /// Seconds of measurement per (keys, threads) row, after a short warm-up.
    #[arg(long, default_value_t = 1.0)]
    pub duration: f64,

    /// Picks timed together; each batch's mean is one sample for the median and p99.
    #[arg(long, default_value_t = 128)]
    pub batch: u32,

    /// The model requested (every generated key serves `gpt-4o` and `gpt-4o-mini`).
    #[arg(long, default_value = "gpt-4o")]
    pub model: String,

    /// Call through the host slot's `Instance::call` (poison bookkeeping, `Result`
    /// conversion) instead of the ABI trait object directly.
    #[arg(long)]
    pub host_call: bool,

    /// Print the results as JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Also write an SVG chart of ns/pick against the key count to this file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

impl Args {
    /// The thread counts to measure.
    pub fn thread_counts(&self) -> Vec<usize> {
        if !self.threads.is_empty() {
            return self.threads.clone();
        }
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        if cores > 1 { vec![1, cores] } else { vec![1] }
    }
}
