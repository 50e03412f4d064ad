//! Routing rules through the real keyward-host: a rule written in the file as Bifrost's
//! routing-rules page shows it sends a matching request to its target (what the mock upstream
//! receives), and Bifrost's management routes (`/api/routing/rules` and the older
//! `/api/governance/routing-rules`) create, list, read, update and delete rules with the bodies
//! of that page, each change checked by the governance plugin.

mod support;

use serde_json::{Value, json};
use support::host::{Host, MockUpstream, assert_envelope, proxy_config};

/// The proxy configuration (version 1: its keys allow every provider) with the documented
/// "Premium Tier Route" rule, its targets on the mock's providers.
fn config(mock: &MockUpstream) -> Value {
    let mut config = proxy_config(mock);
    config["client"]["routing_chain_max_depth"] = json!(5);
    config["governance"]["routing_rules"] = json!([{
        "id": "rule-uuid-123",
        "name": "Premium Tier Route",
        "description": "Route premium users to fast provider",
        "enabled": true,
        "cel_expression": "headers[\"x-tier\"] == \"premium\"",
        "targets": [{"provider": "openai", "model": "gpt-4o", "weight": 1}],
        "fallbacks": [],
        "scope": "global",
        "scope_id": null,
        "priority": 10
    }]);
    config
}

fn chat(host: &Host, vk: &str, tier: Option<&str>, model: &str) -> u16 {
    let mut headers = vec![("x-bf-vk", vk)];
    headers.extend(tier.map(|t| ("x-tier", t)));
    let body = json!({"model": model, "max_tokens": 5, "messages": []});
    let reply = host.request("POST", "/v1/chat/completions", Some(&body), &headers);
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.status
}

