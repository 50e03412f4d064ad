//! Stamps the build with the plugin contract's identity and guards its evolution.
//!
//! - `KEYWARD_INTERFACE_VERSION`: the `keyward-plugin-api` package version (abi_stable checks
//!   it when a plugin loads).
//! - `KEYWARD_CONTRACT_FINGERPRINT`: FNV-1a of `plugin-api/src/ffi/*.rs` with comments and
//!   whitespace removed, so documentation edits do not change it but any change to a type does.
//!
//! `plugin-api/abi.lock` records the fingerprint for the current interface version. When the
//! contract changes without a version bump, the build fails and says what to do; after a bump,
//! `KEYWARD_BLESS_ABI=1 cargo build` records the new fingerprint (docs/abi.md, "Evolution").

use std::{fs, path::Path};

fn main() {
    let ffi_dir = Path::new("plugin-api/src/ffi");
    let lock_path = Path::new("plugin-api/abi.lock");
    println!("cargo:rerun-if-changed={}", ffi_dir.display());
    println!("cargo:rerun-if-changed={}", lock_path.display());
    println!("cargo:rerun-if-changed=plugin-api/Cargo.toml");
    println!("cargo:rerun-if-env-changed=KEYWARD_BLESS_ABI");

    let version = package_version(Path::new("plugin-api/Cargo.toml"));
    let fingerprint = contract_fingerprint(ffi_dir);
    println!("cargo:rustc-env=KEYWARD_INTERFACE_VERSION={version}");
    println!("cargo:rustc-env=KEYWARD_CONTRACT_FINGERPRINT={fingerprint}");

    let lock = fs::read_to_string(lock_path).unwrap_or_default();
    let locked_version = lock_value(&lock, "interface_version");
    let locked_fingerprint = lock_value(&lock, "fingerprint");
    if std::env::var_os("KEYWARD_BLESS_ABI").is_some() {
        let text = format!(
            "# Written by build.rs with KEYWARD_BLESS_ABI=1: the contract fingerprint of this interface version.\n\
             interface_version = \"{version}\"\nfingerprint = \"{fingerprint}\"\n"
        );
        fs::write(lock_path, text).expect("write plugin-api/abi.lock");
        return;
    }
    if locked_version.as_deref() == Some(version.as_str())
        && locked_fingerprint.as_deref() != Some(fingerprint.as_str())
    {
        panic!(
            "the ABI contract in plugin-api/src/ffi changed (fingerprint {fingerprint}, abi.lock has {}) \
             but the interface version is still {version}. Bump `version` in plugin-api/Cargo.toml \
             (see docs/abi.md, Evolution), then record it with `KEYWARD_BLESS_ABI=1 cargo build`.",
            locked_fingerprint.unwrap_or_default()
        );
    }
    if locked_version.as_deref() != Some(version.as_str()) {
        println!(
            "cargo:warning=plugin-api/abi.lock records interface {} but the version is {version}: \
             run `KEYWARD_BLESS_ABI=1 cargo build` to record fingerprint {fingerprint}",
            locked_version.unwrap_or_else(|| "none".to_owned())
        );
    }
}

fn package_version(manifest: &Path) -> String {
    let text = fs::read_to_string(manifest).expect("read plugin-api/Cargo.toml");
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(value) = line.strip_prefix("version") {
            let value = value.trim_start().trim_start_matches('=').trim();
            return value.trim_matches('"').to_owned();
        }
    }
    panic!("plugin-api/Cargo.toml has no [package] version");
}

fn contract_fingerprint(dir: &Path) -> String {
    let mut files: Vec<_> = fs::read_dir(dir)
        .expect("read plugin-api/src/ffi")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = fs::read_to_string(&file).expect("read contract source");
        for byte in name.bytes().chain(normalize(&text).bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// The source without `//` comments and without whitespace.
fn normalize(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace())
        .collect()
}

fn lock_value(lock: &str, key: &str) -> Option<String> {
    lock.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        (name.trim() == key).then(|| value.trim().trim_matches('"').to_owned())
    })
}
