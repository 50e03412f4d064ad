//! [`Ring`]: the candidates of one (provider, model, batch or not) and the cursor that takes
//! them in turn. The cursor is one relaxed atomic counter: no lock, and a turn is one
//! `fetch_add`.

use std::sync::atomic::{AtomicU64, Ordering};

use keyward_plugin_api::{
    ffi::KeyRecord,
    model::key::{constraints::CandidateTable, index::Candidate, records::RecordTable},
};

/// One candidate key.
#[derive(Debug)]
pub struct RingEntry {
    /// The key's position in the provider's keys (rings are sorted by it).
    pub key: u32,
    /// Whether the key takes turns (weight above zero, or every weight zero).
    pub takes_turns: bool,
}

/// The candidates of one table and its cursor.
#[derive(Debug, Default)]
pub struct Ring {
    entries: Box<[RingEntry]>,
    /// Each entry's answer (its id, name and provider model id), at the same position.
    records: RecordTable,
    /// The positions of the entries that take turns, in order.
    turns: Box<[u32]>,
    cursor: AtomicU64,
}

impl Ring {
    /// Builds the ring from its candidates (in key order).
    pub fn build(candidates: &[Candidate<'_>]) -> Self {
        let all_zero = candidates.iter().all(|c| c.weight.is_zero());
        let entries = candidates
            .iter()
            .map(|c| RingEntry {
                key: c.key,
                takes_turns: all_zero || !c.weight.is_zero(),
            })
            .collect::<Box<[RingEntry]>>();
        let turns = (0u32..)
            .zip(entries.iter())
            .filter(|(_, e)| e.takes_turns)
            .map(|(position, _)| position)
            .collect();
        Self {
            entries,
            records: RecordTable::from_candidates(candidates, |_| 0),
            turns,
            cursor: AtomicU64::new(0),
        }
    }

    /// The answer for the entry at `position`.
    #[inline]
    pub fn record(&self, position: usize) -> &KeyRecord<'_> {
        &self.records.records()[position]
    }

    /// Takes a turn: where in the rotation the scan for this pick starts.
    #[inline]
    pub fn next_start(&self) -> usize {
        let turn = self.cursor.fetch_add(1, Ordering::Relaxed);
        (turn % self.turns.len().max(1) as u64) as usize
    }

    /// The cursor (turns taken so far).
    pub fn cursor(&self) -> u64 {
        self.cursor.load(Ordering::Relaxed)
    }

    /// Sets the cursor (state import).
    pub fn set_cursor(&self, turns: u64) {
        self.cursor.store(turns, Ordering::Relaxed);
    }

    /// The positions of the keys that take turns, from `start` around the rotation, once each.
    #[inline]
    pub fn around(&self, start: usize) -> impl Iterator<Item = usize> {
        let n = self.turns.len();
        (0..n).map(move |i| self.turns[(start + i) % n] as usize)
    }
}

impl CandidateTable for Ring {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn key_at(&self, position: usize) -> u32 {
        self.entries[position].key
    }

    fn position_of(&self, key: u32) -> Option<usize> {
        self.entries.binary_search_by_key(&key, |e| e.key).ok()
    }

    fn weight_at(&self, position: usize) -> u64 {
        u64::from(self.entries[position].takes_turns)
    }
}
