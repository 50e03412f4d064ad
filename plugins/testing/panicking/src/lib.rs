//! A test plugin whose key selector panics on demand — and the smallest complete keyward
//! plugin, so it doubles as the example `docs/abi.md` points to.
//!
//! It selects the key named in its configuration (`{"key_id": "k1"}`); a request for the model
//! `panic` makes it panic inside `select`. The panic is caught by [`PanicGuard`], returned as
//! `plugin_panicked`, and every later call fails closed with `plugin_poisoned`.

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
    model::{
        key::{index::Candidate, records::RecordTable},
        weight::Weight,
    },
};

keyward_plugin_api::export_plugin! {
    name: "testing-panicking",
    roles: RoleMask::KEY_SELECTION,
    description: "test plugin: a key selector that panics on model `panic`",
    build: build_roles,
}

/// Builds the selector; the configuration is `{"key_id": "…"}` (read crudely: this is a test).
fn build_roles(config: &str, _roles: RoleMask, _host: HostHandle) -> Result<RoleSet, KeywardError> {
    let key_id = config.split('"').nth(3).unwrap_or("k1").to_owned();
    let mut set = RoleSet::empty();
    let selector = PanickingSelector {
        records: one_record(&key_id),
        guard: PanicGuard::new("testing-panicking"),
    };
    set.key_selector = ROption::RSome(KeySelector_TO::from_value(selector, TD_Opaque));
    Ok(set)
}

/// Always picks the configured key; panics for the model `panic`.
pub struct PanickingSelector {
    records: RecordTable,
    guard: PanicGuard,
}

impl KeySelector for PanickingSelector {
    fn select<'a>(
        &'a self,
        request: &SelectRequest<'a>,
        error: &mut ROption<KeywardError>,
    ) -> Option<&'a KeyRecord<'a>> {
        self.guard.run_answer(error, || {
            if request.model.as_str() == "panic" {
                panic!("asked to panic");
            }
            Ok(&self.records.records()[0])
        })
    }

    fn export_state(&self) -> RResult<RString, KeywardError> {
        self.guard.retire();
        RResult::ROk(RString::from("null"))
    }

    fn import_state(&self, _state: RStr<'_>) -> RResult<(), KeywardError> {
        RResult::ROk(())
    }
}

/// Boxes the selector, for in-process tests.
pub fn boxed(key_id: &str) -> keyward_plugin_api::ffi::KeySelectorBox {
    KeySelector_TO::from_value(
        PanickingSelector {
            records: one_record(key_id),
            guard: PanicGuard::new("testing-panicking"),
        },
        TD_Opaque,
    )
}

/// The selector's one record: the key `key_id`, named the same, serving models as requested.
fn one_record(key_id: &str) -> RecordTable {
    let candidate = Candidate {
        key: 0,
        id: key_id,
        name: key_id,
        weight: Weight::from_f64(1.0),
        provider_model: None,
    };
    RecordTable::from_candidates(&[candidate], |_| 0)
}
