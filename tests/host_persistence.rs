//! Changes made through the API are saved to the data directory atomically: a restart keeps them,
//! and a `kill -9` in the middle of a burst of writes leaves a loadable configuration holding
//! every acknowledged change.

mod support;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde_json::json;
use support::host::{Host, test_config};

#[test]
fn a_restart_keeps_every_change() {
    let host = Host::start("persist-restart", &test_config());
    let key = host.admin(
        "POST",
        "/api/providers/openai/keys",
        Some(&json!({"name": "kept", "value": "sk-kept-0123456789abcdef"})),
    );
    assert_eq!(key.status, 200, "{}", key.text);
    let vk = host.admin(
        "POST",
        "/api/governance/virtual-keys",
        Some(&json!({"name": "kept-vk"})),
    );
    assert_eq!(vk.status, 200, "{}", vk.text);
    let vk_id = vk.body["virtual_key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        host.admin("DELETE", "/api/providers/openai/keys/oa-1", None)
            .status,
        200
    );

    let host = host.restart();
    let keys = host.admin("GET", "/api/keys", None).body;
    let names: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"kept"), "{names:?}");
    assert!(
        !names.contains(&"openai-primary"),
        "the deletion is kept too: {names:?}"
    );
    assert_eq!(
        host.admin(
            "GET",
            &format!("/api/governance/virtual-keys/{vk_id}"),
            None
        )
        .status,
        200
    );
    assert!(
        host.logs().contains("data/config.json"),
        "restarted from the data directory:\n{}",
        host.logs()
    );
}

#[test]
fn a_kill_during_writes_leaves_a_loadable_file_with_every_acknowledged_change() {
    let mut host = Host::start("persist-crash", &test_config());
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let base = host.base.clone();
    let writer = {
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(5)))
                .build()
                .into();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let name = format!("burst-{n}");
                let body =
                    json!({"name": name, "value": format!("sk-burst-{n}-0123456789")}).to_string();
                let sent = agent
                    .post(format!("{base}/api/providers/openai/keys"))
                    .header(
                        "authorization",
                        format!("Bearer {}", support::host::ADMIN_TOKEN),
                    )
                    .header("content-type", "application/json")
                    .send(body);
                match sent {
                    Ok(response) if response.status() == 200 => {
                        acknowledged.lock().unwrap().push(name)
                    }
                    _ => break,
                }
            }
        })
    };
    while acknowledged.lock().unwrap().len() < 20 {
        std::thread::sleep(Duration::from_millis(5));
    }
    host.kill9();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();

    let host = Host::start_in(host.dir.clone()).expect("restarts after kill -9");
    let keys = host.admin("GET", "/api/keys", None).body;
    let names: Vec<String> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    for name in &acknowledged {
        assert!(names.contains(name), "acknowledged {name} was lost");
    }
}

#[test]
fn temporary_files_left_by_a_crash_are_removed_at_start() {
    let mut host = Host::start("persist-leftover", &test_config());
    host.stop();
    let leftover = host.data_dir().join(".config.json.123.4.keyward-tmp");
    std::fs::write(&leftover, "{\"provid").unwrap();
    let host = Host::start_in(host.dir.clone()).expect("starts with a leftover temporary file");
    assert!(!leftover.exists());
    assert_eq!(host.admin("GET", "/api/keys", None).status, 200);
}

#[test]
fn the_saved_configuration_and_its_directory_are_private() {
    // The saved file holds virtual-key values and literal provider keys.
    use std::os::unix::fs::PermissionsExt;
    let host = Host::start("persistence-modes", &test_config());
    let created = host.admin(
        "POST",
        "/api/governance/virtual-keys",
        Some(&json!({"name": "private"})),
    );
    assert_eq!(created.status, 200, "{}", created.text);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let data = host.data_dir();
    assert_eq!(mode(&data.join("config.json")), 0o600);
    assert_eq!(mode(&data), 0o700);
    // A data directory others may enter is kept as it is, and warned at start.
    let mut host = host;
    host.stop();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let host = host.restart();
    assert_eq!(mode(&host.data_dir()), 0o755);
    assert!(host.logs().contains("chmod 700"), "warned: {}", host.logs());
}

#[test]
fn edits_to_the_config_file_are_applied_at_the_next_start_beside_the_api_changes() {
    let host = Host::start("persist-reseed", &test_config());
    let created = host.admin(
        "POST",
        "/api/governance/virtual-keys",
        Some(&json!({"name": "made-through-the-api"})),
    );
    assert_eq!(created.status, 200, "{}", created.text);
    let api_vk = created.body["virtual_key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut host = host;
    host.stop();

    // The file is edited: a virtual key added, one renamed, the rate limit raised.
    let path = host.config_path();
    let mut file = support::host::read_json(&path);
    file["governance"]["virtual_keys"]
        .as_array_mut()
        .unwrap()
        .push(
            json!({"id": "vk-from-file", "name": "from-file", "value": "sk-bf-from-file-0123456789",
                     "provider_configs": [{"provider": "openai", "allowed_models": ["*"]}]}),
        );
    file["governance"]["virtual_keys"][0]["name"] = json!("Alpha (renamed in the file)");
    file["governance"]["rate_limits"][0]["request_max_limit"] = json!(250);
    std::fs::write(&path, file.to_string()).unwrap();

    let host = host.restart();
    let read = |id: &str| host.admin("GET", &format!("/api/governance/virtual-keys/{id}"), None);
    assert_eq!(read(&api_vk).status, 200, "the API's virtual key survives");
    let from_file = read("vk-from-file");
    assert_eq!(from_file.status, 200, "{}", from_file.text);
    assert_eq!(
        read("vk-alpha").body["virtual_key"]["name"],
        "Alpha (renamed in the file)"
    );
    let limits = host.admin("GET", "/api/governance/rate-limits", None);
    assert!(limits.text.contains("250"), "{}", limits.text);
    assert!(
        host.logs().contains("applied the edits made to the file"),
        "{}",
        host.logs()
    );
    assert!(
        !host.logs().contains("sk-bf-from-file"),
        "no value is logged"
    );

    // Unchanged since: the next start re-applies nothing, and an API change stays.
    let renamed = host.admin(
        "PUT",
        "/api/governance/virtual-keys/vk-alpha",
        Some(&json!({"name": "Alpha (renamed through the API)"})),
    );
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    let mut host = host.restart();
    let alpha = host.admin("GET", "/api/governance/virtual-keys/vk-alpha", None);
    assert_eq!(
        alpha.body["virtual_key"]["name"], "Alpha (renamed through the API)",
        "an unedited file does not undo API changes"
    );
    assert!(
        !host.logs().contains("applied the edits"),
        "{}",
        host.logs()
    );
    host.stop();

    // An edit that makes the merged configuration invalid stops the start, naming the file,
    // and the saved configuration is left as it was.
    let saved = std::fs::read(host.data_dir().join("config.json")).unwrap();
    let mut file = support::host::read_json(&path);
    file["governance"]["virtual_keys"][0]["team_id"] = json!("no-such-team");
    std::fs::write(&path, file.to_string()).unwrap();
    let refused = Host::start_in(path.parent().unwrap().to_path_buf())
        .err()
        .expect("refuses the invalid merge");
    assert!(
        refused.contains("since it was last seeded") && refused.contains("no-such-team"),
        "{refused}"
    );
    assert_eq!(
        std::fs::read(host.data_dir().join("config.json")).unwrap(),
        saved
    );
}
