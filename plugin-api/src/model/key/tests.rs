use std::collections::BTreeMap;

use super::{
    Alias, Key,
    config::{KeysConfig, parse_json},
    hash::sha256,
    routing::Route,
};
use crate::model::{
    secret::{EnvValue, redact, with_exposed_secrets},
    weight::Weight,
};

/// The `GET /api/providers/{provider}/keys/{key_id}` example of the reference, with values.
const FULL_KEY: &str = r#"{
  "id": "key-1", "name": "primary",
  "value": {"value": "sk-proj-abcdefghijklmnopqrstuvwxyz", "env_var": "", "from_env": false},
  "models": ["gpt-4o", "gpt-4o-mini"], "blacklisted_models": ["gpt-3.5-turbo"], "weight": 0.7,
  "aliases": {"fast": "gpt-4o-mini-2024-07-18", "smart": {"model_id": "gpt-4o-2024-08-06", "region": "eu"}},
  "azure_key_config": {
    "endpoint": {"value": "https://example.openai.azure.com", "env_var": "", "from_env": false},
    "deployments": {"gpt-4o": "prod-gpt4o"},
    "api_version": {"value": "2024-10-21", "env_var": "", "from_env": false},
    "client_id": {"value": "client", "env_var": "", "from_env": false},
    "client_secret": {"value": "client-secret-0123456789", "env_var": "", "from_env": false},
    "tenant_id": {"value": "tenant", "env_var": "", "from_env": false},
    "scopes": ["https://cognitiveservices.azure.com/.default"]
  },
  "vertex_key_config": {"project_id": "proj", "project_number": "123", "region": "us-central1",
    "auth_credentials": "env.VERTEX_CREDS", "deployments": {"gemini": "endpoint-1"}},
  "bedrock_key_config": {"access_key": "AKIA0000", "secret_key": "bedrock-secret-0123456789",
    "session_token": "tok", "region": "us-east-1", "arn": "arn:aws:iam::1:role/x",
    "deployments": {"claude": "profile-1"},
    "batch_s3_config": {"buckets": [{"bucket_name": "b1", "prefix": "in/", "is_default": true}]}},
  "huggingface_key_config": {"deployments": {"llama": "hf-endpoint"}},
  "replicate_key_config": {"deployments": {"flux": "dep"}, "use_deployments_endpoint": true},
  "vllm_key_config": {"url": "http://vllm:8000", "model_name": "llama-3"},
  "ollama_key_config": {"url": "http://ollama:11434"},
  "sgl_key_config": {"url": {"value": "http://sgl:30000", "env_var": "", "from_env": false}},
  "enabled": true, "use_for_batch_api": false, "config_hash": "abc", "status": "success",
  "description": "ok", "some_future_field": {"ignored": true}
}"#;

fn full_key() -> Key {
    serde_json::from_str(FULL_KEY).expect("the reference document parses")
}

#[test]
fn every_field_of_the_reference_document_is_read() {
    let key = full_key();
    assert_eq!((key.id.as_str(), key.name.as_str()), ("key-1", "primary"));
    assert_eq!(key.value.expose(), "sk-proj-abcdefghijklmnopqrstuvwxyz");
    assert_eq!(key.models, ["gpt-4o", "gpt-4o-mini"]);
    assert_eq!(key.blacklisted_models, ["gpt-3.5-turbo"]);
    assert_eq!(key.weight, Weight::from_f64(0.7));
    assert_eq!(key.aliases["fast"].model_id(), "gpt-4o-mini-2024-07-18");
    let Alias::Detailed(smart) = &key.aliases["smart"] else {
        panic!("object alias expected")
    };
    assert_eq!(smart.extra["region"], "eu");
    let azure = key.azure_key_config.as_ref().expect("azure");
    assert_eq!(azure.deployments["gpt-4o"], "prod-gpt4o");
    assert_eq!(azure.scopes.len(), 1);
    let vertex = key.vertex_key_config.as_ref().expect("vertex");
    assert_eq!(
        vertex.auth_credentials,
        Some(EnvValue::from_env_var("VERTEX_CREDS"))
    );
    let bedrock = key.bedrock_key_config.as_ref().expect("bedrock");
    let bucket = &bedrock.batch_s3_config.as_ref().expect("s3").buckets[0];
    assert_eq!(
        (bucket.bucket_name.as_str(), bucket.is_default),
        ("b1", Some(true))
    );
    assert_eq!(
        key.replicate_key_config
            .as_ref()
            .and_then(|c| c.use_deployments_endpoint),
        Some(true)
    );
    assert_eq!(
        key.vllm_key_config
            .as_ref()
            .and_then(|c| c.model_name.as_deref()),
        Some("llama-3")
    );
    assert!(key.ollama_key_config.is_some() && key.sgl_key_config.is_some());
    assert_eq!(key.enabled, Some(true));
    assert_eq!(key.use_for_batch_api, Some(false));
    assert_eq!(key.status.as_deref(), Some("success"));
}

