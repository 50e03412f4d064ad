//! Shared helpers for the end-to-end tests: find the plugin `.so` files that `cargo test
//! --workspace` built, in cargo's own target directory (never a hard-coded relative path).

#![allow(dead_code)] // Each test binary uses a different subset.

use std::path::PathBuf;

/// The directory holding the workspace's build artifacts for this profile (`target/debug`),
/// found from the running test binary (`target/debug/deps/<test>-<hash>`).
pub fn artifact_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test binary has a parent directory");
    deps.parent()
        .expect("deps has a parent directory")
        .to_path_buf()
}

/// The path of the cdylib built from the workspace package `package` (e.g.
/// `keyward-weighted-selector` -> `target/debug/libkeyward_weighted_selector.so`).
pub fn plugin_path(package: &str) -> PathBuf {
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    let path = artifact_dir().join(file);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds every plugin",
        path.display()
    );
    path
}
