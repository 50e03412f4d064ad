//! Shared helpers for the end-to-end tests: find the plugin `.so` files that `cargo test
//! --workspace` built, in cargo's own target directory (never a hard-coded relative path).

#![allow(dead_code)]
// Each test binary uses a different subset.
// Test helpers fail the test on unexpected errors, like the tests themselves.
#![allow(clippy::unwrap_used)]

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
/// `keyward-weighted-selector` -> `libkeyward_weighted_selector.so`).
///
/// Cargo writes it to `target/debug/` when it builds the package itself, and to
/// `target/debug/deps/` when it builds it as a dependency of this package (every plugin the tests
/// load is a dev-dependency, so `cargo test` always rebuilds it first). The newer one is the
/// current build.
pub fn plugin_path(package: &str) -> PathBuf {
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    let dir = artifact_dir();
    [dir.join("deps").join(&file), dir.join(&file)]
        .into_iter()
        .filter_map(|path| {
            let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
            Some((modified, path))
        })
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, path)| path)
        .unwrap_or_else(|| {
            panic!(
                "{file} was not built: is {package} a dev-dependency of the root package? \
                 (`cargo test --workspace` builds it)"
            )
        })
}
pub mod host;
pub mod table;
pub mod test_host;

/// Builds the crate of `manifest` (relative to the repository: a workspace of its own, such as
/// `examples/priority-selector/Cargo.toml`) into this target directory, with its lock file, as
/// its author would; dependencies already built here are reused.
pub fn build_out_of_tree(manifest: &str) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let target = artifact_dir().parent().unwrap().to_path_buf();
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(manifest);
    let status = std::process::Command::new(cargo)
        .args(["build", "-q", "--locked", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building {} failed", manifest.display());
}
