//! Criterion benches of a pick through the ABI (the `KeySelector_TO` trait object hosts call),
//! including the (provider, model) lookup, at 3, 25, 200, 1,000 and 10,000 keys; plus a pick
//! with an allow-list and a failed key. `cargo bench -p keyward-weighted-selector`.

// `criterion_group!` generates an undocumented public function; nothing else here is public.
#![allow(missing_docs)]

use std::{hint::black_box, time::Duration};

use abi_stable::std_types::{ROption, RResult, RSlice, RStr};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use keyward_plugin_api::ffi::{
    FailedKey, FailureKind, KeyChoice, KeySelectorExt, KeywardError, RequestKind, SelectRequest,
};
use keyward_weighted_selector::{WeightedSelector, boxed};

fn config(keys: usize) -> String {
    let keys: Vec<String> = (0..keys)
        .map(|i| {
            format!(
                r#"{{"id": "key-{i}", "name": "key {i}", "value": "sk-{i}", "models": ["gpt-4o", "gpt-4o-mini"], "weight": {}}}"#,
                1 + i % 5
            )
        })
        .collect();
    format!(
        r#"{{"providers": {{"openai": {{"keys": [{}]}}, "anthropic": {{"keys": [{{"id": "a", "value": "x"}}]}}}}}}"#,
        keys.join(",")
    )
}

/// Uses a choice as a host does (the key id and the upstream model id), as `keyward-bench` does.
fn consume(choice: RResult<KeyChoice<'_>, KeywardError>) {
    let choice = choice.into_result().expect("the workload is servable");
    black_box(choice.key_id.as_str());
    black_box(choice.provider_model.as_str());
}

fn picks(c: &mut Criterion) {
    let mut group = c.benchmark_group("select");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30);
    for keys in [3usize, 25, 200, 1_000, 10_000] {
        let selector = boxed(WeightedSelector::from_json(&config(keys)).expect("config"));
        let request = SelectRequest::new("openai", "gpt-4o", RequestKind::CHAT_COMPLETION);
        group.bench_with_input(BenchmarkId::new("unconstrained", keys), &keys, |b, _| {
            b.iter(|| consume(selector.pick(black_box(&request))))
        });
        let allowed = [RStr::from_str("key-0"), RStr::from_str("key-1")];
        let failures = [FailedKey {
            key_id: RStr::from_str("key-0"),
            failure: FailureKind::RATE_LIMITED,
        }];
        let mut constrained = request;
        constrained.allowed_key_ids = ROption::RSome(RSlice::from_slice(&allowed));
        constrained.failed = RSlice::from_slice(&failures);
        group.bench_with_input(
            BenchmarkId::new("allow_list_and_failure", keys),
            &keys,
            |b, _| b.iter(|| consume(selector.pick(black_box(&constrained)))),
        );
    }
    group.finish();
}

criterion_group!(benches, picks);
criterion_main!(benches);
