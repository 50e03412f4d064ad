use super::{EnvValue, Secret, looks_redacted, redact, with_exposed_secrets};

#[test]
fn redaction_follows_the_documented_form() {
    assert_eq!(redact(""), "");
    assert_eq!(redact("12345678"), "********");
    assert_eq!(redact("abc"), "***");
    assert_eq!(redact("123456789"), format!("1234{}6789", "*".repeat(24)));
    assert_eq!(
        redact("sk-ünïcødé-value"),
        format!("sk-ü{}alue", "*".repeat(24))
    );
}

#[test]
fn secrets_redact_in_debug_display_and_serialize() {
    let secret = Secret::new("sk-live-0123456789abcdef");
    let shown = [
        format!("{secret}"),
        format!("{secret:?}"),
        serde_json::to_string(&secret).unwrap(),
    ];
    for text in shown {
        assert!(!text.contains("0123456789"), "{text}");
        assert!(text.contains("sk-l************************cdef"), "{text}");
    }
}

#[test]
fn exposure_is_scoped_to_the_closure() {
    let secret = Secret::new("sk-live-0123456789abcdef");
    let exposed = with_exposed_secrets(|| serde_json::to_string(&secret).unwrap());
    assert_eq!(exposed, "\"sk-live-0123456789abcdef\"");
    assert!(
        !serde_json::to_string(&secret)
            .unwrap()
            .contains("0123456789")
    );
}

#[test]
fn a_redacted_value_sent_back_is_recognised() {
    let secret = Secret::new("sk-live-0123456789abcdef");
    assert!(secret.is_redacted_form_of_self(&secret.redacted()));
    assert!(!secret.is_redacted_form_of_self("sk-live-0123456789abcdef"));
    assert!(looks_redacted(&secret.redacted()));
    assert!(looks_redacted("****"));
    assert!(!looks_redacted("sk-new-value"));
}

#[test]
fn env_values_parse_every_documented_form() {
    let literal: EnvValue = serde_json::from_str("\"sk-abc\"").unwrap();
    assert_eq!(literal, EnvValue::literal("sk-abc"));
    let reference: EnvValue = serde_json::from_str("\"env.OPENAI_API_KEY\"").unwrap();
    assert_eq!(reference, EnvValue::from_env_var("OPENAI_API_KEY"));
    let object: EnvValue =
        serde_json::from_str(r#"{"value":"","env_var":"MY_KEY","from_env":true}"#).unwrap();
    assert_eq!(object, EnvValue::from_env_var("MY_KEY"));
    let object_literal: EnvValue = serde_json::from_str(r#"{"value":"x-1"}"#).unwrap();
    assert_eq!(object_literal, EnvValue::literal("x-1"));
    let wrong = serde_json::from_str::<EnvValue>("42").unwrap_err();
    assert!(wrong.to_string().contains("env.NAME"), "{wrong}");
}

#[test]
fn resolving_a_missing_variable_names_it() {
    let mut value = EnvValue::from_env_var("KEYWARD_TEST_SURELY_UNSET");
    let error = value.resolve_with(|_| None).unwrap_err();
    assert_eq!(error.variable, "KEYWARD_TEST_SURELY_UNSET");
    value.resolve_with(|_| Some("resolved".to_owned())).unwrap();
    assert_eq!(value.expose(), "resolved");
    let json = serde_json::to_value(&value).unwrap();
    assert_eq!(json["env_var"], "env.KEYWARD_TEST_SURELY_UNSET");
    assert_eq!(json["value"], "********");
    // Both forms of the reference read back as the same variable.
    for form in ["env.KEYWARD_TEST_SURELY_UNSET", "KEYWARD_TEST_SURELY_UNSET"] {
        let reread: EnvValue = serde_json::from_value(
            serde_json::json!({"value": "", "env_var": form, "from_env": true}),
        )
        .unwrap();
        assert_eq!(reread, EnvValue::from_env_var("KEYWARD_TEST_SURELY_UNSET"));
    }
}

#[test]
fn persisting_keeps_literals_but_never_writes_an_environment_secret() {
    let mut from_env = EnvValue::from_env_var("KEYWARD_TEST_PERSIST");
    from_env
        .resolve_with(|_| Some("sk-from-the-environment".to_owned()))
        .unwrap();
    let literal = EnvValue::literal("sk-literal-0123456789");
    let (env_json, literal_json) = with_exposed_secrets(|| {
        (
            serde_json::to_value(&from_env).unwrap(),
            serde_json::to_value(&literal).unwrap(),
        )
    });
    assert_eq!(
        env_json,
        serde_json::json!({"value": "", "env_var": "env.KEYWARD_TEST_PERSIST", "from_env": true})
    );
    assert_eq!(
        literal_json,
        serde_json::json!({"value": "sk-literal-0123456789", "from_env": false})
    );
    let reread: EnvValue = serde_json::from_value(env_json).unwrap();
    assert_eq!(reread, EnvValue::from_env_var("KEYWARD_TEST_PERSIST"));
}

#[test]
fn a_vault_reference_is_never_used_as_the_secret() {
    let mut value: EnvValue = serde_json::from_str(r#""vault.secret/openai#api_key""#).unwrap();
    let error = value
        .resolve_with(|_| Some("unused".to_owned()))
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("vault reference vault.secret/openai#api_key cannot be read"),
        "{error}"
    );
    let text = super::resolve_env_reference_with("vault.kv/vk", |_| None).unwrap_err();
    assert!(text.to_string().contains("no vault store"), "{text}");
    assert_eq!(
        super::resolve_env_reference_with("vault", |_| None).unwrap(),
        "vault",
        "only a reference is one"
    );
}
