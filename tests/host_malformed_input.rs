//! A malformed-input sweep against the management API: thousands of generated bad bodies and
//! query strings (deterministic, seeded), and not one 5xx, crash, or answer outside the error
//! envelope; malformed path parameters, over-long URIs and over-large headers are answered in the
//! envelope too.

mod support;

use serde_json::{Value, json};
use support::host::{ADMIN_TOKEN, Host, assert_envelope, test_config};

/// A small deterministic generator (xorshift), so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn odd_values(rng: &mut Rng) -> Value {
    let values = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1e308),
        json!(-0.0),
        json!(""),
        json!("*"),
        json!("env."),
        json!("env.UNSET_KEYWARD_SWEEP_VAR"),
        json!("x".repeat(5000)),
        json!("\u{0000}\u{ffff}ünï"),
        json!([]),
        json!([null, 1, "a"]),
        json!({}),
        json!({"value": 5}),
        json!(["*", "*"]),
        json!(18446744073709551615u64),
        json!("sk-bf-"),
        json!("1x"),
        json!("-1d"),
    ];
    rng.pick(&values).clone()
}

fn mutate(rng: &mut Rng, mut body: Value) -> String {
    match rng.below(6) {
        0 => {
            let text = body.to_string();
            let cut = rng.below(text.len().max(1));
            text[..cut].to_owned()
        }
        1 => {
            if let Value::Object(fields) = &mut body {
                let names: Vec<String> = fields.keys().cloned().collect();
                if !names.is_empty() {
                    let name = rng.pick(&names).clone();
                    fields.insert(name, odd_values(rng));
                }
            }
            body.to_string()
        }
        2 => odd_values(rng).to_string(),
        3 => {
            let mut bytes = body.to_string().into_bytes();
            for _ in 0..3 {
                if !bytes.is_empty() {
                    let at = rng.below(bytes.len());
                    bytes[at] = (rng.next() & 0x7f) as u8;
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        4 => {
            let mut nested = body;
            for _ in 0..rng.below(200) {
                nested = json!({"provider_configs": [nested]});
            }
            nested.to_string()
        }
        _ => {
            if let Value::Object(fields) = &mut body {
                fields.insert(format!("unknown_{}", rng.below(100)), odd_values(rng));
                let names: Vec<String> = fields.keys().cloned().collect();
                let name = rng.pick(&names).clone();
                let inner = fields[&name].clone();
                fields.insert(name, json!([inner, odd_values(rng)]));
            }
            body.to_string()
        }
    }
}

#[test]
fn thousands_of_bad_bodies_and_queries_get_envelopes_and_no_5xx() {
    let host = Host::start("sweep", &test_config());
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let seeds: Vec<(&str, &str, Value)> = vec![
        (
            "POST",
            "/api/providers/openai/keys",
            json!({"name": "n", "value": "sk-0123456789", "models": ["*"], "weight": 1, "aliases": {"a": "b"}, "blacklisted_models": ["x"]}),
        ),
        (
            "PUT",
            "/api/providers/openai/keys/oa-1",
            json!({"name": "openai-primary", "value": "sk-0123456789", "weight": 2}),
        ),
        (
            "POST",
            "/api/governance/virtual-keys",
            json!({"name": "v", "team_id": "team-1", "budgets": [{"max_limit": 1, "reset_duration": "1d"}], "rate_limit": {"request_max_limit": 3, "request_reset_duration": "1m"}, "provider_configs": [{"provider": "openai", "weight": 1, "allowed_models": ["gpt-4o"]}]}),
        ),
        (
            "PUT",
            "/api/governance/virtual-keys/vk-alpha",
            json!({"description": "d", "is_active": true, "budgets": [{"max_limit": 2, "reset_duration": "1M"}]}),
        ),
        (
            "POST",
            "/api/governance/teams",
            json!({"name": "t", "customer_id": "cust-1", "budget": {"max_limit": 3, "reset_duration": "1w"}}),
        ),
        (
            "PUT",
            "/api/governance/customers/cust-1",
            json!({"name": "c", "budget": {"max_limit": 3, "reset_duration": "1Y"}}),
        ),
    ];
    let queries = [
        "limit",
        "offset",
        "search",
        "sort_by",
        "order",
        "export",
        "from_memory",
        "team_id",
        "customer_id",
    ];
    let odd_query_values = [
        "-1",
        "abc",
        "%zz",
        "1e9",
        "99999999999999999999999",
        "",
        "%00",
        "true",
        "desc",
        "name",
        "%E2%82",
        "+",
    ];
    let mut requests = 0;
    let mut accepted = 0;
    for round in 0..2_000 {
        let reply = if round % 4 == 3 {
            let query: Vec<String> = (0..1 + rng.below(4))
                .map(|_| format!("{}={}", rng.pick(&queries), rng.pick(&odd_query_values)))
                .collect();
            host.admin(
                "GET",
                &format!("/api/governance/virtual-keys?{}", query.join("&")),
                None,
            )
        } else {
            let (method, path, seed) = rng.pick(&seeds).clone();
            let body = mutate(&mut rng, seed);
            host.raw(
                method,
                path,
                Some(&body),
                &[(
                    "authorization",
                    &format!("Bearer {}", support::host::ADMIN_TOKEN),
                )],
            )
        };
        requests += 1;
        assert!(
            reply.status < 500,
            "5xx on round {round}: {}\nlogs:\n{}",
            reply.text,
            host.logs()
        );
        if reply.status >= 400 {
            assert!(
                reply.body["error"]["message"].is_string(),
                "not an envelope on round {round}: {}",
                reply.text
            );
            assert_eq!(
                reply.body["status_code"], reply.status,
                "round {round}: {}",
                reply.text
            );
        } else {
            accepted += 1;
        }
    }
    assert!(requests >= 2_000);
    assert!(accepted < requests, "the sweep must produce refusals");
    // The host is still healthy and its configuration still loads after a restart.
    let host = host.restart();
    assert_eq!(host.admin("GET", "/api/keys", None).status, 200);
}

#[test]
fn a_secret_sent_in_a_wrongly_typed_field_is_not_echoed() {
    let host = Host::start("malformed-secret-echo", &test_config());
    let secret = "sk-misplaced-secret-0123456789";
    for (path, body) in [
        (
            "/api/governance/virtual-keys",
            json!({"name": "echo", "budgets": secret}),
        ),
        (
            "/api/providers/openai/keys",
            json!({"name": "echo", "value": secret, "azure_key_config": secret}),
        ),
        (
            "/api/providers/openai/keys",
            json!({"name": "echo", "value": secret, "weight": secret}),
        ),
    ] {
        let reply = host.admin("POST", path, Some(&body));
        assert_eq!(reply.status, 400, "{path}: {}", reply.text);
        assert!(
            !reply.text.contains(secret),
            "{path} echoed the value: {}",
            reply.text
        );
        assert!(reply.body["error"]["param"].is_string(), "{}", reply.text);
    }
    assert!(!host.logs().contains(secret), "the value reached the logs");
}

#[test]
fn a_secret_in_an_enum_a_number_or_a_duration_field_is_not_echoed() {
    let host = Host::start("malformed-secret-forms", &test_config());
    let secret = "sk-misplaced-secret-0123456789";
    let number = 987_654_321_987_654_321_u64;
    let cases = [
        // An enum: serde names the unknown variant in backticks.
        (
            "/api/governance/pricing-overrides",
            json!({"name": "p", "scope_kind": "global", "match_type": secret, "pattern": "gpt-4o",
                   "request_types": ["chat_completion"], "patch": {"input_cost_per_token": 0.0}}),
            "match_type",
            "wildcard",
        ),
        // A number where a string is expected: serde shows it in backticks.
        (
            "/api/governance/virtual-keys",
            json!({"name": "n", "description": number}),
            "description",
            "expected a string",
        ),
        // A duration: its parser quotes the text.
        (
            "/api/governance/virtual-keys",
            json!({"name": "d", "budgets": [{"max_limit": 1, "reset_duration": secret}]}),
            "budgets[0].reset_duration",
            "expected a number followed by a unit",
        ),
        // A string where a number is expected.
        (
            "/api/providers/openai/keys",
            json!({"name": "w", "value": "sk-real-0123456789abcdef", "weight": secret}),
            "weight",
            "expected f64",
        ),
    ];
    for (path, body, field, expected) in cases {
        let reply = host.admin("POST", path, Some(&body));
        assert_eq!(reply.status, 400, "{path}: {}", reply.text);
        assert!(
            !reply.text.contains(secret) && !reply.text.contains(&number.to_string()),
            "{path} echoed the value: {}",
            reply.text
        );
        let message = reply.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            reply.text.contains(field) && message.contains(expected),
            "{path}: the answer names {field} and keeps `{expected}`: {}",
            reply.text
        );
    }
    let logs = host.logs();
    assert!(
        !logs.contains(secret) && !logs.contains(&number.to_string()),
        "the value reached the logs:\n{logs}"
    );
}

fn get(path: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n{extra_headers}Connection: close\r\n\r\n"
    )
    .into_bytes()
}

fn assert_json_envelope(reply: &support::host::Reply, status: u16, what: &str) -> String {
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{what}: {reply:?}"
    );
    assert_envelope(reply, status)
}

