//! Start-up: a Bifrost config.json loads unchanged with what keyward does not support reported
//! once, by name; an invalid configuration stops the host with the JSON path and the reason.

mod support;

use serde_json::json;
use support::host::{Host, default_plugins, scratch_dir, test_config};

fn start_error(name: &str, config: &serde_json::Value, env: &[(&str, &str)]) -> String {
    let dir = scratch_dir(name);
    std::fs::write(dir.join("config.json"), config.to_string()).expect("write the config");
    match Host::start_with_env(dir, env) {
        Ok(_) => panic!("the host started with an invalid configuration"),
        Err(logs) => logs,
    }
}

#[test]
fn a_bifrost_config_loads_and_each_unsupported_field_is_named_once() {
    let mut config = test_config();
    config["encryption_key"] = json!("env.BIFROST_ENCRYPTION_KEY");
    config["config_store"] = json!({"enabled": false});
    config["client"] = json!({"drop_excess_requests": false, "enable_logging": true});
    config["providers"]["openai"]["concurrency_and_buffer_size"] =
        json!({"concurrency": 100, "buffer_size": 500});
    let host = Host::start("startup-bifrost", &config);
    assert_eq!(host.admin("GET", "/api/keys", None).status, 200);
    let logs = host.logs();
    for field in [
        "encryption_key",
        "config_store",
        "client.drop_excess_requests",
        "client.enable_logging",
        "providers.openai.concurrency_and_buffer_size",
    ] {
        let mentions = logs
            .lines()
            .filter(|l| l.contains(&format!("{field}: not supported")))
            .count();
        assert_eq!(mentions, 1, "{field} reported {mentions} times:\n{logs}");
    }
}

#[test]
fn a_wrong_type_stops_the_host_naming_the_json_path() {
    let mut config = test_config();
    config["providers"]["openai"]["keys"][1]["weight"] = json!("heavy");
    let logs = start_error("startup-type", &config, &[]);
    assert!(logs.contains("providers.openai.keys[1].weight"), "{logs}");
}

#[test]
fn an_invalid_governance_block_stops_the_host_with_the_plugins_message() {
    let mut config = test_config();
    config["governance"]["budgets"][0]["reset_duration"] = json!("fortnight");
    let logs = start_error("startup-governance", &config, &[]);
    assert!(logs.contains("reset_duration"), "{logs}");
    assert!(
        logs.contains("expected a number followed by a unit"),
        "{logs}"
    );
    // The value is not echoed: a secret put in the wrong field must not reach the logs.
    assert!(!logs.contains("fortnight"), "{logs}");
}

#[test]
fn a_missing_admin_token_or_plugin_stops_the_host() {
    let mut config = test_config();
    config["admin"] = json!({"token_env": "KEYWARD_TEST_NO_SUCH_TOKEN_VAR"});
    let logs = start_error("startup-token", &config, &[]);
    assert!(logs.contains("KEYWARD_TEST_NO_SUCH_TOKEN_VAR"), "{logs}");

    let mut config = test_config();
    config["plugins"] = default_plugins();
    config["plugins"]["key_selection"]["path"] = json!("/nonexistent/libselector.so");
    let logs = start_error("startup-plugin", &config, &[]);
    assert!(
        logs.contains("/nonexistent/libselector.so") && logs.contains("no such file"),
        "{logs}"
    );
}

#[test]
fn a_missing_environment_variable_is_warned_naming_the_key_and_the_variable_and_the_host_serves() {
    let mut config = test_config();
    config["providers"]["openai"]["keys"][0]["value"] =
        json!("env.KEYWARD_TEST_MISSING_OPENAI_KEY");
    let dir = scratch_dir("startup-env");
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let host = Host::start_in(dir).expect("an unset env.NAME does not stop the host");
    let logs = host.logs();
    assert!(
        logs.contains("providers.openai.keys[0]")
            && logs.contains("KEYWARD_TEST_MISSING_OPENAI_KEY")
            && logs.contains("WARN"),
        "{logs}"
    );
    let health = host.request("GET", "/health", None, &[]);
    assert_eq!(health.body["unusable"][0]["id"], "oa-1", "{}", health.text);
}

#[test]
fn a_vault_reference_is_left_out_like_an_unset_variable_never_sent_as_the_secret() {
    let mut config = test_config();
    config["providers"]["openai"]["keys"][0]["value"] = json!("vault.secret/openai#api_key");
    config["governance"]["virtual_keys"][2]["value"] = json!("vault.secret/vk#gamma");
    let dir = scratch_dir("startup-vault");
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let host = Host::start_in(dir).expect("a vault reference does not stop the host");
    assert!(host.logs().contains("no vault store"), "{}", host.logs());
    let health = host.request("GET", "/health", None, &[]);
    let unusable = health.body["unusable"].to_string();
    assert!(
        unusable.contains("oa-1") && unusable.contains("vk-gamma"),
        "{unusable}"
    );
    // The reference itself is not a virtual key.
    let presented = host.request(
        "POST",
        "/v1/chat/completions",
        Some(&json!({"model": "openai/gpt-4o-mini", "messages": []})),
        &[("x-bf-vk", "vault.secret/vk#gamma")],
    );
    assert_eq!(presented.status, 403, "{}", presented.text);
}

