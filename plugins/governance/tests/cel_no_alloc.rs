//! Proves that evaluating a compiled routing expression allocates nothing: a counting global
//! allocator wraps the system allocator, and 1,000 evaluations of Bifrost's documented
//! expressions (map lookups, string functions, a regex, lists, numbers, errors absorbed by
//! `&&`/`||`) leave the count unchanged once each regex has built its search cache.

// A global allocator is `unsafe impl GlobalAlloc` by definition; this test file only forwards
// to the system allocator.
#![allow(unsafe_code)]
// Test code: helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
};

use keyward_governance::routing::cel::{Expression, MapVar, Var, Variables};

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

/// A request: headers by case-insensitive name, fixed variables, `complexity_tier` unknown.
struct Request {
    headers: Vec<(String, String)>,
}

impl Variables for Request {
    fn string(&self, var: Var) -> Option<&str> {
        match var {
            Var::Model => Some("claude-3-5-sonnet"),
            Var::TeamName => Some("ml-ops"),
            Var::RequestType => Some("chat_completion"),
            Var::VirtualKeyName => Some("prod-backend"),
            Var::ComplexityTier => None,
            _ => Some(""),
        }
    }

    fn number(&self, var: Var) -> Option<f64> {
        match var {
            Var::BudgetUsed => Some(85.5),
            Var::TokensUsed => Some(40.0),
            _ => None,
        }
    }

    fn lookup(&self, map: MapVar, key: &str) -> Option<&str> {
        match map {
            MapVar::Headers => self
                .headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(key))
                .map(|(_, value)| value.as_str()),
            MapVar::Params => None,
        }
    }
}

/// Each expression and whether it matches the request.
const EXPRESSIONS: [(&str, bool); 12] = [
    (r#"headers["X-Tier"] == "premium""#, true),
    (r#"headers["user-agent"].contains("mobile")"#, true),
    (
        r#"team_name == "ml-ops" && model.startsWith("claude-")"#,
        true,
    ),
    (
        r#"budget_used > 80 || headers["x-priority"] == "high""#,
        true,
    ),
    (
        r#"headers["x-priority"] == "high" || budget_used > 80"#,
        true,
    ),
    (
        r#"headers["x-region"] == "us-east" && tokens_used < 75"#,
        true,
    ),
    (
        r#"headers["x-environment"] in ["staging", "testing"]"#,
        true,
    ),
    (
        r#"headers["x-app-version"].matches("[0-9]+\\.[0-9]+\\.[0-9]+")"#,
        true,
    ),
    (r#"!(complexity_tier in ["SIMPLE", "MEDIUM"])"#, false),
    (r#"headers["x-optional"] != """#, false),
    (
        r#"(size(virtual_key_name) > 3 ? "long" : "short") == "long" && "x-tier" in headers"#,
        true,
    ),
    ("", true),
];

#[test]
fn evaluating_expressions_allocates_nothing() {
    let request = Request {
        headers: [
            ("x-tier", "premium"),
            ("user-agent", "acme-mobile/2.1"),
            ("x-region", "us-east"),
            ("x-environment", "testing"),
            ("x-app-version", "4.10.2"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect(),
    };
    let compiled: Vec<(Expression, bool)> = EXPRESSIONS
        .iter()
        .map(|&(source, expected)| (Expression::compile(source).unwrap(), expected))
        .collect();
    // Warm up: the first regex search on a thread builds its cache.
    for (expression, expected) in &compiled {
        assert_eq!(expression.matches(&request), *expected);
    }

    let mut matched = 0u32;
    let allocations = allocations_during(|| {
        for _ in 0..1_000 {
            for (expression, expected) in &compiled {
                let result = expression.matches(&request);
                assert!(result == *expected);
                matched += u32::from(result);
            }
        }
    });
    assert_eq!(allocations, 0, "evaluating an expression allocated");
    assert_eq!(matched, 10_000);
}
