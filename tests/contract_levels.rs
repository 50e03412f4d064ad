//! The contract's evolution rule, across builds: a plugin built at the contract's previous
//! patch level and one built at its current level, each loaded by a host of each level (the
//! probes of `contract-levels/`), plus a plugin of another `0.y`; and keyward-host serving with
//! the previous-level plugin as its key selector. What each side appended is used where both
//! know it and reads as absent where one does not (docs/abi.md, "Evolution").

#![allow(clippy::unwrap_used)]

mod support;

use std::{path::PathBuf, process::Command, sync::OnceLock};

use serde_json::{Value, json};
use support::{
    artifact_dir, build_out_of_tree,
    host::{Host, MockUpstream, proxy_config, scratch_dir},
    plugin_path,
};

/// Builds both levels once: the current one in this workspace, the previous one from its own
/// workspace into the same target directory (so dependencies are shared).
fn built() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let current = Command::new(&cargo)
            .args(["build", "-q", "--locked"])
            .args([
                "-p",
                "keyward-contract-probe",
                "-p",
                "keyward-contract-level",
            ])
            .status()
            .expect("run cargo build");
        assert!(current.success(), "building the current level failed");
        build_out_of_tree("contract-levels/previous/Cargo.toml");
        artifact_dir()
    })
}

/// Runs `probe` on `plugin` (a file of the target directory, or a path); its JSON lines.
fn probe(probe: &str, plugin: impl AsRef<std::path::Path>) -> Vec<Value> {
    let dir = built();
    let plugin = dir.join(plugin);
    let output = Command::new(dir.join(probe))
        .arg(&plugin)
        .output()
        .expect("run the probe");
    assert!(
        output.status.success(),
        "{probe} {} exited with {}: {}",
        plugin.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

fn step<'a>(lines: &'a [Value], name: &str) -> Option<&'a Value> {
    lines.iter().find(|line| line["step"] == name)
}

const CURRENT_HOST: &str = "keyward-contract-probe";
const PREVIOUS_HOST: &str = "keyward-contract-probe-previous";
const CURRENT_PLUGIN: &str = "libkeyward_contract_level.so";
const PREVIOUS_PLUGIN: &str = "libkeyward_contract_level_previous.so";

fn previous_version() -> String {
    let (line, patch) = keyward::INTERFACE_VERSION.rsplit_once('.').unwrap();
    let patch: u64 = patch.parse().unwrap();
    format!("{line}.{}", patch.saturating_sub(1))
}

#[test]
fn the_two_levels_are_the_current_release_and_the_one_before() {
    let lines = probe(PREVIOUS_HOST, PREVIOUS_PLUGIN);
    let load = step(&lines, "load").unwrap();
    assert_eq!(load["host_interface"], previous_version().as_str());
    assert_eq!(load["plugin_interface"], previous_version().as_str());
    let lines = probe(CURRENT_HOST, CURRENT_PLUGIN);
    assert_eq!(
        step(&lines, "load").unwrap()["host_interface"],
        keyward::INTERFACE_VERSION
    );
}

#[test]
fn a_current_plugin_in_a_current_host_uses_what_the_patch_appended() {
    let lines = probe(CURRENT_HOST, CURRENT_PLUGIN);
    assert_eq!(step(&lines, "load").unwrap()["ok"], true, "{lines:?}");
    // The private-use extension asked for table position 2, and the plugin read it.
    assert_eq!(step(&lines, "select").unwrap()["key"], "k3", "{lines:?}");
    assert_own_validate(&lines);
}

/// `validate` (appended in 0.3.1) is in both levels' root modules: the plugin's own check ran.
fn assert_own_validate(lines: &[Value]) {
    let validate = step(lines, "validate").unwrap();
    assert_eq!(validate["own"], true, "the root module's `validate`");
    let error = validate["error"].as_str().unwrap();
    assert!(
        error.contains("validated:") && error.contains("keys[0].weight"),
        "{error}"
    );
}

#[test]
fn an_older_plugin_loads_in_a_newer_host_and_what_it_lacks_reads_as_absent() {
    let lines = probe(CURRENT_HOST, PREVIOUS_PLUGIN);
    let load = step(&lines, "load").unwrap();
    assert_eq!(load["ok"], true, "{lines:?}");
    assert_eq!(load["plugin_interface"], previous_version().as_str());
    // The extension was sent; a plugin of the previous level never reads it.
    assert_eq!(step(&lines, "select").unwrap()["key"], "k1", "{lines:?}");
    assert_own_validate(&lines);
}

#[test]
fn a_newer_plugin_loads_in_an_older_host_which_ignores_what_it_does_not_know() {
    let lines = probe(PREVIOUS_HOST, CURRENT_PLUGIN);
    let load = step(&lines, "load").unwrap();
    assert_eq!(load["ok"], true, "{lines:?}");
    assert_eq!(load["plugin_interface"], keyward::INTERFACE_VERSION);
    assert_eq!(load["host_interface"], previous_version().as_str());
    // An older host sends no extension: the plugin's default pick.
    assert_eq!(step(&lines, "select").unwrap()["key"], "k1", "{lines:?}");
    assert_own_validate(&lines);
}

#[test]
fn another_zero_minor_is_refused_with_the_typed_error_by_hosts_of_both_levels() {
    for host in [CURRENT_HOST, PREVIOUS_HOST] {
        let lines = probe(host, plugin_path("keyward-testing-wrong-version"));
        let load = step(&lines, "load").unwrap();
        assert_eq!(load["ok"], false, "{host}: {lines:?}");
        assert_eq!(load["error"], "IncompatibleVersion", "{host}: {lines:?}");
        let message = load["message"].as_str().unwrap();
        assert!(
            message.contains("0.99.0") && message.contains("0.3.x"),
            "{message}"
        );
        assert_eq!(lines.len(), 1, "nothing of it is used");
    }
}

#[test]
fn keyward_host_serves_with_a_selector_built_at_the_previous_level() {
    built();
    let mock = MockUpstream::start();
    let dir = scratch_dir("contract-previous-selector");
    let mut config = proxy_config(&mock);
    config["plugins"]["key_selection"] = json!({"path": artifact_dir().join(PREVIOUS_PLUGIN)});
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    let host = Host::start_in(dir).expect("keyward-host starts with the previous-level selector");
    assert!(
        host.logs()
            .contains(&format!("interface={}", previous_version())),
        "{}",
        host.logs()
    );
    for _ in 0..3 {
        let reply = host.request(
            "POST",
            "/v1/chat/completions",
            Some(&json!({"model": "openai/gpt-4o", "max_tokens": 5, "messages": []})),
            &[("authorization", "Bearer sk-bf-open-0123456789")],
        );
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
}
