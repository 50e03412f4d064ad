//! Bifrost's origin rules and answers.

use serde_json::json;

use super::{CorsAnswer, CorsPolicy};

fn policy(client: serde_json::Value) -> CorsPolicy {
    CorsPolicy::from_client(client.as_object().unwrap())
}

fn header<'a>(answer: &'a CorsAnswer, name: &str) -> Option<&'a str> {
    match answer {
        CorsAnswer::Allowed { headers, .. } => headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str()),
        _ => None,
    }
}

#[test]
fn origins_are_allowed_when_local_listed_matched_or_the_list_holds_a_star() {
    let listed =
        policy(json!({"allowed_origins": ["https://app.example.com", "https://*.corp.example"]}));
    assert!(listed.allows("https://app.example.com"));
    assert!(listed.allows("https://eu.corp.example"));
    assert!(!listed.allows("https://a.b.corp.example"), "one label only");
    assert!(!listed.allows("https://corp.example"));
    assert!(!listed.allows("https://evil.example.com"));
    assert!(listed.allows("http://localhost:3000"));
    assert!(listed.allows("https://127.0.0.1:8443"));
    assert!(
        !listed.allows("http://localhost"),
        "a local origin needs its port"
    );
    assert!(!listed.allows("http://localhost.evil.com:80"));
    let open = policy(json!({}));
    assert!(
        open.allows("https://anything.example"),
        "the default is [\"*\"]"
    );
}

#[test]
fn an_allowed_origin_is_echoed_with_credentials_only_when_trusted_by_name() {
    let open = policy(json!({}));
    let answer = open.answer("POST", Some("https://site.example"), None, None);
    assert_eq!(
        header(&answer, "access-control-allow-origin"),
        Some("https://site.example")
    );
    assert_eq!(header(&answer, "access-control-allow-credentials"), None);
    assert_eq!(header(&answer, "vary"), Some("Origin"));
    let listed = policy(
        json!({"allowed_origins": ["https://site.example"], "allowed_headers": ["X-Team", "content-type"]}),
    );
    let answer = listed.answer(
        "OPTIONS",
        Some("https://site.example"),
        Some("POST"),
        Some("x-team"),
    );
    assert!(matches!(
        answer,
        CorsAnswer::Allowed {
            preflight: true,
            ..
        }
    ));
    assert_eq!(
        header(&answer, "access-control-allow-credentials"),
        Some("true")
    );
    let allowed = header(&answer, "access-control-allow-headers").unwrap();
    assert!(
        allowed.contains("Authorization") && allowed.ends_with("X-Team"),
        "{allowed}"
    );
    assert_eq!(
        allowed.matches("ontent-").count(),
        1,
        "no duplicate: {allowed}"
    );
}

#[test]
fn a_refused_origin_gets_403_on_preflight_and_no_headers_otherwise() {
    let listed = policy(json!({"allowed_origins": ["https://site.example"]}));
    assert_eq!(
        listed.answer("OPTIONS", Some("https://evil.example"), Some("POST"), None),
        CorsAnswer::RefusedPreflight
    );
    assert_eq!(
        listed.answer("POST", Some("https://evil.example"), None, None),
        CorsAnswer::Refused
    );
    assert_eq!(listed.answer("POST", None, None, None), CorsAnswer::NotCors);
}

#[test]
fn a_star_in_allowed_headers_echoes_the_request_or_answers_star() {
    let trusted =
        policy(json!({"allowed_origins": ["https://site.example"], "allowed_headers": ["*"]}));
    let answer = trusted.answer(
        "OPTIONS",
        Some("https://site.example"),
        Some("POST"),
        Some("x-a, x-b"),
    );
    assert_eq!(
        header(&answer, "access-control-allow-headers"),
        Some("x-a, x-b")
    );
    let open = policy(json!({"allowed_headers": ["*"]}));
    let answer = open.answer(
        "OPTIONS",
        Some("https://site.example"),
        Some("POST"),
        Some("x-a"),
    );
    assert_eq!(header(&answer, "access-control-allow-headers"), Some("*"));
}
