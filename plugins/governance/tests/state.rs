//! Hot swaps: export retires the enforcer, import into a fresh instance keeps every counter and
//! open reservation; counters of limits that no longer exist are dropped.

// Test code: helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use abi_stable::std_types::RStr;
use common::*;
use keyward_plugin_api::ffi::ErrorCode;
use serde_json::{Value, json};

fn config() -> Value {
    json!({
        "pricing": flat_pricing(),
        "budgets": [{"id": "b-shared", "max_limit": 1, "reset_duration": "1M", "calendar_aligned": true}],
        "customers": [{"id": "c", "budget_id": "b-shared"}],
        "virtual_keys": [{"id": "vk", "value": "sk-bf-x", "customer_id": "c",
            "budgets": [{"id": "b-vk", "max_limit": 1, "reset_duration": "1h"}],
            "rate_limit": {"id": "rl", "request_max_limit": 100, "request_reset_duration": "1h",
                           "token_max_limit": 100000, "token_reset_duration": "1d"},
            "provider_configs": [{"provider": "openai",
                "budgets": [{"id": "b-pc", "max_limit": 1, "reset_duration": "1w"}]}]}]
    })
}

fn counters(state: &Value) -> Vec<Value> {
    let mut counters = state["counters"].as_array().unwrap().clone();
    counters.sort_by_key(|c| format!("{}/{}", c["limit_id"], c["kind"]));
    counters
}

#[test]
fn export_and_import_keep_every_counter_and_reservation() {
    let old = harness(config());
    for id in 0..5 {
        old.decide(id, "sk-bf-x", "openai", "test-model", 100, 100)
            .unwrap();
    }
    for id in 0..3 {
        old.settle(id, usage(100, 50, None)).unwrap();
    }
    old.host.advance_secs(600);
    let exported = old.enforcer.export_state().into_result().unwrap();
    let state: Value = serde_json::from_str(exported.as_str()).unwrap();
    assert_eq!(state["reservations"].as_array().unwrap().len(), 2);

    // The old instance is retired for mutating calls.
    assert_denied(
        old.decide(9, "sk-bf-x", "openai", "test-model", 1, 1),
        ErrorCode::INSTANCE_RETIRED,
        503,
    );
    assert_denied(
        old.settle(3, usage(1, 1, None)),
        ErrorCode::INSTANCE_RETIRED,
        503,
    );
    assert!(
        old.authorize(9, Some("sk-bf-x"), Some("openai"), "test-model")
            .is_ok()
    );

    let new = harness(config());
    new.host.set_unix_nanos((START_SECS + 600) * SEC);
    new.enforcer
        .import_state(RStr::from_str(exported.as_str()))
        .into_result()
        .unwrap();
    assert_eq!(counters(&new.state()), counters(&state));

    // Open reservations settle in the new instance, once.
    let settled = new.settle(3, usage(100, 50, None)).unwrap();
    assert_eq!(settled.charged_cost_nanos, 150_000);
    assert!(new.settle(3, usage(100, 50, None)).unwrap().duplicate);
    new.release(4).unwrap();
    let b_vk = new.counter("b-vk", "budget");
    assert_eq!(
        (b_vk["current_usage"].clone(), b_vk["reserved"].clone()),
        (json!(600_000), json!(0))
    );
    assert_eq!(new.counter("rl", "requests")["current_usage"], 4);
}

#[test]
fn counters_of_limits_that_no_longer_exist_are_dropped() {
    let old = harness(config());
    old.decide(1, "sk-bf-x", "openai", "test-model", 10, 10)
        .unwrap();
    old.settle(1, usage(10, 10, None)).unwrap();
    let exported = old.enforcer.export_state().into_result().unwrap();

    let mut changed = config();
    changed["virtual_keys"][0]["budgets"] = json!([]);
    changed["virtual_keys"][0]["budget_id"] = json!(null);
    let new = harness(changed);
    new.enforcer
        .import_state(RStr::from_str(exported.as_str()))
        .into_result()
        .unwrap();
    let state = new.state();
    assert!(
        !state["counters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["limit_id"] == "b-vk")
    );
    assert_eq!(new.counter("b-shared", "budget")["current_usage"], 20_000);
}

#[test]
fn a_snapshot_does_not_retire() {
    let h = harness(config());
    h.decide(1, "sk-bf-x", "openai", "test-model", 10, 10)
        .unwrap();
    let snapshot = h.state();
    assert_eq!(snapshot["format"], "keyward-governance-state/1");
    assert!(
        h.decide(2, "sk-bf-x", "openai", "test-model", 10, 10)
            .is_ok()
    );
}

#[test]
fn a_malformed_state_is_invalid_state() {
    let h = harness(config());
    for text in [
        "{",
        r#"{"format": "other/9", "counters": [], "reservations": []}"#,
    ] {
        let error = h
            .enforcer
            .import_state(RStr::from_str(text))
            .into_result()
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::INVALID_STATE);
    }
    h.enforcer
        .import_state(RStr::from_str("null"))
        .into_result()
        .unwrap();
}

#[test]
fn the_authorizer_has_no_state_of_its_own() {
    let h = harness(config());
    let exported = h.authorizer.export_state().into_result().unwrap();
    assert_eq!(exported.as_str(), "null");
    h.authorizer
        .import_state(RStr::from_str("anything"))
        .into_result()
        .unwrap();
    // Exporting the authorizer does not retire the enforcer.
    assert!(
        h.decide(1, "sk-bf-x", "openai", "test-model", 10, 10)
            .is_ok()
    );
}
