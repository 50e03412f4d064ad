//! The cap on open client connections ([`Gate`]), shared by every accept loop (one in the
//! work-stealing threading, one per serving thread in the per-core one), and what each open
//! connection reports to it ([`Tracker`]).
//!
//! Below the cap a connection is admitted at once. At the cap, the accept loop has taken one
//! connection more from the listening socket (at most one past the cap per accept loop: the
//! file-descriptor reserve covers it) and makes room: it asks the longest-idle connection — no
//! request in progress; silent ones before those that sent part of a request head — to close,
//! and waits for a slot, asking the next one every [`EVICTION_WAIT`]. A connection asked to
//! close finishes what it is answering first. When every connection has a request in progress,
//! nothing is closed: the new connection waits for one to end, and connections after it wait in
//! the listening socket's queue (the kernel's backlog). So idle connections can never take the
//! slots that `/health`, a fresh client's request, or the upstream connections need.
//!
//! The default cap ([`default_max_connections`]) is derived from the open-file limit.

use std::{
    collections::HashMap,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use parking_lot::Mutex;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How long the accept loop waits for a slot after asking one idle connection to close, before
/// it asks the next one.
pub const EVICTION_WAIT: Duration = Duration::from_millis(100);

/// File descriptors kept out of the default cap whatever the number of serving threads: the
/// standard streams, the data directory's files (configuration, usage snapshots, written
/// through temporary files), the plugin `.so` files and their copies during a reload, the
/// mock upstream's socket, log sinks.
pub const FD_RESERVE: u64 = 64;

/// File descriptors kept out of the default cap per serving thread: its handle to the
/// listening socket, its runtime's event queue and wake-up descriptors, and the one connection
/// an accept loop holds past the cap while it makes room.
pub const FD_RESERVE_PER_WORKER: u64 = 4;

/// The default cap: the soft open-file limit (`RLIMIT_NOFILE`) less the reserve
/// ([`FD_RESERVE`] plus [`FD_RESERVE_PER_WORKER`] per serving thread), halved, so that every
/// client connection can have an upstream connection of its own at the same time; at least 8
/// (65,536 when the limit is unlimited). Returns the cap and the soft limit (`None`: unlimited).
pub fn default_max_connections(workers: usize) -> (usize, Option<u64>) {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    (max_connections_for(limit, workers), limit)
}

fn max_connections_for(limit: Option<u64>, workers: usize) -> usize {
    let Some(limit) = limit else {
        return 65_536;
    };
    let workers = u64::try_from(workers).unwrap_or(u64::MAX);
    let reserve = FD_RESERVE.saturating_add(FD_RESERVE_PER_WORKER.saturating_mul(workers));
    let cap = limit.saturating_sub(reserve) / 2;
    usize::try_from(cap.max(8)).unwrap_or(usize::MAX)
}

/// The milliseconds since the first call: the clock of [`Tracker::idle_since`].
fn now_millis() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// What one open connection reports: whether a request is in progress, since when it is idle,
/// whether it received anything since; and the signal asking it to close.
#[derive(Debug)]
pub struct Tracker {
    /// Requests being answered (their handler running or their answer being sent).
    in_flight: AtomicU32,
    /// When the last request ended (or the connection opened), in [`now_millis`].
    idle_since: AtomicU64,
    /// Whether bytes arrived since `idle_since` (part of the next request head).
    received: AtomicBool,
    /// Whether it was already asked to close.
    asked_to_close: AtomicBool,
    /// Notified once when the cap needs its slot.
    close: Notify,
}

impl Tracker {
    fn new() -> Self {
        Self {
            in_flight: AtomicU32::new(0),
            idle_since: AtomicU64::new(now_millis()),
            received: AtomicBool::new(false),
            asked_to_close: AtomicBool::new(false),
            close: Notify::new(),
        }
    }

    /// A request starts (its head was read).
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    /// A request ended (its answer was sent, or abandoned).
    pub fn request_ended(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle_since.store(now_millis(), Ordering::Release);
            self.received.store(false, Ordering::Release);
        }
    }

    /// Bytes arrived from the client.
    pub fn received(&self) {
        if !self.received.load(Ordering::Relaxed) {
            self.received.store(true, Ordering::Release);
        }
    }

    /// Whether no request is in progress.
    pub fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// When a connection idle and silent since its last request is to be closed after
    /// `keep_alive`: `None` while a request is in progress or bytes of the next one arrived.
    pub fn silent_idle_deadline(&self, keep_alive: Duration) -> Option<tokio::time::Instant> {
        if !self.is_idle() || self.received.load(Ordering::Acquire) {
            return None;
        }
        let since = Duration::from_millis(self.idle_since.load(Ordering::Acquire));
        Some(tokio::time::Instant::from_std(epoch() + since + keep_alive))
    }

    /// Completes when the cap asks this connection to close.
    pub async fn asked_to_close(&self) {
        self.close.notified().await;
    }
}

