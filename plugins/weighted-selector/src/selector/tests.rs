use abi_stable::std_types::{ROption, RSlice, RStr};
use keyward_plugin_api::ffi::{
    ErrorCode, FailedKey, FailureKind, KeySelectorBox, KeySelectorExt, KeywardError, RequestKind,
    SelectRequest,
};

use crate::{WeightedSelector, boxed};

fn selector(json: &str) -> KeySelectorBox {
    boxed(WeightedSelector::from_json(json).expect("valid config"))
}

fn keys_with_weights(weights: &[f64]) -> String {
    let keys: Vec<String> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| format!(r#"{{"id": "k{i}", "name": "key {i}", "value": "sk-secret-value-{i}-abcdef", "weight": {w}}}"#))
        .collect();
    format!(
        r#"{{"providers": {{"openai": {{"keys": [{}]}}}}}}"#,
        keys.join(",")
    )
}

fn chat(model: &str) -> SelectRequest<'_> {
    SelectRequest::new("openai", model, RequestKind::CHAT_COMPLETION)
}

fn failed(id: &'static str, failure: FailureKind) -> FailedKey<'static> {
    FailedKey {
        key_id: RStr::from_str(id),
        failure,
    }
}

/// Counts picks per key index (`k<i>` ids).
fn tally(
    selector: &KeySelectorBox,
    request: &SelectRequest<'_>,
    keys: usize,
    picks: usize,
) -> Vec<u64> {
    let mut counts = vec![0u64; keys];
    for _ in 0..picks {
        let choice = selector.pick(request).expect("a pick");
        let index: usize = choice.key_id.as_str()[1..].parse().expect("k<i>");
        counts[index] += 1;
    }
    counts
}

/// Pearson's chi-square statistic of `observed` against `weights` (zero weights must be zero).
fn chi_square(observed: &[u64], weights: &[f64]) -> f64 {
    let total_weight: f64 = weights.iter().sum();
    let picks: u64 = observed.iter().sum();
    observed
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0.0)
        .map(|(&o, &w)| {
            let expected = picks as f64 * w / total_weight;
            (o as f64 - expected).powi(2) / expected
        })
        .sum()
}

/// Critical values of chi-square at p = 0.001 (a correct sampler fails 1 run in 1,000; the
/// seed is fixed, so the test is deterministic).
fn critical_value(degrees_of_freedom: usize) -> f64 {
    match degrees_of_freedom {
        1 => 10.83,
        2 => 13.82,
        3 => 16.27,
        4 => 18.47,
        24 => 51.18,
        other => panic!("no table entry for {other} degrees of freedom"),
    }
}

#[test]
fn picks_follow_the_weights_chi_square() {
    fastrand::seed(0x5eed);
    for weights in [
        vec![1.0, 2.0, 3.0, 4.0],
        (1..=25).map(f64::from).collect::<Vec<_>>(),
    ] {
        let selector = selector(&keys_with_weights(&weights));
        let observed = tally(&selector, &chat("gpt-4o"), weights.len(), 200_000);
        let statistic = chi_square(&observed, &weights);
        let limit = critical_value(weights.len() - 1);
        assert!(
            statistic < limit,
            "chi2 {statistic} >= {limit}: {observed:?}"
        );
    }
}

#[test]
fn zero_weights_are_never_picked_unless_all_are_zero() {
    fastrand::seed(7);
    let weights = [0.0, 1.0, -2.0, 3.0];
    let selector = selector(&keys_with_weights(&weights));
    let observed = tally(&selector, &chat("gpt-4o"), 4, 40_000);
    assert_eq!((observed[0], observed[2]), (0, 0), "{observed:?}");
    assert!(chi_square(&observed, &[0.0, 1.0, 0.0, 3.0]) < critical_value(1));
    let all_zero = selector_uniform();
    let observed = tally(&all_zero, &chat("gpt-4o"), 3, 30_000);
    assert!(
        chi_square(&observed, &[1.0, 1.0, 1.0]) < critical_value(2),
        "{observed:?}"
    );
}

fn selector_uniform() -> KeySelectorBox {
    selector(&keys_with_weights(&[0.0, 0.0, 0.0]))
}

