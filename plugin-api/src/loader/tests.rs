use std::path::Path;

use super::{LoadError, check_interface_version};

fn verdict(plugin: &str) -> bool {
    check_interface_version(Path::new("p.so"), plugin).is_ok()
}

#[test]
fn only_the_same_zero_minor_with_a_patch_at_least_the_hosts_is_compatible() {
    assert_eq!(
        crate::INTERFACE_VERSION,
        "0.2.0",
        "the cases below assume host 0.2.0"
    );
    assert!(
        !verdict("0.1.1"),
        "an older 0.y is a breaking change (0.2.0 changed KeySelector::select)"
    );
    assert!(verdict("0.2.0"));
    assert!(verdict("0.2.7"), "a newer patch only appends");
    assert!(!verdict("0.3.0"), "a newer 0.y is a breaking change");
    assert!(!verdict("0.0.9"));
    assert!(!verdict("1.1.0"));
    assert!(!verdict("0.99.0"));
    assert!(!verdict("not a version"));
    assert!(!verdict("0.1"));
}

#[test]
fn the_error_names_both_versions_and_the_path() {
    let error = check_interface_version(Path::new("/x/libp.so"), "0.9.0").unwrap_err();
    assert!(matches!(error, LoadError::IncompatibleVersion { .. }));
    let text = error.to_string();
    assert!(
        text.contains("/x/libp.so")
            && text.contains("0.9.0")
            && text.contains(crate::INTERFACE_VERSION),
        "{text}"
    );
}
