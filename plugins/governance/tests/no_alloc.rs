//! Proves the admit path allocates nothing: a counting global allocator wraps the system
//! allocator, and admissions through the ABI-boxed authorizer (named provider with an allow-list
//! of keys, provider chosen by weight with fallbacks, no virtual key, a request routing rules
//! send elsewhere through a chain) leave the count unchanged. Reservation and settlement
//! allocate nothing either once the reservation table has room (it starts with room for
//! thousands of requests in flight), and neither does evaluating a compiled routing expression
//! (Bifrost's documented ones: map lookups, string functions, a regex, lists, numbers, errors
//! absorbed by `&&`/`||`) once each regex has built its search cache.

// A global allocator is `unsafe impl GlobalAlloc` by definition; this test file is the only
// place in this crate that needs it, and it only forwards to the system allocator.
#![allow(unsafe_code)]
// Test code: helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
};

use abi_stable::std_types::{ROption, RSlice, RStr};
use keyward_governance::{
    build_role_set,
    routing::cel::{Expression, MapVar, Var, Variables},
};
use keyward_plugin_api::{
    ffi::{
        AuthorizeRequest, Extension, ExtensionKey, Extensions, Header, RequestKind, ReserveRequest,
        RoleMask, Usage, UsageEstimate,
    },
    hosts::ManualHost,
};

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

const CONFIG: &str = r#"{
  "pricing": {"test-model": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000001}},
  "teams": [{"id": "t", "budget": {"id": "b-team", "max_limit": 1000, "reset_duration": "1M"}}],
  "model_configs": [{"id": "mc-all", "model_name": "*", "provider": "openai"},
                    {"id": "mc-model", "model_name": "test-model"},
                    {"id": "mc-vk", "model_name": "*", "scope": "virtual_key", "scope_id": "vk"}],
  "providers": [{"name": "openai", "rate_limit_id": "rl-openai"}],
  "pricing_overrides": [{"id": "o1", "scope_kind": "virtual_key_provider", "virtual_key_id": "vk", "provider_id": "openai",
                         "match_type": "wildcard", "pattern": "test-*", "request_types": ["chat_completion"],
                         "pricing_patch": "{\"output_cost_per_token\": 0.000002}"}],
  "rate_limits": [{"id": "rl-openai", "request_max_limit": 1000000, "request_reset_duration": "1h"}],
  "budgets": [{"id": "b-model", "max_limit": 1000, "reset_duration": "1d", "model_config_id": "mc-model"}],
  "routing_rules": [
    {"id": "alias", "name": "alias", "chain_rule": true, "cel_expression": "model == \"test-alias\"",
     "targets": [{"model": "test-model", "weight": 1}]},
    {"id": "premium", "name": "premium", "priority": 1,
     "cel_expression": "headers[\"x-tier\"] == \"premium\" && budget_used < 90 && team_id == \"t\"",
     "targets": [{"provider": "azure", "weight": 0.5}, {"provider": "openai", "weight": 0.5}],
     "fallbacks": ["anthropic/test-model"]}
  ],
  "provider_models": {"openai": {"models": ["test-model"], "any_model": true}, "azure": {"models": ["test-model"]},
                      "anthropic": {"models": [], "any_model": true}},
  "virtual_keys": [{"id": "vk", "value": "sk-bf-x", "team_id": "t",
    "budgets": [{"id": "b", "max_limit": 1000, "reset_duration": "1d"}],
    "rate_limit": {"request_max_limit": 1000000, "request_reset_duration": "1h",
                   "token_max_limit": 1000000000, "token_reset_duration": "1h"},
    "provider_configs": [
      {"provider": "openai", "weight": 2, "allowed_models": ["*"], "key_ids": ["k1", "k2"]},
      {"provider": "azure", "weight": 1, "allowed_models": ["*"], "allow_all_keys": true},
      {"provider": "anthropic", "weight": 1, "allowed_models": ["test-model"], "key_ids": ["*"]}
    ]}]
}"#;

