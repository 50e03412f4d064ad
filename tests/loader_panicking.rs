//! A plugin method that panics returns a typed error across the ABI, poisons the instance, and
//! the host fails closed for that role until the plugin is reloaded.

mod support;

use keyward::{
    ffi::{ErrorCode, KeySelectorExt, RequestKind, RoleMask, SelectRequest},
    hosts::ManualHost,
    loader::{RoleSlot, load_plugin},
};

#[test]
fn a_panic_in_a_plugin_method_is_a_typed_error_and_poisons_until_reload() {
    let path = support::plugin_path("keyward-testing-panicking");
    let plugin = load_plugin(&path).expect("load");
    let host = ManualHost::at_unix_secs(0);
    let roles = plugin
        .instantiate(
            r#"{"key_id": "k1"}"#,
            RoleMask::KEY_SELECTION,
            host.handle(),
        )
        .expect("instantiate");
    let slot = RoleSlot::new(
        roles.key_selector.into_option().expect("selector"),
        path.clone(),
    );

    let ok = SelectRequest::new("openai", "gpt-4o", RequestKind::CHAT_COMPLETION);
    let instance = slot.load();
    let choice = instance.call(|s| s.pick(&ok)).expect("a normal pick");
    assert_eq!(choice.key_id.as_str(), "k1");

    let boom = SelectRequest::new("openai", "panic", RequestKind::CHAT_COMPLETION);
    let error = instance.call(|s| s.pick(&boom)).unwrap_err();
    assert_eq!(error.code, ErrorCode::PLUGIN_PANICKED);
    assert_eq!(error.http_status, 503);
    assert!(error.message.contains("asked to panic"), "{error}");

    let after = instance.call(|s| s.pick(&ok)).unwrap_err();
    assert_eq!(
        after.code,
        ErrorCode::PLUGIN_POISONED,
        "fails closed after a panic"
    );
    drop(instance);

    // Reloading (a new instance from a fresh load) serves again.
    let reloaded = load_plugin(&path).expect("reload");
    let roles = reloaded
        .instantiate(
            r#"{"key_id": "k2"}"#,
            RoleMask::KEY_SELECTION,
            host.handle(),
        )
        .expect("instantiate");
    slot.store(roles.key_selector.into_option().expect("selector"), path);
    let instance = slot.load();
    let choice = instance.call(|s| s.pick(&ok)).expect("served after reload");
    assert_eq!(choice.key_id.as_str(), "k2");
}
