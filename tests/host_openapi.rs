//! `docs/openapi.json` against the running `keyward-host`: every documented operation exists
//! (it answers neither the router's fallback — 404 "no such route" — nor 405), answers one of
//! the statuses documented for it (errors in the envelope), and requires the admin token exactly
//! when the document says so; every method not documented for a documented path answers 405;
//! and the document is OpenAPI 3.1 with the admin bearer scheme on every `/api/*` operation.

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::host::{Host, Reply, test_config};

/// The methods the route sweep tries on every documented path.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// Every HTTP method an OpenAPI path item may document.
const OPENAPI_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

/// One documented operation.
struct Operation {
    path: String,
    method: String,
    spec: Value,
}

fn operations(doc: &Value) -> Vec<Operation> {
    let paths = doc["paths"].as_object().expect("`paths` is an object");
    let mut found = Vec::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item is an object");
        for (method, spec) in item {
            if OPENAPI_METHODS.contains(&method.as_str()) {
                found.push(Operation {
                    path: path.clone(),
                    method: method.to_uppercase(),
                    spec: spec.clone(),
                });
            }
        }
    }
    assert!(!found.is_empty(), "the document has no operations");
    found
}

/// The documented methods of each path.
fn methods_by_path(doc: &Value) -> Vec<(String, BTreeSet<String>)> {
    doc["paths"]
        .as_object()
        .expect("`paths` is an object")
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .expect("a path item is an object")
                .keys()
                .filter(|m| OPENAPI_METHODS.contains(&m.as_str()))
                .map(|m| m.to_uppercase())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// The names between braces in a path template.
fn template_params(path: &str) -> BTreeSet<String> {
    path.split('{')
        .skip(1)
        .map(|rest| rest.split('}').next().unwrap_or(rest).to_owned())
        .collect()
}

/// A real id from `test_config()` for each path parameter.
fn concrete(path: &str) -> String {
    let mut out = path.to_owned();
    for name in template_params(path) {
        let value = match name.as_str() {
            "provider" => "openai",
            "key_id" => "oa-1",
            "vk_id" => "vk-alpha",
            "team_id" => "team-1",
            "customer_id" => "cust-1",
            // Model configs and pricing overrides: none exists, so reads answer 404.
            "id" => "openapi-probe-id",
            "provider_name" => "openapi-probe-provider",
            other => panic!("no test value for the path parameter `{other}` of {path}"),
        };
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// A small valid body: every create and update route takes a `name`; a provider key also needs
/// a `value` (which virtual keys take as their value, and teams and customers ignore).
fn body_for(method: &str, n: usize) -> Option<Value> {
    matches!(method, "POST" | "PUT").then(|| {
        json!({
            "name": format!("openapi-probe-{n}"),
            "value": format!("sk-openapi-probe-{n}-0123456789"),
        })
    })
}

fn is_router_fallback(reply: &Reply) -> bool {
    reply.status == 404 && reply.body["error"]["message"] == "no such route"
}

/// The statuses an operation documents (a `default` response documents any other status).
fn documented_statuses(spec: &Value) -> BTreeSet<u16> {
    spec["responses"]
        .as_object()
        .expect("an operation has responses")
        .keys()
        .filter(|code| code.as_str() != "default")
        .map(|code| code.parse().unwrap_or_else(|_| panic!("status {code}")))
        .collect()
}

/// Whether `status` is documented for the operation.
fn documents_status(spec: &Value, status: u16) -> bool {
    documented_statuses(spec).contains(&status) || spec["responses"].get("default").is_some()
}

/// The documented response for `status` (or the default), its `$ref` resolved.
fn response_for<'d>(doc: &'d Value, spec: &'d Value, status: u16) -> &'d Value {
    let responses = &spec["responses"];
    let response = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"))
        .expect("a documented status");
    match response["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/responses/")
                .expect("a response reference");
            &doc["components"]["responses"][name]
        }
        None => response,
    }
}

/// Whether the operation may be called without credentials (no security, or an empty
/// requirement among the alternatives).
fn allows_anonymous(spec: &Value) -> bool {
    spec["security"].as_array().is_none_or(|requirements| {
        requirements.is_empty()
            || requirements
                .iter()
                .any(|r| r.as_object().is_some_and(serde_json::Map::is_empty))
    })
}

/// Whether the operation requires the admin credentials: the bearer token, or Bifrost's Basic
/// credentials as the only alternative.
fn requires_admin_token(spec: &Value) -> bool {
    spec["security"].as_array().is_some_and(|requirements| {
        let admin = |r: &Value, scheme: &str| {
            r.as_object()
                .is_some_and(|r| r.len() == 1 && r.contains_key(scheme))
        };
        requirements.iter().any(|r| admin(r, "adminToken"))
            && requirements
                .iter()
                .all(|r| admin(r, "adminToken") || admin(r, "adminBasic"))
    })
}

/// Whether the operation takes a virtual key as its only credential (the key's own quota).
fn requires_virtual_key(spec: &Value) -> bool {
    spec["security"].as_array().is_some_and(|requirements| {
        requirements.len() == 1
            && requirements[0]
                .as_object()
                .is_some_and(|r| r.len() == 1 && r.contains_key("virtualKey"))
    })
}

#[test]
fn the_document_is_openapi_3_1_with_bearer_security_on_every_api_operation() {
    let doc = document();
    let version = doc["openapi"].as_str().expect("`openapi` is a string");
    assert!(version.starts_with("3.1"), "openapi is {version}, not 3.1");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    let scheme = &doc["components"]["securitySchemes"]["adminToken"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    let basic = &doc["components"]["securitySchemes"]["adminBasic"];
    assert_eq!(basic["type"], "http", "{basic}");
    assert_eq!(basic["scheme"], "basic", "{basic}");

    for op in operations(&doc) {
        let at = format!("{} {}", op.method, op.path);
        if op.path.starts_with("/api/") {
            assert!(
                requires_admin_token(&op.spec) || requires_virtual_key(&op.spec),
                "{at} does not declare the adminToken bearer security (or a virtual key)"
            );
        } else {
            assert!(
                !requires_admin_token(&op.spec),
                "{at} is not under /api/ and must not require the admin token"
            );
            assert!(
                allows_anonymous(&op.spec),
                "{at}: with the test configuration it takes no credentials"
            );
        }
        // Every management error response is the shared envelope response.
        for code in documented_statuses(&op.spec) {
            if code >= 400 && op.path.starts_with("/api/") {
                let response = &op.spec["responses"][code.to_string()];
                let name = response["$ref"]
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/responses/"))
                    .unwrap_or_else(|| panic!("{at} {code} does not reference a shared response"));
                let schema = &doc["components"]["responses"][name]["content"]["application/json"]["schema"]
                    ["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/ErrorEnvelope",
                    "{at} {code} is not the envelope"
                );
            }
        }
    }

    // Every path parameter of every template is declared, and nothing else is.
    for (path, item) in doc["paths"].as_object().unwrap() {
        let mut declared = BTreeSet::new();
        let level = item["parameters"].as_array().into_iter().flatten();
        for param in level {
            if param["in"] == "path" {
                declared.insert(param["name"].as_str().unwrap().to_owned());
            }
        }
        for (method, spec) in item.as_object().unwrap() {
            if !OPENAPI_METHODS.contains(&method.as_str()) {
                continue;
            }
            let mut all = declared.clone();
            for param in spec["parameters"].as_array().into_iter().flatten() {
                if param["in"] == "path" {
                    all.insert(param["name"].as_str().unwrap().to_owned());
                }
            }
            assert_eq!(
                all,
                template_params(path),
                "path parameters of {method} {path}"
            );
        }
    }

    let envelope = &doc["components"]["schemas"]["ErrorEnvelope"];
    for field in [
        "event_id",
        "type",
        "is_bifrost_error",
        "status_code",
        "error",
        "extra_fields",
    ] {
        assert!(
            envelope["required"]
                .as_array()
                .unwrap()
                .contains(&json!(field)),
            "ErrorEnvelope requires {field}"
        );
    }
}

#[test]
fn every_documented_operation_exists_and_answers_a_documented_status() {
    let doc = document();
    let host = Host::start("openapi-routes", &test_config());
    let mut ops = operations(&doc);
    // Destructive calls last, so they cannot turn the other calls' ids into 404s.
    ops.sort_by_key(|op| op.method == "DELETE");
    for (n, op) in ops.iter().enumerate() {
        let path = concrete(&op.path);
        let reply = host.admin(&op.method, &path, body_for(&op.method, n).as_ref());
        let at = format!("{} {path}", op.method);
        assert!(
            !is_router_fallback(&reply),
            "{at} is documented but the server has no such route: {}",
            reply.text
        );
        assert_ne!(reply.status, 405, "{at} is documented but answers 405");
        assert!(
            documents_status(&op.spec, reply.status),
            "{at} answered {}, not one of the documented {:?}: {}",
            reply.status,
            documented_statuses(&op.spec),
            reply.text
        );
        let response = response_for(&doc, &op.spec, reply.status);
        let json_documented = response["content"].get("application/json").is_some();
        if json_documented && reply.status >= 400 {
            let schema = response["content"]["application/json"]["schema"]["$ref"].as_str();
            assert_eq!(schema, Some("#/components/schemas/ErrorEnvelope"), "{at}");
            support::host::assert_envelope(&reply, reply.status);
        } else if json_documented {
            assert!(
                !reply.body.is_null(),
                "{at} did not answer JSON: {}",
                reply.text
            );
        } else {
            assert!(!reply.text.is_empty(), "{at} answered an empty body");
        }
    }
}

#[test]
fn methods_not_documented_on_a_documented_path_answer_405() {
    let doc = document();
    let host = Host::start("openapi-405", &test_config());
    for (template, documented) in methods_by_path(&doc) {
        let path = concrete(&template);
        for method in METHODS {
            if documented.contains(method) {
                continue;
            }
            let reply = host.admin(method, &path, body_for(method, 0).as_ref());
            assert_eq!(
                reply.status, 405,
                "{method} {path} is not documented but answers {}: {}",
                reply.status, reply.text
            );
            assert_eq!(
                support::host::assert_envelope(&reply, 405),
                "method_not_allowed"
            );
        }
    }
    // The server still serves after the sweep: nothing was changed by it.
    assert_eq!(
        host.admin("GET", "/api/keys", None)
            .body
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn the_documented_security_matches_the_server() {
    let doc = document();
    let host = Host::start("openapi-security", &test_config());
    for op in operations(&doc) {
        let path = concrete(&op.path);
        let body = body_for(&op.method, 0);
        let reply = host.request(&op.method, &path, body.as_ref(), &[]);
        let at = format!("{} {path}", op.method);
        if requires_admin_token(&op.spec) {
            assert_eq!(
                support::host::assert_envelope(&reply, 401),
                "unauthorized",
                "{at} without a token"
            );
            assert_eq!(reply.body["error"]["code"], "admin_token_required", "{at}");
            let wrong = host.request(
                &op.method,
                &path,
                body.as_ref(),
                &[("authorization", "Bearer not-the-admin-token")],
            );
            assert_eq!(wrong.status, 401, "{at} with a wrong token: {}", wrong.text);
        } else if requires_virtual_key(&op.spec) {
            assert_eq!(
                reply.status, 401,
                "{at} without a virtual key: {}",
                reply.text
            );
            assert_eq!(reply.body["error"]["code"], "virtual_key_required", "{at}");
            let admin = host.admin(&op.method, &path, body.as_ref());
            assert_eq!(
                admin.status, 401,
                "{at}: the admin token is not a virtual key"
            );
        } else {
            // Not authenticated (`/health`, `/metrics`), or only optionally (the inference
            // routes, while `client.enforce_auth_on_inference` is false): never a 401.
            assert!(allows_anonymous(&op.spec), "{at}");
            assert_ne!(
                reply.status, 401,
                "{at} without credentials: {}",
                reply.text
            );
            assert_ne!(
                reply.status, 405,
                "{at} without credentials: {}",
                reply.text
            );
            assert!(!is_router_fallback(&reply), "{at}: {}", reply.text);
        }
    }
}

#[test]
fn the_version_is_answered_as_bifrost_does_a_json_string() {
    let host = Host::start("openapi-version", &test_config());
    let version = host.admin("GET", "/api/version", None);
    assert_eq!(version.status, 200, "{}", version.text);
    assert!(version.body.is_string(), "{}", version.text);
    let unauthenticated = host.request("GET", "/api/version", None, &[]);
    assert_eq!(unauthenticated.status, 401);
}
