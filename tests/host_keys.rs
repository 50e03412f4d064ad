//! Provider keys through the management API: every route, every validation error, redaction,
//! and the rule that a redacted value sent back keeps the stored secret.

mod support;

use serde_json::{Value, json};
use support::host::{Host, assert_envelope, read_json, test_config};

fn secrets() -> [&'static str; 3] {
    [
        "sk-openai-primary-0123456789",
        "sk-openai-secondary-0123456789",
        "azure-secret-0123456789",
    ]
}

fn assert_no_secret(text: &str) {
    for secret in secrets() {
        assert!(!text.contains(secret), "secret leaked: {text}");
    }
}

#[test]
fn listing_keys_redacts_every_secret() {
    let host = Host::start("keys-list", &test_config());
    let all = host.admin("GET", "/api/keys", None);
    assert_eq!(all.status, 200);
    assert_no_secret(&all.text);
    let keys = all.body.as_array().unwrap();
    assert_eq!(keys.len(), 3);
    let primary = keys.iter().find(|k| k["id"] == "oa-1").unwrap();
    // 28 characters: at most 7 shown, the public prefix `sk-` and the last 4.
    assert_eq!(
        primary["value"]["value"],
        format!("sk-{}6789", "*".repeat(21))
    );
    assert_eq!(primary["name"], "openai-primary");

    let openai = host.admin("GET", "/api/providers/openai/keys", None);
    assert_eq!(openai.status, 200);
    assert_eq!(openai.body["total"], 2);
    assert_eq!(openai.body["keys"].as_array().unwrap().len(), 2);
    assert_no_secret(&openai.text);

    let one = host.admin("GET", "/api/providers/azure/keys/az-1", None);
    assert_eq!(one.status, 200);
    assert_eq!(
        one.body["azure_key_config"]["deployments"]["gpt-4o"],
        "gpt4o-east"
    );
    assert_no_secret(&one.text);
    assert!(
        !host.logs().contains("0123456789"),
        "no secret in the logs:\n{}",
        host.logs()
    );
}

#[test]
fn creating_a_key_fills_id_and_enabled_and_persists_it() {
    let host = Host::start("keys-create", &test_config());
    let created = host.admin(
        "POST",
        "/api/providers/openai/keys",
        Some(&json!({"name": "openai-third", "value": "sk-third-0123456789abcdef", "models": ["gpt-4o"]})),
    );
    assert_eq!(created.status, 200, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(created.body["enabled"], true);
    assert!(!created.text.contains("sk-third-0123456789abcdef"));
    let read = host.admin("GET", &format!("/api/providers/openai/keys/{id}"), None);
    assert_eq!(read.status, 200);
    assert_eq!(read.body["name"], "openai-third");
    let saved = read_json(&host.data_dir().join("config.json"));
    let stored = saved["providers"]["openai"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        stored["value"]["value"], "sk-third-0123456789abcdef",
        "the data directory keeps the real value"
    );
}

#[test]
fn an_update_that_sends_the_redacted_value_back_keeps_the_secret() {
    let host = Host::start("keys-update", &test_config());
    let mut key = host
        .admin("GET", "/api/providers/openai/keys/oa-1", None)
        .body;
    key["weight"] = json!(7);
    key["models"] = json!(["gpt-4o", "gpt-4o-mini"]);
    let updated = host.admin("PUT", "/api/providers/openai/keys/oa-1", Some(&key));
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.body["weight"], 7.0);
    assert_no_secret(&updated.text);
    let saved = read_json(&host.data_dir().join("config.json"));
    let stored = &saved["providers"]["openai"]["keys"][0];
    assert_eq!(stored["value"]["value"], "sk-openai-primary-0123456789");
    assert_eq!(stored["weight"], 7.0);

    // A new value replaces it.
    key["value"] = json!("sk-rotated-0123456789abcdef");
    assert_eq!(
        host.admin("PUT", "/api/providers/openai/keys/oa-1", Some(&key))
            .status,
        200
    );
    let saved = read_json(&host.data_dir().join("config.json"));
    assert_eq!(
        saved["providers"]["openai"]["keys"][0]["value"]["value"],
        "sk-rotated-0123456789abcdef"
    );
}

