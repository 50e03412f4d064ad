//! [`RecordTable`]: the [`KeyRecord`]s a selector answers with and the names they borrow, in one
//! value (a self-referential cell built with `self_cell`; no `unsafe` here). A record is then
//! three borrowed strings and a selector word: one 64-byte line, where an owned record took two.
//!
//! ```
//! use keyward_plugin_api::model::{key::{index::Candidate, records::RecordTable}, weight::Weight};
//!
//! let candidates = [Candidate { key: 0, id: "k1", name: "first", weight: Weight::from_f64(1.0), provider_model: Some("gpt-4o-2024") }];
//! let table = RecordTable::from_candidates(&candidates, |position| position as u64 + 7);
//! assert_eq!(table.records()[0].key_id.as_str(), "k1");
//! assert_eq!(table.records()[0].selector_word, 7);
//! ```

use self_cell::self_cell;

use super::index::Candidate;
use crate::ffi::KeyRecord;

/// The names one record borrows.
#[derive(Debug)]
pub struct Names {
    id: Box<str>,
    name: Box<str>,
    provider_model: Option<Box<str>>,
}

/// The records of one table, in candidate order.
pub type Records<'a> = Box<[KeyRecord<'a>]>;

self_cell!(
    /// The records of one candidate table and the names they borrow.
    pub struct RecordTable {
        owner: Box<[Names]>,
        #[covariant]
        dependent: Records,
    }

    impl {Debug}
);

impl RecordTable {
    /// One record per candidate, in order; `word(position)` is each record's selector word.
    pub fn from_candidates(candidates: &[Candidate<'_>], word: impl Fn(usize) -> u64) -> Self {
        let names: Box<[Names]> = candidates
            .iter()
            .map(|c| Names {
                id: c.id.into(),
                name: c.name.into(),
                provider_model: c.provider_model.map(Into::into),
            })
            .collect();
        Self::new(names, |names| {
            names
                .iter()
                .enumerate()
                .map(|(position, n)| {
                    KeyRecord::new(&n.id, &n.name, n.provider_model.as_deref(), word(position))
                })
                .collect()
        })
    }

    /// The records.
    #[inline]
    pub fn records(&self) -> &[KeyRecord<'_>] {
        self.borrow_dependent()
    }
}

impl Default for RecordTable {
    fn default() -> Self {
        Self::from_candidates(&[], |_| 0)
    }
}
