//! Ready-made [`HostServices`] implementations: [`SystemHost`] (system clock, logs through
//! `tracing`) for real hosts, [`QuietHost`] (no log) for configuration checks, and [`ManualHost`] (a clock the test moves by hand, logs kept in
//! memory) for deterministic tests of budget windows and rate limits, without sleeping.
//!
//! ```
//! use keyward_plugin_api::{ffi::HostServices, hosts::ManualHost};
//!
//! let host = ManualHost::at_unix_secs(1_700_000_000);
//! let handle = host.handle();
//! host.advance_secs(60);
//! assert_eq!(handle.now_unix_nanos(), 1_700_000_060 * 1_000_000_000);
//! ```

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, RStr},
};
use parking_lot::Mutex;

use crate::ffi::{HostHandle, HostServices, HostServices_TO, LogLevel};

/// The host services of a real host: the system clock, and logs through `tracing`.
///
/// The clock is the kernel's coarse real-time clock on Linux (`CLOCK_REALTIME_COARSE`: the time
/// of the last scheduler tick, 1–4 ms of resolution, 10 ms on `HZ=100` kernels, read from the
/// vDSO page in a few nanoseconds), because the governance plugin reads it on every reservation
/// and settlement and the precise clock cost about a sixth of a decision. Windows are seconds and
/// longer, so a reset moves by at most a tick; per-second smoothing allows for the tick in its
/// burst. Elsewhere it is [`std::time::SystemTime::now`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemHost;

impl SystemHost {
    /// A handle to pass to [`PluginMod::instantiate`](crate::ffi::PluginMod).
    pub fn handle() -> HostHandle {
        HostServices_TO::from_ptr(RArc::new(SystemHost), TD_Opaque)
    }
}

impl HostServices for SystemHost {
    #[inline]
    fn now_unix_nanos(&self) -> u64 {
        coarse_unix_nanos()
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        log_through_tracing(level, message.as_str());
    }
}

/// The system clock, and no log: the host a configuration is checked with
/// ([`export::validate_by_building`](crate::export::validate_by_building)), so a check leaves
/// no trace of instances that are dropped at once.
#[derive(Clone, Copy, Debug, Default)]
pub struct QuietHost;

impl QuietHost {
    /// A handle to pass to a builder.
    pub fn handle() -> HostHandle {
        HostServices_TO::from_ptr(RArc::new(QuietHost), TD_Opaque)
    }
}

impl HostServices for QuietHost {
    fn now_unix_nanos(&self) -> u64 {
        coarse_unix_nanos()
    }

    fn log(&self, _: LogLevel, _: RStr<'_>) {}
}

/// The coarse real-time clock in nanoseconds since the Unix epoch (0 before the epoch).
#[cfg(target_os = "linux")]
#[inline]
pub fn coarse_unix_nanos() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// The system clock in nanoseconds since the Unix epoch (0 before the epoch).
#[cfg(not(target_os = "linux"))]
#[inline]
pub fn coarse_unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Forwards a plugin's log line to `tracing`, under the target `keyward::plugin`.
pub fn log_through_tracing(level: LogLevel, message: &str) {
    match level {
        LogLevel::ERROR => tracing::error!(target: "keyward::plugin", "{message}"),
        LogLevel::WARN => tracing::warn!(target: "keyward::plugin", "{message}"),
        LogLevel::INFO => tracing::info!(target: "keyward::plugin", "{message}"),
        LogLevel::DEBUG => tracing::debug!(target: "keyward::plugin", "{message}"),
        _ => tracing::trace!(target: "keyward::plugin", "{message}"),
    }
}

/// Host services for tests: a clock that only moves when told, and the log lines kept.
#[derive(Clone, Debug, Default)]
pub struct ManualHost {
    inner: Arc<ManualHostState>,
}

#[derive(Debug, Default)]
struct ManualHostState {
    now_nanos: AtomicU64,
    logs: Mutex<Vec<(LogLevel, String)>>,
}

impl ManualHost {
    /// A host whose clock reads `secs` seconds after the Unix epoch.
    pub fn at_unix_secs(secs: u64) -> Self {
        let host = Self::default();
        host.set_unix_nanos(secs.saturating_mul(1_000_000_000));
        host
    }

    /// A handle sharing this host's clock and log.
    pub fn handle(&self) -> HostHandle {
        HostServices_TO::from_ptr(RArc::new(self.clone()), TD_Opaque)
    }

    /// Sets the clock.
    pub fn set_unix_nanos(&self, nanos: u64) {
        self.inner.now_nanos.store(nanos, Ordering::SeqCst);
    }

    /// Moves the clock forward by `secs` seconds.
    pub fn advance_secs(&self, secs: u64) {
        self.advance_nanos(secs.saturating_mul(1_000_000_000));
    }

    /// Moves the clock forward by `nanos` nanoseconds.
    pub fn advance_nanos(&self, nanos: u64) {
        self.inner.now_nanos.fetch_add(nanos, Ordering::SeqCst);
    }

    /// The log lines received so far.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.inner.logs.lock().clone()
    }
}

impl HostServices for ManualHost {
    fn now_unix_nanos(&self) -> u64 {
        self.inner.now_nanos.load(Ordering::SeqCst)
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        self.inner
            .logs
            .lock()
            .push((level, message.as_str().to_owned()));
    }
}
