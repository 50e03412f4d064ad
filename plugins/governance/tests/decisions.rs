//! One test per decision, with the exact status and error type, through the role trait objects.

// Test code: helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use keyward_plugin_api::ffi::ErrorCode;
use serde_json::{Value, json};

fn base() -> Value {
    json!({
        "enforce_virtual_keys": true,
        "pricing": flat_pricing(),
        "virtual_keys": [
            {"id": "vk-main", "name": "main", "value": "sk-bf-main",
             "provider_configs": [
                {"provider": "openai", "weight": 3, "allowed_models": ["gpt-4o", "test-model"],
                 "blacklisted_models": ["gpt-4o-realtime"], "keys": ["k-openai-1", "k-openai-2"]},
                {"provider": "azure", "weight": 1, "allow_all_keys": true},
                {"provider": "anthropic", "weight": 5, "allowed_models": ["claude-sonnet-4-5"]}
             ]},
            {"id": "vk-narrow", "value": "sk-bf-narrow", "provider_configs": [
                {"provider": "openai", "allowed_models": ["gpt-4o"]}]},
            {"id": "vk-off", "value": "sk-bf-off", "is_active": false},
            {"id": "vk-expired", "value": "sk-bf-expired", "expires_at": "2025-01-01T00:00:00Z"},
            {"id": "vk-soon", "value": "sk-bf-soon", "expires_at": "2025-05-14T15:31:00Z"}
        ]
    })
}

/// A key whose provider config, key, team and customer each have the given limits.
fn limited(pc: Value, vk: Value, team: Value, customer: Value) -> Value {
    let mut key = json!({"id": "vk", "name": "limited", "value": "sk-bf-limited", "team_id": "t1",
        "provider_configs": [{"provider": "openai"}]});
    for (k, v) in pc.as_object().unwrap() {
        key["provider_configs"][0][k] = v.clone();
    }
    for (k, v) in vk.as_object().unwrap() {
        key[k] = v.clone();
    }
    let mut team_doc = json!({"id": "t1", "name": "eng", "customer_id": "c1"});
    for (k, v) in team.as_object().unwrap() {
        team_doc[k] = v.clone();
    }
    let mut customer_doc = json!({"id": "c1", "name": "acme"});
    for (k, v) in customer.as_object().unwrap() {
        customer_doc[k] = v.clone();
    }
    json!({"pricing": flat_pricing(), "virtual_keys": [key], "teams": [team_doc],
           "customers": [customer_doc]})
}

fn budget(id: &str, dollars: f64) -> Value {
    json!({"budgets": [{"id": id, "max_limit": dollars, "reset_duration": "1M"}]})
}

#[test]
fn no_key_when_required_is_401_virtual_key_required() {
    let h = harness(base());
    assert_denied(
        h.authorize(1, None, Some("openai"), "gpt-4o"),
        ErrorCode::VIRTUAL_KEY_REQUIRED,
        401,
    );
}

#[test]
fn no_key_when_optional_is_admitted_without_restrictions() {
    let mut config = base();
    config["enforce_virtual_keys"] = json!(false);
    let h = harness(config);
    let admitted = h.authorize(1, None, Some("openai"), "gpt-4o").unwrap();
    assert_eq!(admitted.virtual_key_id, "");
    assert_eq!(admitted.provider, "openai");
    assert_eq!(admitted.allowed_key_ids, None);
    let reservation = h.reserve(1, "", "openai", "gpt-4o", 10, Some(10)).unwrap();
    assert_eq!(reservation.reserved_tokens, 20);
}

#[test]
fn an_unknown_key_is_403_virtual_key_not_found_and_never_echoed() {
    let h = harness(base());
    let error = assert_denied(
        h.authorize(1, Some("sk-bf-nobody"), Some("openai"), "gpt-4o"),
        ErrorCode::VIRTUAL_KEY_NOT_FOUND,
        403,
    );
    assert!(!error.message.as_str().contains("sk-bf-nobody"));
}

#[test]
fn an_inactive_key_is_403_virtual_key_blocked() {
    let h = harness(base());
    let error = assert_denied(
        h.authorize(1, Some("sk-bf-off"), Some("openai"), "gpt-4o"),
        ErrorCode::VIRTUAL_KEY_BLOCKED,
        403,
    );
    assert!(error.message.as_str().contains("vk-off"));
    assert!(!error.message.as_str().contains("sk-bf-off"));
}

