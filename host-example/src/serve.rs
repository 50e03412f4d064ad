//! Serving requests, in one of two threadings ([`Threading`]):
//!
//! - **work-stealing**: one multi-threaded tokio runtime (the caller's) serves every connection;
//!   idle workers steal tasks from busy ones, which keeps latency steady when the cores are
//!   shared with other busy processes.
//! - **per-core**: `workers` threads, each with its own single-threaded tokio runtime
//!   accepting from the one listening socket (each through its own handle to it; a connection
//!   belongs to the thread that accepted it). A request is read, authorized, forwarded,
//!   settled and answered on one thread, with that thread's own upstream connection pool
//!   ([`crate::http::client::UpstreamClient`]), so serving it wakes no other thread (a cross-thread wake-up
//!   costs tens of microseconds on a virtual machine). A thread the OS deschedules stalls its
//!   own connections, though: nothing steals its work.
//!   The control work (start-up, usage snapshots, `SIGHUP` reloads, the shutdown signal) stays
//!   on the caller's runtime; a shutdown stops accepting and lets requests in flight finish.
//!
//! Measured trade-off: docs/benchmarks.md ("Gateway").

use std::{future::Future, net::SocketAddr, thread::JoinHandle};

use tokio::sync::watch;

use crate::{cli::Threading, http::router::App};

/// Serves `app` on `address` until `shutdown` completes, then lets requests in flight finish.
/// Logs `keyward-host listening on ADDRESS` once the socket is bound.
pub async fn serve(
    address: SocketAddr,
    threading: Threading,
    workers: usize,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    match threading {
        Threading::WorkStealing => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(|e| format!("cannot listen on {address}: {e}"))?;
            let bound = listener
                .local_addr()
                .map_err(|e| format!("cannot read the bound address: {e}"))?;
            announce(bound, threading, workers);
            axum::serve(nodelay(listener), app)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(|e| e.to_string())
        }
        Threading::PerCore => {
            let running = start(address, workers, app)?;
            announce(running.address, threading, workers);
            tokio::select! {
                () = shutdown => {}
                () = running.failed() => tracing::error!("a serving thread stopped; shutting down"),
            }
            running.shutdown().await
        }
    }
}

fn announce(address: SocketAddr, threading: Threading, workers: usize) {
    tracing::info!(?threading, workers, "keyward-host listening on {address}");
}

/// The serving threads.
struct Workers {
    threads: Vec<JoinHandle<Result<(), String>>>,
    stop: watch::Sender<bool>,
    /// The address every worker listens on (the port chosen when the request was port 0).
    address: SocketAddr,
}

/// Listens on `address` and starts `workers` serving threads.
fn start(address: SocketAddr, workers: usize, app: App) -> Result<Workers, String> {
    let listener = std::net::TcpListener::bind(address)
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot make the listening socket non-blocking: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let mut sockets = Vec::with_capacity(workers.max(1));
    for _ in 1..workers.max(1) {
        sockets.push(
            listener
                .try_clone()
                .map_err(|e| format!("cannot share the listening socket: {e}"))?,
        );
    }
    sockets.push(listener);
    let (stop, stopped) = watch::channel(false);
    let mut threads = Vec::with_capacity(sockets.len());
    for (index, socket) in sockets.into_iter().enumerate() {
        let app = app.clone();
        let mut stopped = stopped.clone();
        let thread = std::thread::Builder::new()
            .name(format!("keyward-worker-{index}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start worker {index}'s runtime: {e}"))?;
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(socket)
                        .map_err(|e| format!("worker {index}: cannot use its socket: {e}"))?;
                    axum::serve(nodelay(listener), app)
                        .with_graceful_shutdown(async move {
                            // A closed channel (the control runtime is gone) stops too.
                            let _ = stopped.wait_for(|stop| *stop).await;
                        })
                        .await
                        .map_err(|e| format!("worker {index}: {e}"))
                })
            })
            .map_err(|e| format!("cannot start a worker thread: {e}"))?;
        threads.push(thread);
    }
    Ok(Workers {
        threads,
        stop,
        address: bound,
    })
}

impl Workers {
    /// Stops accepting, lets requests in flight finish, and waits for every worker.
    async fn shutdown(self) -> Result<(), String> {
        let _ = self.stop.send(true);
        let threads = self.threads;
        tokio::task::spawn_blocking(move || {
            threads
                .into_iter()
                .map(|thread| {
                    thread
                        .join()
                        .unwrap_or_else(|_| Err("a worker panicked".into()))
                })
                .collect::<Result<Vec<()>, String>>()
                .map(drop)
        })
        .await
        .map_err(|e| format!("cannot join the workers: {e}"))?
    }

    /// Waits until a worker ends on its own (an accept loop failing), which only an error does.
    async fn failed(&self) {
        loop {
            if self.threads.iter().any(JoinHandle::is_finished) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

/// The listener with `TCP_NODELAY` on every accepted connection (axum leaves Nagle's algorithm
/// on): a proxy's small writes — streamed chunks above all — must not wait for the client's
/// acknowledgement of the previous one.
pub fn nodelay(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|connection| {
        if let Err(error) = connection.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY on a connection: {error}");
        }
    })
}
