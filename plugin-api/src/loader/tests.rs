use std::path::Path;

use super::{LoadError, check_interface_version, interface_versions_compatible};

#[test]
fn within_one_zero_minor_every_patch_level_is_compatible_both_ways() {
    let host = "0.3.1";
    assert!(interface_versions_compatible(host, "0.3.0"), "older plugin");
    assert!(interface_versions_compatible(host, "0.3.1"));
    assert!(interface_versions_compatible(host, "0.3.9"), "newer plugin");
    assert!(
        interface_versions_compatible("0.3.0", "0.3.1"),
        "older host"
    );
    assert!(
        !interface_versions_compatible(host, "0.2.0"),
        "an older 0.y"
    );
    assert!(!interface_versions_compatible(host, "0.4.0"), "a newer 0.y");
    assert!(!interface_versions_compatible(host, "1.3.1"));
    assert!(!interface_versions_compatible(host, "0.3"));
    assert!(!interface_versions_compatible(host, "not a version"));
    assert!(interface_versions_compatible(host, "0.3.2-rc.1"));
}

#[test]
fn from_one_on_the_major_decides() {
    assert!(interface_versions_compatible("1.4.0", "1.0.3"));
    assert!(interface_versions_compatible("1.0.3", "1.9.0"));
    assert!(!interface_versions_compatible("1.4.0", "2.4.0"));
    assert!(!interface_versions_compatible("1.4.0", "0.4.0"));
}

#[test]
fn the_error_names_the_path_the_plugins_version_and_the_line_it_must_match() {
    let error = check_interface_version(Path::new("/x/libp.so"), "0.99.0").unwrap_err();
    assert!(matches!(error, LoadError::IncompatibleVersion { .. }));
    let text = error.to_string();
    let line = crate::INTERFACE_VERSION.rsplit_once('.').unwrap().0;
    assert!(
        text.contains("/x/libp.so") && text.contains("0.99.0") && text.contains(line),
        "{text}"
    );
}

#[test]
fn the_older_contract_is_told_by_minor_then_patch() {
    use super::minor_and_patch;
    assert!(minor_and_patch("0.3.0") < minor_and_patch("0.3.1"));
    assert!(
        minor_and_patch("1.2.5") < minor_and_patch("1.3.0"),
        "from 1.0 the minor decides first"
    );
    assert_eq!(minor_and_patch("0.3.2-rc.1"), (3, 2));
    assert_eq!(minor_and_patch("nonsense"), (0, 0));
}
