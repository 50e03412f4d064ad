use super::*;
use crate::model::secret::with_exposed_secrets;

const CURRENT_SHAPE: &str = r#"{
  "virtual_keys": [{
    "id": "vk-1", "name": "platform", "value": "sk-bf-0123456789abcdef", "is_active": true,
    "provider_configs": [{
      "id": 7, "virtual_key_id": "vk-1", "provider": "openai", "weight": 0.7,
      "allowed_models": ["gpt-4o"], "blacklisted_models": ["gpt-4o-realtime"],
      "allow_all_keys": false,
      "keys": [{"id": 1, "name": "main", "provider": "openai", "key_id": "key-uuid-1",
                "value": {"value": "sk-secret", "env_var": "", "from_env": false}}],
      "rate_limit_id": "rl-pc",
      "budgets": [{"id": "b-pc", "max_limit": 5, "reset_duration": "1d", "current_usage": 1.25,
                   "last_reset": "2023-11-07T05:31:56Z", "calendar_aligned": true}],
      "rate_limit": {"id": "rl-pc", "token_current_usage": 10, "request_current_usage": 2,
                     "token_max_limit": 1000, "token_reset_duration": "1h",
                     "request_max_limit": 10, "request_reset_duration": "1m"}
    }],
    "mcp_configs": [{"id": 1, "virtual_key_id": "vk-1", "mcp_client_id": 3,
      "mcp_client": {"client_id": "c1", "name": "tools", "is_code_mode_client": false,
                     "connection_string": "https://user:pw@mcp.example/sse",
                     "headers": {"authorization": "Bearer abcdefghijklmnop"},
                     "tools_to_execute": ["*"], "tool_pricing": {}},
      "tools_to_execute": ["search"]}],
    "calendar_aligned": false, "description": "d",
    "team_id": "team-1",
    "budgets": [{"id": "b-vk", "max_limit": 100, "reset_duration": "1M"}],
    "rate_limit": {"id": "rl-vk", "request_max_limit": 100, "request_reset_duration": "1h"},
    "team": {"id": "team-1", "name": "t", "customer_id": "cust-1", "budget_id": "b-team",
             "budget": {"id": "b-team", "max_limit": 500, "reset_duration": "1M"},
             "virtual_keys": "<array>", "profile": {}}
  }],
  "count": 1, "total_count": 1, "limit": 10, "offset": 0
}"#;

#[test]
fn reads_the_current_shape() {
    let list: VirtualKeyList = serde_json::from_str(CURRENT_SHAPE).unwrap();
    let key = &list.virtual_keys[0];
    assert_eq!(key.id, "vk-1");
    assert_eq!(key.team_id.as_deref(), Some("team-1"));
    let config = &key.provider_configs[0];
    assert_eq!(config.keys[0].key_id, "key-uuid-1");
    assert!(!config.allows_all_keys(false));
    assert!(config.allows_model("gpt-4o", false));
    assert!(!config.allows_model("gpt-4o-realtime", false));
    assert!(!config.allows_model("gpt-4o-mini", false));
    assert_eq!(config.budgets[0].current_usage, 1.25);
    assert!(config.budgets[0].calendar_aligned);
    let limit = config.rate_limit.as_ref().unwrap();
    assert_eq!(limit.request_max_limit, Some(10));
    assert_eq!(limit.request_current_usage, 2);
    assert_eq!(
        key.team
            .as_ref()
            .unwrap()
            .budget
            .as_ref()
            .unwrap()
            .max_limit,
        500.0
    );
    assert!(key.validate().is_ok());
}

#[test]
fn serializes_the_current_shape_redacted() {
    let list: VirtualKeyList = serde_json::from_str(CURRENT_SHAPE).unwrap();
    let shown = serde_json::to_string(&list).unwrap();
    assert!(!shown.contains("sk-bf-0123456789abcdef"));
    assert!(!shown.contains("sk-secret"));
    assert!(!shown.contains("user:pw"));
    assert!(!shown.contains("abcdefghijklmnop"));
    assert!(shown.contains("\"budgets\":[{\"id\":\"b-vk\""));
    let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        back["virtual_keys"][0]["provider_configs"][0]["keys"][0]["key_id"],
        "key-uuid-1"
    );
    let exposed = with_exposed_secrets(|| serde_json::to_string(&list).unwrap());
    assert!(exposed.contains("sk-bf-0123456789abcdef"));
}

#[test]
fn accepts_the_older_shape() {
    let older = r#"{"virtual_keys": [{
        "id": "vk-old", "name": "old", "value": "sk-bf-old", "description": "",
        "team_id": "", "customer_id": "cust-1", "is_active": true,
        "keys": [{"value": "env.OPENAI_API_KEY", "weight": 1, "models": ["gpt-4o"]}],
        "budget": {"id": "b1", "max_limit": 123, "reset_duration": "1M",
                   "last_reset": "2023-11-07T05:31:56Z", "current_usage": 12},
        "rate_limit": {"id": "rl1", "token_max_limit": 123, "token_reset_duration": "1h",
                       "request_max_limit": 123, "request_reset_duration": "1m",
                       "token_last_reset": "2023-11-07T05:31:56Z",
                       "request_last_reset": "2023-11-07T05:31:56Z"},
        "provider_configs": [{"id": 123, "provider": "openai", "weight": 123,
                              "allowed_models": ["gpt-4o"]}]
    }], "count": 1}"#;
    let list: VirtualKeyList = serde_json::from_str(older).unwrap();
    let key = &list.virtual_keys[0];
    assert_eq!(key.team_id, None, "an empty team_id is absent");
    assert_eq!(key.customer_id.as_deref(), Some("cust-1"));
    assert_eq!(key.budgets.len(), 1);
    assert_eq!(key.budgets[0].current_usage, 12.0);
    assert!(
        key.provider_configs[0].allows_all_keys(true),
        "an older list (no key_ids) in a version 1 file"
    );
    assert!(
        !key.provider_configs[0].allows_all_keys(false),
        "none in v1.5"
    );
    assert!(key.validate().is_ok());
}

