//! One governance decision through the ABI: the real `libkeyward_governance.so` (release build,
//! found next to the bench executable: `target/release/`) loaded with the safe loader, called
//! through the `VirtualKeyAuthorizer_TO` / `UsageEnforcer_TO` trait objects it returns. If the
//! `.so` is missing, the same trait objects are built in-process (the bench says which).
//!
//! - `authorize`: find the key in `Authorization: Bearer`, check it, provider and model.
//! - `decision`: authorize + reserve (request slot, tokens and cost at provider config, key,
//!   team and customer). Settlement runs outside the timed region.
//! - `settle`: settle one reservation (reservation made outside the timed region).
//! - `cycle/1 thread`, `cycle/2 threads`: authorize + reserve + settle; with two threads each
//!   on its own key (in different teams and customers: a shared team budget is one shared
//!   counter, so its cache line would bounce), the time is per iteration of both threads at
//!   once (throughput ratio = 2 x one-thread time / two-thread time).
//!
//! - `authorize/1 thread (same loop)`, `authorize/2 threads`: authorization alone (read-only),
//!   the same way: it separates the machine's own two-thread scaling from the counters'.
//!
//! Each key has a provider-config budget, a key budget, request and token limits, a team budget
//! and a customer budget: a reservation touches six counters.
//!
//! Clock: the system clock (`SystemHost`), as a real host. Run: `cargo bench -p
//! keyward-governance --bench decision`.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use abi_stable::std_types::{ROption, RSlice, RStr};
use criterion::{Criterion, criterion_main};
use keyward_plugin_api::{
    ffi::{
        AuthorizeRequest, AuthorizerBox, EnforcerBox, Header, RequestKind, ReserveRequest,
        RoleMask, RoleSet, Usage, UsageEstimate,
    },
    hosts::SystemHost,
    loader::load_plugin,
};

const KEYS: usize = 1_000;
const BATCH: u64 = 512;

fn config() -> String {
    let keys: Vec<serde_json::Value> = (0..KEYS)
        .map(|i| {
            serde_json::json!({
                "id": format!("vk-{i}"), "name": format!("key {i}"), "value": format!("sk-bf-bench-{i:04}"),
                "team_id": if i % 2 == 0 { "team-a" } else { "team-b" },
                "budgets": [{"id": format!("b-{i}"), "max_limit": 1.0e9, "reset_duration": "1M"}],
                "rate_limit": {"id": format!("rl-{i}"), "request_max_limit": 1_000_000_000_000u64,
                               "request_reset_duration": "1h",
                               "token_max_limit": 1_000_000_000_000_000u64, "token_reset_duration": "1h"},
                "provider_configs": [
                    {"provider": "openai", "weight": 3, "allowed_models": ["gpt-4o", "gpt-4o-mini"],
                     "keys": ["k-openai-1", "k-openai-2"],
                     "budgets": [{"id": format!("b-{i}-openai"), "max_limit": 1.0e9, "reset_duration": "1d"}]},
                    {"provider": "azure", "weight": 1, "allowed_models": ["*"], "allow_all_keys": true}
                ]
            })
        })
        .collect();
    serde_json::json!({
        "enforce_virtual_keys": true,
        "customers": [
            {"id": "cust-a", "budget": {"id": "b-cust-a", "max_limit": 1.0e12, "reset_duration": "1Y"}},
            {"id": "cust-b", "budget": {"id": "b-cust-b", "max_limit": 1.0e12, "reset_duration": "1Y"}}
        ],
        "teams": [
            {"id": "team-a", "customer_id": "cust-a",
             "budget": {"id": "b-team-a", "max_limit": 1.0e12, "reset_duration": "1M"}},
            {"id": "team-b", "customer_id": "cust-b",
             "budget": {"id": "b-team-b", "max_limit": 1.0e12, "reset_duration": "1M"}}
        ],
        "virtual_keys": keys
    })
    .to_string()
}

/// `target/release/libkeyward_governance.so` (or its copy in `deps/`, whichever is newer),
/// found from the bench executable (`target/release/deps/decision-<hash>`).
fn release_so() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let release = exe.parent()?.parent()?;
    let file = "libkeyward_governance.so";
    [release.join(file), release.join("deps").join(file)]
        .into_iter()
        .filter_map(|path| Some((std::fs::metadata(&path).ok()?.modified().ok()?, path)))
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, path)| path)
}

