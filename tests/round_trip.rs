//! Round trip through the management API: every resource read (`GET`) and sent back unchanged
//! (`PUT`) answers 200 and leaves the saved configuration as it was. The configuration is
//! written from Bifrost's documentation (config.json reference, governance pages: a key read
//! from the environment, a key with a field keyward does not read, budgets naming their owner,
//! a team's calendar alignment, a model config, the routing-rules page's "Premium Tier Route"),
//! not from earlier fixtures.

mod support;

use serde_json::{Value, json};
use support::host::{Host, default_plugins, read_json, scratch_dir};

fn config() -> Value {
    json!({
        "$schema": "https://www.getbifrost.ai/schema",
        "providers": {
            "openai": {
                "keys": [
                    {"id": "openai-main", "name": "openai-main", "value": "env.KEYWARD_RT_OPENAI_KEY",
                     "models": ["*"], "weight": 1.0},
                    {"id": "openai-backup", "name": "openai-backup", "value": "sk-backup-0123456789abcdef",
                     "models": ["gpt-4o-mini"], "weight": 0.5, "use_for_batch_api": false,
                     "future_field": {"kept": true}}
                ],
                "network_config": {"base_url": "http://127.0.0.1:9", "default_request_timeout_in_seconds": 30}
            }
        },
        "governance": {
            "customers": [{"id": "customer-acme", "name": "Acme Corp"}],
            "teams": [{"id": "team-platform", "name": "Platform", "customer_id": "customer-acme",
                       "calendar_aligned": true}],
            "budgets": [
                {"id": "budget-team", "max_limit": 500.0, "reset_duration": "1M", "team_id": "team-platform"},
                {"id": "budget-vk", "max_limit": 50.0, "reset_duration": "1d", "virtual_key_id": "vk-prod"},
                {"id": "budget-mc", "max_limit": 20.0, "reset_duration": "1d", "model_config_id": "mc-gpt4o"}
            ],
            "rate_limits": [{"id": "rl-prod", "request_max_limit": 1000, "request_reset_duration": "1h",
                             "token_max_limit": 1000000, "token_reset_duration": "1h"}],
            "model_configs": [{"id": "mc-gpt4o", "model_name": "gpt-4o", "provider": "openai"}],
            "routing_rules": [{
                "id": "rule-uuid-123",
                "name": "Premium Tier Route",
                "description": "Route premium users to fast provider",
                "enabled": true,
                "cel_expression": "headers[\"x-tier\"] == \"premium\"",
                "targets": [
                    {"provider": "openai", "model": "gpt-4o", "weight": 0.7},
                    {"provider": "openai", "model": "gpt-4o-mini", "weight": 0.3}
                ],
                "fallbacks": ["openai/gpt-4o-mini"],
                "scope": "global",
                "scope_id": null,
                "priority": 10
            }],
            "virtual_keys": [{
                "id": "vk-prod", "name": "production", "value": "sk-bf-prod-0123456789abcdef",
                "description": "Production traffic", "is_active": true, "team_id": "team-platform",
                "rate_limit_id": "rl-prod",
                "provider_configs": [
                    {"provider": "openai", "weight": 1.0, "allowed_models": ["gpt-4o", "gpt-4o-mini"],
                     "key_ids": ["openai-main", "openai-backup"]}
                ]
            }]
        },
        "plugins": default_plugins()
    })
}

#[test]
fn every_resource_sent_back_unchanged_leaves_the_saved_configuration_as_it_was() {
    let dir = scratch_dir("round-trip");
    std::fs::write(dir.join("config.json"), config().to_string()).unwrap();
    let host = Host::start_with_env(
        dir,
        &[("KEYWARD_RT_OPENAI_KEY", "sk-from-env-0123456789abcdef")],
    )
    .expect("starts");
    // One change saves the configuration; what is saved then is the reference.
    let customer = host.admin("GET", "/api/governance/customers/customer-acme", None);
    assert_eq!(customer.status, 200, "{}", customer.text);
    let put = |path: &str, body: &Value| {
        let reply = host.admin("PUT", path, Some(body));
        assert_eq!(reply.status, 200, "PUT {path}: {}", reply.text);
    };
    put(
        "/api/governance/customers/customer-acme",
        &customer.body["customer"],
    );
    let saved_path = host.data_dir().join("config.json");
    let reference = read_json(&saved_path);

    for key in host
        .admin("GET", "/api/keys", None)
        .body
        .as_array()
        .unwrap()
        .clone()
    {
        let (provider, id) = (
            key["provider"].as_str().unwrap(),
            key["key_id"].as_str().unwrap(),
        );
        let path = format!("/api/providers/{provider}/keys/{id}");
        let read = host.admin("GET", &path, None);
        assert_eq!(read.status, 200, "{}", read.text);
        assert!(
            !read.text.contains("sk-from-env"),
            "redacted: {}",
            read.text
        );
        put(&path, &read.body);
    }
    let teams = host.admin("GET", "/api/governance/teams", None);
    for team in teams.body["teams"].as_array().unwrap() {
        let id = team["id"].as_str().unwrap();
        let read = host.admin("GET", &format!("/api/governance/teams/{id}"), None);
        put(&format!("/api/governance/teams/{id}"), &read.body["team"]);
    }
    let vks = host.admin("GET", "/api/governance/virtual-keys", None);
    for vk in vks.body["virtual_keys"].as_array().unwrap() {
        let id = vk["id"].as_str().unwrap();
        let read = host.admin("GET", &format!("/api/governance/virtual-keys/{id}"), None);
        put(
            &format!("/api/governance/virtual-keys/{id}"),
            &read.body["virtual_key"],
        );
    }
    let rules = host.admin("GET", "/api/routing/rules", None);
    for rule in rules.body["rules"].as_array().unwrap() {
        let path = format!("/api/routing/rules/{}", rule["id"].as_str().unwrap());
        let read = host.admin("GET", &path, None);
        put(&path, &read.body["rule"]);
    }
    put(
        "/api/governance/customers/customer-acme",
        &customer.body["customer"],
    );

    let after = read_json(&saved_path);
    assert_eq!(
        serde_json::to_string_pretty(&after).unwrap(),
        serde_json::to_string_pretty(&reference).unwrap(),
        "the saved configuration changed"
    );
    // And what the file said is still there, in Bifrost's form.
    let key = &after["providers"]["openai"]["keys"][0];
    assert_eq!(key["value"]["env_var"], "env.KEYWARD_RT_OPENAI_KEY");
    assert!(
        !after.to_string().contains("sk-from-env"),
        "an environment secret is never saved"
    );
    assert_eq!(
        after["providers"]["openai"]["keys"][1]["future_field"]["kept"],
        true
    );
    assert_eq!(after["governance"]["teams"][0]["calendar_aligned"], true);
    assert_eq!(
        after["governance"]["virtual_keys"][0]["provider_configs"][0]["key_ids"],
        json!(["openai-main", "openai-backup"])
    );
    assert_eq!(after["governance"]["model_configs"][0]["id"], "mc-gpt4o");
    assert_eq!(
        after["governance"]["routing_rules"][0]["cel_expression"],
        "headers[\"x-tier\"] == \"premium\""
    );
}
