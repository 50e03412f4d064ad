//! Model-level and provider-level limits (`governance.model_configs`, `governance.providers`),
//! with configs written from Bifrost's model-limits page (docs.getbifrost.ai/features/governance/
//! model-limits) and schema: global configs apply to every request, with or without a virtual
//! key; a `virtual_key`-scoped one to that key's requests; every config that applies is checked
//! and charged.

// Test code: helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{SEC, harness, try_harness, usage};
use keyward_plugin_api::ffi::ErrorCode;
use serde_json::{Value, json};

/// Bifrost's documented example: an openai-wide daily budget, and a gpt-4o budget and rate
/// limit for one virtual key; plus a provider-wide request limit and a global gpt-4o budget.
fn config() -> Value {
    json!({
        "version": 2,
        "pricing": {"gpt-4o": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000001},
                    "gpt-4o-mini": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000001}},
        "model_configs": [
            {"id": "mc-openai-global", "model_name": "*", "provider": "openai", "scope": "global",
             "budget_ids": ["b-openai-daily"]},
            {"id": "mc-gpt4o-everywhere", "model_name": "gpt-4o"},
            {"id": "mc-gpt4o-vk", "model_name": "gpt-4o", "provider": "openai", "scope": "virtual_key",
             "scope_id": "vk-production", "budget_ids": ["b-gpt4o-daily"], "rate_limit_id": "rl-gpt4o"}
        ],
        "providers": [{"name": "anthropic", "rate_limit_id": "rl-anthropic"}],
        "budgets": [
            {"id": "b-openai-daily", "max_limit": 0.010, "reset_duration": "1d"},
            {"id": "b-gpt4o-daily", "max_limit": 0.005, "reset_duration": "1d"},
            {"id": "b-gpt4o-global", "max_limit": 1.0, "reset_duration": "1d", "model_config_id": "mc-gpt4o-everywhere"}
        ],
        "rate_limits": [
            {"id": "rl-gpt4o", "request_max_limit": 3, "request_reset_duration": "1m"},
            {"id": "rl-anthropic", "request_max_limit": 1, "request_reset_duration": "1h"}
        ],
        "virtual_keys": [
            {"id": "vk-production", "value": "sk-bf-production-0123456789",
             "provider_configs": [{"provider": "openai", "allowed_models": ["*"], "key_ids": ["*"]},
                                  {"provider": "anthropic", "allowed_models": ["*"], "key_ids": ["*"]}]},
            {"id": "vk-other", "value": "sk-bf-other-0123456789",
             "provider_configs": [{"provider": "openai", "allowed_models": ["*"], "key_ids": ["*"]}]}
        ]
    })
}

fn spent(h: &common::Harness, budget: &str) -> u64 {
    h.counter(budget, "budget")["current_usage"]
        .as_u64()
        .unwrap()
}

#[test]
fn every_config_that_applies_is_charged_with_the_same_cost() {
    let h = harness(config());
    // 1000 + 1000 tokens at $0.000001: $0.002 = 2_000_000 nano-dollars.
    h.decide(
        1,
        "sk-bf-production-0123456789",
        "openai",
        "gpt-4o",
        1000,
        1000,
    )
    .unwrap();
    h.settle(1, usage(1000, 1000, None)).unwrap();
    assert_eq!(spent(&h, "b-openai-daily"), 2_000_000);
    assert_eq!(spent(&h, "b-gpt4o-daily"), 2_000_000);
    assert_eq!(spent(&h, "b-gpt4o-global"), 2_000_000);
    assert_eq!(h.counter("rl-gpt4o", "requests")["current_usage"], 1);
    // Another key: the global configs, not the other key's scoped one.
    h.decide(2, "sk-bf-other-0123456789", "openai", "gpt-4o", 1000, 1000)
        .unwrap();
    h.settle(2, usage(1000, 1000, None)).unwrap();
    assert_eq!(spent(&h, "b-openai-daily"), 4_000_000);
    assert_eq!(spent(&h, "b-gpt4o-daily"), 2_000_000);
    assert_eq!(spent(&h, "b-gpt4o-global"), 4_000_000);
    // A dated name of gpt-4o meets gpt-4o's configs; gpt-4o-mini only the openai-wide one.
    h.decide(
        3,
        "sk-bf-other-0123456789",
        "openai",
        "gpt-4o-mini",
        500,
        500,
    )
    .unwrap();
    h.settle(3, usage(500, 500, None)).unwrap();
    assert_eq!(spent(&h, "b-openai-daily"), 5_000_000);
    assert_eq!(spent(&h, "b-gpt4o-global"), 4_000_000);
}

#[test]
fn a_model_config_budget_refuses_with_402_naming_the_model_config_and_nothing_is_taken() {
    let h = harness(config());
    // The key's gpt-4o budget ($0.005) allows two requests of at most $0.002 each.
    for id in 1..=2 {
        h.decide(
            id,
            "sk-bf-production-0123456789",
            "openai",
            "gpt-4o",
            1000,
            1000,
        )
        .unwrap();
        h.settle(id, usage(1000, 1000, None)).unwrap();
    }
    let refused = h
        .decide(
            3,
            "sk-bf-production-0123456789",
            "openai",
            "gpt-4o",
            1000,
            1000,
        )
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::BUDGET_EXCEEDED);
    assert_eq!(refused.http_status, 402);
    let message = refused.message.as_str();
    assert!(
        message.contains("model config level")
            && message.contains("mc-gpt4o-vk")
            && message.contains("b-gpt4o-daily"),
        "{message}"
    );
    // All or nothing: the levels checked before it hold nothing for the refused request.
    assert_eq!(h.counter("b-openai-daily", "budget")["reserved"], 0);
    assert_eq!(h.counter("rl-gpt4o", "requests")["reserved"], 0);
    // The other key still spends on openai (the openai-wide budget has room).
    h.decide(4, "sk-bf-other-0123456789", "openai", "gpt-4o", 1000, 1000)
        .unwrap();
}

