//! [`WeightedTable`]: the candidates of one (provider, model, batch or not) as one array of
//! [`KeyRecord`]s, one 64-byte line each, whose selector word holds the record's alias-table
//! column. A draw reads the line of the column it lands on; when the coin keeps the column,
//! that same line is the answer the host reads, and only an alias costs a second line.

use keyward_plugin_api::{
    ffi::KeyRecord,
    model::key::{constraints::CandidateTable, index::Candidate},
};

use crate::alias_table::{self, Slot};

/// The candidates of one table, with their alias columns. The records borrow the names from the
/// configuration the selector owns next to its index ([`crate::selector`]).
#[derive(Debug, Default)]
pub struct WeightedTable<'k> {
    /// Each candidate's answer, its alias column in the selector word.
    records: Box<[KeyRecord<'k>]>,
    /// Each candidate's position in the provider's keys (sorted: tables are built in key
    /// order), for finding a key's position.
    keys: Box<[u32]>,
    /// The weights used for constrained picks (1 each when every weight is zero).
    weights: Box<[u32]>,
}

impl<'k> WeightedTable<'k> {
    /// Builds the table from its candidates (in key order).
    pub fn build(candidates: &[Candidate<'k>]) -> Self {
        let all_zero = candidates.iter().all(|c| c.weight.is_zero());
        let weights: Vec<u32> = candidates
            .iter()
            .map(|c| if all_zero { 1 } else { c.weight.units() })
            .collect();
        let columns =
            alias_table::build(&weights.iter().map(|&w| u64::from(w)).collect::<Vec<_>>());
        let records = candidates
            .iter()
            .zip(&columns)
            .map(|(c, column)| KeyRecord::new(c.id, c.name, c.provider_model, column.to_word()))
            .collect();
        Self {
            records,
            keys: candidates.iter().map(|c| c.key).collect(),
            weights: weights.into_boxed_slice(),
        }
    }

    /// The answer for the candidate at `position`.
    #[inline]
    pub fn record(&self, position: usize) -> &KeyRecord<'k> {
        &self.records[position]
    }

    /// A weighted draw over every candidate with one random `u64`.
    #[inline]
    pub fn sample(&self, random: u64) -> usize {
        let (column, coin) = alias_table::column(random, self.records.len());
        alias_table::resolve(
            column,
            coin,
            Slot::from_word(self.records[column].selector_word),
        )
    }
}

impl CandidateTable for WeightedTable<'_> {
    #[inline]
    fn len(&self) -> usize {
        self.keys.len()
    }

    #[inline]
    fn key_at(&self, position: usize) -> u32 {
        self.keys[position]
    }

    #[inline]
    fn position_of(&self, key: u32) -> Option<usize> {
        self.keys.binary_search(&key).ok()
    }

    #[inline]
    fn weight_at(&self, position: usize) -> u64 {
        u64::from(self.weights[position])
    }
}
