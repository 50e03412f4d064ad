//! Cross-origin requests through keyward-host, from Bifrost's `client.allowed_origins` and
//! `client.allowed_headers` (docs.getbifrost.ai, config.json client block): a preflight is
//! answered by the gateway (200 with the headers, 403 for a refused origin), other requests are
//! served with the headers for an allowed origin only.

mod support;

use support::host::{Host, test_config};

#[test]
fn preflights_and_requests_follow_client_allowed_origins() {
    let mut config = test_config();
    config["client"] = serde_json::json!({
        "allowed_origins": ["https://app.example.com", "https://*.tools.example.com"],
        "allowed_headers": ["X-Team"]
    });
    let host = Host::start("cors", &config);
    assert!(
        !host
            .logs()
            .contains("client.allowed_origins: not supported"),
        "{}",
        host.logs()
    );
    let preflight = |origin: &str| {
        host.request(
            "OPTIONS",
            "/v1/chat/completions",
            None,
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "authorization, x-team"),
            ],
        )
    };
    let allowed = preflight("https://app.example.com");
    assert_eq!(allowed.status, 200, "{}", allowed.text);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true")
    );
    assert!(
        allowed
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        allowed
            .header("access-control-allow-headers")
            .unwrap()
            .contains("X-Team")
    );
    assert_eq!(allowed.header("access-control-max-age"), Some("86400"));
    let pattern = preflight("https://eu.tools.example.com");
    assert_eq!(pattern.status, 200);
    let refused = preflight("https://evil.example.com");
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.header("access-control-allow-origin"), None);
    let local = preflight("http://localhost:5173");
    assert_eq!(
        local.status, 200,
        "local origins with a port are always allowed"
    );

    // A real request: served either way, the headers only for an allowed origin.
    let health = host.request(
        "GET",
        "/health",
        None,
        &[("origin", "https://app.example.com")],
    );
    assert_eq!(health.status, 200);
    assert_eq!(
        health.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(health.header("vary"), Some("Origin"));
    let elsewhere = host.request(
        "GET",
        "/health",
        None,
        &[("origin", "https://evil.example.com")],
    );
    assert_eq!(elsewhere.status, 200);
    assert_eq!(elsewhere.header("access-control-allow-origin"), None);
    // The admin routes keep their own credential check behind it.
    let api = host.request(
        "GET",
        "/api/keys",
        None,
        &[("origin", "https://app.example.com")],
    );
    assert_eq!(api.status, 401);
    assert_eq!(
        api.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
}

#[test]
fn without_allowed_origins_every_origin_is_allowed_without_credentials() {
    let host = Host::start("cors-default", &test_config());
    let reply = host.request(
        "OPTIONS",
        "/v1/models",
        None,
        &[
            ("origin", "https://site.example"),
            ("access-control-request-method", "GET"),
        ],
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://site.example")
    );
    assert_eq!(reply.header("access-control-allow-credentials"), None);
}