#[test]
fn an_allow_list_and_failures_keep_the_weights_among_the_rest() {
    fastrand::seed(11);
    let weights = [5.0, 1.0, 2.0, 3.0, 4.0];
    let selector = selector(&keys_with_weights(&weights));
    let allowed = [
        RStr::from_str("k1"),
        RStr::from_str("k2"),
        RStr::from_str("k3"),
        RStr::from_str("k4"),
    ];
    let failures = [failed("k4", FailureKind::SERVER_ERROR)];
    let mut request = chat("gpt-4o");
    request.allowed_key_ids = ROption::RSome(RSlice::from_slice(&allowed));
    request.failed = RSlice::from_slice(&failures);
    let observed = tally(&selector, &request, 5, 60_000);
    assert_eq!((observed[0], observed[4]), (0, 0), "{observed:?}");
    assert!(
        chi_square(&observed, &[0.0, 1.0, 2.0, 3.0, 0.0]) < critical_value(2),
        "{observed:?}"
    );
}

#[test]
fn failed_keys_come_back_only_when_nothing_else_is_left() {
    let selector = selector(&keys_with_weights(&[1.0, 1.0, 1.0]));
    let failures = [
        failed("k0", FailureKind::CREDENTIALS),
        failed("k1", FailureKind::SERVER_ERROR),
        failed("k2", FailureKind::RATE_LIMITED),
    ];
    let mut request = chat("gpt-4o");
    request.failed = RSlice::from_slice(&failures);
    for _ in 0..100 {
        assert_eq!(
            selector.pick(&request).expect("retry").key_id.as_str(),
            "k2"
        );
    }
    request.failed = RSlice::from_slice(&failures[..2]);
    for _ in 0..100 {
        assert_eq!(
            selector.pick(&request).expect("fresh").key_id.as_str(),
            "k2"
        );
    }
    let burnt = [
        failed("k0", FailureKind::CREDENTIALS),
        failed("k1", FailureKind::CREDENTIALS),
        failed("k2", FailureKind::CREDENTIALS),
    ];
    request.failed = RSlice::from_slice(&burnt);
    let error = selector.pick(&request).expect_err("all burnt");
    assert_eq!(error.code, ErrorCode::ALL_KEYS_EXCLUDED);
    assert!(
        error.message.contains("openai") && error.message.contains("gpt-4o"),
        "{}",
        error.message
    );
}

const RULES: &str = r#"{"providers": {
  "openai": {"network_config": {"default_request_timeout_in_seconds": 30}, "keys": [
    {"id": "main", "name": "Main", "value": "sk-main-0123456789abcdef", "models": ["GPT-4o", "gpt-4o-mini", "fast"], "aliases": {"fast": "gpt-4o-mini-2024-07-18"}},
    {"id": "batch", "name": "Batch", "value": "sk-batch-0123456789", "models": ["*"], "blacklisted_models": ["gpt-4o-mini", "fast"], "use_for_batch_api": true},
    {"id": "off", "name": "Off", "value": "sk-off-0123456789", "enabled": false}
  ]},
  "azure": {"keys": [
    {"id": "az", "value": "az-secret-0123456789", "azure_key_config": {"endpoint": "https://x.openai.azure.com", "deployments": {"gpt-4o": "prod-4o"}}}
  ]},
  "vllm": {"keys": [{"id": "llama", "value": "", "vllm_key_config": {"url": "http://vllm:8000", "model_name": "llama-3"}}]},
  "empty": {"keys": []}
}}"#;

fn expect_error(
    selector: &KeySelectorBox,
    request: &SelectRequest<'_>,
    code: ErrorCode,
) -> KeywardError {
    let error = selector.pick(request).expect_err("an error");
    assert_eq!(error.code, code, "{}", error.message);
    assert!(
        !error.message.contains("sk-") && !error.message.contains("secret"),
        "{}",
        error.message
    );
    error
}

