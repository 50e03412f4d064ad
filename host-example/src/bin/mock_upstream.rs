//! `keyward-mock-upstream`: the built-in OpenAI-compatible mock upstream as its own process, for
//! benchmarks that measure the gateway's added latency (same mock, with and without the gateway
//! in the path). See [`keyward_host::mock_upstream`].
//!
//! ```text
//! keyward-mock-upstream 127.0.0.1:18081
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("keyward-mock-upstream: {error}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&address).await?;
        eprintln!(
            "keyward-mock-upstream listening on {}",
            listener.local_addr()?
        );
        keyward_host::mock_upstream::serve(listener).await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("keyward-mock-upstream: {address}: {error}");
            ExitCode::FAILURE
        }
    }
}
