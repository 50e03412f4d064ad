//! A configuration in Bifrost v1.5's shape, through keyward-host, written from Bifrost's
//! `transports/config.schema.json` (`governance.budgets[]`, `teams[]`, `customers[]`,
//! `virtual_keys[].provider_configs[]` with its integer `id` and nullable `weight`):
//!
//! - a budget names its owner (`virtual_key_id`, `provider_config_id`, `team_id`,
//!   `customer_id`, `model_config_id`; at most one), and owners carry no `budget_id`;
//! - `weight: null` (the schema's default) starts and serves.
//!
//! The refusals of both hosts (a customer's budget, empty allow-lists) are cases of
//! `tests/behaviours/table.json`.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::host::{Host, MockUpstream, default_plugins, scratch_dir};

fn bifrost_config(mock: &MockUpstream, budgets: Value) -> Value {
    json!({
        "$schema": "https://www.getbifrost.ai/schema",
        "providers": {"openai": {
            "keys": [{"id": "oa-1", "name": "oa-1", "value": "sk-oa-0123456789", "models": ["*"], "weight": 1.0}],
            "network_config": {"base_url": mock.base}
        }},
        "governance": {
            "customers": [{"id": "cust-acme", "name": "Acme Corp"}],
            "teams": [{"id": "team-eng", "name": "Engineering", "customer_id": "cust-acme"}],
            "virtual_keys": [{
                "id": "vk-eng", "name": "eng-key", "value": "sk-bf-eng-0123456789", "team_id": "team-eng",
                "provider_configs": [{"id": 1, "provider": "openai", "weight": 1.0,
                                      "allowed_models": ["*"], "key_ids": ["*"]}]
            }],
            "budgets": budgets,
            "pricing": {"gpt-4o": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.00001}}
        },
        "plugins": default_plugins()
    })
}

fn start(name: &str, config: &Value) -> Result<Host, String> {
    let dir = scratch_dir(name);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    Host::start_in(dir)
}

fn chat(host: &Host) -> u16 {
    host.request(
        "POST",
        "/v1/chat/completions",
        Some(&json!({"model": "openai/gpt-4o", "max_tokens": 20, "messages": []})),
        &[("authorization", "Bearer sk-bf-eng-0123456789")],
    )
    .status
}

#[test]
fn every_owner_level_is_charged_the_same_cost_together() {
    let mock = MockUpstream::start();
    let budgets = json!([
        {"id": "b-pc", "max_limit": 10, "reset_duration": "1M", "provider_config_id": 1},
        {"id": "b-vk", "max_limit": 10, "reset_duration": "1M", "virtual_key_id": "vk-eng"},
        {"id": "b-team", "max_limit": 10, "reset_duration": "1d", "team_id": "team-eng"},
        {"id": "b-cust", "max_limit": 10, "reset_duration": "1M", "customer_id": "cust-acme"},
        {"id": "b-free", "max_limit": 10, "reset_duration": "1M"}
    ]);
    let host = start("bifrost-budgets", &bifrost_config(&mock, budgets)).expect("starts");
    for _ in 0..3 {
        assert_eq!(chat(&host), 200);
    }
    let charged = host.budget_usage("b-pc");
    assert!(charged > 0.0, "the provider config's budget is charged");
    for id in ["b-vk", "b-team", "b-cust"] {
        let usage = host.budget_usage(id);
        assert!(
            (usage - charged).abs() < 1e-12,
            "{id}: {usage} vs {charged}"
        );
    }
    assert_eq!(
        host.budget_usage("b-free"),
        0.0,
        "an unowned, unreferenced budget is not charged"
    );
}

#[test]
fn a_budget_owned_by_a_model_config_is_charged_with_the_other_levels() {
    let mock = MockUpstream::start();
    let budgets = json!([
        {"id": "b-vk", "max_limit": 10, "reset_duration": "1M", "virtual_key_id": "vk-eng"},
        {"id": "b-model", "max_limit": 10, "reset_duration": "1M", "model_config_id": "mc-gpt4o"}
    ]);
    let mut config = bifrost_config(&mock, budgets);
    config["governance"]["model_configs"] =
        json!([{"id": "mc-gpt4o", "model_name": "gpt-4o", "provider": "openai"}]);
    let host = start("bifrost-budgets-model", &config).expect("starts");
    assert!(
        !host.logs().contains("model_configs: not supported"),
        "{}",
        host.logs()
    );
    for _ in 0..2 {
        assert_eq!(chat(&host), 200);
    }
    let charged = host.budget_usage("b-vk");
    assert!(charged > 0.0);
    assert!((host.budget_usage("b-model") - charged).abs() < 1e-12);
}

