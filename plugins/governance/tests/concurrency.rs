//! No overshoot under concurrency: 64 threads against limits that fit exactly 10, and a
//! property test that no sequence of reserve / settle / release breaks the counters.

// Test code: helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    collections::HashMap,
    sync::{
        Barrier,
        atomic::{AtomicU64, Ordering},
    },
};

use common::*;
use keyward_plugin_api::ffi::ErrorCode;
use proptest::prelude::*;
use serde_json::json;

const THREADS: u64 = 64;

/// Runs one decision per thread, all released at once; returns how many were admitted.
fn race(h: &Harness, expect_denial: ErrorCode) -> u64 {
    let admitted = AtomicU64::new(0);
    let start = Barrier::new(THREADS as usize);
    std::thread::scope(|scope| {
        for id in 0..THREADS {
            let (admitted, start) = (&admitted, &start);
            scope.spawn(move || {
                start.wait();
                match h.decide(id, "sk-bf-x", "openai", "test-model", 10, 10) {
                    Ok(_) => {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => assert_eq!(error.code, expect_denial, "{error}"),
                }
            });
        }
    });
    admitted.into_inner()
}

#[test]
fn sixty_four_threads_against_a_budget_that_fits_ten_admit_exactly_ten() {
    // Each request reserves 20 tokens at $0.000001: $0.00002; ten fit in $0.0002, at the key
    // and at its team at once.
    let h = harness(json!({
        "pricing": flat_pricing(),
        "teams": [{"id": "t", "budgets": [{"id": "b-team", "max_limit": 0.0002, "reset_duration": "1d"}]}],
        "virtual_keys": [{"id": "vk", "value": "sk-bf-x", "team_id": "t",
            "budgets": [{"id": "b-vk", "max_limit": 0.0002, "reset_duration": "1d"}],
            "provider_configs": [{"provider": "openai"}]}]
    }));
    for _ in 0..20 {
        assert_eq!(race(&h, ErrorCode::BUDGET_EXCEEDED), 10);
        for id in 0..THREADS {
            let _ = h.release(id);
        }
        // Released ids may reserve again in the next round.
        assert_eq!(h.counter("b-vk", "budget")["reserved"], 0);
        assert_eq!(h.counter("b-team", "budget")["reserved"], 0);
    }
}

#[test]
fn sixty_four_threads_against_a_request_limit_of_ten_admit_exactly_ten() {
    let h = harness(json!({
        "pricing": flat_pricing(),
        "virtual_keys": [{"id": "vk", "value": "sk-bf-x",
            "rate_limit": {"id": "rl", "request_max_limit": 10, "request_reset_duration": "1h"},
            "provider_configs": [{"provider": "openai",
                "rate_limit": {"id": "rl-pc", "request_max_limit": 10, "request_reset_duration": "1h"}}]}]
    }));
    assert_eq!(race(&h, ErrorCode::REQUEST_LIMITED), 10);
    // Settling keeps the ten counted for the window.
    for id in 0..THREADS {
        let _ = h.settle(id, usage(10, 10, None));
    }
    assert_eq!(race_again(&h), 0);
    assert_eq!(h.counter("rl", "requests")["current_usage"], 10);
    assert_eq!(h.counter("rl-pc", "requests")["current_usage"], 10);
}

fn race_again(h: &Harness) -> u64 {
    (100..110)
        .filter(|id| {
            h.decide(*id, "sk-bf-x", "openai", "test-model", 1, 1)
                .is_ok()
        })
        .count() as u64
}

#[test]
fn concurrent_reserve_settle_release_leave_consistent_counters() {
    let h = harness(json!({
        "pricing": flat_pricing(),
        "virtual_keys": [{"id": "vk", "value": "sk-bf-x",
            "budgets": [{"id": "b", "max_limit": 0.001, "reset_duration": "1d"}],
            "rate_limit": {"id": "rl", "request_max_limit": 1000000, "request_reset_duration": "1h",
                           "token_max_limit": 500, "token_reset_duration": "1h"},
            "provider_configs": [{"provider": "openai"}]}]
    }));
    std::thread::scope(|scope| {
        for thread in 0..8u64 {
            let h = &h;
            scope.spawn(move || {
                for i in 0..500u64 {
                    let id = thread * 1_000 + i;
                    if h.reserve(id, "vk", "openai", "test-model", 5, Some(5))
                        .is_ok()
                    {
                        if i % 2 == 0 {
                            h.settle(id, usage(0, 0, None)).unwrap();
                        } else {
                            h.release(id).unwrap();
                        }
                    }
                }
            });
        }
    });
    assert_eq!(h.counter("b", "budget")["reserved"], 0);
    assert_eq!(h.counter("rl", "tokens")["reserved"], 0);
    assert_eq!(h.counter("rl", "requests")["reserved"], 0);
    assert_eq!(h.counter("b", "budget")["current_usage"], 0);
}

#[derive(Clone, Debug)]
enum Op {
    Reserve {
        id: u64,
        input: u64,
        max_output: u64,
    },
    Settle {
        id: u64,
        input: u64,
        output: u64,
    },
    Release {
        id: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..6u64, 0..40u64, 0..40u64).prop_map(|(id, input, max_output)| Op::Reserve {
            id,
            input,
            max_output
        }),
        (0..6u64, 0..40u64, 0..60u64).prop_map(|(id, input, output)| Op::Settle {
            id,
            input,
            output
        }),
        (0..6u64).prop_map(|id| Op::Release { id }),
    ]
}

