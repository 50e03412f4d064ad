//! The key-selection plugins as a host sees them: loaded from their `.so` files, configured
//! with Bifrost's `providers` JSON, and called through the ABI.

mod support;

use abi_stable::std_types::{ROption, RSlice, RStr};
use keyward::{
    ffi::{
        ErrorCode, FailedKey, FailureKind, KeySelectorBox, KeySelectorExt, RequestKind, RoleMask,
        SelectRequest,
    },
    hosts::ManualHost,
    loader::{LoadError, load_plugin},
};

const CONFIG: &str = r#"{"providers": {
  "openai": {"network_config": {"base_url": "https://api.openai.com"}, "keys": [
    {"id": "light", "name": "Light", "value": "sk-light-0123456789abcdef", "models": ["gpt-4o", "o1"], "weight": 1},
    {"id": "heavy", "name": "Heavy", "value": "sk-heavy-0123456789abcdef", "models": ["gpt-4o", "o1"], "weight": 7,
     "blacklisted_models": ["o1"]},
    {"id": "mid", "name": "Mid", "value": {"value": "sk-mid-0123456789abcdef", "env_var": "", "from_env": false},
     "models": ["*"], "weight": 2, "use_for_batch_api": true, "aliases": {"fast": {"model_id": "gpt-4o-mini-2024-07-18"}}}
  ]},
  "azure": {"keys": [{"id": "az", "value": "az-0123456789", "models": ["gpt-4o"],
    "azure_key_config": {"endpoint": "https://x.openai.azure.com", "deployments": {"gpt-4o": "prod-4o"}, "api_version": "2024-10-21"}}]}
}}"#;

fn selector(package: &str, config: &str) -> Result<KeySelectorBox, LoadError> {
    let plugin = load_plugin(&support::plugin_path(package))?;
    let roles = plugin.instantiate(
        config,
        RoleMask::KEY_SELECTION,
        ManualHost::at_unix_secs(0).handle(),
    )?;
    Ok(roles.key_selector.into_option().expect("a key selector"))
}

fn weighted() -> KeySelectorBox {
    selector("keyward-weighted-selector", CONFIG).expect("weighted selector")
}

#[test]
fn both_selectors_load_and_describe_themselves() {
    for (package, name) in [
        ("keyward-weighted-selector", "weighted-selector"),
        ("keyward-round-robin-selector", "round-robin-selector"),
    ] {
        let plugin = load_plugin(&support::plugin_path(package)).expect("load");
        assert_eq!(plugin.report().name, name);
        assert_eq!(plugin.report().roles, ["key_selection"]);
    }
}

#[test]
fn picks_through_the_abi_follow_the_weights() {
    let selector = weighted();
    let request = SelectRequest::new("openai", "gpt-4o", RequestKind::CHAT_COMPLETION);
    let mut counts = [0u32; 3];
    let picks = 100_000;
    for _ in 0..picks {
        let choice = selector.pick(&request).expect("a pick");
        let slot = match choice.key_id.as_str() {
            "light" => 0,
            "mid" => 1,
            "heavy" => 2,
            other => panic!("unknown key {other}"),
        };
        counts[slot] += 1;
        assert_eq!(choice.provider_model.as_str(), "gpt-4o");
    }
    // Weights 1:2:7. The plugin's generator is seeded per thread, so the bound is loose: the
    // share's standard deviation is ~0.0015, the bound is 0.02.
    for (count, share) in counts.iter().zip([0.1, 0.2, 0.7]) {
        let observed = f64::from(*count) / f64::from(picks);
        assert!((observed - share).abs() < 0.02, "{counts:?}");
    }
}

