//! The configuration a measurement runs on: `keys` OpenAI keys serving `gpt-4o` and
//! `gpt-4o-mini` with weights 1 to 5, plus a second provider so the provider lookup is real.

/// The plugin configuration JSON for `keys` keys.
pub fn config_json(keys: usize) -> String {
    let keys: Vec<String> = (0..keys)
        .map(|i| {
            format!(
                r#"{{"id": "key-{i}", "name": "key {i}", "value": "sk-bench-{i}", "models": ["gpt-4o", "gpt-4o-mini"], "weight": {}}}"#,
                1 + i % 5
            )
        })
        .collect();
    format!(
        r#"{{"providers": {{"anthropic": {{"keys": [{{"id": "a", "value": "x"}}]}}, "openai": {{"keys": [{}]}}}}}}"#,
        keys.join(",")
    )
}
