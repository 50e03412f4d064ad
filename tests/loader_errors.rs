//! Every way a plugin can fail to load gives its own typed error naming the path and the cause,
//! tested with deliberately broken plugins from `plugins/testing/`.

mod support;

use std::path::PathBuf;

use keyward::{
    ffi::{ErrorCode, RoleMask},
    hosts::ManualHost,
    loader::{LoadError, load_plugin},
};

fn assert_names_path(error: &LoadError, path: &std::path::Path) {
    let text = error.to_string();
    assert!(
        text.contains(&path.display().to_string()),
        "message must name the path: {text}"
    );
}

#[test]
fn a_missing_file_is_not_found() {
    let path = PathBuf::from("/nonexistent/keyward/libnothing.so");
    let error = load_plugin(&path).unwrap_err();
    assert!(
        matches!(&error, LoadError::NotFound { path: p } if *p == path),
        "{error:?}"
    );
    assert_names_path(&error, &path);
}

#[test]
fn a_file_that_is_not_a_shared_object_is_refused_with_the_loader_cause() {
    let dir = support::artifact_dir().join("loader-errors-test");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("libnot-a-plugin.so");
    std::fs::write(&path, "this is text, not ELF").unwrap();
    let error = load_plugin(&path).unwrap_err();
    match &error {
        LoadError::NotASharedObject { path: p, cause } => {
            assert_eq!(*p, path);
            assert!(!cause.is_empty());
        }
        other => panic!("expected NotASharedObject, got {other:?}"),
    }
    assert_names_path(&error, &path);
}

#[test]
fn a_directory_is_not_a_shared_object() {
    let path = support::artifact_dir();
    let error = load_plugin(&path).unwrap_err();
    assert!(
        matches!(error, LoadError::NotASharedObject { .. }),
        "{error:?}"
    );
}

#[test]
fn a_cdylib_without_a_root_module_is_missing_the_symbol() {
    let path = support::plugin_path("keyward-testing-no-root-module");
    let error = load_plugin(&path).unwrap_err();
    match &error {
        LoadError::MissingRootModule { symbol, .. } => {
            assert_eq!(symbol, abi_stable::library::ROOT_MODULE_LOADER_NAME);
        }
        other => panic!("expected MissingRootModule, got {other:?}"),
    }
    assert_names_path(&error, &path);
}

#[test]
fn a_plugin_built_against_another_interface_version_is_incompatible() {
    let path = support::plugin_path("keyward-testing-wrong-version");
    let error = load_plugin(&path).unwrap_err();
    match &error {
        LoadError::IncompatibleVersion {
            expected, found, ..
        } => {
            let line = keyward::INTERFACE_VERSION.rsplit_once('.').unwrap().0;
            assert_eq!(expected, &format!("{line}.x"), "the line the host accepts");
            assert_eq!(found, "0.99.0");
        }
        other => panic!("expected IncompatibleVersion, got {other:?}"),
    }
    assert_names_path(&error, &path);
}

#[test]
fn a_root_module_of_another_layout_is_a_layout_mismatch() {
    let path = support::plugin_path("keyward-testing-wrong-layout");
    let error = load_plugin(&path).unwrap_err();
    match &error {
        LoadError::LayoutMismatch { details, .. } => assert!(!details.is_empty()),
        other => panic!("expected LayoutMismatch, got {other:?}"),
    }
    assert_names_path(&error, &path);
}

#[test]
fn a_constructor_error_is_surfaced_with_its_typed_error() {
    let path = support::plugin_path("keyward-testing-failing-constructor");
    let plugin = load_plugin(&path).expect("the library itself loads");
    let error = plugin
        .instantiate(
            "{}",
            RoleMask::KEY_SELECTION,
            ManualHost::default().handle(),
        )
        .unwrap_err();
    match &error {
        LoadError::Constructor { error: typed, .. } => {
            assert_eq!(typed.code, ErrorCode::INVALID_CONFIG);
            assert_eq!(typed.http_status, 400);
            assert_eq!(
                typed.message.as_str(),
                "providers.openai.keys[0].weight: expected a number"
            );
        }
        other => panic!("expected Constructor, got {other:?}"),
    }
    assert_names_path(&error, &path);
}

#[test]
fn asking_for_a_role_the_plugin_lacks_is_a_missing_role() {
    let path = support::plugin_path("keyward-testing-panicking");
    let plugin = load_plugin(&path).expect("load");
    let error = plugin
        .instantiate(
            "{}",
            RoleMask::AUTHORIZATION,
            ManualHost::default().handle(),
        )
        .unwrap_err();
    match &error {
        LoadError::MissingRole { role, plugin, .. } => {
            assert_eq!(*role, "authorization");
            assert_eq!(plugin, "testing-panicking");
        }
        other => panic!("expected MissingRole, got {other:?}"),
    }
}

#[test]
fn a_successful_load_reports_versions_roles_and_mapping_cost() {
    let path = support::plugin_path("keyward-testing-panicking");
    let plugin = load_plugin(&path).expect("load");
    let report = plugin.report();
    assert_eq!(report.path, path);
    assert_eq!(report.name, "testing-panicking");
    assert_eq!(report.interface_version, keyward::INTERFACE_VERSION);
    assert_eq!(report.host_interface_version, keyward::INTERFACE_VERSION);
    assert_eq!(report.roles, vec!["key_selection"]);
    assert_eq!(report.mapped_bytes, std::fs::metadata(&path).unwrap().len());
    assert_ne!(report.loaded_copy, path, "loads a unique copy");
    assert!(
        !report.loaded_copy.exists(),
        "the copy is removed once mapped"
    );
}
