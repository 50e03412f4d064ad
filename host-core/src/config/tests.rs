use super::HostConfig;

const MINIMAL: &str = r#"{
  "providers": {"openai": {"keys": [{"id": "k1", "name": "main", "value": "sk-test-0123456789", "models": ["*"], "weight": 1}]}},
  "plugins": {"key_selection": {"path": "a.so"}, "governance": {"path": "b.so"}}
}"#;

#[test]
fn a_minimal_configuration_parses_without_warnings() {
    let loaded = HostConfig::parse(MINIMAL).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.config.providers["openai"].keys[0].id, "k1");
    assert_eq!(loaded.config.admin.token_env, "KEYWARD_ADMIN_TOKEN");
}

#[test]
fn a_wrong_type_is_reported_with_its_json_path() {
    let text = MINIMAL.replace(r#""weight": 1"#, r#""weight": "heavy""#);
    let error = HostConfig::parse(&text).unwrap_err();
    assert_eq!(error.path, "providers.openai.keys[0].weight");
    assert!(!error.reason.is_empty());
}

#[test]
fn malformed_json_is_reported_with_line_and_column() {
    let error = HostConfig::parse("{\n  \"providers\": {,}\n}").unwrap_err();
    assert!(error.path.starts_with("line 2, column"), "{error}");
}

#[test]
fn a_non_object_document_is_refused() {
    let error = HostConfig::parse("[1, 2]").unwrap_err();
    assert_eq!(error.path, "$");
}

#[test]
fn a_missing_environment_variable_makes_the_key_unusable_naming_it_and_the_variable() {
    let text = MINIMAL.replace("sk-test-0123456789", "env.KEYWARD_TEST_CONFIG_SURELY_UNSET");
    let loaded = HostConfig::parse(&text).expect("an unset env.NAME does not refuse the file");
    let unusable = &loaded.config.unusable;
    assert_eq!(unusable.len(), 1, "{unusable:?}");
    assert_eq!(unusable[0].kind, super::UnusableKind::ProviderKey);
    assert_eq!(unusable[0].id, "k1");
    assert_eq!(unusable[0].path, "providers.openai.keys[0]");
    assert!(
        unusable[0]
            .reason
            .contains("KEYWARD_TEST_CONFIG_SURELY_UNSET")
    );
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("providers.openai.keys[0]")
                && w.contains("KEYWARD_TEST_CONFIG_SURELY_UNSET")),
        "{:?}",
        loaded.warnings
    );
    let data = loaded.config.role_data();
    assert_eq!(
        data.key_selection["providers"]["openai"]["keys"][0]["enabled"], false,
        "the selector never picks it"
    );
}

#[test]
fn key_names_must_be_unique_across_providers() {
    let text = r#"{"providers": {
        "openai": {"keys": [{"name": "shared", "value": "a"}]},
        "azure": {"keys": [{"name": "shared", "value": "b"}]}}}"#;
    let error = HostConfig::parse(text).unwrap_err();
    assert!(error.path.ends_with(".name"), "{error}");
    assert!(error.reason.contains("unique"), "{error}");
}

