//! The contract-level testing plugin: one source, built at two patch levels of the contract
//! (`keyward-contract-level` at the current one, `keyward-contract-level-previous` at the one
//! before, with `cfg(keyward_previous_patch)`), so CI loads a plugin of each level into a host
//! of each level (`tests/contract_levels.rs`).
//!
//! It selects keys: the first candidate of the request's table that the request admits (the
//! allow-list, failed keys; a pinned key by id or name). It exports its own `validate` (0.3.1;
//! its errors start `validated:`, where building's start `built:`). Built at the current level
//! it also reads an extension of [`SelectRequest`] naming the table position to pick
//! ([`PREFERRED_POSITION`], private-use, standing for any key a patch assigns), which the
//! previous level never reads.

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{ROption, RResult, RStr, RString},
};
use keyward_plugin_api::{
    ffi::{
        ErrorCode, ExtensionKey, HostHandle, KeyRecord, KeySelector, KeySelector_TO, KeywardError,
        RoleMask, RoleSet, SelectRequest,
    },
    guard::PanicGuard,
    model::key::{
        config::KeysConfig,
        constraints::{Constraints, NoPick, Tier, no_keys_error, no_pick_error},
        index::CandidateIndex,
        records::RecordTable,
    },
};

/// The private-use extension key of a [`SelectRequest`] that names the table position to pick
/// (read at the current contract level only).
pub const PREFERRED_POSITION: ExtensionKey = ExtensionKey(ExtensionKey::PRIVATE_USE.0 + 1);

keyward_plugin_api::export_plugin! {
    name: "contract-level",
    roles: RoleMask::KEY_SELECTION,
    description: "testing: the first admitted key, built at two contract levels",
    build: build_roles,
    validate: validate_config,
}

fn load(config: &str, stage: &str) -> Result<KeysConfig, KeywardError> {
    KeysConfig::load(config).map_err(|error| {
        KeywardError::new(
            ErrorCode::INVALID_CONFIG,
            format!("{stage}: {}", KeywardError::from(error).message),
        )
    })
}

fn build_roles(config: &str, _: RoleMask, _: HostHandle) -> Result<RoleSet, KeywardError> {
    let keys = load(config, "built")?;
    let selector = FirstAdmitted {
        index: CandidateIndex::build(&keys, |candidates| {
            RecordTable::from_candidates(candidates, |_| 0)
        }),
        guard: PanicGuard::new("contract-level"),
    };
    let mut set = RoleSet::empty();
    set.key_selector = ROption::RSome(KeySelector_TO::from_value(selector, TD_Opaque));
    Ok(set)
}

fn validate_config(config: &str, _: RoleMask) -> Result<(), KeywardError> {
    load(config, "validated").map(drop)
}

struct FirstAdmitted {
    index: CandidateIndex<RecordTable>,
    guard: PanicGuard,
}

impl FirstAdmitted {
    fn locate<'a>(
        &'a self,
        request: &SelectRequest<'a>,
    ) -> Result<&'a KeyRecord<'a>, KeywardError> {
        let (provider, model) = (request.provider.as_str(), request.model.as_str());
        let Some(index) = self.index.provider(provider) else {
            return Err(no_keys_error(provider, model));
        };
        let records = index.tables(model).for_kind(request.kind).records();
        if let ROption::RSome(pinned) = request.pinned_key {
            return records
                .iter()
                .find(|r| r.key_id == pinned || r.key_name == pinned)
                .ok_or_else(|| {
                    KeywardError::new(ErrorCode::NO_KEYS, format!("no candidate `{pinned}`"))
                });
        }
        #[cfg(not(keyward_previous_patch))]
        if let Some(record) = request
            .extensions
            .number(PREFERRED_POSITION)
            .and_then(|position| records.get(usize::try_from(position).ok()?))
        {
            return Ok(record);
        }
        let constraints = Constraints::of(request);
        records
            .iter()
            .filter(|r| constraints.allows(r.key_id.as_str()))
            .map(|r| (constraints.failure_tier(r.key_id.as_str()), r))
            .filter(|(tier, _)| *tier != Tier::Excluded)
            .min_by_key(|(tier, _)| *tier)
            .map(|(_, record)| record)
            .ok_or_else(|| {
                no_pick_error(provider, model, NoPick::NoneAllowed, request.failed.len())
            })
    }
}

impl KeySelector for FirstAdmitted {
    fn select<'a>(
        &'a self,
        request: &SelectRequest<'a>,
        error: &mut ROption<KeywardError>,
    ) -> Option<&'a KeyRecord<'a>> {
        self.guard.run_answer(error, || self.locate(request))
    }

    fn export_state(&self) -> RResult<RString, KeywardError> {
        RResult::ROk("null".into())
    }

    fn import_state(&self, _: RStr<'_>) -> RResult<(), KeywardError> {
        RResult::ROk(())
    }
}