fn models_received(mock: &MockUpstream) -> Vec<String> {
    mock.received()
        .iter()
        .map(|r| r["model"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_rule_from_the_file_routes_matching_requests_and_the_routes_manage_rules() {
    let mock = MockUpstream::start();
    let host = Host::start("routing-rules", &config(&mock));
    let open = "sk-bf-open-0123456789";
    assert_eq!(
        chat(&host, open, Some("premium"), "openai/gpt-4o-mini"),
        200
    );
    assert_eq!(chat(&host, open, None, "openai/gpt-4o-mini"), 200);
    assert_eq!(models_received(&mock), ["gpt-4o", "gpt-4o-mini"]);
    assert!(
        !host
            .logs()
            .contains("governance.routing_rules: not supported"),
        "routing_rules is no longer warned as unsupported"
    );

    // The documented create body, scoped to a team that does not exist: refused by path.
    let budget_overflow = json!({
        "name": "Budget Overflow Route",
        "description": "When budget is high, route to cheaper provider",
        "enabled": true,
        "cel_expression": "budget_used > 85",
        "targets": [{ "provider": "openai", "weight": 1 }],
        "fallbacks": ["openai/gpt-4o"],
        "scope": "team",
        "scope_id": "team-uuid-456",
        "priority": 5
    });
    let refused = host.admin("POST", "/api/routing/rules", Some(&budget_overflow));
    assert_eq!(assert_envelope(&refused, 400), "invalid_request");
    assert!(
        refused.text.contains("routing_rules[1].scope_id")
            && refused.text.contains("team-uuid-456"),
        "{}",
        refused.text
    );

    // The documented "Split Traffic" body (groq replaced by the mock's flaky provider): the id
    // is generated, whatever the body says.
    let split = json!({
        "id": "mine",
        "name": "Split Traffic OpenAI vs Flaky",
        "cel_expression": "headers[\"x-split\"] == \"yes\"",
        "targets": [
            { "provider": "openai", "model": "gpt-4o", "weight": 0.7 },
            { "provider": "openai", "model": "gpt-4o-mini", "weight": 0.3 }
        ],
        "scope": "global",
        "priority": 15
    });
    let created = host.admin("POST", "/api/routing/rules", Some(&split));
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.body["message"], "Routing rule created successfully");
    let id = created.body["rule"]["id"].as_str().unwrap().to_owned();
    assert!(id != "mine" && !id.is_empty(), "{id}");
    assert_eq!(created.body["rule"]["scope_id"], Value::Null);

    for path in ["/api/routing/rules", "/api/governance/routing-rules"] {
        let list = host.admin("GET", path, None);
        assert_eq!(list.status, 200, "{}", list.text);
        assert_eq!(list.body["count"], 2, "{}", list.text);
        assert_eq!(list.body["total_count"], 2);
        assert_eq!(list.body["offset"], 0);
    }
    let page = host.admin("GET", "/api/routing/rules?limit=1&offset=1", None);
    assert_eq!(page.body["count"], 1);
    assert_eq!(page.body["total_count"], 2);
    assert_eq!(page.body["rules"][0]["id"], id.as_str());
    let searched = host.admin("GET", "/api/routing/rules?search=premium", None);
    assert_eq!(searched.body["rules"][0]["id"], "rule-uuid-123");
    assert_eq!(searched.body["count"], 1);
    let bad_limit = host.admin("GET", "/api/routing/rules?limit=many", None);
    assert_eq!(assert_envelope(&bad_limit, 400), "invalid_request");

    // The new rule routes at once.
    let body = json!({"model": "openai/gpt-4o-mini", "max_tokens": 5, "messages": []});
    let split_request = host.request(
        "POST",
        "/v1/chat/completions",
        Some(&body),
        &[("x-bf-vk", open), ("x-split", "yes")],
    );
    assert_eq!(split_request.status, 200, "{}", split_request.text);

    // The documented update body: fields sent replace the stored ones.
    let path = format!("/api/routing/rules/{id}");
    let updated = host.admin(
        "PUT",
        &path,
        Some(&json!({"name": "Updated Rule Name", "enabled": false,
                     "cel_expression": "budget_used > 90", "priority": 20})),
    );
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.body["rule"]["enabled"], false);
    assert_eq!(updated.body["rule"]["priority"], 20);
    assert_eq!(updated.body["rule"]["targets"][1]["model"], "gpt-4o-mini");
    let read = host.admin("GET", &format!("/api/governance/routing-rules/{id}"), None);
    assert_eq!(read.body["rule"]["name"], "Updated Rule Name");

    // Each save check names its field; nothing is changed by a refused update.
    for (change, wanted) in [
        (
            json!({"targets": [{"provider": "openai", "weight": 0.5}, {"provider": "flaky", "weight": 0.4}]}),
            "target weights must sum to 1, got 0.9000",
        ),
        (
            json!({"cel_expression": "headers[\"x-tier"}),
            "invalid CEL expression",
        ),
        (json!({"targets": []}), "at least one target is required"),
    ] {
        let reply = host.admin("PUT", &path, Some(&change));
        assert_eq!(assert_envelope(&reply, 400), "invalid_request");
        assert!(reply.text.contains(wanted), "{change}: {}", reply.text);
    }
    assert_eq!(
        host.admin("GET", &path, None).body["rule"]["name"],
        "Updated Rule Name"
    );

    let deleted = host.admin("DELETE", &path, None);
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.body["message"], "Routing rule deleted successfully");
    assert_eq!(
        assert_envelope(&host.admin("GET", &path, None), 404),
        "not_found"
    );
    assert_eq!(
        assert_envelope(&host.admin("DELETE", &path, None), 404),
        "not_found"
    );

    // What the file said is saved back, and a restart routes as before.
    let saved: Value =
        serde_json::from_slice(&std::fs::read(host.data_dir().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(
        saved["governance"]["routing_rules"][0]["id"],
        "rule-uuid-123"
    );
    assert_eq!(saved["client"]["routing_chain_max_depth"], 5);
    let host = host.restart();
    mock.clear();
    assert_eq!(
        chat(&host, open, Some("premium"), "openai/gpt-4o-mini"),
        200
    );
    assert_eq!(models_received(&mock), ["gpt-4o"]);
}