/// The expected counters: settled usage and open reservations.
#[derive(Default)]
struct Model {
    open: HashMap<u64, (u64, u64)>,
    finished: HashMap<u64, ()>,
    settled_tokens: u64,
    settled_cost: u64,
    settled_requests: u64,
}

const REQUESTS: u64 = 4;
const TOKENS: u64 = 150;
const VK_BUDGET: u64 = 120_000;
const TEAM_BUDGET: u64 = 100_000;

impl Model {
    fn open_sum(&self) -> (u64, u64, u64) {
        self.open
            .values()
            .fold((0, 0, 0), |(r, t, c), (tokens, cost)| {
                (r + 1, t + tokens, c + cost)
            })
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_of_reserve_settle_release_breaks_the_counters(ops in prop::collection::vec(op(), 1..60)) {
        let h = harness(json!({
            "pricing": flat_pricing(),
            "teams": [{"id": "t", "budget": {"id": "b-team", "max_limit": 0.0001, "reset_duration": "1d"}}],
            "virtual_keys": [{"id": "vk", "value": "sk-bf-x", "team_id": "t",
                "budgets": [{"id": "b-vk", "max_limit": 0.00012, "reset_duration": "1d"}],
                "rate_limit": {"id": "rl", "request_max_limit": REQUESTS, "request_reset_duration": "1h",
                               "token_max_limit": TOKENS, "token_reset_duration": "1h"}}]
        }));
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Reserve { id, input, max_output } => {
                    let result = h.reserve(id, "vk", "openai", "test-model", input, Some(max_output));
                    if model.open.contains_key(&id) {
                        prop_assert!(result.is_ok());
                        continue;
                    }
                    let tokens = input + max_output;
                    let cost = tokens * 1_000;
                    let (requests, open_tokens, open_cost) = model.open_sum();
                    let expected = if model.settled_requests + requests + 1 > REQUESTS {
                        Some(ErrorCode::REQUEST_LIMITED)
                    } else if model.settled_tokens + open_tokens + tokens > TOKENS {
                        Some(ErrorCode::TOKEN_LIMITED)
                    } else if model.settled_cost + open_cost + cost > VK_BUDGET.min(TEAM_BUDGET) {
                        Some(ErrorCode::BUDGET_EXCEEDED)
                    } else {
                        None
                    };
                    match (result, expected) {
                        (Ok(_), None) => {
                            model.open.insert(id, (tokens, cost));
                            model.finished.remove(&id);
                        }
                        (Err(error), Some(code)) => prop_assert_eq!(error.code, code),
                        (result, expected) => prop_assert!(false, "{:?} but expected {:?}", result, expected),
                    }
                }
                Op::Settle { id, input, output } => {
                    let result = h.settle(id, usage(input, output, None));
                    if model.open.remove(&id).is_some() {
                        let settled = result.unwrap();
                        prop_assert!(!settled.duplicate);
                        model.settled_requests += 1;
                        model.settled_tokens += input + output;
                        model.settled_cost += (input + output) * 1_000;
                        model.finished.insert(id, ());
                    } else if model.finished.contains_key(&id) {
                        prop_assert!(result.unwrap().duplicate);
                    } else {
                        prop_assert_eq!(result.unwrap_err().code, ErrorCode::UNKNOWN_RESERVATION);
                    }
                }
                Op::Release { id } => {
                    let result = h.release(id);
                    if model.open.remove(&id).is_some() {
                        prop_assert!(!result.unwrap().duplicate);
                        model.finished.insert(id, ());
                    } else if model.finished.contains_key(&id) {
                        prop_assert!(result.unwrap().duplicate);
                    } else {
                        prop_assert_eq!(result.unwrap_err().code, ErrorCode::UNKNOWN_RESERVATION);
                    }
                }
            }
            let (requests, tokens, cost) = model.open_sum();
            let state = h.state();
            let find = |id: &str, kind: &str| {
                state["counters"].as_array().unwrap().iter()
                    .find(|c| c["limit_id"] == id && c["kind"] == kind).unwrap().clone()
            };
            for (id, kind, settled, open) in [
                ("rl", "requests", model.settled_requests, requests),
                ("rl", "tokens", model.settled_tokens, tokens),
                ("b-vk", "budget", model.settled_cost, cost),
                ("b-team", "budget", model.settled_cost, cost),
            ] {
                let counter = find(id, kind);
                prop_assert_eq!(counter["current_usage"].as_u64().unwrap(), settled, "{} {}", id, kind);
                prop_assert_eq!(counter["reserved"].as_u64().unwrap(), open, "{} {}", id, kind);
            }
            prop_assert_eq!(state["reservations"].as_array().unwrap().len() as u64, requests);
        }
    }
}
