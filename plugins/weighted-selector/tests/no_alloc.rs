//! Proves a pick allocates nothing: a counting global allocator wraps the system allocator, and
//! picks through the ABI-boxed selector (unconstrained, aliased, with an allow-list, with
//! failed keys, pinned) must leave the count unchanged.

// A global allocator is `unsafe impl GlobalAlloc` by definition; this test file is the only
// place here that needs it, and it only forwards to the system allocator.
#![allow(unsafe_code)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
};

use abi_stable::std_types::{ROption, RSlice, RStr};
use keyward_plugin_api::ffi::{FailedKey, FailureKind, KeySelectorExt, RequestKind, SelectRequest};
use keyward_weighted_selector::{WeightedSelector, boxed};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct CountingAllocator;

// SAFETY: every call forwards to `System` unchanged; the counter is a thread-local `Cell`
// with a const initializer, which never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn a_pick_allocates_nothing() {
    let keys: Vec<String> = (0..200)
        .map(|i| {
            format!(
                r#"{{"id": "k{i}", "name": "n{i}", "value": "sk-{i}", "weight": {}, "aliases": {{"fast": "mini-{i}"}}}}"#,
                1 + i % 7
            )
        })
        .collect();
    let config = format!(
        r#"{{"providers": {{"openai": {{"keys": [{}]}}}}}}"#,
        keys.join(",")
    );
    let selector = boxed(WeightedSelector::from_json(&config).expect("config"));
    let allowed = [
        RStr::from_str("k3"),
        RStr::from_str("k150"),
        RStr::from_str("k7"),
    ];
    let failures = [
        FailedKey {
            key_id: RStr::from_str("k3"),
            failure: FailureKind::RATE_LIMITED,
        },
        FailedKey {
            key_id: RStr::from_str("k7"),
            failure: FailureKind::CREDENTIALS,
        },
    ];
    let plain = SelectRequest::new("openai", "gpt-4o", RequestKind::CHAT_COMPLETION);
    let aliased = SelectRequest::new("OpenAI", "FAST", RequestKind::CHAT_COMPLETION);
    let mut constrained = plain;
    constrained.allowed_key_ids = ROption::RSome(RSlice::from_slice(&allowed));
    constrained.failed = RSlice::from_slice(&failures);
    let mut pinned = plain;
    pinned.pinned_key = ROption::RSome(RStr::from_str("n42"));
    let mut scanned = plain;
    scanned.failed = RSlice::from_slice(&failures);

    // Warm up: the thread's random generator is initialized on first use.
    assert!(selector.pick(&plain).is_ok());
    let mut served = 0;
    let counted = allocations_during(|| {
        for _ in 0..10_000 {
            for request in [&plain, &aliased, &constrained, &pinned, &scanned] {
                if selector.pick(request).is_ok() {
                    served += 1;
                }
            }
        }
    });
    assert_eq!(served, 50_000, "every request is servable");
    assert_eq!(counted, 0, "picks allocated {counted} times");
    // The counter does see allocations (the test would pass vacuously otherwise).
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 64]))) > 0);
}
