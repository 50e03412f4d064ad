//! [`WeightedTable`]: the candidates of one (provider, model, batch or not), each entry one
//! 64-byte line holding its alias-table column and everything a [`KeyChoice`] needs, so an
//! unconstrained pick reads one or two lines.
//!
//! [`KeyChoice`]: keyward_plugin_api::ffi::KeyChoice

use keyward_plugin_api::model::key::{constraints::CandidateTable, index::Candidate};

use crate::alias_table::{self, Slot};

/// One candidate key.
#[derive(Debug)]
#[repr(align(64))]
pub struct Entry {
    /// This column of the alias table.
    pub slot: Slot,
    /// The key's position in the provider's keys (tables are sorted by it).
    pub key: u32,
    /// The weight used for constrained picks (1 each when every weight is zero).
    pub weight: u32,
    /// The key's id.
    pub id: Box<str>,
    /// The key's name.
    pub name: Box<str>,
    /// The provider model id, when the key maps the model (alias or deployment).
    pub provider_model: Option<Box<str>>,
}

/// The candidates of one table, with their alias columns.
#[derive(Debug, Default)]
pub struct WeightedTable {
    entries: Box<[Entry]>,
    /// The entries' keys, sorted: a compact array for finding a key's position.
    keys: Box<[u32]>,
}

impl WeightedTable {
    /// Builds the table from its candidates (in key order).
    pub fn build(candidates: &[Candidate<'_>]) -> Self {
        let all_zero = candidates.iter().all(|c| c.weight.is_zero());
        let weights: Vec<u32> = candidates
            .iter()
            .map(|c| if all_zero { 1 } else { c.weight.units() })
            .collect();
        let slots = alias_table::build(&weights.iter().map(|&w| u64::from(w)).collect::<Vec<_>>());
        let entries = candidates
            .iter()
            .zip(slots)
            .zip(weights)
            .map(|((candidate, slot), weight)| Entry {
                slot,
                key: candidate.key,
                weight,
                id: candidate.id.into(),
                name: candidate.name.into(),
                provider_model: candidate.provider_model.map(Into::into),
            })
            .collect::<Box<[Entry]>>();
        let keys = entries.iter().map(|e| e.key).collect();
        Self { entries, keys }
    }

    /// The entry at `position`.
    #[inline]
    pub fn entry(&self, position: usize) -> &Entry {
        &self.entries[position]
    }

    /// A weighted draw over every candidate with one random `u64`.
    #[inline]
    pub fn sample(&self, random: u64) -> usize {
        let (column, coin) = alias_table::column(random, self.entries.len());
        let slot = self.entries[column].slot;
        if coin < slot.threshold {
            column
        } else {
            slot.alias as usize
        }
    }
}

impl CandidateTable for WeightedTable {
    #[inline]
    fn len(&self) -> usize {
        self.entries.len()
    }

    #[inline]
    fn key_at(&self, position: usize) -> u32 {
        self.entries[position].key
    }

    #[inline]
    fn position_of(&self, key: u32) -> Option<usize> {
        self.keys.binary_search(&key).ok()
    }

    #[inline]
    fn weight_at(&self, position: usize) -> u64 {
        u64::from(self.entries[position].weight)
    }
}
