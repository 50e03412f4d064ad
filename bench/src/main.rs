//! `keyward-bench`: measures key selection through the plugin ABI.
//!
//! It loads a selector `.so` with the host's loader (a unique copy, version and layout checks),
//! configures it with N generated keys per row, publishes it in a [`RoleSlot`] and times picks
//! from 1 and more threads: a progress line on stderr, then a table (or `--json`), and
//! optionally an SVG chart (`--svg FILE`). How to run it and the figures measured:
//! `docs/benchmarks.md`.

mod args;
mod measure;
mod report;
mod svg;
mod workload;

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use clap::Parser;
use keyward_plugin_api::{
    ffi::{KeySelectorBox, RoleMask},
    hosts::SystemHost,
    loader::{LoadedPlugin, RoleSlot, load_plugin},
};

use crate::{
    args::Args,
    measure::{Plan, Row},
    report::Report,
};

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("keyward-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn default_plugin_path() -> PathBuf {
    let file = format!(
        "{}keyward_weighted_selector{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&file)))
        .unwrap_or_else(|| PathBuf::from(file))
}

fn run(args: &Args) -> Result<(), String> {
    if !(args.duration.is_finite() && args.duration > 0.0) || args.batch == 0 {
        return Err("--duration must be positive and --batch at least 1".to_owned());
    }
    let path = args.plugin.clone().unwrap_or_else(default_plugin_path);
    let plugin = load_plugin(&path).map_err(|error| {
        format!("{error} (build it with `cargo build --release -p keyward-weighted-selector`, or pass --plugin)")
    })?;
    let info = plugin.report();
    let threads = args.thread_counts();
    let total = args.keys.len() * threads.len();
    let mut rows = Vec::with_capacity(total);
    for &keys in &args.keys {
        let slot = RoleSlot::new(instantiate(&plugin, keys)?, path.clone());
        for &thread_count in &threads {
            let plan = Plan {
                slot: &slot,
                model: &args.model,
                keys,
                threads: thread_count.max(1),
                duration: Duration::from_secs_f64(args.duration),
                batch: args.batch,
                host_call: args.host_call,
            };
            let done = rows.len();
            let row = measure::run(&plan, |fraction| {
                progress(done, total, keys, thread_count, fraction);
            });
            rows.push(row);
        }
    }
    eprint!("\r{:72}\r", "");
    report::add_speedups(&mut rows);
    let report = Report {
        plugin: path.display().to_string(),
        plugin_name: format!("{} {}", info.name, info.plugin_version),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        batch: args.batch,
        host_call: args.host_call,
        duration_secs: args.duration,
        rows,
    };
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", report::table(&report));
    }
    if let Some(svg_path) = &args.svg {
        write_svg(svg_path, &report.rows, &report.plugin_name)?;
    }
    Ok(())
}

fn instantiate(plugin: &LoadedPlugin, keys: usize) -> Result<KeySelectorBox, String> {
    plugin
        .instantiate(
            &workload::config_json(keys),
            RoleMask::KEY_SELECTION,
            SystemHost::handle(),
        )
        .map_err(|error| error.to_string())?
        .key_selector
        .into_option()
        .ok_or_else(|| "the plugin built no key selector".to_owned())
}

fn progress(done: usize, total: usize, keys: usize, threads: usize, fraction: f64) {
    let mut stderr = std::io::stderr().lock();
    let _ = write!(
        stderr,
        "\r[{}/{total}] {keys} keys, {threads} thread{}: {:>3.0}%   ",
        done + 1,
        if threads == 1 { "" } else { "s" },
        (fraction * 100.0).min(100.0)
    );
    let _ = stderr.flush();
}

fn write_svg(path: &Path, rows: &[Row], plugin_name: &str) -> Result<(), String> {
    let title = format!("{plugin_name}: ns per pick through the ABI");
    std::fs::write(path, svg::chart(rows, &title))
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}
