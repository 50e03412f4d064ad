//! Open reservations by request id, and the settlements of finished ones (so a repeated settle
//! or release is answered as a duplicate instead of charging twice).
//!
//! Finished entries are kept for [`RETENTION_NANOS`] of host time (at most
//! [`MAX_FINISHED`]); sweeps run when their number doubles, so their cost is amortized. A
//! settle or release older than that answers `unknown_reservation`, never a second charge.

use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use keyward_plugin_api::ffi::Settlement;
use parking_lot::Mutex;
use rustc_hash::FxBuildHasher;

use crate::prices::Price;

/// How long a finished request id is remembered (host time): two minutes.
pub const RETENTION_NANOS: u64 = 120 * 1_000_000_000;
/// The most finished ids remembered.
pub const MAX_FINISHED: usize = 1 << 20;
const FIRST_SWEEP: usize = 1 << 16;
/// The "no key" / "no provider config" index.
pub const NONE: u32 = u32::MAX;

/// What an open reservation holds: enough to find its counters again in the immutable policy.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Open {
    /// The virtual key's index ([`NONE`]: no key).
    pub key: u32,
    /// The provider config's index ([`NONE`]: the key has none, or no key).
    pub provider: u32,
    /// Tokens reserved.
    pub tokens: u64,
    /// Nano-dollars reserved.
    pub cost_nanos: u64,
    /// The model's price, to price a settlement that brings no cost.
    pub price: Option<Price>,
}

/// A reservation's state.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Entry {
    /// Reserved, not yet settled or released.
    Open(Open),
    /// Settled or released at `at` (host time).
    Finished {
        /// What the first settle or release answered.
        settlement: Settlement,
        /// When.
        at: u64,
    },
}

/// The table.
#[derive(Debug)]
pub struct Reservations {
    /// Entries by request id.
    pub map: DashMap<u64, Entry, FxBuildHasher>,
    finished: AtomicUsize,
    next_sweep: AtomicUsize,
    sweeping: Mutex<()>,
}

impl Default for Reservations {
    fn default() -> Self {
        Self {
            map: DashMap::with_capacity_and_hasher_and_shard_amount(1024, FxBuildHasher, 64),
            finished: AtomicUsize::new(0),
            next_sweep: AtomicUsize::new(FIRST_SWEEP),
            sweeping: Mutex::new(()),
        }
    }
}

impl Reservations {
    /// Counts one more finished entry and sweeps old ones when due.
    #[inline]
    pub fn note_finished(&self, now: u64) {
        let finished = self.finished.fetch_add(1, Ordering::Relaxed) + 1;
        if finished >= self.next_sweep.load(Ordering::Relaxed) {
            if let Some(_sweeping) = self.sweeping.try_lock() {
                self.sweep(now);
            }
        }
    }

    #[cold]
    fn sweep(&self, now: u64) {
        let mut horizon = now.saturating_sub(RETENTION_NANOS);
        if self.finished.load(Ordering::Relaxed) > MAX_FINISHED {
            horizon = now;
        }
        let mut kept = 0usize;
        self.map.retain(|_, entry| match entry {
            Entry::Finished { at, .. } if *at < horizon => false,
            Entry::Finished { .. } => {
                kept += 1;
                true
            }
            Entry::Open(_) => true,
        });
        self.finished.store(kept, Ordering::Relaxed);
        self.next_sweep
            .store(FIRST_SWEEP.max(kept.saturating_mul(2)), Ordering::Relaxed);
    }

    /// The open reservations.
    pub fn open(&self) -> Vec<(u64, Open)> {
        let mut open: Vec<(u64, Open)> = self
            .map
            .iter()
            .filter_map(|e| match e.value() {
                Entry::Open(open) => Some((*e.key(), *open)),
                Entry::Finished { .. } => None,
            })
            .collect();
        open.sort_unstable_by_key(|(id, _)| *id);
        open
    }
}

#[cfg(test)]
mod tests;