#[test]
fn the_selection_rules_match_bifrost() {
    let selector = selector(RULES);
    // Case-insensitive model matching; the choice reports what to send upstream.
    let choice = selector
        .pick(&SelectRequest::new(
            "openai",
            "FAST",
            RequestKind::CHAT_COMPLETION,
        ))
        .expect("alias");
    assert_eq!(
        (choice.key_id.as_str(), choice.key_name.as_str()),
        ("main", "Main")
    );
    assert_eq!(choice.provider_model.as_str(), "gpt-4o-mini-2024-07-18");
    let mini = selector.pick(&chat("gpt-4o-mini")).expect("mini");
    assert_eq!(mini.key_id.as_str(), "main", "batch black-lists it");
    assert_eq!(mini.provider_model.as_str(), "gpt-4o-mini");
    let unlisted = selector.pick(&chat("o3-pro")).expect("open key");
    assert_eq!(unlisted.key_id.as_str(), "batch");
    let azure = selector
        .pick(&SelectRequest::new(
            "azure",
            "gpt-4o",
            RequestKind::EMBEDDING,
        ))
        .expect("deployment");
    assert_eq!(azure.provider_model.as_str(), "prod-4o");
    expect_error(
        &selector,
        &SelectRequest::new("azure", "gpt-4.1", RequestKind::OTHER),
        ErrorCode::MODEL_NOT_SUPPORTED,
    );
    let llama = selector
        .pick(&SelectRequest::new(
            "vllm",
            "Llama-3",
            RequestKind::CHAT_COMPLETION,
        ))
        .expect("vllm");
    assert_eq!(llama.key_id.as_str(), "llama");
    expect_error(
        &selector,
        &SelectRequest::new("vllm", "mistral", RequestKind::CHAT_COMPLETION),
        ErrorCode::MODEL_NOT_SUPPORTED,
    );
    // Batch requests use only use_for_batch_api keys.
    for _ in 0..50 {
        let batch = selector
            .pick(&SelectRequest::new("openai", "gpt-4o", RequestKind::BATCH))
            .expect("batch");
        assert_eq!(batch.key_id.as_str(), "batch");
    }
    let error = expect_error(
        &selector,
        &SelectRequest::new("openai", "gpt-4o-mini", RequestKind::BATCH),
        ErrorCode::MODEL_NOT_SUPPORTED,
    );
    assert!(
        error.message.contains("use_for_batch_api"),
        "{}",
        error.message
    );
    // No keys at all.
    expect_error(
        &selector,
        &SelectRequest::new("empty", "gpt-4o", RequestKind::OTHER),
        ErrorCode::NO_KEYS,
    );
    expect_error(
        &selector,
        &SelectRequest::new("anthropic", "claude", RequestKind::OTHER),
        ErrorCode::NO_KEYS,
    );
}

#[test]
fn a_pinned_key_is_served_only_while_it_is_a_candidate() {
    let selector = selector(RULES);
    let mut request = chat("gpt-4o");
    request.pinned_key = ROption::RSome(RStr::from_str("Batch"));
    for _ in 0..20 {
        assert_eq!(
            selector
                .pick(&request)
                .expect("pinned by name")
                .key_id
                .as_str(),
            "batch"
        );
    }
    request.pinned_key = ROption::RSome(RStr::from_str("off"));
    expect_error(&selector, &request, ErrorCode::PINNED_KEY_UNAVAILABLE);
    request.pinned_key = ROption::RSome(RStr::from_str("nobody"));
    let error = expect_error(&selector, &request, ErrorCode::PINNED_KEY_UNAVAILABLE);
    assert!(error.message.contains("nobody"));
    let allowed = [RStr::from_str("batch")];
    request.pinned_key = ROption::RSome(RStr::from_str("main"));
    request.allowed_key_ids = ROption::RSome(RSlice::from_slice(&allowed));
    expect_error(&selector, &request, ErrorCode::PINNED_KEY_UNAVAILABLE);
    request.pinned_key = ROption::RNone;
    let outsiders = [RStr::from_str("off"), RStr::from_str("az")];
    request.allowed_key_ids = ROption::RSome(RSlice::from_slice(&outsiders));
    expect_error(&selector, &request, ErrorCode::MODEL_NOT_SUPPORTED);
}

#[test]
fn an_invalid_configuration_names_the_field() {
    let error = WeightedSelector::from_json(
        r#"{"providers": {"openai": {"keys": [{"id": "a"}, {"id": "b", "models": "gpt-4o"}]}}}"#,
    )
    .expect_err("models must be a list");
    assert_eq!(error.code, ErrorCode::INVALID_CONFIG);
    assert!(
        error
            .message
            .starts_with("providers.openai.keys[1].models: invalid type"),
        "{}",
        error.message
    );
    let error = WeightedSelector::from_json("{\"providers\": [").expect_err("syntax");
    assert_eq!(error.code, ErrorCode::INVALID_CONFIG);
}

#[test]
fn exporting_state_keeps_picks_working() {
    let selector = selector(&keys_with_weights(&[1.0]));
    assert_eq!(selector.export_state().expect("export").as_str(), "null");
    assert!(
        selector
            .import_state(RStr::from_str(r#"{"cursors": {}}"#))
            .is_ok()
    );
    assert_eq!(
        selector
            .pick(&chat("gpt-4o"))
            .expect("still picks")
            .key_id
            .as_str(),
        "k0"
    );
}