/// The cap, and the open connections it may ask to close.
#[derive(Debug)]
pub struct Gate {
    slots: Arc<Semaphore>,
    cap: usize,
    open: Mutex<Open>,
    /// When the cap was last reported in the logs (once a minute at most).
    reported: Mutex<Option<Instant>>,
}

#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    connections: HashMap<u64, Arc<Tracker>>,
}

/// An admitted connection: holds its slot until dropped.
#[derive(Debug)]
pub struct Admitted {
    gate: Arc<Gate>,
    id: u64,
    /// What the connection reports.
    pub tracker: Arc<Tracker>,
    // Released after the entry is removed (fields drop after `Drop::drop`).
    _slot: OwnedSemaphorePermit,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.gate.open.lock().connections.remove(&self.id);
    }
}

impl Gate {
    /// A cap of `cap` connections (at least one).
    pub fn new(cap: usize) -> Arc<Self> {
        let cap = cap.clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(Self {
            slots: Arc::new(Semaphore::new(cap)),
            cap,
            open: Mutex::new(Open::default()),
            reported: Mutex::new(None),
        })
    }

    /// How many connections are open.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.cap - self.slots.available_permits()
    }

    /// Admits one accepted connection: at once below the cap; at the cap, once an idle
    /// connection asked to close has closed, or a connection has ended.
    pub async fn admit(self: &Arc<Self>) -> Admitted {
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => self.make_room().await,
        };
        let tracker = Arc::new(Tracker::new());
        let id = {
            let mut open = self.open.lock();
            let id = open.next_id;
            open.next_id += 1;
            open.connections.insert(id, tracker.clone());
            id
        };
        Admitted {
            gate: self.clone(),
            id,
            tracker,
            _slot: slot,
        }
    }

    async fn make_room(&self) -> OwnedSemaphorePermit {
        self.report_cap();
        loop {
            self.ask_longest_idle_to_close();
            match tokio::time::timeout(EVICTION_WAIT, self.slots.clone().acquire_owned()).await {
                Ok(Ok(slot)) => return slot,
                // The semaphore is never closed.
                Ok(Err(_)) => std::future::pending::<()>().await,
                Err(_) => {}
            }
        }
    }

    /// Asks the idle connection that was idle longest (silent ones first) to close; `false`
    /// when every connection has a request in progress or was already asked.
    fn ask_longest_idle_to_close(&self) -> bool {
        let open = self.open.lock();
        let victim = open
            .connections
            .values()
            .filter(|tracker| tracker.is_idle() && !tracker.asked_to_close.load(Ordering::Acquire))
            .min_by_key(|tracker| {
                (
                    tracker.received.load(Ordering::Acquire),
                    tracker.idle_since.load(Ordering::Acquire),
                )
            });
        match victim {
            Some(tracker) => {
                tracker.asked_to_close.store(true, Ordering::Release);
                tracker.close.notify_one();
                true
            }
            None => false,
        }
    }

    fn report_cap(&self) {
        let mut reported = self.reported.lock();
        if reported.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
            *reported = Some(Instant::now());
            tracing::warn!(
                max_connections = self.cap,
                "the client-connection cap is reached: closing the longest-idle connections to admit new ones (see --max-connections)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_the_reserve_and_an_upstream_descriptor_per_connection() {
        assert_eq!(max_connections_for(Some(1024), 2), (1024 - 64 - 8) / 2);
        assert_eq!(max_connections_for(Some(256), 2), (256 - 64 - 8) / 2);
        assert_eq!(max_connections_for(Some(20), 2), 8);
        assert_eq!(max_connections_for(None, 2), 65_536);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn at_the_cap_the_longest_idle_connection_is_asked_to_close() {
        let gate = Gate::new(2);
        let first = gate.admit().await;
        let second = gate.admit().await;
        // The first has a request in progress: the second, idle, is the one asked.
        first.tracker.request_started();
        let third = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.admit().await })
        };
        tokio::time::timeout(Duration::from_secs(5), second.tracker.asked_to_close())
            .await
            .expect("the idle connection is asked to close");
        assert!(!first.tracker.asked_to_close.load(Ordering::Acquire));
        assert_eq!(gate.open(), 2);
        drop(second);
        let third = tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .expect("admitted once a slot is free")
            .expect("the task ran");
        assert_eq!(gate.open(), 2);
        drop((first, third));
        assert_eq!(gate.open(), 0);
    }
}
