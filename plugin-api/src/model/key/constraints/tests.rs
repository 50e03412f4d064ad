use abi_stable::std_types::{ROption, RSlice, RStr};

use super::{
    CandidateTable, Constraints, NoPick, PinProblem, Tier, pinned_position, weighted_scan,
};
use crate::{
    ffi::{FailedKey, FailureKind, RequestKind, SelectRequest},
    model::key::{
        config::KeysConfig,
        index::{Candidate, CandidateIndex},
    },
};

/// (key, weight) pairs, sorted by key.
struct Pairs(Vec<(u32, u64)>);

impl CandidateTable for Pairs {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn key_at(&self, position: usize) -> u32 {
        self.0[position].0
    }
    fn position_of(&self, key: u32) -> Option<usize> {
        self.0.binary_search_by_key(&key, |p| p.0).ok()
    }
    fn weight_at(&self, position: usize) -> u64 {
        self.0[position].1
    }
}

fn index() -> CandidateIndex<Pairs> {
    let config = KeysConfig::load_with(
        r#"{"providers": {"openai": {"keys": [
            {"id": "a", "name": "alpha", "weight": 1}, {"id": "b", "weight": 2},
            {"id": "c", "weight": 3}, {"id": "d", "models": ["other"]}]}}}"#,
        |_| None,
    )
    .expect("config");
    CandidateIndex::build(&config, |c: &[Candidate<'_>]| {
        Pairs(
            c.iter()
                .map(|c| (c.key, u64::from(c.weight.units())))
                .collect(),
        )
    })
}

fn failed(id: &'static str, failure: FailureKind) -> FailedKey<'static> {
    FailedKey {
        key_id: RStr::from_str(id),
        failure,
    }
}

fn request<'a>(
    allowed: Option<&'a [RStr<'a>]>,
    failures: &'a [FailedKey<'a>],
) -> SelectRequest<'a> {
    let mut request = SelectRequest::new("openai", "gpt-4o", RequestKind::CHAT_COMPLETION);
    request.allowed_key_ids = allowed
        .map(RSlice::from_slice)
        .map_or(ROption::RNone, ROption::RSome);
    request.failed = RSlice::from_slice(failures);
    request
}

#[test]
fn failures_rank_keys_credentials_never_come_back() {
    let failures = [
        failed("a", FailureKind::RATE_LIMITED),
        failed("b", FailureKind::RATE_LIMITED),
        failed("b", FailureKind::SERVER_ERROR),
        failed("c", FailureKind::TIMEOUT),
        failed("c", FailureKind::CREDENTIALS),
    ];
    let request = request(None, &failures);
    let constraints = Constraints::of(&request);
    assert_eq!(constraints.tier("a"), Tier::RateLimited);
    assert_eq!(constraints.tier("b"), Tier::Transient);
    assert_eq!(constraints.tier("c"), Tier::Excluded);
    assert_eq!(constraints.tier("d"), Tier::Fresh);
}

#[test]
fn the_scan_prefers_fresh_then_rate_limited_then_transient_keys() {
    let index = index();
    let openai = index.provider("openai").expect("provider");
    let table = openai
        .tables("gpt-4o")
        .for_kind(RequestKind::CHAT_COMPLETION);
    let failures = [
        failed("a", FailureKind::SERVER_ERROR),
        failed("b", FailureKind::RATE_LIMITED),
        failed("c", FailureKind::CREDENTIALS),
    ];
    let request = request(None, &failures);
    let constraints = Constraints::of(&request);
    for draw in 0..2 {
        let picked = weighted_scan(table, openai, &constraints, |_| draw);
        assert_eq!(picked, Ok(1), "b was only rate-limited");
    }
    let only_credentials = [
        failed("a", FailureKind::CREDENTIALS),
        failed("b", FailureKind::CREDENTIALS),
        failed("c", FailureKind::CREDENTIALS),
    ];
    let request = self::request(None, &only_credentials);
    assert_eq!(
        weighted_scan(table, openai, &Constraints::of(&request), |_| 0),
        Err(NoPick::AllExcluded)
    );
}

#[test]
fn the_scan_weighs_the_allowed_keys_only() {
    let index = index();
    let openai = index.provider("openai").expect("provider");
    let table = openai
        .tables("gpt-4o")
        .for_kind(RequestKind::CHAT_COMPLETION);
    let allowed = [
        RStr::from_str("c"),
        RStr::from_str("a"),
        RStr::from_str("a"),
    ];
    let request = request(Some(&allowed), &[]);
    let constraints = Constraints::of(&request);
    // Weights a=1.0, c=3.0 (units of 1/10,000): draws over 0..40,000 split 1:3, b gets none.
    let mut picks = [0u32; 3];
    for draw in (0..40_000).step_by(1_000) {
        let total = std::cell::Cell::new(0);
        let position = weighted_scan(table, openai, &constraints, |n| {
            total.set(n);
            draw
        })
        .expect("a pick");
        assert_eq!(total.get(), 40_000, "the sum of the allowed weights");
        picks[position] += 1;
    }
    assert_eq!(picks, [10, 0, 30]);
    let outsiders = [RStr::from_str("d"), RStr::from_str("zzz")];
    let request = self::request(Some(&outsiders), &[]);
    assert_eq!(
        weighted_scan(table, openai, &Constraints::of(&request), |_| 0),
        Err(NoPick::NoneAllowed)
    );
}

#[test]
fn a_pinned_key_must_still_be_a_candidate() {
    let index = index();
    let openai = index.provider("openai").expect("provider");
    let table = openai
        .tables("gpt-4o")
        .for_kind(RequestKind::CHAT_COMPLETION);
    let free = request(None, &[]);
    let free = Constraints::of(&free);
    assert_eq!(
        pinned_position(table, openai, &free, "alpha"),
        Ok(0),
        "by name"
    );
    assert_eq!(pinned_position(table, openai, &free, "b"), Ok(1), "by id");
    assert_eq!(
        pinned_position(table, openai, &free, "nope"),
        Err(PinProblem::Unknown)
    );
    assert_eq!(
        pinned_position(table, openai, &free, "d"),
        Err(PinProblem::NotCandidate)
    );
    let allowed = [RStr::from_str("a")];
    let limited = request(Some(&allowed), &[]);
    assert_eq!(
        pinned_position(table, openai, &Constraints::of(&limited), "b"),
        Err(PinProblem::NotAllowed)
    );
    let failures = [
        failed("b", FailureKind::CREDENTIALS),
        failed("a", FailureKind::TIMEOUT),
    ];
    let burnt = request(None, &failures);
    let burnt = Constraints::of(&burnt);
    assert_eq!(
        pinned_position(table, openai, &burnt, "b"),
        Err(PinProblem::Excluded)
    );
    assert_eq!(
        pinned_position(table, openai, &burnt, "a"),
        Ok(0),
        "transient: retried"
    );
}
