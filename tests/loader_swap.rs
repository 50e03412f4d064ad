//! Two loads of one plugin live side by side as separate modules, and a slot swaps between them
//! while other threads keep calling: no call fails, and each call is served by exactly one
//! version.

mod support;

use std::{
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

fn build(plugin: &LoadedPlugin, version: &str) -> KeySelectorBox {
    let config = format!(r#"{{"key_id": "{version}"}}"#);
    plugin
        .instantiate(
            &config,
            RoleMask::KEY_SELECTION,
            ManualHost::default().handle(),
        )
        .expect("instantiate")
        .key_selector
        .into_option()
        .expect("selector")
}

#[test]
fn two_loads_are_distinct_modules() {
    let path = support::plugin_path("keyward-testing-panicking");
    let first = load_plugin(&path).expect("first load");
    let second = load_plugin(&path).expect("second load");
    assert_ne!(first.report().loaded_copy, second.report().loaded_copy);
    // Poisoning an instance of one load leaves the other load's instances untouched.
    let one = build(&first, "v1");
    let two = build(&second, "v2");
    let panic = SelectRequest::new("openai", "panic", RequestKind::CHAT_COMPLETION);
    assert!(one.pick(&panic).is_err());
    let ok = SelectRequest::new("openai", "gpt-4o", RequestKind::CHAT_COMPLETION);
    assert_eq!(two.pick(&ok).unwrap().key_id.as_str(), "v2");
}

#[test]
fn swapping_under_concurrent_calls_fails_no_call() {
    let path = support::plugin_path("keyward-testing-panicking");
    let v1 = load_plugin(&path).expect("load v1");
    let v2 = load_plugin(&path).expect("load v2");
    let slot = Arc::new(RoleSlot::new(build(&v1, "v1"), path.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    // Callers and swaps start together (on a busy machine threads start late).
    let start = Arc::new(std::sync::Barrier::new(5));

    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (slot, stop, served, start) =
                (slot.clone(), stop.clone(), served.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let request = SelectRequest::new("openai", "gpt-4o", RequestKind::CHAT_COMPLETION);
                let mut calls = 0u64;
                while !stop.load(Ordering::Relaxed) || calls < 1_000 {
                    let instance = slot.load();
                    let choice = instance
                        .call(|s| s.pick(&request))
                        .expect("no call fails during swaps");
                    match choice.key_id.as_str() {
                        "v1" => served[0].fetch_add(1, Ordering::Relaxed),
                        "v2" => served[1].fetch_add(1, Ordering::Relaxed),
                        other => panic!("served by an unknown version: {other}"),
                    };
                    calls += 1;
                }
                calls
            })
        })
        .collect();

    start.wait();
    // At least 200 swaps, and on until both versions served calls (bounded in time).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut round = 0;
    while round < 200
        || (served.iter().any(|s| s.load(Ordering::Relaxed) == 0)
            && std::time::Instant::now() < deadline)
    {
        let (plugin, version) = if round % 2 == 0 {
            (&v2, "v2")
        } else {
            (&v1, "v1")
        };
        let old = slot.store(build(plugin, version), path.clone());
        let state = old.call(|s| s.export_state()).expect("export");
        slot.load()
            .call(|s| s.import_state(state.as_rstr()))
            .expect("import");
        round += 1;
        thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    let total: u64 = callers.into_iter().map(|c| c.join().expect("caller")).sum();
    let (by_v1, by_v2) = (
        served[0].load(Ordering::Relaxed),
        served[1].load(Ordering::Relaxed),
    );
    assert_eq!(
        by_v1 + by_v2,
        total,
        "each call served by exactly one version"
    );
    assert!(
        by_v1 > 0 && by_v2 > 0,
        "both versions served calls: {by_v1} / {by_v2}"
    );
    assert_eq!(slot.load().generation(), round + 1);
}
