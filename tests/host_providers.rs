//! `/api/providers` (Bifrost's providers routes, docs.getbifrost.ai/api-reference/providers):
//! list, read, create, update (an upsert), delete; keys stay on their own routes.

mod support;

use serde_json::json;
use support::host::{Host, assert_envelope, read_json, test_config};

#[test]
fn providers_are_listed_read_created_updated_and_deleted() {
    let mut config = test_config();
    config["providers"]["openai"]["network_config"]["extra_headers"] =
        json!({"X-Org-Token": "org-secret-0123456789abcdef"});
    config["providers"]["openai"]["concurrency_and_buffer_size"] =
        json!({"concurrency": 10, "buffer_size": 100});
    let host = Host::start("providers", &config);

    let list = host.admin("GET", "/api/providers", None);
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["total"], 2);
    let names: Vec<&str> = list.body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["azure", "openai"], "sorted by name");
    assert!(
        !list.text.contains("org-secret-0123456789abcdef"),
        "{}",
        list.text
    );
    assert!(
        !list.text.contains("sk-openai-primary"),
        "keys are not listed"
    );
    let openai = host.admin("GET", "/api/providers/openai", None);
    assert_eq!(openai.body["provider_status"], "active");
    assert_eq!(
        openai.body["concurrency_and_buffer_size"]["concurrency"],
        10
    );
    assert!(openai.body.get("keys").is_none());
    assert_eq!(
        assert_envelope(&host.admin("GET", "/api/providers/nope", None), 404),
        "not_found"
    );

    // Sent back as read: accepted, nothing changes on disk (the redacted header is kept).
    let touch = host.admin("PUT", "/api/providers/azure", Some(&json!({})));
    assert_eq!(touch.status, 200, "{}", touch.text);
    let saved = host.data_dir().join("config.json");
    let before = read_json(&saved);
    let back = host.admin("PUT", "/api/providers/openai", Some(&openai.body));
    assert_eq!(back.status, 200, "{}", back.text);
    assert_eq!(read_json(&saved), before);
    assert_eq!(
        read_json(&saved)["providers"]["openai"]["network_config"]["extra_headers"]["X-Org-Token"],
        "org-secret-0123456789abcdef"
    );

    // Create a custom provider; a second create is a conflict.
    let custom = json!({
        "provider": "openai-custom",
        "network_config": {"base_url": "http://127.0.0.1:9/v2"},
        "custom_provider_config": {"base_provider_type": "openai",
                                   "allowed_requests": {"chat_completion": true}}
    });
    let created = host.admin("POST", "/api/providers", Some(&custom));
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.body["name"], "openai-custom");
    assert_eq!(
        created.body["custom_provider_config"]["base_provider_type"],
        "openai"
    );
    assert_eq!(
        assert_envelope(&host.admin("POST", "/api/providers", Some(&custom)), 409),
        "conflict"
    );
    // An update replaces the fields it sends, keeps the others, and `null` clears.
    let updated = host.admin(
        "PUT",
        "/api/providers/openai-custom",
        Some(&json!({"network_config": {"base_url": "http://127.0.0.1:9/v3"}, "custom_provider_config": null})),
    );
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(
        updated.body["network_config"]["base_url"],
        "http://127.0.0.1:9/v3"
    );
    assert!(updated.body.get("custom_provider_config").is_none());
    // Keys have their own routes.
    let with_keys = host.admin(
        "PUT",
        "/api/providers/openai-custom",
        Some(&json!({"keys": [{"name": "k", "value": "sk-0123456789abcdef"}]})),
    );
    assert_eq!(assert_envelope(&with_keys, 400), "invalid_request");
    assert_eq!(with_keys.body["error"]["param"], "keys");
    // A provider a virtual key allows cannot go; another can.
    assert_eq!(
        assert_envelope(&host.admin("DELETE", "/api/providers/openai", None), 409),
        "conflict"
    );
    let deleted = host.admin("DELETE", "/api/providers/openai-custom", None);
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(
        host.admin("GET", "/api/providers/openai-custom", None)
            .status,
        404
    );
    assert!(
        read_json(&saved)["providers"]
            .get("openai-custom")
            .is_none()
    );
}