#[test]
fn a_budget_whose_owner_does_not_exist_or_that_names_two_owners_is_refused_by_field() {
    let mock = MockUpstream::start();
    for (budget, field) in [
        (
            json!({"id": "b", "max_limit": 1, "reset_duration": "1M", "virtual_key_id": "vk-nope"}),
            "budgets[0].virtual_key_id",
        ),
        (
            json!({"id": "b", "max_limit": 1, "reset_duration": "1M", "provider_config_id": 9}),
            "budgets[0].provider_config_id",
        ),
        (
            json!({"id": "b", "max_limit": 1, "reset_duration": "1M", "model_config_id": "mc-nope"}),
            "budgets[0].model_config_id",
        ),
        (
            json!({"id": "b", "max_limit": 1, "reset_duration": "1M", "team_id": "team-eng", "customer_id": "cust-acme"}),
            "budgets[0]",
        ),
    ] {
        let Err(logs) = start(
            "bifrost-budgets-bad",
            &bifrost_config(&mock, json!([budget])),
        ) else {
            panic!("started with {budget}");
        };
        assert!(logs.contains(field), "{field}: {logs}");
    }
}

#[test]
fn a_null_weight_starts_and_serves_by_provider_and_by_bare_model_name() {
    let mock = MockUpstream::start();
    let mut config = bifrost_config(&mock, json!([]));
    config["governance"]["virtual_keys"][0]["provider_configs"][0]["weight"] = Value::Null;
    let host = start("bifrost-null-weight", &config).expect("a null weight starts");
    assert_eq!(
        chat(&host),
        200,
        "openai/gpt-4o reaches a null-weight config"
    );
    let bare = host.request(
        "POST",
        "/v1/chat/completions",
        Some(&json!({"model": "gpt-4o", "max_tokens": 5, "messages": []})),
        &[("authorization", "Bearer sk-bf-eng-0123456789")],
    );
    assert_eq!(
        bare.status, 200,
        "no weighted config: the one that allows it: {}",
        bare.text
    );
    let listed = host.admin("GET", "/api/governance/virtual-keys", None);
    assert!(listed.text.contains(r#""weight":null"#), "{}", listed.text);
}

#[test]
fn fields_keyward_does_not_read_survive_a_save_through_the_management_api() {
    // Fields of Bifrost's schema that keyward does not act on (a team's and a customer's
    // `calendar_aligned`, an MCP config's `mcp_client_name`, a provider config's `rate_limit_id`
    // … and one no schema has) must come back unchanged after the API rewrites the block.
    let mock = MockUpstream::start();
    let mut config = bifrost_config(
        &mock,
        json!([{"id": "b-cust", "max_limit": 10, "reset_duration": "1M", "customer_id": "cust-acme",
                "x_budget_note": "kept"}]),
    );
    let governance = &mut config["governance"];
    governance["teams"][0]["calendar_aligned"] = json!(true);
    governance["teams"][0]["profile"] = json!({"cost_center": "42"});
    governance["customers"][0]["x_customer_tier"] = json!("gold");
    governance["virtual_keys"][0]["mcp_configs"] =
        json!([{"mcp_client_name": "github", "tools_to_execute": ["*"]}]);
    governance["virtual_keys"][0]["access_profile_note"] = json!("kept");
    governance["virtual_keys"][0]["provider_configs"][0]["x_route_hint"] = json!("eu");
    let dir = scratch_dir("bifrost-keeps-fields");
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let host = Host::start_in(dir.clone()).expect("starts");
    let created = host.admin(
        "POST",
        "/api/governance/virtual-keys",
        Some(&json!({"name": "another", "provider_configs": [
            {"provider": "openai", "allowed_models": ["*"], "key_ids": ["*"]}]})),
    );
    assert!(created.status < 300, "{}", created.text);
    let saved: Value =
        serde_json::from_slice(&std::fs::read(dir.join("data").join("config.json")).unwrap())
            .unwrap();
    let g = &saved["governance"];
    assert_eq!(g["teams"][0]["calendar_aligned"], true, "{g}");
    assert_eq!(g["teams"][0]["profile"]["cost_center"], "42", "{g}");
    assert_eq!(g["customers"][0]["x_customer_tier"], "gold", "{g}");
    assert_eq!(g["budgets"][0]["customer_id"], "cust-acme", "{g}");
    assert_eq!(g["budgets"][0]["x_budget_note"], "kept", "{g}");
    let key = &g["virtual_keys"][0];
    assert_eq!(key["mcp_configs"][0]["mcp_client_name"], "github", "{key}");
    assert_eq!(key["access_profile_note"], "kept", "{key}");
    assert_eq!(key["provider_configs"][0]["x_route_hint"], "eu", "{key}");
    assert_eq!(g["virtual_keys"].as_array().unwrap().len(), 2);
}

#[test]
fn an_unset_env_reference_makes_its_entry_unusable_not_the_gateway() {
    let mock = MockUpstream::start();
    let config = json!({
        "providers": {
            "openai": {"keys": [{"id": "oa-unset", "name": "oa-unset", "value": "env.KEYWARD_TEST_UNSET_KEY_7f3a",
                                  "models": ["*"], "weight": 1.0}],
                       "network_config": {"base_url": mock.base}},
            "groq": {"keys": [{"id": "gq-1", "name": "gq-1", "value": "gsk-literal-0123456789", "models": ["*"], "weight": 1.0}],
                     "network_config": {"base_url": mock.base}}
        },
        "governance": {
            "virtual_keys": [
                {"id": "vk-eng", "name": "eng", "value": "sk-bf-eng-0123456789",
                 "provider_configs": [
                     {"provider": "openai", "weight": 1.0, "allowed_models": ["*"], "key_ids": ["*"]},
                     {"provider": "groq", "weight": 1.0, "allowed_models": ["*"], "key_ids": ["*"]}]},
                {"id": "vk-env", "name": "from-env", "value": "env.KEYWARD_TEST_UNSET_VK_7f3a"}
            ],
            "pricing": {"gpt-4o": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.00001},
                        "llama-3": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.00001}}
        },
        "plugins": default_plugins()
    });
    let host =
        start("bifrost-unset-env", &config).expect("an unset env.NAME does not stop the host");
    let health = host.request("GET", "/health", None, &[]);
    assert_eq!(health.status, 200);
    let unusable = health.body["unusable"].as_array().unwrap();
    let ids: Vec<(&str, &str)> = unusable
        .iter()
        .map(|u| (u["kind"].as_str().unwrap(), u["id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ids,
        [("provider_key", "oa-unset"), ("virtual_key", "vk-env")],
        "{}",
        health.text
    );
    assert!(
        health.text.contains("KEYWARD_TEST_UNSET_KEY_7f3a"),
        "{}",
        health.text
    );
    assert!(!health.text.contains("gsk-literal"), "no secret in /health");

    let ask = |model: &str| {
        host.request(
            "POST",
            "/v1/chat/completions",
            Some(&json!({"model": model, "max_tokens": 5, "messages": []})),
            &[("authorization", "Bearer sk-bf-eng-0123456789")],
        )
    };
    let needs_it = ask("openai/gpt-4o");
    assert_eq!(needs_it.status, 503, "{}", needs_it.text);
    assert_eq!(
        needs_it.body["error"]["type"], "provider_key_unavailable",
        "{}",
        needs_it.text
    );
    assert!(
        needs_it.text.contains("oa-unset") && needs_it.text.contains("KEYWARD_TEST_UNSET_KEY_7f3a"),
        "{}",
        needs_it.text
    );
    assert_eq!(ask("groq/llama-3").status, 200, "the rest is served");
    assert!(host.logs().contains("vk-env"), "{}", host.logs());
}

#[test]
fn bifrosts_plugins_array_is_kept_and_keywards_block_is_read_from_keyward_plugins() {
    let mock = MockUpstream::start();
    let mut config = bifrost_config(&mock, json!([]));
    let block = config["plugins"].take();
    config["keyward_plugins"] = block;
    config["plugins"] = json!([
        {"enabled": true, "name": "telemetry", "config": {}},
        {"enabled": true, "name": "semantic_cache", "config": {"ttl": "5m", "threshold": 0.8}}
    ]);
    let dir = scratch_dir("bifrost-plugins-array");
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut host = Host::start_in(dir.clone()).expect("starts with keyward_plugins");
    assert!(
        host.logs().contains("plugins[1] (semantic_cache)"),
        "{}",
        host.logs()
    );
    assert_eq!(chat(&host), 200);
    let created = host.admin(
        "POST",
        "/api/governance/virtual-keys",
        Some(&json!({"name": "later"})),
    );
    assert!(created.status < 300, "{}", created.text);
    let saved: Value =
        serde_json::from_slice(&std::fs::read(dir.join("data").join("config.json")).unwrap())
            .unwrap();
    assert_eq!(
        saved["plugins"], config["plugins"],
        "Bifrost's array as it came"
    );
    assert!(
        saved["keyward_plugins"]["key_selection"]["path"].is_string(),
        "{saved}"
    );
    host.stop();
    let host = Host::start_in(dir).expect("restarts from the saved file");
    assert_eq!(chat(&host), 200);
}
