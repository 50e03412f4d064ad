//! Hot swaps between the two key-selection plugins through a host's `RoleSlot`: while several
//! threads keep picking keys, the slot swaps weighted -> round-robin -> weighted ... (export the
//! old instance's state, import it into the new one, publish). No call fails, and every call is
//! served by exactly one of the two. A round-robin -> round-robin swap keeps the rotation.

mod support;

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
};

use keyward::{
    ffi::{KeySelectorBox, KeySelectorExt, RequestKind, RoleMask, SelectRequest},
    hosts::ManualHost,
    loader::{LoadedPlugin, RoleSlot, load_plugin},
};

/// The weighted instances serve keys `w-*`, the round-robin ones `rr-*`, so each answer
/// tells which plugin served it.
const WEIGHTED_CONFIG: &str = r#"{"providers": {"openai": {"keys": [
    {"id": "w-a", "value": "sk-wa", "weight": 1}, {"id": "w-b", "value": "sk-wb", "weight": 3}]}}}"#;
const ROUND_ROBIN_CONFIG: &str = r#"{"providers": {"openai": {"keys": [
    {"id": "rr-a", "value": "sk-ra"}, {"id": "rr-b", "value": "sk-rb"}, {"id": "rr-c", "value": "sk-rc"}]}}}"#;

struct Selector {
    plugin: LoadedPlugin,
    path: PathBuf,
    config: &'static str,
}

impl Selector {
    fn load(package: &str, config: &'static str) -> Self {
        let path = support::plugin_path(package);
        Self {
            plugin: load_plugin(&path).expect("load"),
            path,
            config,
        }
    }

    fn build(&self) -> KeySelectorBox {
        self.plugin
            .instantiate(
                self.config,
                RoleMask::KEY_SELECTION,
                ManualHost::default().handle(),
            )
            .expect("instantiate")
            .key_selector
            .into_option()
            .expect("selector")
    }
}

/// Publishes a new instance the way a host does: build, carry the state over, store.
fn swap_to(slot: &RoleSlot<KeySelectorBox>, next: &Selector) {
    let fresh = next.build();
    let state = slot
        .load()
        .call(|old| old.export_state())
        .expect("export state");
    fresh
        .import_state(state.as_rstr())
        .into_result()
        .expect("import state");
    slot.store(fresh, next.path.clone());
}

#[test]
fn swapping_between_the_two_selectors_under_load_fails_no_call() {
    let weighted = Selector::load("keyward-weighted-selector", WEIGHTED_CONFIG);
    let round_robin = Selector::load("keyward-round-robin-selector", ROUND_ROBIN_CONFIG);
    let slot = Arc::new(RoleSlot::new(weighted.build(), weighted.path.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);

    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (slot, stop, served) = (slot.clone(), stop.clone(), served.clone());
            thread::spawn(move || {
                let request = SelectRequest::new("openai", "gpt-4o", RequestKind::CHAT_COMPLETION);
                let mut calls = 0u64;
                while !stop.load(Ordering::Relaxed) || calls < 1_000 {
                    let instance = slot.load();
                    let choice = instance
                        .call(|selector| selector.pick(&request))
                        .expect("no call fails during swaps");
                    let id = choice.key_id.as_str();
                    let by = match (id.starts_with("w-"), id.starts_with("rr-")) {
                        (true, false) => 0,
                        (false, true) => 1,
                        _ => panic!("served by neither or both: {id}"),
                    };
                    served[by].fetch_add(1, Ordering::Relaxed);
                    calls += 1;
                }
                calls
            })
        })
        .collect();

    for round in 0..200 {
        let next = if round % 2 == 0 {
            &round_robin
        } else {
            &weighted
        };
        swap_to(&slot, next);
        thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    let total: u64 = callers.into_iter().map(|c| c.join().expect("caller")).sum();
    let (by_weighted, by_round_robin) = (
        served[0].load(Ordering::Relaxed),
        served[1].load(Ordering::Relaxed),
    );
    assert_eq!(
        by_weighted + by_round_robin,
        total,
        "each call served by exactly one"
    );
    assert!(
        by_weighted > 0 && by_round_robin > 0,
        "both served calls: {by_weighted} / {by_round_robin}"
    );
    assert_eq!(slot.load().generation(), 201);
    assert_eq!(slot.load().origin(), weighted.path.as_path());
}

#[test]
fn a_round_robin_swap_keeps_the_rotation() {
    let round_robin = Selector::load("keyward-round-robin-selector", ROUND_ROBIN_CONFIG);
    let slot = RoleSlot::new(round_robin.build(), round_robin.path.clone());
    let request = SelectRequest::new("openai", "gpt-4o", RequestKind::CHAT_COMPLETION);
    let mut turns = Vec::new();
    for _ in 0..4 {
        for _ in 0..2 {
            let instance = slot.load();
            let choice = instance
                .call(|selector| selector.pick(&request))
                .expect("pick");
            turns.push(choice.key_id.to_string());
        }
        swap_to(&slot, &round_robin);
    }
    assert_eq!(
        turns,
        [
            "rr-a", "rr-b", "rr-c", "rr-a", "rr-b", "rr-c", "rr-a", "rr-b"
        ],
        "the rotation continues across swaps"
    );
}
