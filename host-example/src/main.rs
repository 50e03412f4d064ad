//! The `keyward-host` binary: parses the command line, sets up logging and runs
//! [`keyward_host::run`].

use std::{io::IsTerminal, process::ExitCode};

use clap::Parser;
use keyward_host::cli::{Args, LogFormat, Threading};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    if args.check_config {
        return match keyward_host::service::startup::check_config(&args) {
            Ok(lines) => {
                for line in lines {
                    println!("{line}");
                }
                println!("keyward-host: the configuration is valid");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("keyward-host: {message}");
                ExitCode::FAILURE
            }
        };
    }
    // Work-stealing: requests are served on this runtime's workers. Per-core: this runtime only
    // runs the control work (start-up, snapshots, reloads, signals); `keyward_host::serve`
    // starts the serving threads.
    let mut builder = match args.threading {
        Threading::WorkStealing => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(args.workers());
            builder
        }
        Threading::PerCore => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("keyward-host: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(keyward_host::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("keyward-host: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("KEYWARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