#[test]
fn an_expired_key_is_403_virtual_key_blocked() {
    let h = harness(base());
    assert_denied(
        h.authorize(1, Some("sk-bf-expired"), None, "gpt-4o"),
        ErrorCode::VIRTUAL_KEY_BLOCKED,
        403,
    );
    // Valid until the clock passes its expiry.
    assert!(
        h.authorize(2, Some("sk-bf-soon"), Some("openai"), "gpt-4o")
            .is_ok()
    );
    h.host.advance_secs(60);
    assert_denied(
        h.authorize(3, Some("sk-bf-soon"), Some("openai"), "gpt-4o"),
        ErrorCode::VIRTUAL_KEY_BLOCKED,
        403,
    );
}

#[test]
fn a_provider_outside_the_configs_is_403_provider_blocked() {
    let h = harness(base());
    assert_denied(
        h.authorize(1, Some("sk-bf-main"), Some("bedrock"), "gpt-4o"),
        ErrorCode::PROVIDER_BLOCKED,
        403,
    );
    assert_denied(
        h.reserve(1, "vk-main", "bedrock", "gpt-4o", 1, Some(1)),
        ErrorCode::PROVIDER_BLOCKED,
        403,
    );
}

#[test]
fn a_black_listed_or_not_allowed_model_is_403_model_blocked() {
    let h = harness(base());
    assert_denied(
        h.authorize(1, Some("sk-bf-main"), Some("openai"), "gpt-4o-realtime"),
        ErrorCode::MODEL_BLOCKED,
        403,
    );
    assert_denied(
        h.authorize(2, Some("sk-bf-main"), Some("openai"), "gpt-3.5-turbo"),
        ErrorCode::MODEL_BLOCKED,
        403,
    );
    assert_denied(
        h.authorize(3, Some("sk-bf-narrow"), None, "llama-3"),
        ErrorCode::MODEL_BLOCKED,
        403,
    );
}

#[test]
fn an_unpriced_model_is_403_model_blocked_only_where_a_budget_applies() {
    let h = harness(limited(
        budget("b-pc", 1.0),
        json!({}),
        json!({}),
        json!({}),
    ));
    assert_denied(
        h.authorize(1, Some("sk-bf-limited"), Some("openai"), "mystery-model"),
        ErrorCode::MODEL_BLOCKED,
        403,
    );
    assert_denied(
        h.reserve(1, "vk", "openai", "mystery-model", 1, Some(1)),
        ErrorCode::MODEL_BLOCKED,
        403,
    );
    // No budget on the path: the cost does not matter.
    let h = harness(base());
    assert!(
        h.decide(2, "sk-bf-main", "azure", "mystery-model", 1, 1)
            .is_ok()
    );
    // A configured default price admits it.
    let mut config = limited(budget("b-pc", 1.0), json!({}), json!({}), json!({}));
    config["unknown_model_pricing"] =
        json!({"input_cost_per_token": 0.000002, "output_cost_per_token": 0.000002});
    let h = harness(config);
    let reservation = h
        .decide(3, "sk-bf-limited", "openai", "mystery-model", 5, 5)
        .unwrap();
    assert_eq!(reservation.reserved_cost_nanos, 20_000);
}

#[test]
fn a_request_limit_is_429_request_limited_with_retry_after_at_both_levels() {
    let limit = json!({"rate_limit": {"request_max_limit": 2, "request_reset_duration": "1m"}});
    for (pc, vk, level) in [
        (limit.clone(), json!({}), "provider config"),
        (json!({}), limit.clone(), "virtual key"),
    ] {
        let h = harness(limited(pc, vk, json!({}), json!({})));
        h.decide(1, "sk-bf-limited", "openai", "test-model", 1, 1)
            .unwrap();
        h.decide(2, "sk-bf-limited", "openai", "test-model", 1, 1)
            .unwrap();
        h.host.advance_secs(15);
        let error = assert_denied(
            h.decide(3, "sk-bf-limited", "openai", "test-model", 1, 1),
            ErrorCode::REQUEST_LIMITED,
            429,
        );
        assert!(error.retryable);
        assert_eq!(error.retry_after_ms.into_option(), Some(45_000));
        assert!(
            error
                .message
                .as_str()
                .contains(&format!("at the {level} level")),
            "{error}"
        );
    }
}

