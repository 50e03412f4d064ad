//! A priority (primary / backup) key selector, as a plugin written outside the keyward tree.
//!
//! Every request goes to the heaviest key that may serve it; lighter keys serve only when the
//! heavier ones cannot (not allowed by the virtual key, or failed earlier in the request).
//! Ties keep configuration order. Its configuration is the host's `providers` block (what every
//! key selector receives), so it needs no settings of its own.
//!
//! The selection rules are the contract's (docs/abi.md, "Selection rules"), taken from the
//! helpers of `keyward_plugin_api::model::key`: the candidates of a (provider, model, kind),
//! the virtual key's allow-list, the failed keys and their tiers, the pinned key, and the
//! typed error for each way a pick can fail.

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{ROption, RResult, RStr, RString},
};
use keyward_plugin_api::{
    ffi::{
        HostHandle, KeyRecord, KeySelector, KeySelector_TO, KeywardError, RoleMask, RoleSet,
        SelectRequest,
    },
    guard::PanicGuard,
    model::key::{
        config::KeysConfig,
        constraints::{
            CandidateTable, Constraints, NoPick, Tier, no_keys_error, no_pick_error, pin_error,
            pinned_position, unsupported_model_error,
        },
        index::{Candidate, CandidateIndex},
        records::RecordTable,
    },
};

keyward_plugin_api::export_plugin! {
    name: "priority-selector",
    roles: RoleMask::KEY_SELECTION,
    description: "the heaviest key that may serve; lighter keys are backups",
    build: build_roles,
    validate: validate_config,
}

/// Builds the selector from the host's `providers` block.
pub fn build_roles(config: &str, _: RoleMask, _: HostHandle) -> Result<RoleSet, KeywardError> {
    let selector = PrioritySelector::from_json(config)?;
    let mut set = RoleSet::empty();
    set.key_selector = ROption::RSome(KeySelector_TO::from_value(selector, TD_Opaque));
    Ok(set)
}

/// The same checks as [`build_roles`], building nothing.
pub fn validate_config(config: &str, _: RoleMask) -> Result<(), KeywardError> {
    KeysConfig::load(config)
        .map(drop)
        .map_err(KeywardError::from)
}

/// One (provider, model, kind)'s candidates, heaviest first.
pub struct PriorityTable {
    records: RecordTable,
    /// Each record's key, as a position in the provider's key list.
    keys: Box<[u32]>,
}

impl PriorityTable {
    fn build(candidates: &[Candidate<'_>]) -> Self {
        let mut ordered = candidates.to_vec();
        // A stable sort: equal weights keep configuration order.
        ordered.sort_by(|a, b| b.weight.cmp(&a.weight));
        Self {
            records: RecordTable::from_candidates(&ordered, |_| 0),
            keys: ordered.iter().map(|c| c.key).collect(),
        }
    }
}

impl CandidateTable for PriorityTable {
    fn len(&self) -> usize {
        self.keys.len()
    }
    fn key_at(&self, position: usize) -> u32 {
        self.keys[position]
    }
    fn position_of(&self, key: u32) -> Option<usize> {
        self.keys.iter().position(|k| *k == key)
    }
    fn weight_at(&self, _: usize) -> u64 {
        1
    }
}

/// The selector: the candidate tables of every provider, built once per configuration.
pub struct PrioritySelector {
    index: CandidateIndex<PriorityTable>,
    guard: PanicGuard,
}

impl PrioritySelector {
    /// Parses the host's `providers` block (errors name the JSON path) and builds the tables.
    pub fn from_json(config: &str) -> Result<Self, KeywardError> {
        let keys = KeysConfig::load(config)?;
        Ok(Self {
            index: CandidateIndex::build(&keys, PriorityTable::build),
            guard: PanicGuard::new("priority-selector"),
        })
    }

    fn locate<'a>(
        &'a self,
        request: &SelectRequest<'a>,
    ) -> Result<&'a KeyRecord<'a>, KeywardError> {
        let (provider_name, model) = (request.provider.as_str(), request.model.as_str());
        let provider = match self.index.provider(provider_name) {
            Some(provider) if !provider.keys().is_empty() => provider,
            _ => return Err(no_keys_error(provider_name, model)),
        };
        let table = provider.tables(model).for_kind(request.kind);
        if table.is_empty() {
            return Err(unsupported_model_error(provider, model, request.kind));
        }
        let records = table.records.records();
        let constraints = Constraints::of(request);
        if let ROption::RSome(pinned) = request.pinned_key {
            return pinned_position(table, provider, &constraints, pinned.as_str())
                .map(|position| &records[position])
                .map_err(|why| pin_error(provider_name, model, pinned.as_str(), why));
        }
        // Heaviest first: the first fresh key wins; else the best tier seen (rate-limited
        // before other transient failures); credential failures never come back.
        let mut best: Option<(Tier, usize)> = None;
        let mut admitted = false;
        for (position, record) in records.iter().enumerate() {
            let key_id = record.key_id.as_str();
            if !constraints.allows(key_id) {
                continue;
            }
            admitted = true;
            match constraints.failure_tier(key_id) {
                Tier::Fresh => return Ok(record),
                Tier::Excluded => {}
                tier if best.is_none_or(|(seen, _)| tier < seen) => best = Some((tier, position)),
                _ => {}
            }
        }
        let why = if admitted {
            NoPick::AllExcluded
        } else {
            NoPick::NoneAllowed
        };
        best.map(|(_, position)| &records[position])
            .ok_or_else(|| no_pick_error(provider_name, model, why, request.failed.len()))
    }
}

impl KeySelector for PrioritySelector {
    fn select<'a>(
        &'a self,
        request: &SelectRequest<'a>,
        error: &mut ROption<KeywardError>,
    ) -> Option<&'a KeyRecord<'a>> {
        // Never let a panic cross the ABI: the guard answers `plugin_panicked` instead.
        self.guard.run_answer(error, || self.locate(request))
    }

    fn export_state(&self) -> RResult<RString, KeywardError> {
        // Stateless: nothing to carry to the next instance on a hot swap.
        RResult::ROk(RString::from("null"))
    }

    fn import_state(&self, _: RStr<'_>) -> RResult<(), KeywardError> {
        RResult::ROk(())
    }
}

#[cfg(test)]
mod tests;
