use std::path::Path;

use keyward_plugin_api::ffi::RoleMask;
use serde_json::Value;

use super::SharedConfig;

const CONFIG: &str = r#"{
  "providers": {
    "openai": {
      "keys": [
        {"id": "k1", "name": "one", "value": "env.TEST_KEY_ONE", "models": ["*"], "weight": 1},
        {"id": "k2", "name": "two", "value": "sk-literal-two", "models": ["*"], "weight": 1}
      ],
      "network_config": {"base_url": "env.TEST_OPENAI_BASE"}
    },
    "anthropic": {"keys": [{"id": "a1", "value": {"value": "", "env_var": "TEST_KEY_A", "from_env": true}}]}
  },
  "client": {"enforce_auth_on_inference": true},
  "governance": {"virtual_keys": [{"id": "vk1", "value": "sk-bf-1"}], "budgets": []},
  "plugins": {
    "key_selection": {"path": "sel.so", "config": {"seed": 1}},
    "governance": {"path": "/abs/gov.so", "config": {"shadow_mode": true}}
  }
}"#;

fn env(name: &str) -> Option<String> {
    match name {
        "TEST_KEY_ONE" => Some("sk-from-env-one".to_owned()),
        "TEST_KEY_A" => Some("sk-ant".to_owned()),
        "TEST_OPENAI_BASE" => Some("http://127.0.0.1:9/".to_owned()),
        _ => None,
    }
}

#[test]
fn groups_merge_like_keyward_host() {
    let config =
        SharedConfig::parse_with(CONFIG, Path::new("/etc/kw"), Path::new("/usr/lib/kw"), &env)
            .unwrap();
    assert_eq!(config.groups.len(), 2);
    let selection = &config.groups[0];
    assert_eq!(selection.path_in(&config.dir), Path::new("/etc/kw/sel.so"));
    assert_eq!(selection.roles, RoleMask::KEY_SELECTION);
    let json: Value = serde_json::from_str(&selection.config_json(&config.role_data)).unwrap();
    assert_eq!(json["seed"], 1);
    assert_eq!(json["providers"]["openai"]["keys"][0]["id"], "k1");
    // The selector never sees a secret.
    assert!(!json.to_string().contains("sk-from-env-one"));
    assert!(!json.to_string().contains("sk-literal-two"));
    let governance = &config.groups[1];
    assert_eq!(governance.path_in(&config.dir), Path::new("/abs/gov.so"));
    assert_eq!(
        governance.roles,
        RoleMask::AUTHORIZATION.union(RoleMask::ENFORCEMENT)
    );
    let json: Value = serde_json::from_str(&governance.config_json(&config.role_data)).unwrap();
    assert_eq!(json["shadow_mode"], true);
    assert_eq!(json["virtual_keys"][0]["id"], "vk1");
    // `client.enforce_auth_on_inference` reaches the governance plugin, as in keyward-host.
    assert_eq!(json["enforce_virtual_keys"], true);
    assert!(json.get("providers").is_none());
}

#[test]
fn key_values_and_base_urls() {
    let config =
        SharedConfig::parse_with(CONFIG, Path::new("/"), Path::new("/usr/lib/kw"), &env).unwrap();
    let openai = config.routes.provider("openai").unwrap();
    // `env.NAME` in base_url is read, and the trailing `/` dropped.
    assert_eq!(openai.base_url.as_deref(), Some("http://127.0.0.1:9"));
    assert_eq!(openai.keys["k1"].secret.expose(), "sk-from-env-one");
    assert_eq!(openai.keys["k2"].secret.expose(), "sk-literal-two");
    let anthropic = config.routes.provider("anthropic").unwrap();
    assert_eq!(anthropic.keys["a1"].secret.expose(), "sk-ant");
    // Debug never shows a key value.
    assert!(!format!("{config:?}").contains("sk-from"), "{config:?}");
}

#[test]
fn errors_and_warnings_name_the_field_without_secrets() {
    // An unset env.NAME does not refuse the file: each entry is warned, naming its path.
    let missing_env =
        SharedConfig::parse_with(CONFIG, Path::new("/"), Path::new("/usr/lib/kw"), &|_| None)
            .unwrap();
    let warned = missing_env.warnings.join("\n");
    assert!(
        warned.contains("providers.openai.keys[0]") && warned.contains("TEST_KEY_ONE"),
        "{warned}"
    );
    assert!(warned.contains("TEST_OPENAI_BASE"), "{warned}");
    assert!(!warned.contains("sk-"));
    // No plugins block: the default plugins installed beside the module.
    let defaults = SharedConfig::parse_with(
        r#"{"providers": {}}"#,
        Path::new("/etc/kw"),
        Path::new("/usr/lib/kw"),
        &env,
    )
    .unwrap();
    let paths: Vec<_> = defaults
        .groups
        .iter()
        .map(|g| g.entry.path.clone())
        .collect();
    assert_eq!(
        paths,
        [
            Path::new("/usr/lib/kw/libkeyward_weighted_selector.so"),
            Path::new("/usr/lib/kw/libkeyward_governance.so")
        ]
    );
    // In the module's own process the directory is found from its own mapping.
    assert!(super::module_dir().is_some_and(|dir| dir.is_absolute()));
    let half =
        r#"{"plugins": {"key_selection": {"path": "a.so"}, "authorization": {"path": "b.so"}}}"#;
    assert!(
        SharedConfig::parse_with(half, Path::new("/"), Path::new("/usr/lib/kw"), &env)
            .unwrap_err()
            .contains("enforcement")
    );
}
