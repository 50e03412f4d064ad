//! Request ids: the key of a reservation, unique within the process (and across the processes
//! of one machine, from the process id in the high bits).

use std::sync::atomic::{AtomicU64, Ordering};

/// A source of request ids.
#[derive(Debug)]
pub struct RequestIds(AtomicU64);

impl RequestIds {
    /// Ids for this process: its pid in the high 32 bits, a counter below.
    pub fn for_this_process() -> Self {
        Self(AtomicU64::new(Self::seed()))
    }

    /// Starts again from this process's seed (nginx calls it in each worker, after fork).
    pub fn reseed(&self) {
        self.0.store(Self::seed(), Ordering::Relaxed);
    }

    /// The next id.
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn seed() -> u64 {
        u64::from(std::process::id()) << 32
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::for_this_process()
    }
}