#[test]
fn a_key_without_value_gets_a_generated_one() {
    let key: virtual_key::VirtualKey = serde_json::from_str(r#"{"id": "vk"}"#).unwrap();
    assert!(key.value.expose().starts_with("sk-bf-"));
    assert_eq!(key.value.expose().len(), "sk-bf-".len() + 36);
    assert!(key.is_active);
}

#[test]
fn team_and_customer_are_exclusive() {
    let key: VirtualKey =
        serde_json::from_str(r#"{"id": "vk", "team_id": "t", "customer_id": "c"}"#).unwrap();
    let (field, reason) = key.validate().unwrap_err();
    assert_eq!(field, "customer_id");
    assert!(reason.contains("exclusive"));
}

#[test]
fn sub_day_budgets_cannot_be_calendar_aligned() {
    let key: VirtualKey = serde_json::from_str(
        r#"{"id": "vk", "budgets": [{"id": "b", "max_limit": 1, "reset_duration": "1h",
            "calendar_aligned": true}]}"#,
    )
    .unwrap();
    let (field, reason) = key.validate().unwrap_err();
    assert_eq!(field, "budgets[0].reset_duration");
    assert!(reason.contains("cannot be calendar-aligned"));
}

#[test]
fn rate_limit_caps_need_durations() {
    let limit: RateLimit = serde_json::from_str(r#"{"request_max_limit": 5}"#).unwrap();
    assert_eq!(limit.validate().unwrap_err().0, "request_reset_duration");
}

#[test]
fn go_nulls_read_as_empty() {
    let key: VirtualKey = serde_json::from_str(
        r#"{"id": "vk", "provider_configs": null, "budgets": null, "mcp_configs": null}"#,
    )
    .unwrap();
    assert!(key.provider_configs.is_empty() && key.budgets.is_empty());
}

#[test]
fn the_config_block_references_by_id() {
    let doc: GovernanceDocument = serde_json::from_str(
        r#"{"budgets": [{"id": "b1", "max_limit": 50, "reset_duration": "1M"}],
            "rate_limits": [{"id": "r1", "request_max_limit": 10, "request_reset_duration": "1m"}],
            "customers": [{"id": "c1", "name": "acme", "budget_id": "b1"}],
            "teams": [{"id": "t1", "name": "eng", "customer_id": "c1"}],
            "virtual_keys": [{"id": "vk1", "value": "sk-bf-x", "team_id": "t1",
                              "budget_id": "b1", "rate_limit_id": "r1",
                              "provider_configs": [{"provider": "openai", "key_ids": ["k1"]}]}]}"#,
    )
    .unwrap();
    assert_eq!(doc.virtual_keys[0].budget_id.as_deref(), Some("b1"));
    assert_eq!(doc.virtual_keys[0].provider_configs[0].keys[0].key_id, "k1");
    assert_eq!(doc.customers[0].budget_id.as_deref(), Some("b1"));
}

#[test]
fn key_ids_are_saved_as_key_ids_and_shown_as_key_objects() {
    let config: ProviderConfig = serde_json::from_str(
        r#"{"provider": "openai", "key_ids": ["k1", "k2"], "future_field": 1}"#,
    )
    .unwrap();
    assert_eq!(config.keys.len(), 2);
    let saved = with_exposed_secrets(|| serde_json::to_value(&config)).unwrap();
    assert_eq!(saved["key_ids"], serde_json::json!(["k1", "k2"]));
    assert!(saved.get("keys").is_none(), "{saved}");
    assert_eq!(saved["future_field"], 1);
    let shown = serde_json::to_value(&config).unwrap();
    assert_eq!(shown["keys"][1]["key_id"], "k2");
    assert!(shown.get("key_ids").is_none(), "{shown}");
    // The API's form reads back the same; `key_ids` wins when both are sent; an empty list
    // stays empty (Bifrost v1.5: no key), and null reads as absent.
    let from_api: ProviderConfig = serde_json::from_value(shown).unwrap();
    assert_eq!(from_api.keys, config.keys);
    let both: ProviderConfig = serde_json::from_str(
        r#"{"provider": "openai", "key_ids": ["k1"], "keys": [{"key_id": "k9"}]}"#,
    )
    .unwrap();
    assert_eq!(both.keys[0].key_id, "k1");
    let empty: ProviderConfig =
        serde_json::from_str(r#"{"provider": "openai", "key_ids": []}"#).unwrap();
    let saved = with_exposed_secrets(|| serde_json::to_value(&empty)).unwrap();
    assert_eq!(saved["key_ids"], serde_json::json!([]));
    let null: ProviderConfig =
        serde_json::from_str(r#"{"provider": "openai", "key_ids": null}"#).unwrap();
    assert!(null.keys.is_empty());
}

#[test]
fn unknown_model_pricing_rejects_other_words() {
    assert!(serde_json::from_str::<UnknownModelPricing>("\"allow\"").is_err());
    let price = ModelPrice {
        input_cost_per_token: -1.0,
        output_cost_per_token: 0.0,
        cache_read_input_token_cost: None,
    };
    assert_eq!(price.validate().unwrap_err().0, "input_cost_per_token");
}
