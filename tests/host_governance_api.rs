//! The governance management API end to end: virtual keys (list with pagination, filters and
//! sorting; create; read; update; delete), teams, customers, budgets and rate limits, with the
//! embedded documents the seed shapes show and every virtual-key value redacted.

mod support;

use serde_json::{Value, json};
use support::host::{Host, MockUpstream, assert_envelope, proxy_config, read_json, test_config};

fn names(reply: &Value) -> Vec<String> {
    reply["virtual_keys"]
        .as_array()
        .expect("a virtual_keys array")
        .iter()
        .map(|k| k["name"].as_str().expect("a name").to_owned())
        .collect()
}

#[test]
fn the_list_embeds_team_customer_budgets_rate_limit_and_keys_and_redacts_values() {
    let host = Host::start("vk-embed", &test_config());
    let list = host.admin("GET", "/api/governance/virtual-keys", None);
    assert_eq!(list.status, 200, "{}", list.text);
    for field in ["virtual_keys", "count", "total_count", "limit", "offset"] {
        assert!(
            list.body.get(field).is_some(),
            "{field} missing: {}",
            list.text
        );
    }
    assert_eq!(list.body["count"], 3);
    assert_eq!(list.body["total_count"], 3);
    // Not paginated (no limit, offset, search, team or customer): limit is the count.
    assert_eq!(list.body["limit"], 3);
    assert_eq!(list.body["offset"], 0);
    assert!(
        !list.text.contains("0123456789abcdef"),
        "values are redacted: {}",
        list.text
    );
    let alpha = list.body["virtual_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == "vk-alpha")
        .unwrap();
    assert_eq!(alpha["team"]["id"], "team-1");
    assert_eq!(
        alpha["team"]["customer"]["id"], "cust-1",
        "the team embeds its customer"
    );
    assert_eq!(alpha["team"]["budget"]["id"], "b-team");
    assert_eq!(alpha["rate_limit"]["id"], "rl-1");
    assert_eq!(alpha["rate_limit"]["request_max_limit"], 100);
    assert!(alpha["rate_limit"].get("request_current_usage").is_some());
    let keys = &alpha["provider_configs"][0]["keys"];
    assert_eq!(keys[0]["key_id"], "oa-2");
    assert_eq!(keys[0]["name"], "openai-secondary");
    let beta = list.body["virtual_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == "vk-beta")
        .unwrap();
    assert_eq!(beta["customer"]["id"], "cust-1");
    assert_eq!(beta["budgets"][0]["id"], "b-beta");
    assert_eq!(beta["budgets"][0]["max_limit"], 5.0);
}

#[test]
fn pagination_filters_and_sorting_combine() {
    let host = Host::start("vk-list", &test_config());
    let get =
        |query: &str| host.admin("GET", &format!("/api/governance/virtual-keys{query}"), None);
    assert_eq!(
        names(&get("?sort_by=name&order=asc").body),
        ["Alpha", "beta", "Gamma"],
        "case-insensitive name order"
    );
    assert_eq!(
        names(&get("?sort_by=name&order=desc").body),
        ["Gamma", "beta", "Alpha"]
    );
    let page = get("?sort_by=name&limit=1&offset=1");
    assert_eq!(names(&page.body), ["beta"]);
    assert_eq!(page.body["count"], 1);
    assert_eq!(page.body["total_count"], 3);
    assert_eq!(page.body["limit"], 1);
    assert_eq!(page.body["offset"], 1);
    assert_eq!(
        names(&get("?search=ALP").body),
        ["Alpha"],
        "search is case-insensitive on the name"
    );
    assert_eq!(names(&get("?team_id=team-1").body), ["Alpha"]);
    let mut by_customer = names(&get("?customer_id=cust-1&sort_by=name").body);
    by_customer.sort();
    assert_eq!(
        by_customer,
        ["Alpha", "beta"],
        "a team's keys belong to its customer too"
    );
    let status = names(&get("?sort_by=status").body);
    assert_eq!(
        status.last().unwrap(),
        "Gamma",
        "inactive keys sort after active ones"
    );
    let spent = names(&get("?sort_by=budget_spent&order=desc").body);
    assert_eq!(
        spent.first().unwrap(),
        "beta",
        "the key with spent budget first"
    );
    assert_eq!(get("?offset=10").body["count"], 0);
    assert_eq!(
        get("?limit=100000").body["limit"],
        100,
        "clamped without export, as Bifrost"
    );
    assert_eq!(get("?limit=0").body["limit"], 25, "Bifrost's default page");
    assert_eq!(get("?offset=0").body["limit"], 25);
    assert_eq!(get("?limit=100000&export=true").body["limit"], 10000);
    assert_eq!(get("?from_memory=true").status, 200);
    for (query, param) in [
        ("?limit=abc", "limit"),
        ("?limit=-1", "limit"),
        ("?offset=-5", "offset"),
        ("?offset=1.5", "offset"),
        ("?sort_by=value", "sort_by"),
        ("?order=sideways", "order"),
        ("?export=maybe", "export"),
    ] {
        let reply = get(query);
        assert_envelope(&reply, 400);
        assert_eq!(
            reply.body["error"]["param"], param,
            "{query}: {}",
            reply.text
        );
    }
}

#[test]
fn a_virtual_key_lives_through_create_read_update_delete() {
    let host = Host::start("vk-crud", &test_config());
    let created = host.admin(
        "POST",
        "/api/governance/virtual-keys",
        Some(&json!({
            "name": "delta",
            "description": "created by a test",
            "team_id": "team-1",
            "budgets": [{"max_limit": 10, "reset_duration": "1M"}],
            "rate_limit": {"request_max_limit": 10, "request_reset_duration": "1h"},
            "provider_configs": [{"provider": "openai", "allowed_models": ["gpt-4o"], "key_ids": ["oa-1"],
                                  "budgets": [{"max_limit": 2, "reset_duration": "1d"}]}]
        })),
    );
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.body["message"], "Virtual key created successfully");
    let vk = &created.body["virtual_key"];
    let id = vk["id"].as_str().unwrap().to_owned();
    let clear = vk["value"].as_str().unwrap().to_owned();
    assert!(
        clear.starts_with("sk-bf-") && !clear.contains('*'),
        "generated, and answered in clear on create: {clear}"
    );
    let budget_id = vk["budgets"][0]["id"].as_str().unwrap().to_owned();
    assert!(!budget_id.is_empty());
    assert_eq!(
        vk["provider_configs"][0]["keys"][0]["name"],
        "openai-primary"
    );

    let read = host.admin("GET", &format!("/api/governance/virtual-keys/{id}"), None);
    assert_eq!(read.status, 200);
    assert_eq!(read.body["virtual_key"]["name"], "delta");
    let value = read.body["virtual_key"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!read.text.contains(&clear), "read redacted: {}", read.text);
    let value = value.as_str();

    let updated = host.admin(
        "PUT",
        &format!("/api/governance/virtual-keys/{id}"),
        Some(&json!({"description": "changed", "budgets": [{"max_limit": 20, "reset_duration": "1M"}], "value": value})),
    );
    assert_eq!(updated.status, 200, "{}", updated.text);
    let vk = &updated.body["virtual_key"];
    assert_eq!(vk["description"], "changed");
    assert_eq!(vk["budgets"][0]["max_limit"], 20.0);
    assert_eq!(
        vk["budgets"][0]["id"],
        budget_id.as_str(),
        "same reset_duration keeps the budget (and its usage)"
    );
    assert_eq!(
        vk["value"], value,
        "sending the redacted value back keeps the key's value"
    );
    assert_eq!(vk["name"], "delta", "fields not sent are kept");

    let deleted = host.admin(
        "DELETE",
        &format!("/api/governance/virtual-keys/{id}"),
        None,
    );
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["message"], "Virtual key deleted successfully");
    assert_envelope(
        &host.admin("GET", &format!("/api/governance/virtual-keys/{id}"), None),
        404,
    );
}

