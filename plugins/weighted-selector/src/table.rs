//! [`WeightedTable`]: the candidates of one (provider, model, batch or not): the alias-table
//! columns (8 bytes each, eight to a cache line), and beside them the [`KeyRecord`] of each
//! candidate (one line each), which a pick answers by reference without reading it. An
//! unconstrained pick touches one column and one record: at 10,000 keys that working set
//! (80 KB of columns, 640 KB of records' first lines) still fits a core's L2 cache.

use keyward_plugin_api::{
    ffi::KeyRecord,
    model::key::{constraints::CandidateTable, index::Candidate},
};

use crate::alias_table::{self, Slot};

/// The candidates of one table, with their alias columns.
#[derive(Debug, Default)]
pub struct WeightedTable {
    /// The alias table's columns, one per candidate.
    columns: Box<[Slot]>,
    /// Each candidate's answer, at the same position.
    records: Box<[KeyRecord]>,
    /// Each candidate's position in the provider's keys (sorted: tables are built in key
    /// order), for finding a key's position.
    keys: Box<[u32]>,
    /// The weights used for constrained picks (1 each when every weight is zero).
    weights: Box<[u32]>,
}

impl WeightedTable {
    /// Builds the table from its candidates (in key order).
    pub fn build(candidates: &[Candidate<'_>]) -> Self {
        let all_zero = candidates.iter().all(|c| c.weight.is_zero());
        let weights: Vec<u32> = candidates
            .iter()
            .map(|c| if all_zero { 1 } else { c.weight.units() })
            .collect();
        let columns =
            alias_table::build(&weights.iter().map(|&w| u64::from(w)).collect::<Vec<_>>())
                .into_boxed_slice();
        let records = candidates
            .iter()
            .map(|c| KeyRecord::new(c.id, c.name, c.provider_model))
            .collect();
        Self {
            columns,
            records,
            keys: candidates.iter().map(|c| c.key).collect(),
            weights: weights.into_boxed_slice(),
        }
    }

    /// The answer for the candidate at `position`.
    #[inline]
    pub fn record(&self, position: usize) -> &KeyRecord {
        &self.records[position]
    }

    /// A weighted draw over every candidate with one random `u64`.
    #[inline]
    pub fn sample(&self, random: u64) -> usize {
        let (column, coin) = alias_table::column(random, self.columns.len());
        alias_table::resolve(column, coin, self.columns[column])
    }
}

impl CandidateTable for WeightedTable {
    #[inline]
    fn len(&self) -> usize {
        self.columns.len()
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
