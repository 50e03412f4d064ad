//! Settlement and release: the estimate is replaced by the actual usage, exactly once.

// Test code: helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use keyward_plugin_api::ffi::{ErrorCode, Usage};
use serde_json::json;

fn config() -> serde_json::Value {
    json!({
        "pricing": {
            "test-model": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002,
                           "cache_read_input_token_cost": 0.0000001}
        },
        "virtual_keys": [{"id": "vk", "value": "sk-bf-x",
            "budgets": [{"id": "b", "max_limit": 1, "reset_duration": "1M"}],
            "rate_limit": {"id": "rl", "token_max_limit": 100000, "token_reset_duration": "1h",
                           "request_max_limit": 100, "request_reset_duration": "1h"},
            "provider_configs": [{"provider": "openai"}]}]
    })
}

#[test]
fn settling_replaces_the_estimate_with_the_actual_usage() {
    let h = harness(config());
    let reservation = h
        .decide(1, "sk-bf-x", "openai", "test-model", 100, 1_000)
        .unwrap();
    // 100 input at 1000 n$ + 1000 output at 2000 n$.
    assert_eq!(reservation.reserved_cost_nanos, 2_100_000);
    assert_eq!(h.counter("b", "budget")["reserved"], 2_100_000);
    let settled = h.settle(1, usage(100, 50, None)).unwrap();
    assert_eq!(settled.charged_cost_nanos, 200_000);
    assert_eq!(settled.charged_tokens, 150);
    assert!(!settled.duplicate);
    let budget = h.counter("b", "budget");
    assert_eq!(
        (budget["current_usage"].clone(), budget["reserved"].clone()),
        (json!(200_000), json!(0))
    );
    assert_eq!(h.counter("rl", "tokens")["current_usage"], 150);
    assert_eq!(h.counter("rl", "requests")["current_usage"], 1);
}

#[test]
fn the_host_cost_wins_and_cached_tokens_are_cheaper() {
    let h = harness(config());
    h.decide(1, "sk-bf-x", "openai", "test-model", 10, 10)
        .unwrap();
    assert_eq!(
        h.settle(1, usage(10, 10, Some(7)))
            .unwrap()
            .charged_cost_nanos,
        7
    );
    h.decide(2, "sk-bf-x", "openai", "test-model", 1_000, 10)
        .unwrap();
    let cached = Usage {
        extensions: Default::default(),
        input_tokens: 1_000,
        cached_input_tokens: 800,
        output_tokens: 0,
        cost_nanos: none(),
        success: true,
    };
    // 200 at 1000 n$ + 800 at 100 n$.
    assert_eq!(h.settle(2, cached).unwrap().charged_cost_nanos, 280_000);
}

#[test]
fn settlement_is_idempotent_per_request_id() {
    let h = harness(config());
    h.decide(1, "sk-bf-x", "openai", "test-model", 100, 100)
        .unwrap();
    let first = h.settle(1, usage(100, 100, None)).unwrap();
    let again = h.settle(1, usage(100, 100, None)).unwrap();
    assert!(again.duplicate);
    assert_eq!(again.charged_cost_nanos, first.charged_cost_nanos);
    assert!(h.release(1).unwrap().duplicate);
    assert_eq!(h.counter("b", "budget")["current_usage"], 300_000);
}

#[test]
fn release_returns_the_reservation_once() {
    let h = harness(config());
    h.decide(1, "sk-bf-x", "openai", "test-model", 100, 100)
        .unwrap();
    let released = h.release(1).unwrap();
    assert_eq!(
        (released.charged_cost_nanos, released.duplicate),
        (0, false)
    );
    assert!(h.release(1).unwrap().duplicate);
    assert!(h.settle(1, usage(1, 1, None)).unwrap().duplicate);
    let budget = h.counter("b", "budget");
    assert_eq!(
        (budget["current_usage"].clone(), budget["reserved"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(h.counter("rl", "requests")["reserved"], 0);
}

#[test]
fn an_unknown_request_id_is_404_unknown_reservation() {
    let h = harness(config());
    assert_denied(
        h.settle(42, usage(1, 1, None)),
        ErrorCode::UNKNOWN_RESERVATION,
        404,
    );
    assert_denied(h.release(42), ErrorCode::UNKNOWN_RESERVATION, 404);
}

#[test]
fn a_released_request_id_may_reserve_again_for_a_fallback() {
    let h = harness(config());
    h.decide(1, "sk-bf-x", "openai", "test-model", 10, 10)
        .unwrap();
    h.release(1).unwrap();
    h.decide(1, "sk-bf-x", "openai", "test-model", 10, 10)
        .unwrap();
    assert!(!h.settle(1, usage(10, 10, None)).unwrap().duplicate);
    assert_eq!(h.counter("rl", "requests")["current_usage"], 1);
}

#[test]
fn a_repeated_reserve_returns_the_held_reservation_without_taking_more() {
    let h = harness(config());
    let first = h
        .reserve(1, "vk", "openai", "test-model", 10, Some(10))
        .unwrap();
    let again = h
        .reserve(1, "vk", "openai", "test-model", 10, Some(10))
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(h.counter("rl", "requests")["reserved"], 1);
}