#[test]
fn a_created_virtual_key_answers_its_value_once_and_the_value_works() {
    let mock = MockUpstream::start();
    let host = Host::start("vk-create-value", &proxy_config(&mock));
    let created = host.admin(
        "POST",
        "/api/governance/virtual-keys",
        Some(&json!({"name": "fresh"})),
    );
    assert_eq!(created.status, 200, "{}", created.text);
    let id = created.body["virtual_key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let value = created.body["virtual_key"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        value.starts_with("sk-bf-") && value.len() == "sk-bf-".len() + 36 && !value.contains('*'),
        "the generated value in clear: {value}"
    );
    let inference = host.request(
        "POST",
        "/v1/chat/completions",
        Some(&json!({"model": "openai/gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})),
        &[("authorization", &format!("Bearer {value}"))],
    );
    assert_eq!(inference.status, 200, "{}", inference.text);
    assert_eq!(mock.received().len(), 1, "the call reached the upstream");

    // Shown once: every other answer redacts it.
    let read = host.admin("GET", &format!("/api/governance/virtual-keys/{id}"), None);
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(
        read.body["virtual_key"]["value"],
        format!("sk-bf-{}{}", "*".repeat(32), &value[value.len() - 4..]),
    );
    let list = host.admin("GET", "/api/governance/virtual-keys", None);
    let updated = host.admin(
        "PUT",
        &format!("/api/governance/virtual-keys/{id}"),
        Some(&json!({"description": "changed"})),
    );
    assert_eq!(updated.status, 200, "{}", updated.text);
    let deleted = host.admin(
        "DELETE",
        &format!("/api/governance/virtual-keys/{id}"),
        None,
    );
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    for answer in [&read, &list, &updated, &deleted] {
        assert!(!answer.text.contains(&value), "{}", answer.text);
    }

    // A value the caller chose is answered in clear on create too.
    let chosen = "sk-bf-chosen-0123456789abcdef";
    let created = host.admin(
        "POST",
        "/api/governance/virtual-keys",
        Some(&json!({"name": "chosen", "value": chosen})),
    );
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.body["virtual_key"]["value"], chosen);
    let logs = host.logs();
    assert!(
        !logs.contains(&value) && !logs.contains(chosen),
        "no value in the logs:\n{logs}"
    );
}

#[test]
fn a_redacted_form_of_another_virtual_key_is_not_taken_as_unchanged() {
    let host = Host::start("vk-other-redacted", &test_config());
    let shown = |id: &str| {
        host.admin("GET", &format!("/api/governance/virtual-keys/{id}"), None)
            .body["virtual_key"]["value"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let beta = shown("vk-beta");
    let reply = host.admin(
        "PUT",
        "/api/governance/virtual-keys/vk-alpha",
        Some(&json!({"value": beta})),
    );
    assert_envelope(&reply, 400);
    assert_eq!(reply.body["error"]["param"], "value", "{}", reply.text);
    let stored = |host: &Host| {
        read_json(&host.data_dir().join("config.json"))["governance"]["virtual_keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == "vk-alpha")
            .map(|k| k["value"].clone())
    };
    // Its own redacted form keeps the value (and that saves what is stored).
    let reply = host.admin(
        "PUT",
        "/api/governance/virtual-keys/vk-alpha",
        Some(&json!({"value": shown("vk-alpha"), "description": "kept"})),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(stored(&host).unwrap(), "sk-bf-alpha-0123456789abcdef");
    // 28 characters: the public prefix and 1 more (at most 28 / 4 = 7 shown).
    assert_eq!(shown("vk-alpha"), format!("sk-bf-{}f", "*".repeat(21)));
}

#[test]
fn virtual_key_validation_errors_name_the_field() {
    let host = Host::start("vk-validation", &test_config());
    let post = |body: Value| host.admin("POST", "/api/governance/virtual-keys", Some(&body));
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"description": "no name"}), 400, "name"),
        (
            json!({"name": "x", "team_id": "team-1", "customer_id": "cust-1"}),
            400,
            "customer_id",
        ),
        (
            json!({"name": "x", "team_id": "no-such-team"}),
            400,
            "team_id",
        ),
        (
            json!({"name": "x", "customer_id": "no-such-customer"}),
            400,
            "customer_id",
        ),
        (
            json!({"name": "x", "budgets": [{"max_limit": 5, "reset_duration": "fortnight"}]}),
            400,
            "budgets[0].reset_duration",
        ),
        (
            json!({"name": "x", "provider_configs": [{"provider": "openai", "key_ids": ["az-1"]}]}),
            400,
            "provider_configs[0].key_ids[0]",
        ),
        (json!({"name": "Alpha"}), 409, "name"),
        (json!({"name": "x", "is_active": "yes"}), 400, "is_active"),
    ];
    for (body, status, param) in cases {
        let reply = post(body.clone());
        assert_envelope(&reply, status);
        let got = reply.body["error"]["param"].as_str().unwrap_or_default();
        assert!(
            got.ends_with(param) || got == param,
            "{body}: expected param {param}, got {}",
            reply.text
        );
    }
    assert_envelope(
        &host.admin(
            "PUT",
            "/api/governance/virtual-keys/missing",
            Some(&json!({"name": "n"})),
        ),
        404,
    );
    assert_envelope(
        &host.admin("DELETE", "/api/governance/virtual-keys/missing", None),
        404,
    );
    assert_eq!(
        host.admin("GET", "/api/governance/virtual-keys", None).body["total_count"],
        3,
        "nothing stored"
    );
}

#[test]
fn teams_and_customers_have_full_crud_and_refuse_deleting_what_is_referenced() {
    let host = Host::start("org-crud", &test_config());
    let customer = host.admin(
        "POST",
        "/api/governance/customers",
        Some(&json!({"name": "Globex", "budget": {"max_limit": 100, "reset_duration": "1M"}})),
    );
    assert_eq!(customer.status, 200, "{}", customer.text);
    assert_eq!(customer.body["message"], "Customer created successfully");
    let customer_id = customer.body["customer"]["id"].as_str().unwrap().to_owned();
    let team = host.admin(
        "POST",
        "/api/governance/teams",
        Some(&json!({"name": "Research", "customer_id": customer_id})),
    );
    assert_eq!(team.status, 200, "{}", team.text);
    let team_id = team.body["team"]["id"].as_str().unwrap().to_owned();

    let teams = host.admin("GET", "/api/governance/teams", None);
    assert_eq!(teams.body["count"], 2);
    let filtered = host.admin(
        "GET",
        &format!("/api/governance/teams?customer_id={customer_id}"),
        None,
    );
    assert_eq!(filtered.body["count"], 1);
    assert_eq!(
        host.admin("GET", "/api/governance/customers", None).body["count"],
        2
    );
    assert_eq!(
        host.admin("GET", &format!("/api/governance/teams/{team_id}"), None)
            .body["team"]["name"],
        "Research"
    );

    let renamed = host.admin(
        "PUT",
        &format!("/api/governance/teams/{team_id}"),
        Some(&json!({"name": "R&D"})),
    );
    assert_eq!(renamed.body["team"]["name"], "R&D");
    assert_eq!(renamed.body["team"]["customer_id"], customer_id.as_str());
    let renamed = host.admin(
        "PUT",
        &format!("/api/governance/customers/{customer_id}"),
        Some(&json!({"name": "Globex Inc"})),
    );
    assert_eq!(renamed.body["customer"]["name"], "Globex Inc");

    assert_envelope(
        &host.admin("DELETE", "/api/governance/teams/team-1", None),
        409,
    );
    assert_envelope(
        &host.admin(
            "DELETE",
            &format!("/api/governance/customers/{customer_id}"),
            None,
        ),
        409,
    );
    assert_envelope(
        &host.admin(
            "POST",
            "/api/governance/teams",
            Some(&json!({"customer_id": "cust-1"})),
        ),
        400,
    );
    assert_envelope(
        &host.admin(
            "POST",
            "/api/governance/teams",
            Some(&json!({"name": "t", "customer_id": "nope"})),
        ),
        400,
    );
    assert_envelope(&host.admin("GET", "/api/governance/teams/nope", None), 404);
    assert_envelope(
        &host.admin("GET", "/api/governance/customers/nope", None),
        404,
    );

    assert_eq!(
        host.admin("DELETE", &format!("/api/governance/teams/{team_id}"), None)
            .body["message"],
        "Team deleted successfully"
    );
    assert_eq!(
        host.admin(
            "DELETE",
            &format!("/api/governance/customers/{customer_id}"),
            None
        )
        .body["message"],
        "Customer deleted successfully"
    );
    assert_eq!(
        host.admin("GET", "/api/governance/customers", None).body["count"],
        1
    );
}

#[test]
fn budgets_and_rate_limits_are_listed_with_current_usage() {
    let host = Host::start("limits", &test_config());
    let budgets = host.admin("GET", "/api/governance/budgets", None);
    assert_eq!(budgets.status, 200);
    let ids: Vec<&str> = budgets.body["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"b-team") && ids.contains(&"b-beta"),
        "{ids:?}"
    );
    let beta = budgets.body["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == "b-beta")
        .unwrap();
    assert_eq!(beta["current_usage"], 1.25);
    let limits = host.admin("GET", "/api/governance/rate-limits", None);
    assert_eq!(limits.body["count"], 1);
    assert_eq!(limits.body["rate_limits"][0]["id"], "rl-1");
}

#[test]
fn a_virtual_key_reads_its_own_quota_with_itself_as_the_credential() {
    let host = Host::start("vk-quota", &test_config());
    let quota = |headers: &[(&str, &str)]| {
        host.request("GET", "/api/governance/virtual-keys/quota", None, headers)
    };
    let beta = quota(&[("x-bf-vk", "sk-bf-beta-0123456789abcdef")]);
    assert_eq!(beta.status, 200, "{}", beta.text);
    assert_eq!(beta.body["virtual_key_name"], "beta");
    assert_eq!(beta.body["is_active"], true);
    assert_eq!(beta.body["budgets"][0]["id"], "b-beta");
    assert_eq!(beta.body["budgets"][0]["current_usage"], 1.25);
    assert!(
        !beta.text.contains("0123456789abcdef"),
        "no value: {}",
        beta.text
    );
    // Through Authorization: Bearer and x-api-key too; the rate limit shows its usage.
    let alpha = quota(&[("authorization", "Bearer sk-bf-alpha-0123456789abcdef")]);
    assert_eq!(alpha.status, 200, "{}", alpha.text);
    assert_eq!(alpha.body["rate_limit"]["request_max_limit"], 100);
    assert_eq!(
        quota(&[("x-api-key", "sk-bf-alpha-0123456789abcdef")]).status,
        200
    );
    // An inactive key still reads it.
    let gamma = quota(&[("x-bf-vk", "sk-bf-gamma-0123456789abcdef")]);
    assert_eq!(gamma.status, 200);
    assert_eq!(gamma.body["is_active"], false);
    // No key, an unknown one, or the admin token: 401, nothing echoed.
    let missing = quota(&[]);
    assert_eq!(assert_envelope(&missing, 401), "unauthorized");
    assert_eq!(missing.body["error"]["code"], "virtual_key_required");
    let unknown = quota(&[("x-bf-vk", "sk-bf-nobody-0123456789")]);
    assert_eq!(unknown.body["error"]["code"], "virtual_key_not_found");
    assert!(!unknown.text.contains("nobody"));
    let admin = host.admin("GET", "/api/governance/virtual-keys/quota", None);
    assert_eq!(admin.status, 401, "the admin token is not a virtual key");
    // The virtual key route with an id is still the admin's.
    let by_id = host.request(
        "GET",
        "/api/governance/virtual-keys/vk-beta",
        None,
        &[("x-bf-vk", "sk-bf-beta-0123456789abcdef")],
    );
    assert_eq!(by_id.status, 401);
}

#[test]
fn model_configs_and_pricing_overrides_have_bifrosts_routes() {
    let host = Host::start("gov-lists", &test_config());
    let created = host.admin(
        "POST",
        "/api/governance/model-configs",
        Some(&json!({"id": "mc-1", "model_name": "gpt-4o", "provider": "openai"})),
    );
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.body["model_config"]["id"], "mc-1");
    let list = host.admin("GET", "/api/governance/model-configs", None);
    assert_eq!(list.body["total_count"], 1);
    assert_eq!(list.body["model_configs"][0]["model_name"], "gpt-4o");
    // The plugin checks every change: a scope without its key is refused by path.
    let bad = host.admin(
        "PUT",
        "/api/governance/model-configs/mc-1",
        Some(&json!({"scope": "virtual_key"})),
    );
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(
        bad.text.contains("model_configs[0].scope_id"),
        "{}",
        bad.text
    );
    let updated = host.admin(
        "PUT",
        "/api/governance/model-configs/mc-1",
        Some(&json!({"scope": "virtual_key", "scope_id": "vk-alpha"})),
    );
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.body["model_config"]["scope_id"], "vk-alpha");
    assert_eq!(
        assert_envelope(
            &host.admin(
                "POST",
                "/api/governance/model-configs",
                Some(&json!({"id": "mc-1", "model_name": "*"}))
            ),
            409
        ),
        "conflict"
    );
    let deleted = host.admin("DELETE", "/api/governance/model-configs/mc-1", None);
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(
        host.admin("GET", "/api/governance/model-configs/mc-1", None)
            .status,
        404
    );

    // A pricing override in Bifrost's API form: `patch` is an object, stored as the string.
    let override_ = host.admin(
        "POST",
        "/api/governance/pricing-overrides",
        Some(
            &json!({"name": "cheap mini", "scope_kind": "global", "match_type": "exact",
                     "pattern": "gpt-4o-mini", "request_types": ["chat_completion"],
                     "patch": {"input_cost_per_token": 0.0000001}}),
        ),
    );
    assert_eq!(override_.status, 200, "{}", override_.text);
    let stored = &override_.body["pricing_override"];
    assert!(stored["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(
        stored["pricing_patch"]
            .as_str()
            .unwrap()
            .contains("input_cost_per_token")
    );
    let wrong = host.admin(
        "POST",
        "/api/governance/pricing-overrides",
        Some(
            &json!({"name": "bad", "scope_kind": "global", "match_type": "wildcard",
                     "pattern": "gpt", "request_types": ["chat_completion"], "patch": {}}),
        ),
    );
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    assert!(wrong.text.contains("pattern"), "{}", wrong.text);

    // A provider's own limits (governance.providers), named by the provider: PUT upserts.
    let limited = host.admin(
        "PUT",
        "/api/governance/providers/openai",
        Some(&json!({"rate_limit_id": "rl-1"})),
    );
    assert_eq!(limited.status, 200, "{}", limited.text);
    assert_eq!(limited.body["provider"]["name"], "openai");
    let providers = host.admin("GET", "/api/governance/providers", None);
    assert_eq!(providers.body["providers"][0]["rate_limit_id"], "rl-1");
    let unknown_limit = host.admin(
        "PUT",
        "/api/governance/providers/openai",
        Some(&json!({"rate_limit_id": "no-such-limit"})),
    );
    assert_eq!(unknown_limit.status, 400, "{}", unknown_limit.text);
    assert_eq!(
        host.admin("DELETE", "/api/governance/providers/openai", None)
            .status,
        200
    );
    assert_eq!(
        host.admin("GET", "/api/governance/providers/openai", None)
            .status,
        404
    );
}
