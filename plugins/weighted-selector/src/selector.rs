//! [`WeightedSelector`]: the key-selection role. Immutable once built; a pick reads the
//! precomputed tables, draws from the thread's own random generator, and allocates nothing.
//!
//! - Unconstrained requests (no pin, no allow-list, no failures): one alias-table draw.
//! - An allow-list or failed keys: up to [`REJECTION_TRIES`] draws, keeping the first fresh,
//!   allowed key (exactly the weighted distribution restricted to those keys) — skipped when a
//!   short allow-list admits under half the table; then a two-pass weighted scan over the
//!   admitted keys, best tier first (see
//!   [`constraints`](keyward_plugin_api::model::key::constraints)).
//! - A pinned key (by id or name) is served when it is still a candidate.

use abi_stable::std_types::{ROption, RResult, RStr, RString};
use keyward_plugin_api::{
    ffi::{KeyRecord, KeySelector, KeywardError, SelectRequest},
    guard::PanicGuard,
    model::key::{
        config::KeysConfig,
        constraints::{
            CandidateTable, Constraints, Tier, no_keys_error, no_pick_error, pin_error,
            pinned_position, unsupported_model_error, weighted_scan,
        },
        index::{CandidateIndex, ProviderIndex},
    },
};

use crate::table::WeightedTable;

/// Draws tried before a constrained pick falls back to a scan.
pub const REJECTION_TRIES: usize = 8;

/// The index of one configuration's tables.
type Index<'k> = CandidateIndex<WeightedTable<'k>>;

self_cell::self_cell!(
    /// The configuration and the index built from it, in one value: the tables' records borrow
    /// the configuration's names (no copies, no `unsafe`), so a record is one cache line and
    /// sits inline in its table.
    struct Indexed {
        owner: KeysConfig,
        #[covariant]
        dependent: Index,
    }

    impl {Debug}
);

/// The weighted key selector.
#[derive(Debug)]
pub struct WeightedSelector {
    indexed: Indexed,
    guard: PanicGuard,
}

impl WeightedSelector {
    /// Builds the tables of a loaded configuration (which the selector keeps).
    pub fn new(config: KeysConfig) -> Self {
        Self {
            indexed: Indexed::new(config, |config| {
                CandidateIndex::build(config, WeightedTable::build)
            }),
            guard: PanicGuard::new("weighted-selector"),
        }
    }

    /// Parses, validates and builds from the plugin's configuration JSON.
    pub fn from_json(config_json: &str) -> Result<Self, KeywardError> {
        Ok(Self::new(KeysConfig::load(config_json)?))
    }

    /// The tables.
    #[inline]
    fn index(&self) -> &Index<'_> {
        self.indexed.borrow_dependent()
    }

    /// How many tables were built (every provider's models, twice: all and batch).
    pub fn table_count(&self) -> usize {
        self.index()
            .providers()
            .iter()
            .map(|p| 2 * p.entries().count())
            .sum()
    }

    /// The record of the pick. Errors are built out of line.
    #[inline]
    fn locate(&self, request: &SelectRequest<'_>) -> Result<&KeyRecord<'_>, KeywardError> {
        let provider_name = request.provider.as_str();
        let provider = match self.index().provider(provider_name) {
            Some(provider) if !provider.keys().is_empty() => provider,
            _ => return Err(no_keys_error(provider_name, request.model.as_str())),
        };
        let model = request.model.as_str();
        let table = provider.tables(model).for_kind(request.kind);
        if table.is_empty() {
            return Err(unsupported_model_error(provider, model, request.kind));
        }
        let position = match request.pinned_key {
            ROption::RSome(pinned) => pinned_pick(table, provider, request, pinned.as_str())?,
            ROption::RNone if request.allowed_key_ids.is_none() && request.failed.is_empty() => {
                table.sample(fastrand::u64(..))
            }
            ROption::RNone => constrained_pick(table, provider, request)?,
        };
        Ok(table.record(position))
    }
}

#[inline(never)]
fn pinned_pick(
    table: &WeightedTable<'_>,
    provider: &ProviderIndex<WeightedTable>,
    request: &SelectRequest<'_>,
    pinned: &str,
) -> Result<usize, KeywardError> {
    pinned_position(table, provider, &Constraints::of(request), pinned)
        .map_err(|why| pin_error(provider.name(), request.model.as_str(), pinned, why))
}

#[inline(never)]
fn constrained_pick(
    table: &WeightedTable<'_>,
    provider: &ProviderIndex<WeightedTable>,
    request: &SelectRequest<'_>,
) -> Result<usize, KeywardError> {
    let constraints = Constraints::of(request);
    // Draws only pay off when most of the table is admitted: a short allow-list over a big
    // table goes straight to the scan (which then walks the allow-list, not the table).
    let tries = match constraints.allowed() {
        Some(ids) if ids.len() * 2 < table.len() => 0,
        _ => REJECTION_TRIES,
    };
    for _ in 0..tries {
        let position = table.sample(fastrand::u64(..));
        if constraints.tier(table.record(position).key_id.as_str()) == Tier::Fresh {
            return Ok(position);
        }
    }
    weighted_scan(table, provider, &constraints, |n| fastrand::u64(..n)).map_err(|why| {
        no_pick_error(
            provider.name(),
            request.model.as_str(),
            why,
            request.failed.len(),
        )
    })
}

impl KeySelector for WeightedSelector {
    fn select<'a>(
        &'a self,
        request: &SelectRequest<'a>,
        error: &mut ROption<KeywardError>,
    ) -> Option<&'a KeyRecord<'a>> {
        self.guard.run_answer(error, || self.locate(request))
    }

    fn export_state(&self) -> RResult<RString, KeywardError> {
        // Stateless: nothing to carry over. Picks keep working after the export (they change
        // nothing), so calls racing a swap never fail.
        self.guard.retire();
        RResult::ROk(RString::from("null"))
    }

    fn import_state(&self, _state: RStr<'_>) -> RResult<(), KeywardError> {
        // Any previous selector's state (round-robin cursors, ...) means nothing to weighted
        // random picks: ignored, as the contract allows for optimization-only state.
        RResult::ROk(())
    }
}

#[cfg(test)]
mod tests;