#[test]
fn the_rules_hold_through_the_abi() {
    let selector = weighted();
    let fast = SelectRequest::new("openai", "FAST", RequestKind::CHAT_COMPLETION);
    let choice = selector.pick(&fast).expect("alias");
    assert_eq!(choice.provider_model.as_str(), "gpt-4o-mini-2024-07-18");
    assert_eq!(
        (choice.key_id.as_str(), choice.key_name.as_str()),
        ("mid", "Mid")
    );
    for _ in 0..100 {
        let batch = SelectRequest::new("openai", "gpt-4o", RequestKind::BATCH);
        assert_eq!(selector.pick(&batch).expect("batch").key_id.as_str(), "mid");
        let o1 = SelectRequest::new("openai", "o1", RequestKind::CHAT_COMPLETION);
        assert_ne!(selector.pick(&o1).expect("o1").key_id.as_str(), "heavy");
    }
    let azure = SelectRequest::new("azure", "GPT-4o", RequestKind::CHAT_COMPLETION);
    assert_eq!(
        selector
            .pick(&azure)
            .expect("azure")
            .provider_model
            .as_str(),
        "prod-4o"
    );

    let failures = [
        FailedKey {
            key_id: RStr::from_str("heavy"),
            failure: FailureKind::CREDENTIALS,
        },
        FailedKey {
            key_id: RStr::from_str("mid"),
            failure: FailureKind::RATE_LIMITED,
        },
    ];
    let mut retry = SelectRequest::new("openai", "gpt-4o", RequestKind::CHAT_COMPLETION);
    retry.failed = RSlice::from_slice(&failures);
    for _ in 0..100 {
        assert_eq!(
            selector.pick(&retry).expect("retry").key_id.as_str(),
            "light"
        );
    }
    let mut pinned = SelectRequest::new("openai", "gpt-4o", RequestKind::CHAT_COMPLETION);
    pinned.pinned_key = ROption::RSome(RStr::from_str("Heavy"));
    assert_eq!(
        selector.pick(&pinned).expect("pinned").key_id.as_str(),
        "heavy"
    );

    let cases = [
        (
            SelectRequest::new("anthropic", "claude", RequestKind::OTHER),
            ErrorCode::NO_KEYS,
        ),
        (
            SelectRequest::new("azure", "gpt-4.1", RequestKind::OTHER),
            ErrorCode::MODEL_NOT_SUPPORTED,
        ),
        (
            SelectRequest::new("azure", "gpt-4o", RequestKind::BATCH),
            ErrorCode::MODEL_NOT_SUPPORTED,
        ),
    ];
    for (request, code) in cases {
        let error = selector.pick(&request).expect_err("an error");
        assert_eq!(error.code, code, "{}", error.message);
        assert!(
            error.message.contains(request.provider.as_str()),
            "{}",
            error.message
        );
        assert!(
            error.message.contains(request.model.as_str()),
            "{}",
            error.message
        );
        assert!(
            !error.message.contains("sk-") && !error.message.contains("az-0"),
            "{}",
            error.message
        );
    }
    let everything_failed = [FailedKey {
        key_id: RStr::from_str("az"),
        failure: FailureKind::CREDENTIALS,
    }];
    let mut burnt = SelectRequest::new("azure", "gpt-4o", RequestKind::OTHER);
    burnt.failed = RSlice::from_slice(&everything_failed);
    let error = selector.pick(&burnt).expect_err("all excluded");
    assert_eq!(error.code, ErrorCode::ALL_KEYS_EXCLUDED);
    assert!(error.retryable);
}

#[test]
fn a_bad_configuration_is_a_typed_error_naming_the_field() {
    for package in ["keyward-weighted-selector", "keyward-round-robin-selector"] {
        let bad =
            r#"{"providers": {"openai": {"keys": [{"id": "a"}, {"id": "b", "weight": "heavy"}]}}}"#;
        let Err(LoadError::Constructor { error, .. }) = selector(package, bad) else {
            panic!("{package} accepted a string weight");
        };
        assert_eq!(error.code, ErrorCode::INVALID_CONFIG);
        assert!(
            error
                .message
                .starts_with("providers.openai.keys[1].weight: "),
            "{}",
            error.message
        );
        let missing_env = r#"{"providers": {"openai": {"keys": [{"id": "a", "name": "Main", "value": "env.KEYWARD_TEST_NEVER_SET_VARIABLE"}]}}}"#;
        let Err(LoadError::Constructor { error, .. }) = selector(package, missing_env) else {
            panic!("{package} accepted an unset variable");
        };
        assert_eq!(error.code, ErrorCode::INVALID_CONFIG);
        assert!(
            error.message.contains("Main")
                && error.message.contains("KEYWARD_TEST_NEVER_SET_VARIABLE"),
            "{}",
            error.message
        );
    }
}

#[test]
fn the_round_robin_selector_takes_turns_through_the_abi() {
    let selector = selector("keyward-round-robin-selector", CONFIG).expect("round robin");
    let request = SelectRequest::new("openai", "gpt-4o", RequestKind::CHAT_COMPLETION);
    let turns: Vec<String> = (0..6)
        .map(|_| selector.pick(&request).expect("a pick").key_id.to_string())
        .collect();
    assert_eq!(turns, ["light", "heavy", "mid", "light", "heavy", "mid"]);
}
