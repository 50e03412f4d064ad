//! Shadow mode: every decision is evaluated, would-be denials are counted, logged and reported,
//! and the request is admitted; counters still move.

// Test code: helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use keyward_plugin_api::ffi::{ErrorCode, LogLevel};
use serde_json::json;

fn config() -> serde_json::Value {
    json!({
        "shadow_mode": true,
        "enforce_virtual_keys": true,
        "pricing": flat_pricing(),
        "virtual_keys": [
            {"id": "vk", "value": "sk-bf-x",
             "budgets": [{"id": "b", "max_limit": 0.00002, "reset_duration": "1d"}],
             "rate_limit": {"id": "rl", "request_max_limit": 1, "request_reset_duration": "1h"},
             "provider_configs": [{"provider": "openai", "blacklisted_models": ["bad"]}]},
            {"id": "vk-off", "value": "sk-bf-off", "is_active": false}
        ]
    })
}

#[test]
fn authorization_denials_are_reported_and_admitted() {
    let h = harness(config());
    for (vk, provider, model, code) in [
        (
            None,
            "openai",
            "test-model",
            ErrorCode::VIRTUAL_KEY_REQUIRED,
        ),
        (
            Some("sk-bf-nobody"),
            "openai",
            "test-model",
            ErrorCode::VIRTUAL_KEY_NOT_FOUND,
        ),
        (
            Some("sk-bf-off"),
            "openai",
            "test-model",
            ErrorCode::VIRTUAL_KEY_BLOCKED,
        ),
        (
            Some("sk-bf-x"),
            "bedrock",
            "test-model",
            ErrorCode::PROVIDER_BLOCKED,
        ),
        (Some("sk-bf-x"), "openai", "bad", ErrorCode::MODEL_BLOCKED),
    ] {
        let admitted = h.authorize(1, vk, Some(provider), model).unwrap();
        assert_eq!(admitted.would_deny, code);
    }
    let clean = h
        .authorize(2, Some("sk-bf-x"), Some("openai"), "test-model")
        .unwrap();
    assert_eq!(clean.would_deny, ErrorCode::NONE);
    let logs = h.host.logs();
    assert_eq!(logs.len(), 5);
    assert!(
        logs.iter()
            .all(|(level, line)| *level == LogLevel::WARN && line.contains("would deny"))
    );
    for value in ["sk-bf-x", "sk-bf-nobody", "sk-bf-off"] {
        assert!(
            logs.iter().all(|(_, line)| !line.contains(value)),
            "{value} leaked"
        );
    }
    assert_eq!(h.state()["shadow_denials"]["virtual_key_not_found"], 1);
}

#[test]
fn limit_denials_are_reported_admitted_and_counted() {
    let h = harness(config());
    let first = h
        .decide(1, "sk-bf-x", "openai", "test-model", 10, 10)
        .unwrap();
    assert_eq!(first.would_deny, ErrorCode::NONE);
    let second = h
        .decide(2, "sk-bf-x", "openai", "test-model", 10, 10)
        .unwrap();
    assert_eq!(second.would_deny, ErrorCode::REQUEST_LIMITED);
    // Counters still move, past their limits.
    assert_eq!(h.counter("rl", "requests")["reserved"], 2);
    assert_eq!(h.counter("b", "budget")["reserved"], 40_000);
    let state = h.state();
    assert_eq!(state["shadow_denials"]["request_limited"], 1);
    h.settle(1, usage(10, 10, None)).unwrap();
    h.settle(2, usage(10, 10, None)).unwrap();
    assert_eq!(h.counter("b", "budget")["current_usage"], 40_000);
}

#[test]
fn a_request_admitted_in_shadow_mode_also_reserves_and_settles() {
    let h = harness(config());
    // The provider is not configured: authorization would deny, reservation counts it at the
    // key's levels and reports the same denial.
    let admitted = h
        .authorize(1, Some("sk-bf-x"), Some("bedrock"), "test-model")
        .unwrap();
    assert_eq!(admitted.would_deny, ErrorCode::PROVIDER_BLOCKED);
    let reservation = h
        .reserve(
            1,
            &admitted.virtual_key_id,
            &admitted.provider,
            "test-model",
            10,
            Some(10),
        )
        .unwrap();
    assert_eq!(reservation.would_deny, ErrorCode::PROVIDER_BLOCKED);
    assert_eq!(h.counter("b", "budget")["reserved"], 20_000);
    h.settle(1, usage(10, 10, None)).unwrap();
    // An unknown key is admitted without one.
    let admitted = h
        .authorize(2, Some("sk-bf-nobody"), Some("openai"), "test-model")
        .unwrap();
    assert_eq!(admitted.virtual_key_id, "");
    let reservation = h
        .reserve(
            2,
            &admitted.virtual_key_id,
            &admitted.provider,
            "test-model",
            1,
            Some(1),
        )
        .unwrap();
    assert_eq!(reservation.would_deny, ErrorCode::NONE);
}