#[test]
fn unknown_fields_are_kept_redacted_and_go_nulls_read_as_absent() {
    let key = full_key();
    assert_eq!(key.unread_fields(), ["some_future_field"]);
    let shown = serde_json::to_value(&key).expect("serialize");
    let saved = crate::model::secret::with_exposed_secrets(|| serde_json::to_value(&key))
        .expect("serialize");
    assert!(shown.get("some_future_field").is_some());
    assert_eq!(
        saved["some_future_field"],
        serde_json::to_value(&key.other.0["some_future_field"]).unwrap()
    );
    let bedrock: Key = serde_json::from_value(serde_json::json!({
        "id": "b", "bedrock_key_config": {"region": "us-east-1", "role_arn": "arn:aws:iam::1:role/x"}
    }))
    .expect("parses");
    assert_eq!(bedrock.unread_fields(), ["bedrock_key_config.role_arn"]);
    let key: Key = serde_json::from_str(
        r#"{"id": "k", "models": null, "blacklisted_models": null, "aliases": null, "weight": null}"#,
    )
    .expect("nulls parse");
    assert_eq!(key.models, ["*"]);
    assert!(key.blacklisted_models.is_empty() && key.aliases.is_empty());
    assert_eq!(key.weight, Weight::ONE);
}

#[test]
fn responses_redact_every_secret_and_persistence_keeps_them() {
    let key = full_key();
    let shown = serde_json::to_string(&key).expect("serialize");
    for secret in [
        "abcdefghijklmnopqrstuvwxyz",
        "client-secret-0123456789",
        "bedrock-secret-0123456789",
    ] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    assert!(shown.contains(&redact("sk-proj-abcdefghijklmnopqrstuvwxyz")));
    let debug = format!("{key:?}");
    assert!(!debug.contains("client-secret-0123456789"));
    let stored = with_exposed_secrets(|| serde_json::to_string(&key)).expect("serialize");
    let back: Key = serde_json::from_str(&stored).expect("round trip");
    assert_eq!(back, key);
}

#[test]
fn an_update_sending_redacted_values_back_keeps_the_stored_secrets() {
    let stored = full_key();
    let mut update: Key =
        serde_json::from_str(&serde_json::to_string(&stored).expect("serialize")).expect("parse");
    update.weight = Weight::from_f64(3.0);
    update
        .bedrock_key_config
        .as_mut()
        .expect("bedrock")
        .secret_key = Some(EnvValue::literal("a-brand-new-secret-value"));
    update.keep_stored_secrets(&stored);
    assert_eq!(update.value, stored.value);
    assert_eq!(
        update
            .azure_key_config
            .as_ref()
            .and_then(|c| c.client_secret.clone()),
        stored
            .azure_key_config
            .as_ref()
            .and_then(|c| c.client_secret.clone())
    );
    let bedrock = update.bedrock_key_config.as_ref().expect("bedrock");
    assert_eq!(
        bedrock.secret_key.as_ref().map(EnvValue::expose),
        Some("a-brand-new-secret-value")
    );
    assert_eq!(update.weight, Weight::from_f64(3.0));
}

#[test]
fn a_missing_variable_names_the_key_and_the_field_never_a_value() {
    let mut key = full_key();
    let error = key
        .resolve_env_with(|_| None)
        .expect_err("VERTEX_CREDS is unset");
    assert_eq!(error.field, "vertex_key_config.auth_credentials");
    assert_eq!(error.variable, "VERTEX_CREDS");
    let message = error.to_string();
    assert!(
        message.contains("primary") && message.contains("VERTEX_CREDS"),
        "{message}"
    );
    key.resolve_env_with(|name| (name == "VERTEX_CREDS").then(|| "{\"type\":\"sa\"}".to_owned()))
        .expect("resolves");
    let vertex = key.vertex_key_config.as_ref().expect("vertex");
    assert_eq!(
        vertex.auth_credentials.as_ref().map(EnvValue::expose),
        Some("{\"type\":\"sa\"}")
    );
}

