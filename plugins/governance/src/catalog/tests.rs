//! The model catalog's answers for bare model names.

use rustc_hash::FxHashMap;

use super::{ModelCatalog, ProviderModels, base_name};

fn described(entries: &[(&str, &[&str], bool)]) -> FxHashMap<String, ProviderModels> {
    entries
        .iter()
        .map(|(name, models, any_model)| {
            (
                (*name).to_owned(),
                ProviderModels {
                    models: models.iter().map(|m| (*m).to_owned()).collect(),
                    any_model: *any_model,
                },
            )
        })
        .collect()
}

#[test]
fn a_provider_serves_its_built_in_models_and_those_its_keys_name() {
    let providers = described(&[
        ("openai", &[], true),
        ("anthropic", &[], true),
        ("vllm", &[], true),
        ("ollama", &["llama3.2"], true),
    ]);
    let catalog = ModelCatalog::build(Some(&providers)).unwrap();
    assert!(catalog.serves("openai", "gpt-4o-mini"));
    assert!(!catalog.serves("anthropic", "gpt-4o-mini"));
    assert!(catalog.serves("anthropic", "claude-sonnet-4-5"));
    assert!(!catalog.serves("openai", "claude-sonnet-4-5"));
    // Dated names match their base.
    assert!(catalog.serves("openai", "gpt-4o-2024-08-06"));
    assert!(catalog.serves("anthropic", "claude-sonnet-4-5-20250929"));
    // Nothing known of vLLM's models and a key allowing all: every model.
    assert!(catalog.serves("vllm", "my-fine-tune"));
    // Ollama's key names its model: that one only.
    assert!(catalog.serves("ollama", "llama3.2"));
    assert!(!catalog.serves("ollama", "gpt-4o-mini"));
    // A provider the host does not configure serves nothing.
    assert!(!catalog.serves("mistral-custom", "gpt-4o"));
}

#[test]
fn without_the_hosts_description_nothing_is_restricted() {
    let catalog = ModelCatalog::build(None).unwrap();
    assert!(!catalog.is_active());
    assert!(catalog.serves("anthropic", "gpt-4o-mini"));
}

#[test]
fn base_names_drop_only_a_date_suffix() {
    assert_eq!(base_name("gpt-4o-2024-08-06"), "gpt-4o");
    assert_eq!(base_name("claude-sonnet-4-20250514"), "claude-sonnet-4");
    assert_eq!(base_name("gpt-4o"), "gpt-4o");
    assert_eq!(base_name("o3-mini"), "o3-mini");
    assert_eq!(base_name("-20250514"), "-20250514");
    assert_eq!(base_name("model-2024-13"), "model-2024-13");
}
