//! Every `/api/*` route requires `Authorization: Bearer <admin token>`: a missing or wrong token
//! is a 401 in the error envelope, and a virtual key is refused on management routes.

mod support;

use support::host::{ADMIN_TOKEN, Host, assert_envelope, test_config};

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/keys"),
    ("GET", "/api/providers/openai/keys"),
    ("POST", "/api/providers/openai/keys"),
    ("GET", "/api/providers/openai/keys/oa-1"),
    ("PUT", "/api/providers/openai/keys/oa-1"),
    ("DELETE", "/api/providers/openai/keys/oa-1"),
    ("GET", "/api/governance/virtual-keys"),
    ("POST", "/api/governance/virtual-keys"),
    ("GET", "/api/governance/virtual-keys/vk-alpha"),
    ("PUT", "/api/governance/virtual-keys/vk-alpha"),
    ("DELETE", "/api/governance/virtual-keys/vk-alpha"),
    ("GET", "/api/governance/teams"),
    ("POST", "/api/governance/customers"),
    ("GET", "/api/governance/budgets"),
    ("GET", "/api/governance/rate-limits"),
    ("POST", "/api/plugins/reload"),
];

#[test]
fn management_routes_refuse_missing_wrong_and_virtual_key_credentials() {
    let host = Host::start("auth", &test_config());
    let body = serde_json::json!({});
    for (method, path) in ROUTES {
        let cases: [(&[(&str, &str)], &str); 4] = [
            (&[], "admin_token_required"),
            (
                &[("authorization", "Bearer not-the-token")],
                "invalid_admin_token",
            ),
            (
                &[("authorization", "Basic dXNlcjpwYXNz")],
                "admin_token_required",
            ),
            (
                &[("authorization", "Bearer sk-bf-alpha-0123456789abcdef")],
                "virtual_key_not_allowed",
            ),
        ];
        for (headers, code) in cases {
            let reply = host.request(method, path, Some(&body), headers);
            assert_eq!(
                assert_envelope(&reply, 401),
                "unauthorized",
                "{method} {path}"
            );
            assert_eq!(
                reply.body["error"]["code"], code,
                "{method} {path}: {}",
                reply.text
            );
            assert!(!reply.text.contains(ADMIN_TOKEN));
            assert!(
                !reply.text.contains("sk-bf-alpha-0123456789abcdef"),
                "a VK never echoes: {}",
                reply.text
            );
        }
    }
    // Nothing was changed by the refused requests.
    let keys = host.admin("GET", "/api/keys", None);
    assert_eq!(keys.status, 200);
    assert_eq!(keys.body.as_array().unwrap().len(), 3);
}

#[test]
fn the_health_route_needs_no_token_and_unknown_routes_answer_the_envelope() {
    let host = Host::start("auth-health", &test_config());
    assert_eq!(host.request("GET", "/health", None, &[]).status, 200);
    let missing = host.admin("GET", "/api/nothing-here", None);
    assert_eq!(assert_envelope(&missing, 404), "not_found");
    let wrong_method = host.admin("PATCH", "/api/keys", None);
    assert_eq!(assert_envelope(&wrong_method, 405), "method_not_allowed");
}

#[test]
fn bifrost_basic_admin_credentials_work_when_auth_config_is_enabled() {
    let mut config = test_config();
    config["governance"]["auth_config"] = serde_json::json!({
        "is_enabled": true,
        "admin_username": "env.KEYWARD_TEST_ADMIN_USER",
        "admin_password": "s3cret-pass"
    });
    let dir = support::host::scratch_dir("auth-basic");
    std::fs::write(dir.join("config.json"), config.to_string()).expect("write the config");
    let missing = Host::start_in(dir.clone())
        .err()
        .expect("refuses to start without the variable");
    assert!(
        missing.contains("governance.auth_config.admin_username"),
        "{missing}"
    );
    let host = Host::start_with_env(dir, &[("KEYWARD_TEST_ADMIN_USER", "admin")]).expect("starts");
    // admin:s3cret-pass
    let basic = host.request(
        "GET",
        "/api/keys",
        None,
        &[("authorization", "Basic YWRtaW46czNjcmV0LXBhc3M=")],
    );
    assert_eq!(basic.status, 200, "{}", basic.text);
    // admin:wrong
    let wrong = host.request(
        "GET",
        "/api/keys",
        None,
        &[("authorization", "Basic YWRtaW46d3Jvbmc=")],
    );
    assert_eq!(assert_envelope(&wrong, 401), "unauthorized");
    assert_eq!(wrong.body["error"]["code"], "invalid_admin_credentials");
    assert!(!wrong.text.contains("s3cret"), "{}", wrong.text);
    let garbage = host.request(
        "GET",
        "/api/keys",
        None,
        &[("authorization", "Basic %%%not-base64")],
    );
    assert_eq!(assert_envelope(&garbage, 401), "unauthorized");
    assert_eq!(
        host.admin("GET", "/api/keys", None).status,
        200,
        "the bearer token still works"
    );
    drop(host);

    // Bifrost's credentials suffice: no KEYWARD_ADMIN_TOKEN (an empty value is unset).
    let dir = support::host::scratch_dir("auth-basic-only");
    std::fs::write(dir.join("config.json"), config.to_string()).expect("write the config");
    let host = Host::start_with_env(
        dir,
        &[
            ("KEYWARD_TEST_ADMIN_USER", "admin"),
            ("KEYWARD_ADMIN_TOKEN", ""),
        ],
    )
    .expect("starts with auth_config and no admin token");
    let basic = host.request(
        "GET",
        "/api/keys",
        None,
        &[("authorization", "Basic YWRtaW46czNjcmV0LXBhc3M=")],
    );
    assert_eq!(basic.status, 200, "{}", basic.text);
    let bearer = host.admin("GET", "/api/keys", None);
    assert_eq!(assert_envelope(&bearer, 401), "unauthorized");
    assert_eq!(bearer.body["error"]["code"], "invalid_admin_token");
}

#[test]
fn with_neither_the_admin_token_nor_auth_config_the_host_refuses_to_start() {
    let dir = support::host::scratch_dir("auth-none");
    std::fs::write(dir.join("config.json"), test_config().to_string()).expect("write the config");
    let refused = Host::start_with_env(dir, &[("KEYWARD_ADMIN_TOKEN", "")])
        .err()
        .expect("refuses to start");
    assert!(
        refused.contains("KEYWARD_ADMIN_TOKEN") && refused.contains("governance.auth_config"),
        "{refused}"
    );
}