#[test]
fn bad_path_escapes_long_uris_and_large_headers_are_answered_in_the_envelope() {
    let host = Host::start("malformed-head", &test_config());

    // A path parameter whose percent-escape is malformed (`%ZZ`) or decodes to bytes that are
    // not UTF-8 (`%FF`, `%C3%28`).
    for path in [
        "/api/governance/virtual-keys/%ZZ",
        "/api/governance/virtual-keys/%FF",
        "/api/providers/%C3%28/keys",
        "/api/providers/openai/keys/oa%2",
    ] {
        let reply = host.raw_exchange(&get(path, ""));
        let kind = assert_json_envelope(&reply, 400, path);
        assert_eq!(kind, "invalid_request", "{path}: {}", reply.text);
    }
    // A well-formed escape still reaches the route.
    let reply = host.raw_exchange(&get("/api/governance/virtual-keys/vk%2Dalpha", ""));
    assert_eq!(reply.status, 200, "{}", reply.text);

    // A 20 KB URI: 414 in the envelope; a 4 KB one is served.
    let long = format!(
        "/api/governance/virtual-keys?search={}",
        "a".repeat(20 * 1024)
    );
    let reply = host.raw_exchange(&get(&long, ""));
    let kind = assert_json_envelope(&reply, 414, "20 KB URI");
    assert_eq!(kind, "uri_too_long", "{}", reply.text);
    let fine = format!(
        "/api/governance/virtual-keys?search={}",
        "a".repeat(4 * 1024)
    );
    assert_eq!(host.raw_exchange(&get(&fine, "")).status, 200);

    // A 100 KB header: 431 in the envelope; a 4 KB one is served.
    let big = format!("X-Big: {}\r\n", "b".repeat(100 * 1024));
    let reply = host.raw_exchange(&get("/health", &big));
    let kind = assert_json_envelope(&reply, 431, "100 KB header");
    assert_eq!(kind, "request_header_fields_too_large", "{}", reply.text);
    let small = format!("X-Big: {}\r\n", "b".repeat(4 * 1024));
    assert_eq!(host.raw_exchange(&get("/health", &small)).status, 200);

    // The host still serves.
    assert_eq!(host.admin("GET", "/api/keys", None).status, 200);
}
