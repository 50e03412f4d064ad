//! The three-way merge of an edited `--config` file into the saved configuration.

use serde_json::json;

use super::merge;

fn seeded() -> serde_json::Value {
    json!({
        "client": {"max_request_body_size_mb": 10},
        "providers": {"openai": {
            "keys": [{"id": "k1", "name": "one", "value": "env.K1", "weight": 1}],
            "network_config": {"base_url": "https://api.openai.com"}
        }},
        "governance": {
            "enforce_virtual_keys": true,
            "virtual_keys": [{"id": "vk1", "name": "a"}, {"id": "vk2", "name": "b"}],
            "budgets": [{"id": "b1", "max_limit": 10, "virtual_key_id": "vk1"}]
        }
    })
}

#[test]
fn an_unchanged_file_leaves_every_api_change_alone() {
    let mut saved = seeded();
    saved["governance"]["virtual_keys"][0]["name"] = json!("renamed through the API");
    saved["governance"]["virtual_keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "vk3"}));
    let before = saved.clone();
    let report = merge(&mut saved, &seeded(), &seeded());
    assert!(report.is_empty() && report.kept.is_empty(), "{report:?}");
    assert_eq!(saved, before);
}

#[test]
fn file_edits_are_taken_entry_by_entry_and_api_changes_elsewhere_survive() {
    let mut saved = seeded();
    // Through the API: vk2 renamed, a key added, a budget raised.
    saved["governance"]["virtual_keys"][1]["name"] = json!("api-b");
    saved["providers"]["openai"]["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "k-api", "name": "api"}));
    saved["governance"]["budgets"][0]["max_limit"] = json!(20);
    // In the file: vk1 changed, the budget changed too (the file wins), a team added, the
    // base URL and a client field changed.
    let mut file = seeded();
    file["governance"]["virtual_keys"][0]["name"] = json!("file-a");
    file["governance"]["budgets"][0]["max_limit"] = json!(5);
    file["governance"]["teams"] = json!([{"id": "t1", "name": "team"}]);
    file["providers"]["openai"]["network_config"]["base_url"] = json!("https://proxy.example");
    file["client"]["max_request_body_size_mb"] = json!(20);

    let report = merge(&mut saved, &seeded(), &file);
    assert_eq!(
        report.taken,
        [
            "client",
            "providers.openai",
            "governance.budgets[b1]",
            "governance.teams[t1]",
            "governance.virtual_keys[vk1]"
        ]
    );
    let vks = &saved["governance"]["virtual_keys"];
    assert_eq!(vks[0]["name"], "file-a");
    assert_eq!(
        vks[1]["name"], "api-b",
        "the API's change to another entry stays"
    );
    assert_eq!(saved["governance"]["budgets"][0]["max_limit"], 5);
    assert_eq!(saved["governance"]["teams"][0]["id"], "t1");
    assert_eq!(
        saved["providers"]["openai"]["network_config"]["base_url"],
        "https://proxy.example"
    );
    let keys = saved["providers"]["openai"]["keys"].as_array().unwrap();
    assert_eq!(
        keys.len(),
        2,
        "the provider's keys are kept with its new settings"
    );
    assert_eq!(saved["client"]["max_request_body_size_mb"], 20);
}

#[test]
fn a_removal_in_the_file_removes_unless_the_api_changed_the_entry() {
    let mut saved = seeded();
    saved["governance"]["virtual_keys"][1]["name"] = json!("api-b");
    let mut file = seeded();
    file["governance"]["virtual_keys"] = json!([]);
    file["providers"]["openai"]["keys"] = json!([]);
    let report = merge(&mut saved, &seeded(), &file);
    assert_eq!(
        report.removed,
        ["providers.openai.keys[k1]", "governance.virtual_keys[vk1]"]
    );
    assert_eq!(report.kept, ["governance.virtual_keys[vk2]"]);
    assert_eq!(
        saved["governance"]["virtual_keys"],
        json!([{"id": "vk2", "name": "api-b"}])
    );
    assert_eq!(saved["providers"]["openai"]["keys"], json!([]));
}

#[test]
fn lists_without_ids_are_one_entry() {
    let mut seeded = seeded();
    seeded["governance"]["routing_rules"] = json!([{"cel_expression": "true"}]);
    let mut saved = seeded.clone();
    let mut file = seeded.clone();
    file["governance"]["routing_rules"] = json!([{"cel_expression": "false"}]);
    let report = merge(&mut saved, &seeded, &file);
    assert_eq!(report.taken, ["governance.routing_rules"]);
    assert_eq!(
        saved["governance"]["routing_rules"],
        file["governance"]["routing_rules"]
    );
}
