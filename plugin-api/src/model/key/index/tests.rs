use super::{Candidate, CandidateIndex};
use crate::{ffi::RequestKind, model::key::config::KeysConfig};

/// A table that just records its candidates: (key id, provider model).
type Recorded = Vec<(u32, Option<String>)>;

fn index(json: &str) -> CandidateIndex<Recorded> {
    let config = KeysConfig::load_with(json, |_| None).expect("config");
    CandidateIndex::build(&config, |candidates: &[Candidate<'_>]| {
        candidates
            .iter()
            .map(|c| (c.key, c.provider_model.map(str::to_owned)))
            .collect()
    })
}

const CONFIG: &str = r#"{"providers": {"openai": {"keys": [
    {"id": "a", "models": ["GPT-4o", "gpt-4o-mini"], "use_for_batch_api": true},
    {"id": "b", "blacklisted_models": ["gpt-4o-mini"], "aliases": {"fast": "gpt-4o-mini-2024"}},
    {"id": "c", "models": ["*"], "enabled": false},
    {"id": "d", "models": []}
]}}}"#;

#[test]
fn named_models_get_their_own_case_insensitive_tables() {
    let index = index(CONFIG);
    let openai = index
        .provider("OpenAI")
        .expect("provider, case-insensitive");
    assert_eq!(openai.keys().len(), 4);
    assert_eq!(openai.enabled_keys(), 3);
    let any = |model: &str| {
        openai
            .tables(model)
            .for_kind(RequestKind::CHAT_COMPLETION)
            .clone()
    };
    assert_eq!(any("gpt-4o"), vec![(0, None), (1, None)]);
    assert_eq!(any("GPT-4O"), any("gpt-4o"));
    assert_eq!(any("gpt-4o-mini"), vec![(0, None)], "b black-lists it");
    assert_eq!(any("Fast"), vec![(1, Some("gpt-4o-mini-2024".to_owned()))]);
    assert_eq!(any("o3"), vec![(1, None)], "unlisted models: the open keys");
    let long = "X".repeat(300);
    assert_eq!(any(&long), vec![(1, None)]);
    let batch = openai.tables("gpt-4o").for_kind(RequestKind::BATCH);
    assert_eq!(batch, &vec![(0, None)]);
    assert_eq!(openai.key_by_id_or_name("d"), Some(3));
    assert!(index.provider("azure").is_none());
    assert_eq!(
        openai.entries().count(),
        4,
        "gpt-4o, gpt-4o-mini, fast, unlisted"
    );
}

mod against_the_rules {
    use proptest::prelude::*;

    use super::super::{Candidate, CandidateIndex};
    use crate::{
        ffi::RequestKind,
        model::key::{Key, config::KeysConfig, config::ProviderKeys, routing::Route},
    };

    const MODELS: [&str; 5] = ["gpt-4o", "GPT-4o-mini", "o1", "fast", "llama"];

    fn key_strategy() -> impl Strategy<Value = Key> {
        let names = proptest::sample::subsequence(&MODELS[..], 0..=3);
        (
            prop_oneof![Just(None), names.clone().prop_map(Some)],
            names.clone(),
            names.clone(),
            names,
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(proptest::sample::select(&MODELS[..])),
        )
            .prop_map(
                |(models, blacklist, aliases, deployments, enabled, batch, vllm)| {
                    let to_strings =
                        |list: Vec<&str>| list.into_iter().map(str::to_owned).collect();
                    let mut key = Key {
                        models: models.map_or_else(|| vec!["*".to_owned()], to_strings),
                        blacklisted_models: to_strings(blacklist),
                        enabled: Some(enabled),
                        use_for_batch_api: Some(batch),
                        ..Key::default()
                    };
                    for name in aliases {
                        key.aliases.insert(
                            name.to_owned(),
                            crate::model::key::Alias::ModelId(format!("{name}-id")),
                        );
                    }
                    if !deployments.is_empty() {
                        let mut azure = crate::model::key::AzureKeyConfig::default();
                        for name in deployments {
                            azure
                                .deployments
                                .insert(name.to_owned(), format!("{name}-dep"));
                        }
                        key.azure_key_config = Some(azure);
                    }
                    if let Some(only) = vllm {
                        key.vllm_key_config = Some(crate::model::key::VllmKeyConfig {
                            model_name: Some(only.to_owned()),
                            ..Default::default()
                        });
                    }
                    key
                },
            )
    }

    proptest! {
        #[test]
        fn every_table_holds_exactly_the_keys_that_route_the_model(
            keys in proptest::collection::vec(key_strategy(), 0..6),
            asked in proptest::sample::select(vec!["gpt-4o", "gpt-4o-MINI", "O1", "fast", "llama", "unlisted-model"]),
            batch in any::<bool>(),
        ) {
            let mut config = KeysConfig::default();
            let mut keys = keys;
            for (i, key) in keys.iter_mut().enumerate() {
                key.id = format!("k{i}");
            }
            config.providers.insert("p".to_owned(), ProviderKeys { keys: keys.clone() });
            let index = CandidateIndex::build(&config, |c: &[Candidate<'_>]| {
                c.iter().map(|c| (c.key, c.provider_model.map(str::to_owned))).collect::<Vec<_>>()
            });
            let kind = if batch { RequestKind::BATCH } else { RequestKind::CHAT_COMPLETION };
            let provider = index.provider("p").expect("provider");
            let from_index = provider.tables(asked).for_kind(kind).clone();
            let expected: Vec<(u32, Option<String>)> = (0u32..)
                .zip(&keys)
                .filter(|(_, key)| !batch || key.serves_batch())
                .filter_map(|(i, key)| {
                    key.route(asked).map(|route| match route {
                        Route::AsRequested => (i, None),
                        Route::Mapped(id) => (i, Some(id.to_owned())),
                    })
                })
                .collect();
            prop_assert_eq!(from_index, expected);
        }
    }
}