fn roles() -> (AuthorizerBox, EnforcerBox) {
    let roles = RoleMask::AUTHORIZATION.union(RoleMask::ENFORCEMENT);
    // `KEYWARD_BENCH_IN_PROCESS=1` skips the loader (for profilers, which cannot resolve
    // symbols of the loader's deleted unique copy).
    let so = release_so().filter(|_| std::env::var_os("KEYWARD_BENCH_IN_PROCESS").is_none());
    let set: RoleSet = match so {
        Some(path) => {
            eprintln!(
                "governance bench: through the ABI, loaded {}",
                path.display()
            );
            load_plugin(&path)
                .expect("load")
                .instantiate(&config(), roles, SystemHost::handle())
                .expect("instantiate")
        }
        None => {
            eprintln!("governance bench: in-process trait objects (no loader)");
            keyward_governance::build_role_set(&config(), roles, SystemHost::handle())
                .expect("instantiate")
        }
    };
    (
        set.authorizer.into_option().expect("authorizer"),
        set.enforcer.into_option().expect("enforcer"),
    )
}

struct Caller<'r> {
    authorizer: &'r AuthorizerBox,
    enforcer: &'r EnforcerBox,
    bearer: String,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Caller<'_> {
    #[inline]
    fn decide(&self, request_id: u64) {
        let headers = [
            Header {
                name: RStr::from_str("content-type"),
                value: RStr::from_str("application/json"),
            },
            Header {
                name: RStr::from_str("authorization"),
                value: RStr::from_str(&self.bearer),
            },
        ];
        let estimate = UsageEstimate {
            input_tokens: 500,
            max_output_tokens: ROption::RSome(256),
        };
        let request = AuthorizeRequest {
            extensions: Default::default(),
            request_id,
            headers: RSlice::from_slice(&headers),
            provider: ROption::RSome(RStr::from_str("openai")),
            model: RStr::from_str("gpt-4o"),
            kind: RequestKind::CHAT_COMPLETION,
            estimate,
        };
        let admission = self.authorizer.authorize(&request).unwrap();
        let reservation = self.enforcer.reserve(&ReserveRequest {
            extensions: Default::default(),
            request_id,
            virtual_key_id: admission.virtual_key_id,
            provider: admission.provider,
            model: request.model,
            estimate,
        });
        std::hint::black_box(reservation.unwrap());
    }

    #[inline]
    fn settle(&self, request_id: u64) {
        let usage = Usage {
            extensions: Default::default(),
            input_tokens: 500,
            cached_input_tokens: 0,
            output_tokens: 100,
            cost_nanos: ROption::RNone,
            success: true,
        };
        std::hint::black_box(self.enforcer.settle(request_id, &usage).unwrap());
    }

    /// `iters` decisions, timing only authorize + reserve.
    fn timed_decisions(&self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut done = 0;
        while done < iters {
            let batch = BATCH.min(iters - done);
            let first = NEXT_ID.fetch_add(batch, Ordering::Relaxed);
            let started = Instant::now();
            for id in first..first + batch {
                self.decide(id);
            }
            total += started.elapsed();
            for id in first..first + batch {
                self.settle(id);
            }
            done += batch;
        }
        total
    }

    /// `iters` settlements, timing only the settle.
    fn timed_settles(&self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut done = 0;
        while done < iters {
            let batch = BATCH.min(iters - done);
            let first = NEXT_ID.fetch_add(batch, Ordering::Relaxed);
            for id in first..first + batch {
                self.decide(id);
            }
            let started = Instant::now();
            for id in first..first + batch {
                self.settle(id);
            }
            total += started.elapsed();
            done += batch;
        }
        total
    }

    /// `iters` authorizations, untimed (the caller times the whole).
    fn authorizations(&self, iters: u64) {
        let headers = [Header {
            name: RStr::from_str("authorization"),
            value: RStr::from_str(&self.bearer),
        }];
        for id in 0..iters {
            let request = AuthorizeRequest {
                extensions: Default::default(),
                request_id: id,
                headers: RSlice::from_slice(&headers),
                provider: ROption::RSome(RStr::from_str("openai")),
                model: RStr::from_str("gpt-4o"),
                kind: RequestKind::CHAT_COMPLETION,
                estimate: UsageEstimate::default(),
            };
            std::hint::black_box(self.authorizer.authorize(&request).unwrap());
        }
    }

    /// `iters` full cycles, untimed (the caller times the whole).
    fn cycles(&self, iters: u64) {
        let first = NEXT_ID.fetch_add(iters, Ordering::Relaxed);
        for id in first..first + iters {
            self.decide(id);
            self.settle(id);
        }
    }
}