#[test]
fn a_token_limit_is_429_token_limited() {
    let h = harness(limited(
        json!({}),
        json!({"rate_limit": {"token_max_limit": 100, "token_reset_duration": "1h"}}),
        json!({}),
        json!({}),
    ));
    h.decide(1, "sk-bf-limited", "openai", "test-model", 50, 30)
        .unwrap();
    let error = assert_denied(
        h.decide(2, "sk-bf-limited", "openai", "test-model", 10, 20),
        ErrorCode::TOKEN_LIMITED,
        429,
    );
    assert!(error.retry_after_ms.is_some());
    // The default output allowance counts when max_tokens is absent.
    assert_denied(
        h.reserve(3, "vk", "openai", "test-model", 1, None),
        ErrorCode::TOKEN_LIMITED,
        429,
    );
    assert!(
        h.decide(4, "sk-bf-limited", "openai", "test-model", 10, 10)
            .is_ok()
    );
}

#[test]
fn an_exhausted_budget_is_402_budget_exceeded_naming_its_level() {
    // Each request reserves 20 tokens at $0.000001 = $0.00002; the budget fits 3.
    for (level, config) in [
        (
            "provider config",
            limited(budget("b", 0.00006), json!({}), json!({}), json!({})),
        ),
        (
            "virtual key",
            limited(json!({}), budget("b", 0.00006), json!({}), json!({})),
        ),
        (
            "team",
            limited(json!({}), json!({}), budget("b", 0.00006), json!({})),
        ),
        (
            "customer",
            limited(json!({}), json!({}), json!({}), budget("b", 0.00006)),
        ),
    ] {
        let h = harness(config);
        for id in 0..3 {
            h.decide(id, "sk-bf-limited", "openai", "test-model", 10, 10)
                .unwrap();
        }
        let error = assert_denied(
            h.decide(9, "sk-bf-limited", "openai", "test-model", 10, 10),
            ErrorCode::BUDGET_EXCEEDED,
            402,
        );
        assert!(!error.retryable);
        assert!(
            error
                .message
                .as_str()
                .contains(&format!("at the {level} level")),
            "{error}"
        );
    }
}

#[test]
fn rate_limits_are_checked_before_budgets_and_a_denial_takes_nothing() {
    let h = harness(limited(
        json!({"rate_limit": {"request_max_limit": 1, "request_reset_duration": "1h"}}),
        budget("b-vk", 0.00002),
        json!({}),
        json!({}),
    ));
    h.decide(1, "sk-bf-limited", "openai", "test-model", 10, 10)
        .unwrap();
    assert_denied(
        h.decide(2, "sk-bf-limited", "openai", "test-model", 10, 10),
        ErrorCode::REQUEST_LIMITED,
        429,
    );
    assert_eq!(h.counter("b-vk", "budget")["reserved"], 20_000);
    h.release(1).unwrap();
    assert_eq!(h.counter("b-vk", "budget")["reserved"], 0);
    assert_eq!(
        h.counter("virtual_key/vk/provider/openai/rate_limit", "requests")["reserved"],
        0
    );
}

#[test]
fn an_admission_carries_the_allowed_provider_keys() {
    let h = harness(base());
    let openai = h
        .authorize(1, Some("sk-bf-main"), Some("openai"), "gpt-4o")
        .unwrap();
    assert_eq!(openai.virtual_key_id, "vk-main");
    assert_eq!(
        openai.allowed_key_ids,
        Some(vec!["k-openai-1".to_owned(), "k-openai-2".to_owned()])
    );
    let azure = h
        .authorize(2, Some("sk-bf-main"), Some("azure"), "gpt-4o")
        .unwrap();
    assert_eq!(azure.allowed_key_ids, None);
    assert_eq!(azure.would_deny, ErrorCode::NONE);
}

#[test]
fn every_documented_header_carries_the_key() {
    use abi_stable::std_types::RStr;
    use keyward_plugin_api::ffi::Header;
    let h = harness(base());
    for (name, value) in [
        ("authorization", "Bearer sk-bf-main"),
        ("x-api-key", "sk-bf-main"),
        ("api-key", "sk-bf-main"),
        ("x-goog-api-key", "sk-bf-main"),
    ] {
        let headers = [Header {
            name: RStr::from_str(name),
            value: RStr::from_str(value),
        }];
        let admitted = h
            .authorize_with(1, &headers, Some("openai"), "gpt-4o")
            .unwrap();
        assert_eq!(admitted.virtual_key_id, "vk-main", "{name}");
    }
}