#[test]
fn missing_key_ids_are_generated() {
    let loaded =
        HostConfig::parse(r#"{"providers": {"openai": {"keys": [{"name": "n", "value": "v"}]}}}"#)
            .unwrap();
    let id = &loaded.config.providers["openai"].keys[0].id;
    assert_eq!(id.len(), 36, "a UUID: {id}");
}

#[test]
fn unsupported_bifrost_fields_are_warned_about_by_name_and_kept_for_saving() {
    let text = r#"{
      "$schema": "https://www.getbifrost.ai/schema",
      "encryption_key": "env.BIFROST_ENCRYPTION_KEY",
      "client": {"enforce_auth_on_inference": true, "prometheus_labels": ["env=prod"]},
      "providers": {"openai": {"keys": [], "concurrency_and_buffer_size": {"concurrency": 10, "buffer_size": 20},
                               "network_config": {"base_url": "http://127.0.0.1:9", "retry_backoff_initial": 500}}},
      "plugins": [{"enabled": true, "name": "semantic_cache", "config": {}}],
      "config_store": {"enabled": false}
    }"#;
    let loaded = HostConfig::parse(text).unwrap();
    let warnings = loaded.warnings.join("\n");
    for field in [
        "encryption_key",
        "config_store",
        "client.prometheus_labels",
        "providers.openai.concurrency_and_buffer_size",
        "providers.openai.network_config.retry_backoff_initial",
        "plugins[0] (semantic_cache)",
    ] {
        assert!(
            warnings.contains(field),
            "no warning for {field}:\n{warnings}"
        );
    }
    assert!(!warnings.contains("$schema"));
    let saved: serde_json::Value =
        serde_json::from_slice(&loaded.config.to_saved_json().unwrap()).unwrap();
    assert_eq!(saved["config_store"]["enabled"], false);
    assert_eq!(
        saved["providers"]["openai"]["concurrency_and_buffer_size"]["concurrency"],
        10
    );
}

#[test]
fn role_data_gives_the_selector_redacted_keys_and_governance_the_vk_requirement() {
    let text = MINIMAL.replace(
        r#""plugins""#,
        r#""client": {"enforce_auth_on_inference": true}, "plugins""#,
    );
    let loaded = HostConfig::parse(&text).unwrap();
    let data = loaded.config.role_data();
    let selector = serde_json::Value::Object(data.key_selection).to_string();
    assert!(
        !selector.contains("sk-test-0123456789"),
        "the selector never sees a secret"
    );
    assert!(selector.contains("\"k1\""));
    assert_eq!(data.governance["enforce_virtual_keys"], true);

    // Bifrost's deprecated `enforce_governance_header` means the same, and is warned.
    let deprecated = MINIMAL.replace(
        r#""plugins""#,
        r#""client": {"enforce_governance_header": true}, "plugins""#,
    );
    let loaded = HostConfig::parse(&deprecated).unwrap();
    assert_eq!(
        loaded.config.role_data().governance["enforce_virtual_keys"],
        true
    );
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("client.enforce_governance_header: deprecated")),
        "{:?}",
        loaded.warnings
    );
    let open = HostConfig::parse(MINIMAL).unwrap();
    assert_eq!(
        open.config.role_data().governance["enforce_virtual_keys"],
        false
    );
}

#[test]
fn role_data_describes_each_providers_models_for_the_catalog() {
    let text = r#"{"providers": {
        "openai": {"keys": [{"id": "a", "value": "sk-a-0123456789", "models": ["*"]},
                            {"id": "b", "value": "sk-b-0123456789", "models": ["gpt-4o"], "aliases": {"fast": "gpt-4o-mini"}},
                            {"id": "c", "value": "sk-c-0123456789", "models": ["never"], "enabled": false}]},
        "vllm": {"keys": [{"id": "v", "value": "", "models": ["llama"], "vllm_key_config": {"url": "http://127.0.0.1:9"}}]}
    }, "plugins": {"key_selection": {"path": "/s.so"}, "governance": {"path": "/g.so"}}}"#;
    let loaded = HostConfig::parse(text).unwrap();
    let models = &loaded.config.role_data().governance["provider_models"];
    assert_eq!(
        models["openai"],
        serde_json::json!({"models": ["fast", "gpt-4o"], "any_model": true}),
        "a disabled key names nothing"
    );
    assert_eq!(
        models["vllm"],
        serde_json::json!({"models": ["llama"], "any_model": false})
    );
}

