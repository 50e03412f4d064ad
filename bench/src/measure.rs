//! Timing one (keys, threads) row: every thread takes a lock-free snapshot of the host's
//! [`RoleSlot`] per batch (as a host holds one per request) and picks through the ABI trait
//! object (or, with `--host-call`, through the slot's `Instance::call` wrapper), timing batches
//! of picks; the samples are the batches' mean ns per pick.

use std::{
    hint::black_box,
    sync::{
        Barrier,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use keyward_plugin_api::{
    ffi::{KeyChoice, KeySelectorBox, KeySelectorExt, RequestKind, SelectRequest},
    loader::RoleSlot,
};
use serde::Serialize;

/// The results of one row.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Keys configured for the provider.
    pub keys: usize,
    /// Threads picking at once.
    pub threads: usize,
    /// Median ns per pick (over batch means, all threads).
    pub median_ns: f64,
    /// 99th percentile ns per pick (over batch means, all threads).
    pub p99_ns: f64,
    /// Picks per second, all threads together.
    pub picks_per_sec: f64,
    /// Picks made in the measured window.
    pub picks: u64,
    /// Picks per second relative to one thread at the same key count, when measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speedup_vs_1_thread: Option<f64>,
}

/// What to measure.
pub struct Plan<'a> {
    /// The slot holding the configured selector.
    pub slot: &'a RoleSlot<KeySelectorBox>,
    /// The model requested.
    pub model: &'a str,
    /// Keys configured (reported only).
    pub keys: usize,
    /// Threads.
    pub threads: usize,
    /// Measured time.
    pub duration: Duration,
    /// Picks per timed batch.
    pub batch: u32,
    /// Call through [`Instance::call`](keyward_plugin_api::loader::Instance::call) (the slot's
    /// poison bookkeeping and `Result` conversion) rather than the ABI trait object directly.
    pub host_call: bool,
}

const WARM_UP: Duration = Duration::from_millis(200);

/// Uses a choice as a host does: the key id and the upstream model id (what it forwards with),
/// each kept opaque to the optimizer.
#[inline]
fn consume(choice: KeyChoice<'_>) {
    black_box(choice.key_id.as_str());
    black_box(choice.provider_model.as_str());
}

/// Runs one row; `tick(fraction)` is called from the calling thread as time passes.
pub fn run(plan: &Plan<'_>, mut tick: impl FnMut(f64)) -> Row {
    let barrier = Barrier::new(plan.threads + 1);
    let measuring = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let (samples, picks, wall) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..plan.threads)
            .map(|_| scope.spawn(|| worker(plan, &barrier, &measuring, &stop)))
            .collect();
        barrier.wait();
        std::thread::sleep(WARM_UP);
        measuring.store(true, Ordering::Release);
        let started = Instant::now();
        while started.elapsed() < plan.duration {
            tick(started.elapsed().as_secs_f64() / plan.duration.as_secs_f64());
            std::thread::sleep(Duration::from_millis(50).min(plan.duration));
        }
        stop.store(true, Ordering::Release);
        let wall = started.elapsed();
        let mut samples = Vec::new();
        let mut picks = 0;
        for worker in workers {
            let (thread_samples, thread_picks) = worker.join().expect("benchmark thread");
            samples.extend(thread_samples);
            picks += thread_picks;
        }
        (samples, picks, wall)
    });
    tick(1.0);
    let mut samples = samples;
    samples.sort_by(f64::total_cmp);
    Row {
        keys: plan.keys,
        threads: plan.threads,
        median_ns: percentile(&samples, 0.50),
        p99_ns: percentile(&samples, 0.99),
        picks_per_sec: picks as f64 / wall.as_secs_f64(),
        picks,
        speedup_vs_1_thread: None,
    }
}

fn worker(
    plan: &Plan<'_>,
    barrier: &Barrier,
    measuring: &AtomicBool,
    stop: &AtomicBool,
) -> (Vec<f64>, u64) {
    let request = SelectRequest::new("openai", plan.model, RequestKind::CHAT_COMPLETION);
    let mut samples = Vec::with_capacity(1 << 16);
    let mut picks = 0u64;
    barrier.wait();
    while !stop.load(Ordering::Relaxed) {
        let instance = plan.slot.load();
        let started = Instant::now();
        if plan.host_call {
            for _ in 0..plan.batch {
                let choice = instance.call(|selector| selector.pick(black_box(&request)));
                consume(choice.expect("the benchmark workload is always servable"));
            }
        } else {
            let selector = instance.role();
            for _ in 0..plan.batch {
                let choice = selector.pick(black_box(&request)).into_result();
                consume(choice.expect("the benchmark workload is always servable"));
            }
        }
        let elapsed = started.elapsed();
        if measuring.load(Ordering::Relaxed) {
            samples.push(elapsed.as_nanos() as f64 / f64::from(plan.batch));
            picks += u64::from(plan.batch);
        }
    }
    (samples, picks)
}

/// The `q` quantile of sorted samples (nearest rank).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests;