#[test]
fn the_provider_is_chosen_by_weight_among_those_allowing_the_model() {
    let h = harness(base());
    let mut openai = 0;
    for id in 0..2_000 {
        let admitted = h.authorize(id, Some("sk-bf-main"), None, "gpt-4o").unwrap();
        match admitted.provider.as_str() {
            "openai" => {
                openai += 1;
                assert_eq!(admitted.fallbacks, vec!["azure"]);
            }
            "azure" => assert_eq!(admitted.fallbacks, vec!["openai"]),
            other => panic!("anthropic does not allow gpt-4o, got {other}"),
        }
    }
    // Weights 3:1 -> about 1500 of 2000; the bounds are many standard deviations wide.
    assert!(
        (1_300..=1_700).contains(&openai),
        "openai chosen {openai} times"
    );
}

#[test]
fn an_exhausted_provider_config_is_skipped_when_choosing() {
    let config = json!({
        "pricing": flat_pricing(),
        "virtual_keys": [{"id": "vk", "value": "sk-bf-x", "provider_configs": [
            {"provider": "openai", "weight": 100,
             "rate_limit": {"request_max_limit": 1, "request_reset_duration": "1h"}},
            {"provider": "azure", "weight": 1}
        ]}]
    });
    let h = harness(config);
    h.reserve(1, "vk", "openai", "test-model", 1, Some(1))
        .unwrap();
    for id in 2..50 {
        let admitted = h
            .authorize(id, Some("sk-bf-x"), None, "test-model")
            .unwrap();
        assert_eq!(admitted.provider, "azure");
        assert!(admitted.fallbacks.is_empty());
    }
    // After the window resets, openai is back.
    h.host.advance_secs(3_600);
    let admitted = h
        .authorize(99, Some("sk-bf-x"), None, "test-model")
        .unwrap();
    assert!(admitted.provider == "openai" || admitted.fallbacks == vec!["openai"]);
}

#[test]
fn in_bifrost_v1_5_an_empty_allow_list_allows_nothing_and_each_is_warned_by_path() {
    let config = json!({"version": 2, "virtual_keys": [
        {"id": "vk-none", "value": "sk-bf-none"},
        {"id": "vk-nomodel", "value": "sk-bf-nomodel",
         "provider_configs": [{"provider": "openai", "allowed_models": [], "key_ids": ["*"]}]},
        {"id": "vk-nokey", "value": "sk-bf-nokey",
         "provider_configs": [{"provider": "openai", "allowed_models": ["*"], "key_ids": []}]},
        {"id": "vk-all", "value": "sk-bf-all",
         "provider_configs": [{"provider": "openai", "allowed_models": ["*"], "key_ids": ["*"]}]}
    ]});
    let (h, host) = try_harness_with(config).unwrap();
    assert_denied(
        h.authorize(1, Some("sk-bf-none"), Some("openai"), "gpt-4o"),
        ErrorCode::PROVIDER_BLOCKED,
        403,
    );
    assert_denied(
        h.authorize(2, Some("sk-bf-none"), None, "gpt-4o"),
        ErrorCode::PROVIDER_BLOCKED,
        403,
    );
    assert_denied(
        h.authorize(3, Some("sk-bf-nomodel"), Some("openai"), "gpt-4o"),
        ErrorCode::MODEL_BLOCKED,
        403,
    );
    let no_key = h
        .authorize(4, Some("sk-bf-nokey"), Some("openai"), "gpt-4o")
        .unwrap();
    assert_eq!(
        no_key.allowed_key_ids,
        Some(Vec::new()),
        "no provider key may serve it"
    );
    let all = h
        .authorize(5, Some("sk-bf-all"), Some("openai"), "gpt-4o")
        .unwrap();
    assert_eq!(all.allowed_key_ids, None, "[\"*\"] allows every key");
    let logs: Vec<String> = host.logs().into_iter().map(|(_, line)| line).collect();
    for path in [
        "virtual_keys[0].provider_configs is empty",
        "virtual_keys[1].provider_configs[0].allowed_models is empty",
        "virtual_keys[2].provider_configs[0].key_ids is empty",
    ] {
        assert!(logs.iter().any(|l| l.contains(path)), "{path} in {logs:?}");
    }
    assert_eq!(logs.len(), 3, "nothing about vk-all: {logs:?}");
}

