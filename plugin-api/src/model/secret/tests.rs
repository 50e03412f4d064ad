use super::{EnvValue, Secret, looks_redacted, redact, with_exposed_secrets, without_input_values};

#[test]
fn redaction_follows_the_documented_form() {
    assert_eq!(redact(""), "");
    assert_eq!(redact("abc"), "***");
    assert_eq!(redact("12345678"), "********");
    // Under 12 characters: nothing shown (a 9-character key was 8/9 visible before).
    assert_eq!(redact("sk-bf-abc"), "*********");
    assert_eq!(redact("sk-0123456"), "**********");
    // 12 characters: 3 may be shown; `sk-` fits, no room for the end.
    assert_eq!(redact("sk-012345678"), "sk-*********");
    // No public prefix: the last characters only.
    assert_eq!(redact("abcdefghijklmnop"), "************mnop");
    // A generated virtual key: `sk-bf-` + a UUID, 42 characters, 10 may be shown.
    let vk = "sk-bf-8d3c0a54-7b9f-4c1e-a2f3-0123456789ab";
    assert_eq!(redact(vk), format!("sk-bf-{}89ab", "*".repeat(32)));
    // A prefix that does not fit in the quarter gives way to a shorter one.
    assert_eq!(
        redact("sk-proj-0123456789abcdef"),
        format!("sk-{}def", "*".repeat(18))
    );
    assert_eq!(
        redact("sk-ünïcødé-value-0123"),
        format!("sk-{}23", "*".repeat(16))
    );
}

#[test]
fn at_most_a_quarter_and_at_most_a_prefix_and_four_are_shown() {
    let alphabet: Vec<char> = "sk-bfprojant0123456789abcdefXYZ".chars().collect();
    for length in 0..120 {
        for seed in 0..alphabet.len() {
            for prefix in ["", "sk-", "sk-bf-", "sk-proj-", "sk-ant-"] {
                let body: String = (0..length)
                    .map(|i| alphabet[(seed * 7 + i * 13) % alphabet.len()])
                    .collect();
                let value = format!("{prefix}{body}");
                let shown = redact(&value);
                let count = value.chars().count();
                assert_eq!(shown.chars().count(), count, "{value}: length kept");
                let visible = shown.chars().filter(|c| *c != '*').count();
                assert!(visible <= count / 4, "{value} -> {shown}");
                let public = super::PUBLIC_PREFIXES
                    .iter()
                    .filter(|p| value.starts_with(**p))
                    .map(|p| p.len())
                    .max()
                    .unwrap_or(0);
                assert!(visible <= public + 4, "{value} -> {shown}");
                if count < 12 {
                    assert_eq!(visible, 0, "{value} -> {shown}");
                }
                assert_eq!(redact(&shown), shown, "the form is its own redaction");
                assert!(shown.is_empty() || looks_redacted(&shown), "{shown}");
                assert!(!looks_redacted(&value) || value.is_empty() || value.contains('*'));
            }
        }
    }
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
        assert!(
            text.contains(&format!("sk-{}def", "*".repeat(18))),
            "{text}"
        );
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
    assert!(!looks_redacted(""));
    // The form shown before is still refused as a placeholder, never stored as a secret.
    assert!(looks_redacted(&format!("sk-l{}cdef", "*".repeat(24))));
    assert!(!secret.is_redacted_form_of_self(&format!("sk-l{}cdef", "*".repeat(24))));
}

#[test]
fn the_redacted_form_of_another_secret_is_not_this_one() {
    let secret = Secret::new("sk-openai-primary-0123456789");
    let other = Secret::new("sk-openai-secondary-0123456789");
    assert!(looks_redacted(&other.redacted()));
    assert!(!secret.is_redacted_form_of_self(&other.redacted()));
    let vk = Secret::new("sk-bf-alpha-0123456789abcdef");
    let other_vk = Secret::new("sk-bf-beta-0123456789abcdef");
    assert!(!vk.is_redacted_form_of_self(&other_vk.redacted()));
    assert!(vk.is_redacted_form_of_self(&vk.redacted()));
}

#[test]
fn parse_errors_lose_every_value_of_the_input() {
    let cases = [
        (
            r#"invalid type: string "sk-secret-\"quoted\"-0123", expected a sequence"#,
            "invalid type: a string (not shown), expected a sequence",
        ),
        (
            "invalid type: integer `987654321`, expected a string at line 1 column 20",
            "invalid type: integer (not shown), expected a string at line 1 column 20",
        ),
        (
            "invalid value: string \"sk-x\", expected a valid id",
            "invalid value: a string (not shown), expected a valid id",
        ),
        (
            "invalid type: map, expected a string",
            "invalid type: map, expected a string",
        ),
        (
            "unknown variant `sk-secret`, expected `exact` or `wildcard`",
            "unknown variant (not shown), expected `exact` or `wildcard`",
        ),
        (
            // The value holds serde's own words: the last ones are serde's.
            "unknown variant `a`, expected `b`, expected one of `exact`, `wildcard`",
            "unknown variant (not shown), expected one of `exact`, `wildcard`",
        ),
        (
            "unknown variant `sk-secret`, there are no variants",
            "unknown variant (not shown), there are no variants",
        ),
        (
            "unknown field `sk-secret`, expected `name` or `value`",
            "unknown field (not shown), expected `name` or `value`",
        ),
        ("missing field `name`", "missing field `name`"),
        ("duplicate field `value`", "duplicate field `value`"),
        (
            "invalid length 3, expected a tuple of 2",
            "invalid length 3, expected a tuple of 2",
        ),
        (
            r#"invalid duration "sk-secret": expected a number followed by a unit, e.g. "30s""#,
            r#"invalid duration (not shown): expected a number followed by a unit, e.g. "30s""#,
        ),
        (
            r#"invalid duration "sk-x, expected y": it must be longer than zero"#,
            "invalid duration (not shown): it must be longer than zero",
        ),
        (
            r#"expected a string (a value or "env.NAME") or an object"#,
            r#"expected a string (a value or "env.NAME") or an object"#,
        ),
        (
            "invalid governance value `sk-secret`",
            "invalid governance value (not shown)",
        ),
    ];
    for (message, cleaned) in cases {
        assert_eq!(without_input_values(message), cleaned, "{message}");
    }
}

#[test]
fn real_serde_errors_keep_the_field_and_the_expectation_but_not_the_value() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    enum Kind {
        #[serde(rename = "exact")]
        Exact,
        #[serde(rename = "wildcard")]
        Wildcard,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        kind: Option<Kind>,
        weight: Option<f64>,
        flag: Option<bool>,
    }
    let secret = "sk-secret-`tick`-\"quote\"-, expected x-0123456789";
    for body in [
        serde_json::json!({"name": "n", "kind": secret}),
        serde_json::json!({"name": 4_242_424_242_u64}),
        serde_json::json!({"name": "n", "weight": secret}),
        serde_json::json!({"name": "n", "flag": secret}),
        serde_json::json!({"name": "n", secret: 1}),
        serde_json::json!({"name": ["sk-secret-0123456789"]}),
    ] {
        let error = serde_json::from_str::<Body>(&body.to_string()).unwrap_err();
        let cleaned = without_input_values(&error.to_string());
        for leaked in ["sk-secret", "4242424242", "tick", "quote", "0123456789"] {
            assert!(!cleaned.contains(leaked), "{error} -> {cleaned}");
        }
        assert!(cleaned.contains("expected"), "{error} -> {cleaned}");
    }
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
