//! Configuration errors name the JSON path and the reason; both Bifrost shapes load.

// Test code: helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use keyward_plugin_api::ffi::ErrorCode;
use serde_json::json;

fn error_of(config: serde_json::Value) -> String {
    match try_harness(config) {
        Ok(_) => panic!("expected invalid_config"),
        Err(error) => {
            assert_eq!(error.code, ErrorCode::INVALID_CONFIG);
            assert_eq!(error.http_status, 400);
            error.message.to_string()
        }
    }
}

#[test]
fn a_bad_duration_names_its_path() {
    let message = error_of(json!({"virtual_keys": [{"id": "vk", "budgets": [
        {"id": "b", "max_limit": 1, "reset_duration": "1 month"}]}]}));
    assert!(
        message.contains("virtual_keys[0].budgets[0].reset_duration"),
        "{message}"
    );
    assert!(
        message.contains("invalid duration (not shown): expected a number followed by a unit"),
        "the value is not echoed (it may be a secret in the wrong field): {message}"
    );
}

#[test]
fn unknown_references_name_their_path() {
    let message = error_of(json!({"virtual_keys": [{"id": "vk", "budget_id": "nope"}]}));
    assert!(message.contains("virtual_keys[0].budget_id"), "{message}");
    let message = error_of(json!({"virtual_keys": [{"id": "vk", "team_id": "nope"}]}));
    assert!(message.contains("virtual_keys[0].team_id"), "{message}");
    let message = error_of(json!({"virtual_keys": [{"id": "vk",
        "provider_configs": [{"provider": "openai", "rate_limit_id": "nope"}]}]}));
    assert!(
        message.contains("virtual_keys[0].provider_configs[0].rate_limit_id"),
        "{message}"
    );
}

#[test]
fn structural_rules_are_enforced() {
    let message =
        error_of(json!({"virtual_keys": [{"id": "vk", "team_id": "t", "customer_id": "c"}]}));
    assert!(message.contains("exclusive"), "{message}");
    let message = error_of(json!({"virtual_keys": [{"id": "a", "value": "sk-bf-same"},
                                                   {"id": "b", "value": "sk-bf-same"}]}));
    assert!(message.contains("virtual_keys[1].value"), "{message}");
    assert!(!message.contains("sk-bf-same"), "{message}");
    let message = error_of(
        json!({"budgets": [{"id": "b", "max_limit": 1, "reset_duration": "30s",
        "calendar_aligned": true}], "virtual_keys": [{"id": "vk", "budget_id": "b"}]}),
    );
    assert!(message.contains("budgets[0].reset_duration"), "{message}");
    let message = error_of(json!({"unknown_model_pricing": "free"}));
    assert!(message.contains("unknown_model_pricing"), "{message}");
    let message = error_of(json!({"virtual_keys": "nope"}));
    assert!(message.contains("virtual_keys"), "{message}");
}

#[test]
fn the_config_json_block_with_references_loads() {
    let h = harness(json!({
        "auth_config": {"is_enabled": false},
        "budgets": [{"id": "b1", "max_limit": 50, "reset_duration": "1M"}],
        "rate_limits": [{"id": "r1", "request_max_limit": 10, "request_reset_duration": "1m"}],
        "customers": [{"id": "c1", "name": "acme", "budget_id": "b1"}],
        "teams": [{"id": "t1", "name": "eng", "customer_id": "c1"}],
        "virtual_keys": [{"id": "vk1", "value": "sk-bf-x", "team_id": "t1", "rate_limit_id": "r1",
            "provider_configs": [{"provider": "openai", "key_ids": ["k1"]}]}]
    }));
    let admitted = h
        .authorize(1, Some("sk-bf-x"), Some("openai"), "gpt-4o")
        .unwrap();
    assert_eq!(admitted.allowed_key_ids, Some(vec!["k1".to_owned()]));
    h.reserve(1, "vk1", "openai", "gpt-4o", 10, Some(10))
        .unwrap();
    assert_eq!(h.counter("r1", "requests")["reserved"], 1);
    assert!(h.counter("b1", "budget")["reserved"].as_u64().unwrap() > 0);
}

#[test]
fn the_older_response_shape_loads() {
    let h = harness(json!({"virtual_keys": [{
        "id": "vk-old", "name": "old", "value": "sk-bf-old", "is_active": true,
        "keys": [{"value": "env.OPENAI_API_KEY", "weight": 1, "models": ["gpt-4o"]}],
        "budget": {"id": "b1", "max_limit": 123, "reset_duration": "1M", "current_usage": 12,
                   "last_reset": "2025-05-01T00:00:00Z"},
        "rate_limit": {"id": "rl1", "token_max_limit": 1000, "token_reset_duration": "1h",
                       "request_max_limit": 5, "request_reset_duration": "1m"},
        "provider_configs": [{"id": 1, "provider": "openai", "weight": 1, "allowed_models": ["gpt-4o"]}]
    }]}));
    assert_eq!(
        h.counter("b1", "budget")["current_usage"],
        12_000_000_000u64
    );
    assert!(h.decide(1, "sk-bf-old", "openai", "gpt-4o", 10, 10).is_ok());
}

#[test]
fn roles_other_than_authorization_and_enforcement_are_unsupported() {
    use keyward_plugin_api::{ffi::RoleMask, hosts::ManualHost};
    let error = keyward_governance::build_role_set(
        "{}",
        RoleMask::KEY_SELECTION,
        ManualHost::default().handle(),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::UNSUPPORTED);
}