#[test]
fn a_null_weight_keeps_a_provider_out_of_the_weighted_choice_and_the_fallbacks() {
    // Bifrost v1.5's migration guide (BC5): `weight: null` / omitted — reachable by direct
    // routing, excluded from weighted selection; weight 0 still takes part (and falls back).
    let (h, _) = try_harness_with(json!({"version": 2, "virtual_keys": [{
    "id": "vk", "value": "sk-bf-w",
    "provider_configs": [
        {"provider": "openai", "weight": 1, "allowed_models": ["gpt-4o-mini"], "key_ids": ["*"]},
        {"provider": "anthropic", "weight": null, "allowed_models": ["*"], "key_ids": ["*"]},
        {"provider": "azure", "weight": 0, "allowed_models": ["gpt-4o-mini"], "key_ids": ["*"]}
    ]}]}))
    .unwrap();
    for id in 0..200 {
        let admitted = h
            .authorize(id, Some("sk-bf-w"), None, "gpt-4o-mini")
            .unwrap();
        assert_eq!(
            admitted.provider, "openai",
            "the only weighted config with a share"
        );
        assert_eq!(
            admitted.fallbacks,
            ["azure"],
            "weight 0 falls back, null does not"
        );
    }
    let direct = h
        .authorize(300, Some("sk-bf-w"), Some("anthropic"), "claude-sonnet-4")
        .unwrap();
    assert_eq!(
        direct.provider, "anthropic",
        "provider/model reaches a null weight"
    );
    let resolved = h
        .authorize(301, Some("sk-bf-w"), None, "claude-sonnet-4")
        .unwrap();
    assert_eq!(
        resolved.provider, "anthropic",
        "a bare model no weighted config allows goes to the one that allows it"
    );
}

#[test]
fn a_version_other_than_1_or_2_is_refused_by_name() {
    let error = try_harness(json!({"version": 3, "virtual_keys": []}))
        .err()
        .unwrap();
    assert_eq!(error.code, ErrorCode::INVALID_CONFIG);
    assert!(error.message.as_str().contains("version"), "{error}");
}

#[test]
fn a_key_without_provider_configs_allows_every_provider_in_a_version_1_file() {
    let config = json!({"version": 1, "virtual_keys": [{"id": "vk", "value": "sk-bf-any"}]});
    let h = harness(config);
    let admitted = h
        .authorize(1, Some("sk-bf-any"), Some("groq"), "anything")
        .unwrap();
    assert_eq!(admitted.provider, "groq");
    assert_eq!(admitted.allowed_key_ids, None);
}

#[test]
fn per_second_smoothing_is_429_request_limited_with_the_limiter_retry_after() {
    let h = harness(json!({
        "smoothing": {"requests_per_second": 1, "burst": 2,
                      "virtual_keys": {"vk-fast": {"requests_per_second": 100}}},
        "virtual_keys": [{"id": "vk", "value": "sk-bf-x"}, {"id": "vk-fast", "value": "sk-bf-fast"}]
    }));
    h.reserve(1, "vk", "openai", "m", 1, Some(1)).unwrap();
    h.reserve(2, "vk", "openai", "m", 1, Some(1)).unwrap();
    let error = assert_denied(
        h.reserve(3, "vk", "openai", "m", 1, Some(1)),
        ErrorCode::REQUEST_LIMITED,
        429,
    );
    assert_eq!(error.retry_after_ms.into_option(), Some(1_000));
    assert!(error.message.as_str().contains("smoothing"), "{error}");
    for id in 10..20 {
        h.reserve(id, "vk-fast", "openai", "m", 1, Some(1)).unwrap();
    }
    h.host.advance_secs(1);
    h.reserve(4, "vk", "openai", "m", 1, Some(1)).unwrap();
}

#[test]
fn a_config_that_allows_no_provider_key_is_not_drawn_for_a_bare_model_name() {
    let (h, _) = try_harness_with(json!({"version": 2, "virtual_keys": [{
    "id": "vk", "value": "sk-bf-k",
    "provider_configs": [
        {"provider": "openai", "weight": 100, "allowed_models": ["*"], "key_ids": []},
        {"provider": "azure", "weight": 1, "allowed_models": ["*"], "key_ids": ["*"]}
    ]}]}))
    .unwrap();
    for id in 0..100 {
        let admitted = h.authorize(id, Some("sk-bf-k"), None, "gpt-4o").unwrap();
        assert_eq!(admitted.provider, "azure", "openai allows no key");
        assert!(admitted.fallbacks.is_empty(), "{:?}", admitted.fallbacks);
    }
}
