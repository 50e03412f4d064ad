//! `governance.pricing_overrides`, with entries from Bifrost's custom-pricing page
//! (docs.getbifrost.ai/providers/custom-pricing): the patch (a JSON string, as Bifrost writes
//! it) prices reservations and settlements; the most specific scope wins.

// Test code: helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{harness, try_harness, usage};
use keyward_plugin_api::ffi::ErrorCode;
use serde_json::{Value, json};

fn config() -> Value {
    json!({
        "version": 2,
        "use_default_pricing": false,
        "pricing": {"gpt-4o": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000001}},
        "pricing_overrides": [
            {"id": "550e8400-e29b-41d4-a716-446655440000", "name": "Global GPT-4o rate",
             "scope_kind": "global", "match_type": "exact", "pattern": "gpt-4o",
             "request_types": ["chat_completion"],
             "pricing_patch": "{\"input_cost_per_token\":0.0000025,\"output_cost_per_token\":0.00001}"},
            {"id": "660e8400-e29b-41d4-a716-446655440001", "name": "All Claude models for prod VK",
             "scope_kind": "virtual_key", "virtual_key_id": "vk-abc123",
             "match_type": "wildcard", "pattern": "claude-3*", "request_types": ["chat_completion"],
             "pricing_patch": "{\"input_cost_per_token\":0.000003,\"output_cost_per_token\":0.000015}"}
        ],
        "virtual_keys": [{
            "id": "vk-abc123", "value": "sk-bf-abc123-0123456789",
            "provider_configs": [{"provider": "openai", "allowed_models": ["*"], "key_ids": ["*"]},
                                 {"provider": "anthropic", "allowed_models": ["*"], "key_ids": ["*"]}],
            "budgets": [{"id": "b", "max_limit": 100, "reset_duration": "1M"}]
        }]
    })
}

#[test]
fn an_override_prices_the_reservation_and_the_settlement() {
    let h = harness(config());
    // gpt-4o: the global override ($2.50 / $10 per 1M), not the table's $1 / $1.
    let held = h
        .decide(1, "sk-bf-abc123-0123456789", "openai", "gpt-4o", 1000, 1000)
        .unwrap();
    assert_eq!(held.reserved_cost_nanos, 2_500_000 + 10_000_000);
    let settled = h.settle(1, usage(1000, 100, None)).unwrap();
    assert_eq!(settled.charged_cost_nanos, 2_500_000 + 1_000_000);
    // A model only the override prices is admitted where a budget applies.
    let claude = h
        .decide(
            2,
            "sk-bf-abc123-0123456789",
            "anthropic",
            "claude-3-5-haiku-latest",
            1000,
            1000,
        )
        .unwrap();
    assert_eq!(claude.reserved_cost_nanos, 3_000_000 + 15_000_000);
    // Unpriced elsewhere: refused as before.
    let refused = h
        .decide(
            3,
            "sk-bf-abc123-0123456789",
            "anthropic",
            "claude-sonnet-4-5",
            10,
            10,
        )
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::MODEL_BLOCKED);
}

#[test]
fn overrides_are_checked_by_path_and_provider_key_scopes_are_warned() {
    let base = |entry: Value| {
        let mut c = config();
        c["pricing_overrides"] = json!([entry]);
        try_harness(c)
    };
    let entry = |fields: Value| {
        let mut e = json!({"id": "o", "scope_kind": "global", "match_type": "exact",
                           "pattern": "gpt-4o", "request_types": ["chat_completion"],
                           "pricing_patch": {"input_cost_per_token": 0.000001}});
        for (k, v) in fields.as_object().unwrap() {
            e[k] = v.clone();
        }
        e
    };
    for (fields, path) in [
        (
            json!({"scope_kind": "global", "provider_id": "openai"}),
            "pricing_overrides[0].scope_kind",
        ),
        (
            json!({"scope_kind": "team"}),
            "pricing_overrides[0].scope_kind",
        ),
        (json!({"pattern": "gpt-*"}), "pricing_overrides[0].pattern"),
        (
            json!({"match_type": "wildcard", "pattern": "gpt"}),
            "pricing_overrides[0].pattern",
        ),
        (
            json!({"request_types": []}),
            "pricing_overrides[0].request_types",
        ),
        (
            json!({"request_types": ["chat_completion_stream"]}),
            "pricing_overrides[0].request_types",
        ),
        (
            json!({"pricing_patch": "not json"}),
            "pricing_overrides[0].pricing_patch",
        ),
        (
            json!({"pricing_patch": {"input_cost_per_token": -1}}),
            "pricing_overrides[0].pricing_patch.input_cost_per_token",
        ),
        (
            json!({"scope_kind": "virtual_key", "virtual_key_id": "nope"}),
            "pricing_overrides[0].virtual_key_id",
        ),
    ] {
        let error = base(entry(fields.clone()))
            .err()
            .unwrap_or_else(|| panic!("accepted {fields}"));
        assert!(
            error.message.as_str().contains(path),
            "{path}: {}",
            error.message
        );
    }
    let mut keyed = config();
    keyed["pricing_overrides"] = json!([entry(
        json!({"scope_kind": "provider_key", "provider_key_id": "k1",
                                                     "pricing_patch": {"input_cost_per_token": 0.1, "cost_per_request": 1}})
    )]);
    let (_, host) = common::try_harness_with(keyed).unwrap();
    let log: String = host
        .logs()
        .into_iter()
        .map(|(_, line)| line + "\n")
        .collect();
    assert!(
        log.contains("pricing_overrides[0]") && log.contains("provider_key"),
        "{log}"
    );
    assert!(log.contains("cost_per_request not used"), "{log}");
}
