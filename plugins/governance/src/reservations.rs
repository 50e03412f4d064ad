//! Open reservations by request id, and the settlements of recently finished ones (so a
//! repeated settle or release is answered as a duplicate instead of charging twice).
//!
//! A fixed-size, direct-mapped table of [`SLOTS`] slots indexed by the request id: each slot is
//! its own pair of cache lines behind its own lock, and holds either the open reservation of a
//! request in flight or the settlement of a finished one (a tombstone). Hosts number requests
//! sequentially, so two threads serving concurrent requests work on different lines: nothing is
//! shared between them (a hash map's shard locks and buckets were, and halved two-thread
//! throughput). No sweeping, bounded memory.
//!
//! When a request id lands on a slot whose reservation is still open (a request [`SLOTS`] ids
//! older, still streaming), the new reservation goes to a small overflow map. Every operation
//! takes the slot's lock first (and the overflow map's only under it), so a request's
//! reservation and its tombstone change together: a concurrent duplicate finds one or the other.
//! A tombstone is forgotten when a later request id takes its slot (for sequential ids, at
//! least [`SLOTS`] requests later); a settle for it then answers `unknown_reservation`, never a
//! second charge. An overflowed reservation that finishes while its slot still holds the older
//! open one keeps no tombstone: a repeated settle for it is answered `unknown_reservation` too.

use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use keyward_plugin_api::ffi::Settlement;
use parking_lot::{Mutex, MutexGuard};
use rustc_hash::FxBuildHasher;

use crate::prices::Price;

/// How many slots the table has: finished request ids are remembered until a later id takes
/// their slot (at least this many requests later, for sequential ids).
pub const SLOTS: usize = 1 << 15;
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
    /// The model-level and provider-level entries it also holds.
    pub model_limits: crate::model_limits::Matched,
}

/// What a slot holds.
#[derive(Copy, Clone, Debug)]
enum SlotState {
    Empty,
    Open {
        request_id: u64,
        open: Open,
    },
    Finished {
        request_id: u64,
        settlement: Settlement,
    },
}

/// One slot, on lines of its own.
#[derive(Debug)]
#[repr(align(64))]
struct Slot(Mutex<SlotState>);

/// How finishing a request went.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Finish {
    /// It held a reservation, now finished with this settlement.
    Done(Settlement),
    /// It had finished already, with this settlement.
    Duplicate(Settlement),
    /// It holds no reservation and no finished one is remembered.
    Unknown,
}

/// The table.
#[derive(Debug)]
pub struct Reservations {
    slots: Box<[Slot]>,
    /// Reservations whose slot was taken by an older open one.
    overflow: DashMap<u64, Open, FxBuildHasher>,
    /// How many entries `overflow` has (read without touching the map on the common path).
    overflowing: AtomicUsize,
}

impl Default for Reservations {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS)
                .map(|_| Slot(Mutex::new(SlotState::Empty)))
                .collect(),
            overflow: DashMap::with_hasher(FxBuildHasher),
            overflowing: AtomicUsize::new(0),
        }
    }
}

impl Reservations {
    #[inline]
    fn slot(&self, request_id: u64) -> &Slot {
        // Sequential ids take sequential slots, going round the table; the high 32 bits (a
        // host's per-process or per-worker prefix) pick a Fibonacci-hashed offset, so ids that
        // differ only there land far apart instead of on one slot. (Hashing every bit above the
        // table's size would move the offset every SLOTS ids and let ids far fewer than SLOTS
        // apart share a slot.)
        let bits = SLOTS.trailing_zeros();
        let offset = (request_id >> 32).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits);
        let index = (request_id.wrapping_add(offset) as usize) % SLOTS;
        &self.slots[index]
    }

    /// The overflow entry of `request_id`, if the overflow map has any entries.
    #[inline]
    fn overflowed(&self, request_id: u64) -> Option<Open> {
        if self.overflowing.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.overflow.get(&request_id).map(|open| *open)
    }

    /// Records `open` for `request_id`, or returns the reservation the id already holds.
    #[inline]
    pub fn open(&self, request_id: u64, open: Open) -> Result<(), Open> {
        let mut state = self.slot(request_id).0.lock();
        if let Some(held) = self.held_under(&state, request_id) {
            return Err(held);
        }
        match *state {
            SlotState::Open { .. } => {
                // Under the slot's lock: no other call for this id can run meanwhile.
                self.overflow.insert(request_id, open);
                self.overflowing.fetch_add(1, Ordering::AcqRel);
            }
            SlotState::Empty | SlotState::Finished { .. } => {
                *state = SlotState::Open { request_id, open };
            }
        }
        Ok(())
    }

    /// The open reservation of `request_id`, if any.
    pub fn held(&self, request_id: u64) -> Option<Open> {
        let state = self.slot(request_id).0.lock();
        self.held_under(&state, request_id)
    }

    #[inline]
    fn held_under(&self, state: &MutexGuard<'_, SlotState>, request_id: u64) -> Option<Open> {
        match **state {
            SlotState::Open {
                request_id: id,
                open,
            } if id == request_id => Some(open),
            _ => self.overflowed(request_id),
        }
    }

    /// Finishes `request_id`'s reservation: `charge` turns it into its settlement (it runs
    /// under the slot's lock, once), which is remembered for duplicates.
    #[inline]
    pub fn finish(&self, request_id: u64, charge: impl FnOnce(&Open) -> Settlement) -> Finish {
        let mut state = self.slot(request_id).0.lock();
        match *state {
            SlotState::Open {
                request_id: id,
                open,
            } if id == request_id => {
                let settlement = charge(&open);
                *state = SlotState::Finished {
                    request_id,
                    settlement,
                };
                return Finish::Done(settlement);
            }
            SlotState::Finished {
                request_id: id,
                settlement,
            } if id == request_id => return Finish::Duplicate(settlement),
            _ => {}
        }
        self.finish_overflowed(&mut state, request_id, charge)
    }

    #[cold]
    fn finish_overflowed(
        &self,
        state: &mut MutexGuard<'_, SlotState>,
        request_id: u64,
        charge: impl FnOnce(&Open) -> Settlement,
    ) -> Finish {
        if self.overflowing.load(Ordering::Acquire) == 0 {
            return Finish::Unknown;
        }
        let Some((_, open)) = self.overflow.remove(&request_id) else {
            return Finish::Unknown;
        };
        self.overflowing.fetch_sub(1, Ordering::AcqRel);
        let settlement = charge(&open);
        // The slot may still hold the older open reservation: never clobber it (this
        // tombstone is then not kept).
        if !matches!(**state, SlotState::Open { .. }) {
            **state = SlotState::Finished {
                request_id,
                settlement,
            };
        }
        Finish::Done(settlement)
    }

    /// The open reservations, by request id.
    pub fn all_open(&self) -> Vec<(u64, Open)> {
        let mut open: Vec<(u64, Open)> = self
            .slots
            .iter()
            .filter_map(|slot| match *slot.0.lock() {
                SlotState::Open { request_id, open } => Some((request_id, open)),
                _ => None,
            })
            .chain(self.overflow.iter().map(|e| (*e.key(), *e.value())))
            .collect();
        open.sort_unstable_by_key(|(id, _)| *id);
        open
    }
}

#[cfg(test)]
mod tests;