#[test]
fn relative_plugin_paths_resolve_against_a_relatively_named_config_file() {
    // As scripts/bench-gateway starts it: `--config examples/x.json` from the working
    // directory, plugins named relative to the file.
    let dir = scratch_dir("startup-relative");
    let plugins = dir.join("conf").join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for package in ["keyward-weighted-selector", "keyward-governance"] {
        let built = support::plugin_path(package);
        std::fs::copy(&built, plugins.join(built.file_name().unwrap())).unwrap();
    }
    let mut config = test_config();
    config["plugins"] = json!({
        "key_selection": {"path": "plugins/libkeyward_weighted_selector.so"},
        "governance": {"path": "plugins/libkeyward_governance.so"}
    });
    std::fs::write(dir.join("conf").join("config.json"), config.to_string()).unwrap();
    let mut child = std::process::Command::new(support::host::host_binary())
        .current_dir(&dir)
        .args([
            "--config",
            "conf/config.json",
            "--data-dir",
            "data",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("KEYWARD_ADMIN_TOKEN", "relative-test-token-0123456789")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    let listening = std::io::BufRead::lines(stderr)
        .map_while(Result::ok)
        .any(|line| {
            seen.push(line.clone());
            line.contains("listening on") || line.contains("ERROR")
        })
        && seen.last().is_some_and(|l| l.contains("listening on"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening, "the host did not start:\n{}", seen.join("\n"));
}

#[test]
fn a_plugin_copy_directory_other_users_may_change_stops_the_host() {
    // A world-writable $TMPDIR without the sticky bit: another local user could swap the
    // library between its copy and its load, so the loader refuses it, naming the directory.
    use std::os::unix::fs::PermissionsExt;
    let open = scratch_dir("startup-open-tmp");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let logs = start_error(
        "startup-open-tmp-host",
        &test_config(),
        &[("TMPDIR", open.to_str().unwrap())],
    );
    assert!(
        logs.contains("copy")
            && logs.contains("another user")
            && logs.contains(open.to_str().unwrap()),
        "{logs}"
    );
}

#[test]
fn check_config_has_each_plugin_check_its_part_and_writes_nothing() {
    let dir = scratch_dir("check-config");
    let check = |config: &serde_json::Value| {
        std::fs::write(dir.join("config.json"), config.to_string()).expect("write the config");
        std::process::Command::new(support::host::host_binary())
            .arg("--check-config")
            .arg("--config")
            .arg(dir.join("config.json"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .output()
            .expect("runs keyward-host")
    };
    let mut config = test_config();
    config["plugins"] = default_plugins();
    let valid = check(&config);
    let stdout = String::from_utf8_lossy(&valid.stdout);
    assert!(
        valid.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&valid.stderr)
    );
    assert!(
        stdout.contains("weighted-selector") && stdout.contains("governance"),
        "{stdout}"
    );
    assert!(stdout.contains("checked by its validate"), "{stdout}");
    assert!(
        !dir.join("data").exists(),
        "a check writes no data directory"
    );

    config["plugins"]["governance"]["config"] = json!({"shadow_mode": "sometimes"});
    let refused = check(&config);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("shadow_mode") && stderr.contains("libkeyward_governance"),
        "{stderr}"
    );
}

#[test]
fn the_files_version_decides_what_an_empty_allow_list_means_and_another_value_is_refused() {
    let mut config = test_config();
    config["version"] = json!(3);
    let logs = start_error("version-3", &config, &[]);
    assert!(logs.contains("version") && logs.contains("got 3"), "{logs}");

    // test_config is in Bifrost v1.4's shape with "version": 1: vk-beta (no provider configs)
    // may call openai. The same file as a v1.5 one (no version) refuses it, and says why.
    let ask = |host: &Host| {
        host.request(
            "POST",
            "/v1/chat/completions",
            Some(&json!({"model": "openai/gpt-4o", "messages": []})),
            &[("authorization", "Bearer sk-bf-beta-0123456789abcdef")],
        )
    };
    let older = test_config();
    let dir = scratch_dir("version-1");
    std::fs::write(dir.join("config.json"), older.to_string()).unwrap();
    let host = Host::start_in(dir).expect("starts");
    assert_ne!(
        ask(&host).status,
        403,
        "version 1: no provider configs allow every provider"
    );
    drop(host);

    let mut current = test_config();
    current.as_object_mut().unwrap().remove("version");
    let dir = scratch_dir("version-2");
    std::fs::write(dir.join("config.json"), current.to_string()).unwrap();
    let host = Host::start_in(dir).expect("starts");
    let denied = ask(&host);
    assert_eq!(denied.status, 403, "{}", denied.text);
    assert!(denied.text.contains("provider_blocked"), "{}", denied.text);
    assert!(
        host.logs()
            .contains("virtual_keys[1].provider_configs is empty"),
        "{}",
        host.logs()
    );
}

#[test]
fn a_restart_from_the_data_directory_finds_plugins_named_relative_to_the_first_config() {
    let dir = scratch_dir("startup-relative-restart");
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for package in ["keyward-weighted-selector", "keyward-governance"] {
        let built = support::plugin_path(package);
        std::fs::copy(&built, plugins.join(built.file_name().unwrap())).unwrap();
    }
    let mut config = test_config();
    config["plugins"] = json!({
        "key_selection": {"path": "plugins/libkeyward_weighted_selector.so"},
        "governance": {"path": "plugins/libkeyward_governance.so"}
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut host = Host::start_in(dir.clone()).expect("starts");
    let created = host.admin(
        "POST",
        "/api/governance/virtual-keys",
        Some(&json!({"name": "after-start"})),
    );
    assert!(created.status < 300, "{}", created.text);
    host.stop();
    // The data directory now holds the configuration; its plugin paths must still resolve.
    let host = Host::start_in(dir).expect("restarts from the data directory");
    let listed = host.admin("GET", "/api/governance/virtual-keys", None);
    assert!(listed.text.contains("after-start"), "{}", listed.text);
}
