//! [`RoundRobinSelector`]: each (provider, model) table hands out its keys in turn. With an
//! allow-list or failed keys, the scan from the cursor takes the first fresh admitted key, else
//! the first rate-limited one, else the first with other transient failures (credential
//! failures never come back). A pinned key is served while it is still a candidate.
//!
//! State: `{"policy": "round-robin", "cursors": {"<provider>|<model or *>|<any|batch>": n}}`.
//! Picks keep working after `export_state` (a turn taken by a call that raced the swap is
//! simply not carried over), so no call fails during a swap.

use abi_stable::std_types::{ROption, RResult, RStr, RString};
use keyward_plugin_api::{
    ffi::{ErrorCode, KeyRecord, KeySelector, KeywardError, SelectRequest},
    guard::PanicGuard,
    model::key::{
        config::KeysConfig,
        constraints::{
            CandidateTable, Constraints, NoPick, Tier, no_keys_error, no_pick_error, pin_error,
            pinned_position, unsupported_model_error,
        },
        index::CandidateIndex,
    },
};
use serde_json::{Map, Value};

use crate::ring::Ring;

/// The round-robin key selector.
#[derive(Debug)]
pub struct RoundRobinSelector {
    index: CandidateIndex<Ring>,
    guard: PanicGuard,
}

/// The state's name for one table.
fn table_name(provider: &str, model: Option<&str>, batch: bool) -> String {
    format!(
        "{provider}|{}|{}",
        model.unwrap_or("*"),
        if batch { "batch" } else { "any" }
    )
}

impl RoundRobinSelector {
    /// Builds the rings of a loaded configuration.
    pub fn new(config: &KeysConfig) -> Self {
        Self {
            index: CandidateIndex::build(config, Ring::build),
            guard: PanicGuard::new("round-robin-selector"),
        }
    }

    /// Parses, validates and builds from the plugin's configuration JSON.
    pub fn from_json(config_json: &str) -> Result<Self, KeywardError> {
        Ok(Self::new(&KeysConfig::load(config_json)?))
    }

    fn rings(&self) -> impl Iterator<Item = (String, &Ring)> {
        self.index.providers().iter().flat_map(|provider| {
            provider.entries().flat_map(move |(model, tables)| {
                [
                    (table_name(provider.name(), model, false), &tables.any),
                    (table_name(provider.name(), model, true), &tables.batch),
                ]
            })
        })
    }

    /// The cursors as state JSON.
    pub fn state(&self) -> Value {
        let cursors: Map<String, Value> = self
            .rings()
            .filter(|(_, ring)| ring.cursor() > 0)
            .map(|(name, ring)| (name, Value::from(ring.cursor())))
            .collect();
        serde_json::json!({"policy": "round-robin", "cursors": cursors})
    }

    /// Loads cursors from state JSON; tables and shapes it does not know are ignored.
    pub fn load_state(&self, state: &str) -> Result<(), KeywardError> {
        let value: Value = serde_json::from_str(state).map_err(|error| {
            KeywardError::new(
                ErrorCode::INVALID_STATE,
                format!("round-robin state is not JSON: {error}"),
            )
        })?;
        let Some(cursors) = value.get("cursors").and_then(Value::as_object) else {
            return Ok(());
        };
        for (name, ring) in self.rings() {
            if let Some(turns) = cursors.get(&name).and_then(Value::as_u64) {
                ring.set_cursor(turns);
            }
        }
        Ok(())
    }

    #[inline]
    fn locate(&self, request: &SelectRequest<'_>) -> Result<&KeyRecord<'_>, KeywardError> {
        let provider_name = request.provider.as_str();
        let provider = match self.index.provider(provider_name) {
            Some(provider) if !provider.keys().is_empty() => provider,
            _ => return Err(no_keys_error(provider_name, request.model.as_str())),
        };
        let model = request.model.as_str();
        let ring = provider.tables(model).for_kind(request.kind);
        if ring.is_empty() {
            return Err(unsupported_model_error(provider, model, request.kind));
        }
        let constraints = Constraints::of(request);
        let position = match request.pinned_key {
            ROption::RSome(pinned) => {
                pinned_position(ring, provider, &constraints, pinned.as_str())
                    .map_err(|why| pin_error(provider.name(), model, pinned.as_str(), why))?
            }
            ROption::RNone => turn(ring, &constraints)
                .map_err(|why| no_pick_error(provider.name(), model, why, request.failed.len()))?,
        };
        Ok(ring.record(position))
    }
}

/// The next key in turn: the first one from the cursor in the best tier.
fn turn(ring: &Ring, constraints: &Constraints<'_>) -> Result<usize, NoPick> {
    let start = ring.next_start();
    let mut best: Option<(Tier, usize)> = None;
    let mut admitted = false;
    for position in ring.around(start) {
        if constraints.is_empty() {
            return Ok(position);
        }
        let key_id = ring.record(position).key_id.as_str();
        if !constraints.allows(key_id) {
            continue;
        }
        admitted = true;
        let tier = constraints.failure_tier(key_id);
        if tier == Tier::Fresh {
            return Ok(position);
        }
        if tier != Tier::Excluded && best.is_none_or(|(t, _)| tier < t) {
            best = Some((tier, position));
        }
    }
    match best {
        Some((_, position)) => Ok(position),
        None if admitted => Err(NoPick::AllExcluded),
        None => Err(NoPick::NoneAllowed),
    }
}

impl KeySelector for RoundRobinSelector {
    fn select<'a>(
        &'a self,
        request: &SelectRequest<'a>,
        error: &mut ROption<KeywardError>,
    ) -> Option<&'a KeyRecord<'a>> {
        self.guard.run_answer(error, || self.locate(request))
    }

    fn export_state(&self) -> RResult<RString, KeywardError> {
        self.guard.run(|| {
            self.guard.retire();
            RResult::ROk(RString::from(self.state().to_string()))
        })
    }

    fn import_state(&self, state: RStr<'_>) -> RResult<(), KeywardError> {
        self.guard.run(|| self.load_state(state.as_str()).into())
    }
}

#[cfg(test)]
mod tests;
