//! Size bounds of the management API through the real keyward-host: a name, a description or a
//! list past its bound is a 400 naming the field, quickly, and nothing is saved.

mod support;

use serde_json::json;
use support::host::{Host, assert_envelope, test_config};

#[test]
fn oversized_fields_are_refused_by_path_and_nothing_is_saved() {
    let host = Host::start("bounds", &test_config());
    let saved = || std::fs::read(host.data_dir().join("config.json")).ok();
    let before = saved();
    let huge_name = "n".repeat(10 << 20);
    let started = std::time::Instant::now();
    let reply = host.admin(
        "POST",
        "/api/governance/virtual-keys",
        Some(&json!({"name": huge_name})),
    );
    assert_eq!(assert_envelope(&reply, 400), "invalid_request");
    assert_eq!(reply.body["error"]["param"], "name");
    assert!(
        reply.text.contains("at most 256 characters"),
        "{}",
        reply.text
    );
    assert!(reply.text.len() < 2_000, "the value is not echoed");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    let description = host.admin(
        "POST",
        "/api/governance/teams",
        Some(&json!({"name": "t", "description": "d".repeat(5_000)})),
    );
    assert_eq!(assert_envelope(&description, 400), "invalid_request");
    assert_eq!(description.body["error"]["param"], "description");

    let models = host.admin(
        "POST",
        "/api/governance/virtual-keys",
        Some(&json!({"name": "many", "provider_configs": [
            {"provider": "openai", "allowed_models": vec!["m"; 10_001]}
        ]})),
    );
    assert_eq!(assert_envelope(&models, 400), "invalid_request");
    assert_eq!(
        models.body["error"]["param"],
        "provider_configs[0].allowed_models"
    );
    assert_eq!(saved(), before, "nothing was saved");
    // Within the bounds, the same documents are taken.
    let fine = host.admin(
        "POST",
        "/api/governance/virtual-keys",
        Some(&json!({"name": "n".repeat(256)})),
    );
    assert_eq!(fine.status, 200, "{}", fine.text);
}
