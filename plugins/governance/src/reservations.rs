//! Open reservations by request id, and the settlements of recently finished ones (so a
//! repeated settle or release is answered as a duplicate instead of charging twice).
//!
//! The map holds only open reservations (requests in flight), so it stays small and hot. A
//! finished request leaves a tombstone in a fixed-size, direct-mapped table of
//! [`TOMBSTONES`] slots indexed by the request id (sequential ids, sequential slots): no sweeping, bounded memory. A tombstone is
//! written before its reservation leaves the map (under the map shard's lock), so a concurrent
//! duplicate always finds one or the other. When a later request id lands on the same slot the
//! older tombstone is forgotten; a settle for it then answers `unknown_reservation`, never a
//! second charge.

use dashmap::DashMap;
use keyward_plugin_api::ffi::Settlement;
use parking_lot::Mutex;
use rustc_hash::FxBuildHasher;

use crate::prices::Price;

/// How many finished request ids are remembered (at least; the table is direct-mapped).
pub const TOMBSTONES: usize = 1 << 16;
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

#[derive(Copy, Clone, Debug)]
struct Tombstone {
    request_id: u64,
    settlement: Settlement,
}

/// The table.
#[derive(Debug)]
pub struct Reservations {
    /// Open reservations by request id.
    pub open: DashMap<u64, Open, FxBuildHasher>,
    tombstones: Box<[Mutex<Option<Tombstone>>]>,
}

impl Default for Reservations {
    fn default() -> Self {
        Self {
            open: DashMap::with_capacity_and_hasher_and_shard_amount(4096, FxBuildHasher, 64),
            tombstones: (0..TOMBSTONES).map(|_| Mutex::new(None)).collect(),
        }
    }
}

impl Reservations {
    #[inline]
    fn slot(&self, request_id: u64) -> &Mutex<Option<Tombstone>> {
        // Sequential ids take sequential slots (settlements arrive in roughly id order, so the
        // slots they touch stay in cache); the bits above the table's size pick a
        // Fibonacci-hashed offset, so ids that differ only in high bits (per-worker prefixes)
        // land far apart instead of on one slot.
        let bits = TOMBSTONES.trailing_zeros();
        let offset = (request_id >> bits).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits);
        let index = (request_id.wrapping_add(offset) as usize) % TOMBSTONES;
        &self.tombstones[index]
    }

    /// Remembers that `request_id` finished with `settlement`.
    #[inline]
    pub fn bury(&self, request_id: u64, settlement: Settlement) {
        *self.slot(request_id).lock() = Some(Tombstone {
            request_id,
            settlement,
        });
    }

    /// The settlement of a recently finished request, if remembered.
    #[inline]
    pub fn finished(&self, request_id: u64) -> Option<Settlement> {
        self.slot(request_id)
            .lock()
            .filter(|t| t.request_id == request_id)
            .map(|t| t.settlement)
    }

    /// The open reservations, by request id.
    pub fn all_open(&self) -> Vec<(u64, Open)> {
        let mut open: Vec<(u64, Open)> = self.open.iter().map(|e| (*e.key(), *e.value())).collect();
        open.sort_unstable_by_key(|(id, _)| *id);
        open
    }
}

#[cfg(test)]
mod tests;
