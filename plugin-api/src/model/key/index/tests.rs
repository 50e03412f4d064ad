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
