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
    let previous_manifest = Path::new("contract-levels/previous/api/Cargo.toml");
    println!("cargo:rerun-if-changed={}", ffi_dir.display());
    println!("cargo:rerun-if-changed={}", lock_path.display());
    println!("cargo:rerun-if-changed={}", previous_manifest.display());
    println!("cargo:rerun-if-changed=plugin-api/Cargo.toml");
    println!("cargo:rerun-if-env-changed=KEYWARD_BLESS_ABI");

    let version = package_version(Path::new("plugin-api/Cargo.toml"));
    let fingerprint = contract_fingerprint(ffi_dir);
    println!("cargo:rustc-env=KEYWARD_INTERFACE_VERSION={version}");
    println!("cargo:rustc-env=KEYWARD_CONTRACT_FINGERPRINT={fingerprint}");
    if let Err(problem) = check_evolution_rules(ffi_dir) {
        panic!("{problem} (docs/abi.md, Evolution)");
    }
    if let Err(problem) = check_previous_level(&version, previous_manifest) {
        panic!("{problem} (docs/abi.md, \"Releasing a patch\")");
    }

    let lock = fs::read_to_string(lock_path).unwrap_or_default();
    let locked_version = lock_value(&lock, "interface_version");
    let locked_fingerprint = lock_value(&lock, "fingerprint");
    if std::env::var_os("KEYWARD_BLESS_ABI").is_some() {
        let history = blessed_history(
            lock_value(&lock, "history").as_deref(),
            &version,
            &fingerprint,
        );
        let text = format!(
            "# Written by build.rs with KEYWARD_BLESS_ABI=1: the contract fingerprint of this interface version,\n\
             # and every release of its 0.y line (version=fingerprint, oldest first).\n\
             interface_version = \"{version}\"\nfingerprint = \"{fingerprint}\"\nhistory = \"{history}\"\n"
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

/// `history` with `version=fingerprint` recorded: entries of another `0.y` line are dropped
/// (a new line starts a new history), an entry of the same version is replaced.
fn blessed_history(history: Option<&str>, version: &str, fingerprint: &str) -> String {
    let line = |v: &str| v.rsplit_once('.').map(|(line, _)| line.to_owned());
    let mut entries: Vec<String> = history
        .unwrap_or_default()
        .split(',')
        .filter(|entry| {
            let entry_version = entry.split('=').next().unwrap_or_default();
            !entry.is_empty() && entry_version != version && line(entry_version) == line(version)
        })
        .map(str::to_owned)
        .collect();
    entries.push(format!("{version}={fingerprint}"));
    entries.join(",")
}

/// The rules the layout check cannot see until two levels meet:
/// - a method appended to a `#[sabi_trait]` after its `#[sabi(last_prefix_field)]` method has a
///   default body (a peer built before it lacks it; without a default the call would panic);
/// - no prefix type reads a missing field by panicking (`missing_field(panic)`).
fn check_evolution_rules(dir: &Path) -> Result<(), String> {
    for file in contract_files(dir) {
        let text = fs::read_to_string(&file).expect("read contract source");
        let name = file.display();
        if text.contains("missing_field(panic)") {
            return Err(format!(
                "{name}: `missing_field(panic)` makes a field an older peer lacks panic; use `missing_field(option)`"
            ));
        }
        for (trait_name, appended) in appended_trait_methods(&text) {
            for (method, has_body) in appended {
                if !has_body {
                    return Err(format!(
                        "{name}: `{trait_name}::{method}` comes after the last prefix method and has no default body: \
                         a plugin or host built before it lacks it, so it needs a default"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// For each `#[sabi_trait]` trait, the methods after its `#[sabi(last_prefix_field)]` method,
/// each with whether it has a default body.
fn appended_trait_methods(text: &str) -> Vec<(String, Vec<(String, bool)>)> {
    let code = strip_comments(text);
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("#[sabi_trait]") {
        rest = &rest[at + "#[sabi_trait]".len()..];
        let Some(open) = rest.find('{') else { break };
        let header = &rest[..open];
        let trait_name = header
            .split("trait")
            .nth(1)
            .and_then(|tail| {
                tail.split(|c: char| !c.is_alphanumeric() && c != '_')
                    .find(|s| !s.is_empty())
            })
            .unwrap_or("?")
            .to_owned();
        let body = block(&rest[open..]);
        let mut methods = Vec::new();
        if let Some(marker) = body.find("#[sabi(last_prefix_field)]") {
            let after = &body[marker..];
            // Skip the last prefix method itself.
            let mut tail = after.find("fn ").map_or("", |at| &after[at + 3..]);
            tail = tail.find("fn ").map_or("", |at| &tail[at..]);
            while let Some(at) = tail.find("fn ") {
                let item = &tail[at + 3..];
                let method = item
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .next()
                    .unwrap_or("?")
                    .to_owned();
                let semicolon = item.find(';').unwrap_or(usize::MAX);
                let brace = item.find('{').unwrap_or(usize::MAX);
                methods.push((method, brace < semicolon));
                let end = if brace < semicolon {
                    brace + block(&item[brace..]).len()
                } else {
                    semicolon.min(item.len())
                };
                tail = &item[end..];
            }
        }
        found.push((trait_name, methods));
        rest = &rest[open + body.len()..];
    }
    found
}

/// The `{ … }` block at the start of `text`, braces matched.
fn block(text: &str) -> &str {
    let mut depth = 0usize;
    for (at, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return &text[..=at];
                }
            }
            _ => {}
        }
    }
    text
}

/// The previous contract level (`contract-levels/previous/api`, the same sources with what the
/// current patch appended compiled out) must be the release just before this one: `0.y.(z-1)`,
/// or `0.y.0` itself when this is the line's first release.
fn check_previous_level(version: &str, manifest: &Path) -> Result<(), String> {
    let previous = package_version(manifest);
    let expected = match version.rsplit_once('.') {
        Some((line, patch)) => match patch.parse::<u64>() {
            Ok(0) | Err(_) => version.to_owned(),
            Ok(patch) => format!("{line}.{}", patch - 1),
        },
        None => version.to_owned(),
    };
    if previous == expected {
        Ok(())
    } else {
        Err(format!(
            "{} is at {previous}, but the release before {version} is {expected}: \
             set its version, and mark what {version} appends with #[cfg(not(keyward_previous_patch))]",
            manifest.display()
        ))
    }
}

fn contract_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .expect("read plugin-api/src/ffi")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    files.sort();
    files
}

fn package_version(manifest: &Path) -> String {
    let text = fs::read_to_string(manifest)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest.display()));
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
    panic!("{} has no [package] version", manifest.display());
}

fn contract_fingerprint(dir: &Path) -> String {
    let files = contract_files(dir);
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
    strip_comments(text)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// The source without `//` comments (doc comments included), lines kept.
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn lock_value(lock: &str, key: &str) -> Option<String> {
    lock.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        (name.trim() == key).then(|| value.trim().trim_matches('"').to_owned())
    })
}
