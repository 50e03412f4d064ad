use abi_stable::std_types::{ROption, RSlice, RStr};
use keyward_plugin_api::ffi::{
    ErrorCode, FailedKey, FailureKind, KeySelectorBox, KeySelectorExt, RequestKind, SelectRequest,
};

use crate::{RoundRobinSelector, boxed};

const CONFIG: &str = r#"{"providers": {"openai": {"keys": [
    {"id": "a", "value": "sk-a"}, {"id": "b", "value": "sk-b"},
    {"id": "zero", "value": "sk-z", "weight": 0}, {"id": "c", "value": "sk-c", "use_for_batch_api": true},
    {"id": "mini", "value": "sk-m", "models": ["gpt-4o-mini"], "aliases": {"gpt-4o-mini": "gpt-4o-mini-2024"}}
]}}}"#;

fn selector() -> KeySelectorBox {
    boxed(RoundRobinSelector::from_json(CONFIG).expect("config"))
}

fn turns(selector: &KeySelectorBox, request: &SelectRequest<'_>, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| selector.pick(request).expect("a pick").key_id.to_string())
        .collect()
}

fn chat() -> SelectRequest<'static> {
    SelectRequest::new("openai", "gpt-4o", RequestKind::CHAT_COMPLETION)
}

#[test]
fn keys_take_turns_and_zero_weights_sit_out() {
    let selector = selector();
    assert_eq!(turns(&selector, &chat(), 6), ["a", "b", "c", "a", "b", "c"]);
    let batch = SelectRequest::new("openai", "gpt-4o", RequestKind::BATCH);
    assert_eq!(turns(&selector, &batch, 2), ["c", "c"]);
    let mut mini = SelectRequest::new("openai", "GPT-4o-mini", RequestKind::CHAT_COMPLETION);
    mini.pinned_key = ROption::RSome(RStr::from_str("mini"));
    let choice = selector.pick(&mini).expect("mini");
    assert_eq!(choice.provider_model.as_str(), "gpt-4o-mini-2024");
}

#[test]
fn failed_and_disallowed_keys_are_skipped() {
    let selector = selector();
    let failures = [
        FailedKey {
            key_id: RStr::from_str("a"),
            failure: FailureKind::CREDENTIALS,
        },
        FailedKey {
            key_id: RStr::from_str("b"),
            failure: FailureKind::RATE_LIMITED,
        },
    ];
    let allowed = [RStr::from_str("a"), RStr::from_str("b")];
    let mut request = chat();
    request.failed = RSlice::from_slice(&failures);
    assert_eq!(turns(&selector, &request, 3), ["c", "c", "c"]);
    request.allowed_key_ids = ROption::RSome(RSlice::from_slice(&allowed));
    assert_eq!(
        turns(&selector, &request, 2),
        ["b", "b"],
        "only b is left: retried"
    );
    request.failed = RSlice::from_slice(&failures[..1]);
    request.allowed_key_ids = ROption::RSome(RSlice::from_slice(&allowed[..1]));
    let error = selector
        .pick(&request)
        .expect_err("a failed its credentials");
    assert_eq!(error.code, ErrorCode::ALL_KEYS_EXCLUDED);
    request.pinned_key = ROption::RSome(RStr::from_str("b"));
    let error = selector.pick(&request).expect_err("b is not allowed");
    assert_eq!(error.code, ErrorCode::PINNED_KEY_UNAVAILABLE);
    let unknown = SelectRequest::new("azure", "gpt-4o", RequestKind::OTHER);
    assert_eq!(
        selector.pick(&unknown).expect_err("no keys").code,
        ErrorCode::NO_KEYS
    );
}

#[test]
fn exported_cursors_continue_the_rotation_in_the_next_instance() {
    let old = selector();
    assert_eq!(turns(&old, &chat(), 2), ["a", "b"]);
    let state = old.export_state().expect("export");
    assert!(state.as_str().contains("openai|*|any"), "{state}");
    let new = selector();
    new.import_state(state.as_rstr()).expect("import");
    assert_eq!(turns(&new, &chat(), 2), ["c", "a"]);
    assert_eq!(
        turns(&old, &chat(), 1),
        ["c"],
        "the retired instance still serves"
    );
    let fresh = selector();
    fresh
        .import_state(RStr::from_str("null"))
        .expect("another selector's state is ignored");
    assert_eq!(turns(&fresh, &chat(), 1), ["a"]);
    let error = fresh
        .import_state(RStr::from_str("{not json"))
        .expect_err("garbage");
    assert_eq!(error.code, ErrorCode::INVALID_STATE);
}