#[test]
fn a_plugins_change_replaces_the_roles_it_names_and_keeps_the_others() {
    use super::{PluginEntry, PluginsBlock};
    let entry = |path: &str| {
        Some(PluginEntry {
            path: path.into(),
            config: Default::default(),
        })
    };
    let current = PluginsBlock {
        key_selection: entry("/a.so"),
        governance: entry("/g.so"),
        ..PluginsBlock::default()
    };
    let selector = current.replaced_by(&PluginsBlock {
        key_selection: entry("/b.so"),
        ..PluginsBlock::default()
    });
    assert_eq!(selector.key_selection, entry("/b.so"));
    assert_eq!(selector.governance, entry("/g.so"));
    let split = current.replaced_by(&PluginsBlock {
        authorization: entry("/auth.so"),
        enforcement: entry("/enf.so"),
        ..PluginsBlock::default()
    });
    assert_eq!(
        split.governance, None,
        "either of the two replaces governance"
    );
    assert_eq!(split.groups().unwrap().len(), 3);
    let half = current.replaced_by(&PluginsBlock {
        authorization: entry("/auth.so"),
        ..PluginsBlock::default()
    });
    assert!(
        half.groups().is_err(),
        "an enforcer is then missing, and said so"
    );
    assert_eq!(
        PluginsBlock {
            key_selection: entry("rel.so"),
            ..PluginsBlock::default()
        }
        .relative_path(),
        Some("key_selection")
    );
    assert_eq!(current.relative_path(), None);
}

#[test]
fn a_bifrost_plugins_array_is_kept_verbatim_and_keywards_block_goes_under_keyward_plugins() {
    let text = r#"{
      "plugins": [{"enabled": true, "name": "semantic_cache", "config": {"ttl": "5m"}},
                  {"enabled": false, "name": "logging"}],
      "keyward_plugins": {"key_selection": {"path": "/opt/keyward/a.so"}, "governance": {"path": "/opt/keyward/b.so"}}
    }"#;
    let loaded = HostConfig::parse(text).unwrap();
    assert_eq!(
        loaded.config.plugins.key_selection.as_ref().unwrap().path,
        std::path::Path::new("/opt/keyward/a.so")
    );
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("plugins[0] (semantic_cache)"))
    );
    let saved: serde_json::Value =
        serde_json::from_slice(&loaded.config.to_saved_json().unwrap()).unwrap();
    let original: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        saved["plugins"], original["plugins"],
        "the array as it came"
    );
    assert_eq!(
        saved["keyward_plugins"]["governance"]["path"],
        "/opt/keyward/b.so"
    );
    let again =
        HostConfig::parse(&String::from_utf8(loaded.config.to_saved_json().unwrap()).unwrap())
            .unwrap();
    assert_eq!(
        again.config.plugins, loaded.config.plugins,
        "a saved file reads back the same"
    );

    let twice = r#"{"plugins": {"key_selection": {"path": "a.so"}},
                    "keyward_plugins": {"key_selection": {"path": "b.so"}}}"#;
    assert_eq!(
        HostConfig::parse(twice).unwrap_err().path,
        "keyward_plugins"
    );
}

#[test]
fn a_provider_whose_base_url_is_unset_gets_no_default_url_and_none_of_its_keys_is_called() {
    let text = r#"{
      "providers": {"openai": {"keys": [{"id": "k1", "name": "main", "value": "sk-test-0123456789", "models": ["*"]}],
                               "network_config": {"base_url": "env.KEYWARD_TEST_CONFIG_UNSET_BASE"}}},
      "plugins": {"key_selection": {"path": "a.so"}, "governance": {"path": "b.so"}}
    }"#;
    let loaded = HostConfig::parse(text).unwrap();
    let routes = crate::upstream::Routes::build(&loaded.config);
    let openai = routes.provider("openai").unwrap();
    assert_eq!(
        openai.base_url, None,
        "never the public default in place of the configured one"
    );
    assert!(openai.is_unusable_key("k1"));
    assert_eq!(
        loaded.config.role_data().key_selection["providers"]["openai"]["keys"][0]["enabled"],
        false
    );
}
