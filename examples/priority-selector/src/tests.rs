//! In-process tests: the plugin's types called directly, no `.so` loaded.

use abi_stable::std_types::{ROption, RSlice, RStr};
use keyward_plugin_api::ffi::{
    ErrorCode, FailedKey, FailureKind, KeySelectorExt, RequestKind, SelectRequest,
};

use super::PrioritySelector;

const CONFIG: &str = r#"{"providers": {"openai": {"keys": [
    {"id": "backup", "name": "backup", "value": "sk-b", "models": ["*"], "weight": 1},
    {"id": "primary", "name": "primary", "value": "sk-p", "models": ["*"], "weight": 10}
]}}}"#;

fn request() -> SelectRequest<'static> {
    SelectRequest::new("openai", "gpt-4o", RequestKind::CHAT_COMPLETION)
}

#[test]
fn the_heaviest_key_serves_and_the_backup_only_after_it_failed() {
    let selector = PrioritySelector::from_json(CONFIG).unwrap();
    assert_eq!(
        selector.pick(&request()).unwrap().key_id.as_str(),
        "primary"
    );
    let failed = [FailedKey {
        key_id: RStr::from("primary"),
        failure: FailureKind::SERVER_ERROR,
    }];
    let mut retry = request();
    retry.failed = RSlice::from_slice(&failed);
    assert_eq!(selector.pick(&retry).unwrap().key_id.as_str(), "backup");
}

#[test]
fn the_allow_list_and_the_pin_are_honoured_and_errors_are_typed() {
    let selector = PrioritySelector::from_json(CONFIG).unwrap();
    let allowed = [RStr::from("backup")];
    let mut limited = request();
    limited.allowed_key_ids = ROption::RSome(RSlice::from_slice(&allowed));
    assert_eq!(selector.pick(&limited).unwrap().key_id.as_str(), "backup");

    let mut pinned = request();
    pinned.pinned_key = ROption::RSome(RStr::from("backup"));
    assert_eq!(selector.pick(&pinned).unwrap().key_id.as_str(), "backup");

    let unknown = SelectRequest::new("anthropic", "claude", RequestKind::CHAT_COMPLETION);
    let error = selector.pick(&unknown).unwrap_err();
    assert_eq!(error.code, ErrorCode::NO_KEYS);
}

#[test]
fn a_bad_configuration_names_the_field() {
    let error = super::validate_config(
        r#"{"providers": {"openai": {"keys": [{"id": "k", "weight": "x"}]}}}"#,
        keyward_plugin_api::ffi::RoleMask::KEY_SELECTION,
    )
    .unwrap_err();
    assert!(
        error.message.contains("keys[0].weight"),
        "{}",
        error.message
    );
}