fn bench(c: &mut Criterion) {
    let (authorizer, enforcer) = roles();
    let caller = |key: usize| Caller {
        authorizer: &authorizer,
        enforcer: &enforcer,
        bearer: format!("Bearer sk-bf-bench-{key:04}"),
    };
    let one = caller(7);
    let mut group = c.benchmark_group("governance");
    group.bench_function("authorize", |b| {
        let headers = [Header {
            name: RStr::from_str("authorization"),
            value: RStr::from_str(&one.bearer),
        }];
        let request = AuthorizeRequest {
            extensions: Default::default(),
            request_id: 1,
            headers: RSlice::from_slice(&headers),
            provider: ROption::RSome(RStr::from_str("openai")),
            model: RStr::from_str("gpt-4o"),
            kind: RequestKind::CHAT_COMPLETION,
            estimate: UsageEstimate::default(),
        };
        b.iter(|| std::hint::black_box(authorizer.authorize(&request).unwrap()).provider)
    });
    group.bench_function("decision (authorize + reserve)", |b| {
        b.iter_custom(|iters| one.timed_decisions(iters))
    });
    group.bench_function("settle", |b| {
        b.iter_custom(|iters| one.timed_settles(iters))
    });
    group.bench_function("cycle/1 thread", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            one.cycles(iters);
            started.elapsed()
        })
    });
    let two = [caller(100), caller(901)];
    group.bench_function("cycle/2 threads, different keys", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            std::thread::scope(|scope| {
                for caller in &two {
                    scope.spawn(move || caller.cycles(iters));
                }
            });
            started.elapsed()
        })
    });
    group.bench_function("authorize/2 threads, different keys", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            std::thread::scope(|scope| {
                for caller in &two {
                    scope.spawn(move || caller.authorizations(iters));
                }
            });
            started.elapsed()
        })
    });
    group.bench_function("authorize/1 thread (same loop)", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            one.authorizations(iters);
            started.elapsed()
        })
    });
    group.finish();
    cpu_time_report(&one, &two);
}

/// This thread's time on a CPU so far, in nanoseconds (`/proc/thread-self/schedstat`), or
/// `None` where that is not available.
fn thread_cpu_nanos() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Full cycles on one thread, then on two threads at once (different keys), reporting wall
/// time and each thread's own CPU time per cycle. On a machine whose other cores are busy the
/// wall time of two threads says little; CPU time per cycle that stays flat from one thread to
/// two means the threads do not slow each other (no shared cache lines), so two free cores give
/// twice the throughput.
fn cpu_time_report(one: &Caller<'_>, two: &[Caller<'_>; 2]) {
    const CALLS: u64 = 1_000_000;
    let report = |what: &str, work: &(dyn Fn(&Caller<'_>) + Sync)| {
        let measure = |caller: &Caller<'_>| {
            let cpu = thread_cpu_nanos();
            let started = Instant::now();
            work(caller);
            let wall = started.elapsed().as_nanos() as f64 / CALLS as f64;
            let cpu = cpu
                .zip(thread_cpu_nanos())
                .map(|(before, after)| (after - before) as f64 / CALLS as f64);
            (wall, cpu)
        };
        let (wall_one, cpu_one) = measure(one);
        let results: Vec<(f64, Option<f64>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = two
                .iter()
                .map(|caller| scope.spawn(move || measure(caller)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("bench thread"))
                .collect()
        });
        let show =
            |cpu: Option<f64>| cpu.map_or_else(|| "n/a".to_owned(), |c| format!("{c:.0} ns"));
        let ratio = match (cpu_one, results[0].1, results[1].1) {
            (Some(one), Some(a), Some(b)) => format!("{:.2}x", 2.0 * one / ((a + b) / 2.0)),
            _ => "n/a".to_owned(),
        };
        eprintln!(
            "{what}, {CALLS} per thread: 1 thread: wall {wall_one:.0} ns, cpu {}; 2 threads: \
             wall {:.0} / {:.0} ns, cpu {} / {}; two-thread throughput by CPU time: {ratio}",
            show(cpu_one),
            results[0].0,
            results[1].0,
            show(results[0].1),
            show(results[1].1),
        );
    };
    report("cycle (authorize + reserve + settle)", &|c| c.cycles(CALLS));
    report("authorize only (read-only control)", &|c| {
        c.authorizations(CALLS)
    });
}

/// The criterion group (`criterion_group!` generates an undocumented `pub fn`; the allowance
/// covers it and nothing else).
mod group {
    #![allow(missing_docs)]

    use criterion::criterion_group;

    use super::*;

    criterion_group! {
        name = benches;
        config = Criterion::default()
            .sample_size(30)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        targets = bench
    }
}
criterion_main!(group::benches);