#[test]
fn a_scoped_rate_limit_is_429_and_its_window_resets() {
    let h = harness(config());
    for id in 1..=3 {
        h.decide(id, "sk-bf-production-0123456789", "openai", "gpt-4o", 1, 1)
            .unwrap();
        h.settle(id, usage(1, 1, None)).unwrap();
    }
    let refused = h
        .decide(4, "sk-bf-production-0123456789", "openai", "gpt-4o", 1, 1)
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::REQUEST_LIMITED);
    assert_eq!(refused.http_status, 429);
    h.host.advance_nanos(61 * SEC);
    h.decide(5, "sk-bf-production-0123456789", "openai", "gpt-4o", 1, 1)
        .unwrap();
}

#[test]
fn global_limits_apply_without_a_virtual_key_and_a_providers_own_limit_to_every_model() {
    let mut open = config();
    open["virtual_keys"] = json!([]);
    open["model_configs"].as_array_mut().unwrap().truncate(2);
    let h = harness(open);
    h.reserve(1, "", "openai", "gpt-4o", 1000, Some(1000))
        .unwrap();
    h.settle(1, usage(1000, 1000, None)).unwrap();
    assert_eq!(spent(&h, "b-openai-daily"), 2_000_000);
    assert_eq!(spent(&h, "b-gpt4o-global"), 2_000_000);
    // governance.providers: one request an hour to anthropic, whatever the model.
    h.reserve(2, "", "anthropic", "claude-sonnet-4-5", 1, Some(1))
        .unwrap();
    let refused = h
        .reserve(3, "", "anthropic", "claude-haiku-4-5", 1, Some(1))
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::REQUEST_LIMITED);
    assert!(
        refused.message.as_str().contains("provider level"),
        "{}",
        refused.message
    );
}

#[test]
fn a_release_returns_every_level_and_state_keeps_open_reservations_on_them() {
    let h = harness(config());
    h.decide(
        1,
        "sk-bf-production-0123456789",
        "openai",
        "gpt-4o",
        1000,
        1000,
    )
    .unwrap();
    assert_eq!(h.counter("b-gpt4o-daily", "budget")["reserved"], 2_000_000);
    let state = h.state();
    let held = &state["reservations"][0];
    assert_eq!(
        held["model_limits_before"],
        json!(["mc-gpt4o-everywhere", "mc-openai-global"])
    );
    assert_eq!(held["model_limits_after"], json!(["mc-gpt4o-vk"]));
    let next = harness(config());
    next.enforcer
        .import_state(state.to_string().as_str().into())
        .into_result()
        .unwrap();
    assert_eq!(
        next.counter("b-gpt4o-daily", "budget")["reserved"],
        2_000_000
    );
    next.release(1).unwrap();
    for budget in ["b-openai-daily", "b-gpt4o-daily", "b-gpt4o-global"] {
        assert_eq!(next.counter(budget, "budget")["reserved"], 0, "{budget}");
    }
    assert_eq!(next.counter("rl-gpt4o", "requests")["reserved"], 0);
}

#[test]
fn model_configs_are_checked_by_path() {
    let cases = [
        (
            json!({"id": "m", "model_name": ""}),
            "model_configs[0].model_name",
        ),
        (
            json!({"id": "m", "model_name": "*", "scope": "team"}),
            "model_configs[0].scope",
        ),
        (
            json!({"id": "m", "model_name": "*", "scope": "virtual_key"}),
            "model_configs[0].scope_id",
        ),
        (
            json!({"id": "m", "model_name": "*", "scope": "virtual_key", "scope_id": "nope"}),
            "model_configs[0].scope_id",
        ),
        (
            json!({"id": "m", "model_name": "*", "budget_ids": ["nope"]}),
            "model_configs[0].budget_ids[0]",
        ),
        (
            json!({"id": "m", "model_name": "*", "provider": ""}),
            "model_configs[0].provider",
        ),
    ];
    for (entry, path) in cases {
        let error = try_harness(json!({"model_configs": [entry]}))
            .err()
            .expect("refused");
        assert_eq!(error.code, ErrorCode::INVALID_CONFIG);
        assert!(
            error.message.as_str().contains(path),
            "{path}: {}",
            error.message
        );
    }
    let twice = try_harness(json!({"model_configs": [
        {"id": "a", "model_name": "gpt-4o"}, {"id": "b", "model_name": "gpt-4o"}]}))
    .err()
    .expect("refused");
    assert!(
        twice.message.as_str().contains("model_configs[1]"),
        "{}",
        twice.message
    );
    let orphan = try_harness(json!({"budgets": [
        {"id": "b", "max_limit": 1, "reset_duration": "1d", "model_config_id": "missing"}]}))
    .err()
    .expect("refused");
    assert!(
        orphan
            .message
            .as_str()
            .contains("budgets[0].model_config_id"),
        "{}",
        orphan.message
    );
}