#[test]
fn admissions_and_reservations_allocate_nothing() {
    let host = ManualHost::at_unix_secs(1_747_236_600);
    let set = build_role_set(
        CONFIG,
        RoleMask::AUTHORIZATION.union(RoleMask::ENFORCEMENT),
        host.handle(),
    )
    .unwrap();
    let authorizer = set.authorizer.unwrap();
    let enforcer = set.enforcer.unwrap();
    let with_key = [Header {
        name: RStr::from_str("authorization"),
        value: RStr::from_str("Bearer sk-bf-x"),
    }];
    let request =
        |headers: &'static [Header<'static>], provider: Option<&'static str>| AuthorizeRequest {
            extensions: Default::default(),
            request_id: 1,
            headers: RSlice::from_slice(headers),
            provider: provider.map(RStr::from_str).into(),
            model: RStr::from_str("test-model"),
            kind: RequestKind::CHAT_COMPLETION,
            estimate: UsageEstimate::default(),
        };
    let with_key: &'static [Header<'static>] = Box::leak(Box::new(with_key));
    let named = request(with_key, Some("openai"));
    let chosen = request(with_key, None);
    let anonymous = request(&[], Some("openai"));
    let premium: &'static [Header<'static>] = Box::leak(Box::new([
        with_key[0],
        Header {
            name: RStr::from_str("x-tier"),
            value: RStr::from_str("premium"),
        },
    ]));
    // Chained: the alias rule names the model, then the premium rule the provider.
    let mut routed = request(premium, None);
    routed.model = RStr::from_str("test-alias");
    static ROUTE: [Extension<'static>; 1] = [Extension::number(ExtensionKey::ROUTE, 1)];
    routed.extensions = Extensions::new(&ROUTE);
    // Warm up thread-locals (the random generator) before counting.
    authorizer.authorize(&chosen).unwrap();

    let allocations = allocations_during(|| {
        for _ in 0..1_000 {
            let admitted = authorizer.authorize(&named).unwrap();
            assert_eq!(admitted.allowed_key_ids.unwrap().len(), 2);
            let admitted = authorizer.authorize(&chosen).unwrap();
            assert_eq!(admitted.fallbacks.as_slice().len(), 2);
            assert_eq!(
                authorizer
                    .authorize(&anonymous)
                    .unwrap()
                    .virtual_key_id
                    .as_str(),
                ""
            );
            let admitted = authorizer.authorize(&routed).unwrap();
            assert_eq!(
                admitted.extensions.text(ExtensionKey::ROUTING_RULE),
                Some("premium")
            );
            assert_eq!(
                admitted.extensions.text(ExtensionKey::ROUTED_MODEL),
                Some("test-model")
            );
            assert_eq!(admitted.fallbacks.as_slice().len(), 1);
        }
    });
    assert_eq!(allocations, 0, "the admit path allocated");

    let usage = Usage {
        extensions: Default::default(),
        input_tokens: 10,
        cached_input_tokens: 0,
        output_tokens: 10,
        cost_nanos: ROption::RNone,
        success: true,
    };
    let allocations = allocations_during(|| {
        for id in 0..1_000u64 {
            let reservation = enforcer.reserve(&ReserveRequest {
                extensions: Default::default(),
                request_id: id,
                virtual_key_id: RStr::from_str("vk"),
                provider: RStr::from_str("openai"),
                model: RStr::from_str("test-model"),
                estimate: UsageEstimate {
                    input_tokens: 10,
                    max_output_tokens: ROption::RSome(10),
                },
            });
            assert!(reservation.is_ok());
            if id % 2 == 0 {
                assert!(enforcer.settle(id, &usage).is_ok());
            } else {
                assert!(enforcer.release(id).is_ok());
            }
        }
    });
    assert_eq!(allocations, 0, "reserve, settle or release allocated");
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
