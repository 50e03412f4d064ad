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
//!
//! Both threadings serve each connection the same way ([`connection`]: hyper's HTTP/1.1 with
//! the header-read, keep-alive and body-read timeouts and the limits on a request head) and
//! share one cap on open client connections ([`cap`]); docs/host.md ("Limits") gives the
//! defaults. Accepted sockets get `TCP_NODELAY` ([`nodelay`]); a shutdown stops accepting,
//! closes idle connections and lets requests in flight finish, as `axum::serve` did.

mod cap;
mod connection;

use std::{future::Future, net::SocketAddr, sync::Arc, thread::JoinHandle};

use axum::serve::Listener;
use tokio::sync::watch;

pub use cap::{FD_RESERVE, FD_RESERVE_PER_WORKER, default_max_connections};
pub use connection::{CLOSE_GRACE, MAX_HEAD_BUFFER, MAX_HEADER_BYTES, MAX_URI_BYTES, Timeouts};

use crate::{
    cli::{Args, Threading},
    http::router::App,
};

/// The limits on client connections, the same in both threadings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// The timeouts of each connection.
    pub timeouts: Timeouts,
    /// The most client connections open at once.
    pub max_connections: usize,
}

impl ConnectionLimits {
    /// The limits the command line asks for; the cap defaults to
    /// [`default_max_connections`] (a cap given above it is kept, with a warning).
    pub fn from_args(args: &Args) -> Self {
        let (derived, limit) = default_max_connections(args.workers());
        let max_connections = match args.max_connections {
            Some(cap) => {
                let cap = usize::try_from(cap).unwrap_or(usize::MAX);
                if cap > derived {
                    tracing::warn!(
                        max_connections = cap,
                        open_file_limit = ?limit,
                        "--max-connections is above what the open-file limit leaves room for ({derived}): \
                         connections, upstream connections or files may fail with `too many open files`"
                    );
                }
                cap
            }
            None => derived,
        };
        Self {
            timeouts: Timeouts {
                header_read: args.header_read_timeout,
                keep_alive: args.keep_alive_timeout,
                body_read: args.body_read_timeout,
            },
            max_connections,
        }
    }
}

/// What every accept loop shares.
struct Shared {
    timeouts: Timeouts,
    gate: Arc<cap::Gate>,
}

/// Serves `app` on `address` until `shutdown` completes, then lets requests in flight finish.
/// Logs `keyward-host listening on ADDRESS` once the socket is bound.
pub async fn serve(
    address: SocketAddr,
    threading: Threading,
    workers: usize,
    limits: ConnectionLimits,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let shared = Arc::new(Shared {
        timeouts: limits.timeouts,
        gate: cap::Gate::new(limits.max_connections),
    });
    match threading {
        Threading::WorkStealing => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(|e| format!("cannot listen on {address}: {e}"))?;
            let bound = listener
                .local_addr()
                .map_err(|e| format!("cannot read the bound address: {e}"))?;
            announce(bound, threading, workers, &limits);
            accept_loop(nodelay(listener), app, shared, shutdown).await;
            Ok(())
        }
        Threading::PerCore => {
            let running = start(address, workers, app, shared)?;
            announce(running.address, threading, workers, &limits);
            tokio::select! {
                () = shutdown => {}
                () = running.failed() => tracing::error!("a serving thread stopped; shutting down"),
            }
            running.shutdown().await
        }
    }
}

fn announce(address: SocketAddr, threading: Threading, workers: usize, limits: &ConnectionLimits) {
    let Timeouts {
        header_read,
        keep_alive,
        body_read,
    } = limits.timeouts;
    tracing::info!(
        ?threading,
        workers,
        max_connections = limits.max_connections,
        ?header_read,
        ?keep_alive,
        ?body_read,
        "keyward-host listening on {address}"
    );
}

/// Accepts connections from `listener` and serves each on its own task until `shutdown`
/// completes; then stops accepting, asks every connection to close (hyper's graceful shutdown:
/// idle ones at once, the others after the answer in progress) and waits for all of them.
async fn accept_loop<L>(
    mut listener: L,
    app: App,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
) where
    L: Listener<Io = tokio::net::TcpStream>,
{
    let (stop, stopping) = watch::channel(false);
    // Each connection's task holds a receiver: all are gone when every connection has ended.
    let (open_tx, open_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        // `axum::serve`'s accept: connection errors are skipped; others (`EMFILE`) are logged
        // and retried after a second.
        let io = tokio::select! {
            (io, _) = listener.accept() => io,
            () = &mut shutdown => break,
        };
        let admitted = tokio::select! {
            admitted = shared.gate.admit() => admitted,
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let timeouts = shared.timeouts;
        let stopping = stopping.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            connection::serve(io, app, timeouts, admitted, stopping).await;
            drop(open);
        });
    }
    let _ = stop.send(true);
    drop(open_rx);
    drop(listener);
    open_tx.closed().await;
}

/// The serving threads.
struct Workers {
    threads: Vec<JoinHandle<Result<(), String>>>,
    stop: watch::Sender<bool>,
    /// The address every worker listens on (the port chosen when the request was port 0).
    address: SocketAddr,
}

/// Listens on `address` and starts `workers` serving threads.
fn start(
    address: SocketAddr,
    workers: usize,
    app: App,
    shared: Arc<Shared>,
) -> Result<Workers, String> {
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
        let shared = shared.clone();
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
                    accept_loop(nodelay(listener), app, shared, async move {
                        // A closed channel (the control runtime is gone) stops too.
                        let _ = stopped.wait_for(|stop| *stop).await;
                    })
                    .await;
                    Ok(())
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