#[test]
fn sha256_matches_the_standard_vectors() {
    let hex = |bytes: [u8; 32]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(
        hex(sha256(b"")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        hex(sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex(sha256(
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        )),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
}

#[test]
fn the_config_hash_is_stable_and_tracks_configuration_only() {
    let key = full_key();
    let hash = key.config_hash();
    assert_eq!(hash.len(), 64);
    assert_eq!(full_key().config_hash(), hash, "same config, same hash");
    let mut annotated = key.clone();
    annotated.status = Some("list_models_failed".to_owned());
    annotated.stamp_config_hash();
    assert_eq!(annotated.config_hash.as_deref(), Some(hash.as_str()));
    let mut resolved = key.clone();
    resolved
        .resolve_env_with(|_| Some("machine-specific".to_owned()))
        .expect("resolves");
    assert_eq!(
        resolved.config_hash(),
        hash,
        "env values count by variable name"
    );
    let mut reweighted = key;
    reweighted.weight = Weight::from_f64(2.0);
    assert_ne!(reweighted.config_hash(), hash);
    // Pinned across runs and machines (= `sha256sum` of the canonical JSON): never changes.
    let minimal: Key = serde_json::from_str(r#"{"id": "k1", "value": "sk-1"}"#).expect("parse");
    assert_eq!(
        minimal.config_hash(),
        "4970a5e3b15aacf970f30270ed93623fb5c93970f591408d2e5a4f09c461da1d"
    );
}

#[test]
fn routing_follows_the_allow_list_black_list_aliases_and_deployments() {
    let key = full_key();
    // Aliases resolve, matched case-insensitively; the allow-list sees the caller's name.
    let mut aliased = key.clone();
    aliased.models = vec!["*".to_owned()];
    aliased.vllm_key_config = None;
    assert_eq!(
        aliased.route("FAST"),
        Some(Route::Mapped("gpt-4o-mini-2024-07-18"))
    );
    // Deployments map and restrict.
    assert_eq!(aliased.route("gpt-4o"), Some(Route::Mapped("prod-gpt4o")));
    assert_eq!(aliased.route("claude"), Some(Route::Mapped("profile-1")));
    assert_eq!(aliased.route("not-deployed"), None);
    // The black-list wins over the allow-list.
    assert_eq!(aliased.route("GPT-3.5-turbo"), None);
    // vLLM model_name serves only that model.
    assert_eq!(key.route("gpt-4o"), None, "vllm model_name is llama-3");
    let plain: Key = serde_json::from_str(r#"{"id": "p", "models": ["GPT-4o"]}"#).expect("parse");
    assert_eq!(plain.route("gpt-4O"), Some(Route::AsRequested));
    assert_eq!(plain.route("gpt-4o-mini"), None);
    let none: Key = serde_json::from_str(r#"{"id": "n", "models": []}"#).expect("parse");
    assert_eq!(
        none.route("gpt-4o"),
        None,
        "an empty allow-list allows none"
    );
    let disabled: Key = serde_json::from_str(r#"{"id": "d", "enabled": false}"#).expect("parse");
    assert_eq!(disabled.route("gpt-4o"), None);
    assert_eq!(disabled.route_unlisted(), None);
    assert_eq!(plain.route_unlisted(), None);
    let open: Key = serde_json::from_str(r#"{"id": "o"}"#).expect("parse");
    assert_eq!(open.route_unlisted(), Some(Route::AsRequested));
}

#[test]
fn config_errors_name_the_json_path_of_the_bad_field() {
    let bad_weight = r#"{"providers": {"openai": {"network_config": {"timeout": 30}, "keys": [
        {"id": "a"}, {"id": "b"}, {"id": "c", "weight": "heavy"}]}}}"#;
    let error = KeysConfig::load(bad_weight).expect_err("weight is a string");
    assert_eq!(error.path, "providers.openai.keys[2].weight");
    assert!(
        error
            .to_string()
            .starts_with("providers.openai.keys[2].weight: invalid type")
    );
    let bad_value = r#"{"providers": {"openai": {"keys": [{"id": "a", "value": 42}]}}}"#;
    let error = KeysConfig::load(bad_value).expect_err("value is a number");
    assert_eq!(error.path, "providers.openai.keys[0].value");
    let duplicate = r#"{"providers": {"azure": {"keys": [{"id": "a"}, {"name": "a"}]}}}"#;
    let error = KeysConfig::load(duplicate).expect_err("duplicate ids");
    assert_eq!(error.path, "providers.azure.keys[1].id");
    let anonymous = r#"{"providers": {"azure": {"keys": [{"weight": 1}]}}}"#;
    assert_eq!(
        KeysConfig::load(anonymous).expect_err("no id").path,
        "providers.azure.keys[0].id"
    );
    let missing_env = r#"{"providers": {"openai": {"keys": [{"id": "a", "name": "main", "value": "env.KEYWARD_TEST_SURELY_UNSET"}]}}}"#;
    let error = KeysConfig::load_with(missing_env, |_| None).expect_err("unset variable");
    assert_eq!(error.path, "providers.openai.keys[0].value");
    assert!(error.message.contains("KEYWARD_TEST_SURELY_UNSET") && error.message.contains("main"));
}

#[test]
fn a_valid_config_loads_with_ids_from_names_and_env_resolved() {
    let json =
        r#"{"providers": {"openai": {"keys": [{"name": "main", "value": "env.OPENAI_KEY"}]}}}"#;
    let env = BTreeMap::from([("OPENAI_KEY".to_owned(), "sk-from-env".to_owned())]);
    let config = KeysConfig::load_with(json, |name| env.get(name).cloned()).expect("loads");
    let key = &config.providers["openai"].keys[0];
    assert_eq!(key.id, "main");
    assert_eq!(key.value.expose(), "sk-from-env");
}

#[test]
fn a_single_key_document_names_its_bad_field() {
    let error = parse_json::<Key>(r#"{"id": "k", "models": ["a", 7]}"#).expect_err("a number");
    assert_eq!(error.path, "models[1]");
    let error = parse_json::<Key>(r#"{"id": "k", "bedrock_key_config": {"batch_s3_config": {"buckets": [{"is_default": "yes"}]}}}"#)
        .expect_err("a string flag");
    assert_eq!(
        error.path,
        "bedrock_key_config.batch_s3_config.buckets[0].is_default"
    );
}