#[test]
fn redaction_shows_at_most_a_quarter_of_a_value_and_nothing_of_a_short_one() {
    let host = Host::start("keys-redaction-form", &test_config());
    let short = host.admin(
        "POST",
        "/api/providers/openai/keys",
        Some(&json!({"name": "short", "value": "sk-0123456", "models": ["*"]})),
    );
    assert_eq!(short.status, 200, "{}", short.text);
    let all = host.admin("GET", "/api/keys", None);
    assert_eq!(all.status, 200, "{}", all.text);
    let shown = |id: &str| {
        all.body
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .unwrap_or_else(|| panic!("no key {id}: {}", all.text))["value"]["value"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let short_id = short.body["id"].as_str().unwrap();
    assert_eq!(
        shown(short_id),
        "*".repeat(10),
        "a short value shows nothing"
    );
    // No public prefix: only the last 4 of the 23 characters (at most 23 / 4 = 5).
    assert_eq!(shown("az-1"), format!("{}6789", "*".repeat(19)));
    // `sk-` is public: with the last 4 that is 7 characters of 30.
    assert_eq!(shown("oa-2"), format!("sk-{}6789", "*".repeat(23)));
    for key in all.body.as_array().unwrap() {
        let value = key["value"]["value"].as_str().unwrap();
        let visible = value.chars().filter(|c| *c != '*').count();
        assert!(
            visible <= value.chars().count() / 4,
            "at most a quarter shown: {value}"
        );
    }
}

#[test]
fn a_redacted_form_of_another_key_is_not_taken_as_unchanged() {
    let host = Host::start("keys-other-redacted", &test_config());
    let other = host.admin("GET", "/api/providers/openai/keys/oa-2", None);
    assert_eq!(other.status, 200, "{}", other.text);
    let mut key = host
        .admin("GET", "/api/providers/openai/keys/oa-1", None)
        .body;
    key["value"]["value"] = other.body["value"]["value"].clone();
    let reply = host.admin("PUT", "/api/providers/openai/keys/oa-1", Some(&key));
    assert_envelope(&reply, 400);
    assert_eq!(reply.body["error"]["param"], "value", "{}", reply.text);
    // Its own redacted form still keeps it (and that saves what is stored).
    let own = host
        .admin("GET", "/api/providers/openai/keys/oa-1", None)
        .body;
    let reply = host.admin("PUT", "/api/providers/openai/keys/oa-1", Some(&own));
    assert_eq!(reply.status, 200, "{}", reply.text);
    let saved = read_json(&host.data_dir().join("config.json"));
    assert_eq!(
        saved["providers"]["openai"]["keys"][0]["value"]["value"],
        "sk-openai-primary-0123456789"
    );
}

#[test]
fn deleting_a_key_returns_it_redacted() {
    let host = Host::start("keys-delete", &test_config());
    let deleted = host.admin("DELETE", "/api/providers/openai/keys/oa-1", None);
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.body["id"], "oa-1");
    assert_no_secret(&deleted.text);
    assert_eq!(
        assert_envelope(
            &host.admin("GET", "/api/providers/openai/keys/oa-1", None),
            404
        ),
        "not_found"
    );
    assert_eq!(
        host.admin("GET", "/api/keys", None)
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn every_validation_error_has_its_status_and_names_the_field() {
    let host = Host::start("keys-validation", &test_config());
    let post = |body: Value| host.admin("POST", "/api/providers/openai/keys", Some(&body));
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"name": "x", "value": ""}), 400, "value"),
        (json!({"value": "sk-abc-0123456789"}), 400, "name"),
        (
            json!({"name": "x", "value": "sk-abc-0123456789", "blacklisted_models": ["*", "gpt-4o"]}),
            400,
            "blacklisted_models",
        ),
        (
            json!({"name": "x", "value": "sk-abc-0123456789", "blacklisted_models": ["gpt-4o", "GPT-4o"]}),
            400,
            "blacklisted_models[1]",
        ),
        (
            json!({"name": "x", "value": "sk-abc-0123456789", "aliases": {"fast": ""}}),
            400,
            "aliases.fast",
        ),
        (
            json!({"name": "x", "value": "sk-abc-0123456789", "weight": "heavy"}),
            400,
            "weight",
        ),
        (
            json!({"name": "openai-primary", "value": "sk-abc-0123456789"}),
            409,
            "name",
        ),
        (
            json!({"name": "azure-east", "value": "sk-abc-0123456789"}),
            409,
            "name",
        ),
    ];
    for (body, status, param) in cases {
        let reply = post(body.clone());
        assert_envelope(&reply, status);
        assert_eq!(
            reply.body["error"]["param"], param,
            "{body}: {}",
            reply.text
        );
    }
    let malformed = host.raw(
        "POST",
        "/api/providers/openai/keys",
        Some("{\"name\": "),
        &[(
            "authorization",
            &format!("Bearer {}", support::host::ADMIN_TOKEN),
        )],
    );
    assert_eq!(assert_envelope(&malformed, 400), "invalid_request");
    let unknown_provider = host.admin(
        "POST",
        "/api/providers/nope/keys",
        Some(&json!({"name": "n", "value": "sk-abc-0123456789"})),
    );
    assert_envelope(&unknown_provider, 404);
    assert_envelope(&host.admin("GET", "/api/providers/nope/keys", None), 404);
    assert_envelope(
        &host.admin(
            "PUT",
            "/api/providers/openai/keys/missing",
            Some(&json!({"name": "n", "value": "v-0123456789"})),
        ),
        404,
    );
    assert_envelope(
        &host.admin("DELETE", "/api/providers/openai/keys/missing", None),
        404,
    );
    // Renaming a key to another key's name conflicts too.
    let mut key = host
        .admin("GET", "/api/providers/openai/keys/oa-2", None)
        .body;
    key["name"] = json!("azure-east");
    assert_envelope(
        &host.admin("PUT", "/api/providers/openai/keys/oa-2", Some(&key)),
        409,
    );
    // Nothing of the refused requests was stored.
    assert_eq!(
        host.admin("GET", "/api/keys", None)
            .body
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn a_key_a_virtual_key_allows_cannot_be_deleted_until_the_reference_is_gone() {
    let host = Host::start("keys-referenced", &test_config());
    // vk-alpha's openai provider config allows only oa-2.
    let refused = host.admin("DELETE", "/api/providers/openai/keys/oa-2", None);
    assert_envelope(&refused, 409);
    assert!(refused.text.contains("vk-alpha"), "{}", refused.text);
    let cleared = host.admin(
        "PUT",
        "/api/governance/virtual-keys/vk-alpha",
        Some(&json!({"provider_configs": [{"provider": "openai", "allowed_models": ["gpt-4o-mini"]}]})),
    );
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert_eq!(
        host.admin("DELETE", "/api/providers/openai/keys/oa-2", None)
            .status,
        200
    );
}
