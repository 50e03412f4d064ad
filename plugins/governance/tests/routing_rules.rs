//! Routing rules (`governance.routing_rules`), with rules written from Bifrost's routing-rules
//! page (docs.getbifrost.ai/providers/routing-rules: the "config.json" example with several
//! rules, the chaining example, the capacity example) and its schema: which rule decides (scope
//! before priority, priority ascending, first match), what it changes (provider, model, pinned
//! key, fallbacks), chaining, and that the routed target is still checked by the virtual key.

// Test code: helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use abi_stable::std_types::RStr;
use common::{Admitted, Harness, harness, try_harness_with, usage};
use keyward_plugin_api::ffi::{ErrorCode, Extension, ExtensionKey, Header, KeywardError};
use serde_json::{Value, json};

const PRODUCTION: &str = "sk-bf-production-0123456789";
const RESEARCH: &str = "sk-bf-research-0123456789";

/// Every provider allowed with every model and key, weighted so that without a rule openai
/// always serves.
fn all_providers() -> Value {
    json!([
        {"provider": "openai", "allowed_models": ["*"], "key_ids": ["*"], "weight": 1},
        {"provider": "azure", "allowed_models": ["*"], "key_ids": ["*"], "weight": 0},
        {"provider": "groq", "allowed_models": ["*"], "key_ids": ["*"], "weight": 0}
    ])
}

/// Bifrost's "multiple rules" example (tier-based, capacity-failover, team-preference) with the
/// team and customer it names; `research` is in the team, `production` is not. Anthropic is
/// allowed to the research key only.
fn config(rules: Value) -> Value {
    let mut research = all_providers();
    research.as_array_mut().unwrap().push(
        json!({"provider": "anthropic", "allowed_models": ["*"], "key_ids": ["*"], "weight": 0}),
    );
    json!({
        "version": 2,
        "unknown_model_pricing": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000001},
        "provider_models": {
            "openai": {"models": [], "any_model": true},
            "azure": {"models": [], "any_model": true},
            "groq": {"models": [], "any_model": true},
            "anthropic": {"models": [], "any_model": true}
        },
        "customers": [{"id": "acme-corp", "name": "Acme"}],
        "teams": [{"id": "team-ml-research", "name": "ml-research", "customer_id": "acme-corp"}],
        "virtual_keys": [
            {"id": "vk-production", "name": "prod-api", "value": PRODUCTION,
             "provider_configs": all_providers()},
            {"id": "vk-research", "name": "research", "value": RESEARCH,
             "team_id": "team-ml-research", "provider_configs": research}
        ],
        "routing_rules": rules
    })
}

/// The documented "multiple rules" example, as written.
fn documented_rules() -> Value {
    json!([
      {
        "id": "tier-based",
        "name": "Premium Tier Fast Track",
        "enabled": true,
        "cel_expression": "headers[\"x-tier\"] == \"premium\"",
        "targets": [{ "provider": "openai", "model": "gpt-4o", "weight": 1 }],
        "fallbacks": ["azure/gpt-4o"],
        "scope": "global",
        "priority": 0
      },
      {
        "id": "capacity-failover",
        "name": "Budget Exhaustion Fallback",
        "enabled": true,
        "cel_expression": "budget_used > 90",
        "targets": [{ "provider": "groq", "model": "llama-2-70b", "weight": 1 }],
        "fallbacks": [],
        "scope": "global",
        "priority": 5
      },
      {
        "id": "team-preference",
        "name": "ML Team Anthropic Route",
        "enabled": true,
        "cel_expression": "team_name == \"ml-research\"",
        "targets": [{ "provider": "anthropic", "model": "claude-3-opus-20240229", "weight": 1 }],
        "fallbacks": ["bedrock/claude-3-opus"],
        "scope": "team",
        "scope_id": "team-ml-research",
        "priority": 0
      }
    ])
}

fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> Vec<Header<'a>> {
    pairs
        .iter()
        .map(|(name, value)| Header {
            name: RStr::from_str(name),
            value: RStr::from_str(value),
        })
        .collect()
}

/// Authorizes a bare-model chat request of `vk` (none: no key) with extra headers.
fn ask(h: &Harness, vk: Option<&str>, extra: &[(&str, &str)], model: &str) -> Admitted {
    try_ask(h, vk, extra, None, model, &[]).expect("admitted")
}

fn try_ask(
    h: &Harness,
    vk: Option<&str>,
    extra: &[(&str, &str)],
    provider: Option<&str>,
    model: &str,
    told: &[Extension<'_>],
) -> Result<Admitted, KeywardError> {
    let mut pairs: Vec<(&str, &str)> = vk.map(|v| ("x-bf-vk", v)).into_iter().collect();
    pairs.extend_from_slice(extra);
    // A host that applies routing says so; the tests of an unrouted authorization pass
    // `&[]` through `h.authorize_told` directly.
    let mut all = vec![Extension::number(ExtensionKey::ROUTE, 1)];
    all.extend_from_slice(told);
    h.authorize_told(1, &headers(&pairs), provider, model, &all)
}

#[test]
fn a_matching_rule_sends_the_request_to_its_target_with_its_fallbacks() {
    let h = harness(config(documented_rules()));
    let premium = ask(
        &h,
        Some(PRODUCTION),
        &[("x-tier", "premium")],
        "gpt-4o-mini",
    );
    assert_eq!(premium.provider, "openai");
    assert_eq!(premium.routed_model.as_deref(), Some("gpt-4o"));
    assert_eq!(premium.routing_rule.as_deref(), Some("tier-based"));
    assert_eq!(premium.fallbacks, ["azure/gpt-4o"]);
    // Without the header no rule matches: the virtual key's own choice, nothing routed.
    let plain = ask(&h, Some(PRODUCTION), &[], "gpt-4o-mini");
    assert_eq!(plain.provider, "openai");
    assert_eq!(plain.routed_model, None);
    assert_eq!(plain.routing_rule, None);
    // The other weighted configs the model catalog says serve gpt-4o-mini (not groq).
    assert_eq!(plain.fallbacks, ["azure"]);
    // The header's name is matched whatever its case in the rule; its value exactly.
    let other = ask(
        &h,
        Some(PRODUCTION),
        &[("x-tier", "Premium")],
        "gpt-4o-mini",
    );
    assert_eq!(other.routing_rule, None);
}

#[test]
fn a_team_rule_comes_before_a_global_one_and_fallbacks_to_unknown_providers_are_dropped() {
    let (h, host) = try_harness_with(config(documented_rules())).unwrap();
    // The research key is in team-ml-research: its team rule wins over the global premium rule
    // (scope before priority).
    let routed = ask(&h, Some(RESEARCH), &[("x-tier", "premium")], "gpt-4o");
    assert_eq!(routed.provider, "anthropic");
    assert_eq!(
        routed.routed_model.as_deref(),
        Some("claude-3-opus-20240229")
    );
    assert_eq!(routed.routing_rule.as_deref(), Some("team-preference"));
    // bedrock is not configured: the rule has no fallback left, and a named provider (here,
    // the rule's) gets none of the key's.
    assert!(routed.fallbacks.is_empty(), "{:?}", routed.fallbacks);
    assert!(
        host.logs()
            .iter()
            .any(|(_, line)| line.contains("routing_rules[2].fallbacks[0]")
                && line.contains("\"bedrock\"")),
        "{:?}",
        host.logs()
    );
    // The production key is in no team: the global rule.
    let production = ask(
        &h,
        Some(PRODUCTION),
        &[("x-tier", "premium")],
        "gpt-4o-mini",
    );
    assert_eq!(production.routing_rule.as_deref(), Some("tier-based"));
}

#[test]
fn a_virtual_key_rule_beats_a_global_one_of_lower_priority_number() {
    let rules = json!([
        {"id": "global-first", "name": "g", "cel_expression": "true", "scope": "global", "priority": 0,
         "targets": [{"provider": "azure", "weight": 1}]},
        {"id": "vk-late", "name": "v", "cel_expression": "model.startsWith(\"gpt-4\")", "scope": "virtual_key",
         "scope_id": "vk-production", "priority": 10, "targets": [{"provider": "groq", "weight": 1}]}
    ]);
    let h = harness(config(rules));
    let routed = ask(&h, Some(PRODUCTION), &[], "gpt-4o");
    assert_eq!(routed.routing_rule.as_deref(), Some("vk-late"));
    assert_eq!(routed.provider, "groq");
    // A target without a model keeps the model as requested.
    assert_eq!(routed.routed_model, None);
    // The research key has no rule of its own: the global one.
    let research = ask(&h, Some(RESEARCH), &[], "gpt-4o");
    assert_eq!(research.routing_rule.as_deref(), Some("global-first"));
    assert_eq!(research.provider, "azure");
}

#[test]
fn within_a_scope_the_lowest_priority_number_decides_and_disabled_rules_are_skipped() {
    let rules = json!([
        {"id": "late", "name": "late", "cel_expression": "", "priority": 5,
         "targets": [{"provider": "groq", "weight": 1}]},
        {"id": "off", "name": "off", "enabled": false, "cel_expression": "true", "priority": -1,
         "targets": [{"provider": "anthropic", "weight": 1}]},
        {"id": "early", "name": "early", "cel_expression": "model == \"gpt-4o\"", "priority": 1,
         "targets": [{"provider": "azure", "weight": 1}]}
    ]);
    let h = harness(config(rules));
    assert_eq!(
        ask(&h, Some(PRODUCTION), &[], "gpt-4o")
            .routing_rule
            .as_deref(),
        Some("early")
    );
    // An empty expression matches everything.
    assert_eq!(
        ask(&h, Some(PRODUCTION), &[], "gpt-4o-mini")
            .routing_rule
            .as_deref(),
        Some("late")
    );
}

#[test]
fn the_documented_chain_normalises_the_model_then_routes_it() {
    // Bifrost's chaining example: gpt-4 is normalised to gpt-4-turbo (chain_rule), then
    // gpt-4-turbo is routed to Azure.
    let rules = json!([
      {
        "id": "normalize-alias",
        "name": "Normalize gpt-4 Alias",
        "enabled": true,
        "chain_rule": true,
        "cel_expression": "model == \"gpt-4\"",
        "targets": [{ "model": "gpt-4-turbo", "weight": 1 }],
        "scope": "global",
        "priority": 0
      },
      {
        "id": "route-gpt4-turbo",
        "name": "Route gpt-4-turbo to Azure",
        "enabled": true,
        "chain_rule": false,
        "cel_expression": "model == \"gpt-4-turbo\"",
        "targets": [{ "provider": "azure", "weight": 1 }],
        "scope": "global",
        "priority": 1
      }
    ]);
    let h = harness(config(rules));
    let routed = ask(&h, Some(PRODUCTION), &[], "gpt-4");
    assert_eq!(routed.provider, "azure");
    // The second rule's target names no model: the model the first rule chose is kept.
    assert_eq!(routed.routed_model.as_deref(), Some("gpt-4-turbo"));
    assert_eq!(routed.routing_rule.as_deref(), Some("route-gpt4-turbo"));
    // A request for gpt-4-turbo itself meets only the second rule.
    let direct = ask(&h, Some(PRODUCTION), &[], "gpt-4-turbo");
    assert_eq!(direct.provider, "azure");
    assert_eq!(direct.routed_model, None);
}

#[test]
fn a_chain_rule_fires_once_and_the_chain_stops_at_its_depth() {
    // Each rule matches whatever it is given: without fire-once they would loop.
    let rules = json!([
        {"id": "a", "name": "a", "chain_rule": true, "cel_expression": "true", "priority": 0,
         "targets": [{"model": "model-a", "weight": 1}]},
        {"id": "b", "name": "b", "chain_rule": true, "cel_expression": "true", "priority": 1,
         "targets": [{"model": "model-b", "weight": 1}]}
    ]);
    let h = harness(config(rules.clone()));
    let routed = ask(&h, Some(PRODUCTION), &[], "gpt-4o");
    assert_eq!(routed.routing_rule.as_deref(), Some("b"));
    assert_eq!(routed.routed_model.as_deref(), Some("model-b"));
    // With a depth of one, only the first step is taken.
    let mut shallow = config(rules);
    shallow["routing_chain_max_depth"] = json!(1);
    let h = harness(shallow);
    let routed = ask(&h, Some(PRODUCTION), &[], "gpt-4o");
    assert_eq!(routed.routing_rule.as_deref(), Some("a"));
    assert_eq!(routed.routed_model.as_deref(), Some("model-a"));
}

#[test]
fn weights_split_the_traffic() {
    // The documented "Split Traffic OpenAI vs Groq" rule.
    let rules = json!([{
        "id": "split", "name": "Split Traffic OpenAI vs Groq", "cel_expression": "true",
        "targets": [
            { "provider": "openai", "model": "gpt-4o", "weight": 0.7 },
            { "provider": "groq", "model": "llama-3.1-70b", "weight": 0.3 }
        ],
        "scope": "global", "priority": 15
    }]);
    let h = harness(config(rules));
    let draws = 4_000;
    let openai = (0..draws)
        .filter(|_| ask(&h, Some(PRODUCTION), &[], "gpt-4o").provider == "openai")
        .count();
    let share = openai as f64 / f64::from(draws);
    // 0.7 with a standard deviation of 0.007 at 4,000 draws: ±0.05 is over 6 of them.
    assert!((0.65..0.75).contains(&share), "openai share {share}");
}

#[test]
fn the_routed_target_is_still_checked_by_the_virtual_key() {
    let rules = json!([
        {"id": "to-anthropic", "name": "a", "cel_expression": "headers[\"x-route\"] == \"anthropic\"",
         "targets": [{"provider": "anthropic", "model": "claude-3-5-sonnet", "weight": 1}]}
    ]);
    let h = harness(config(rules));
    // The production key does not allow anthropic.
    let error = try_ask(
        &h,
        Some(PRODUCTION),
        &[("x-route", "anthropic")],
        None,
        "gpt-4o",
        &[],
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::PROVIDER_BLOCKED, "{}", error.message);
    // The research key does.
    let routed = ask(&h, Some(RESEARCH), &[("x-route", "anthropic")], "gpt-4o");
    assert_eq!(routed.provider, "anthropic");
}

#[test]
fn budget_used_reads_the_provider_config_s_budget_in_percent() {
    // The production key's openai config has id 11, owner of the $1 budget b-openai.
    let mut cfg = config(json!([{
        "id": "capacity-failover", "name": "Budget Exhaustion Fallback",
        "cel_expression": "budget_used > 90",
        "targets": [{ "provider": "groq", "model": "llama-2-70b", "weight": 1 }],
        "scope": "global", "priority": 5
    }]));
    cfg["virtual_keys"][0]["provider_configs"][0]["id"] = json!(11);
    cfg["budgets"] = json!([{"id": "b-openai", "max_limit": 1.0, "reset_duration": "1d", "provider_config_id": 11}]);
    let h = harness(cfg);
    let openai = |vk| try_ask(&h, Some(vk), &[], Some("openai"), "gpt-4o", &[]).unwrap();
    assert_eq!(openai(PRODUCTION).routing_rule, None);
    // Spend $0.95 of the $1 on openai.
    h.decide(7, PRODUCTION, "openai", "gpt-4o", 0, 0).unwrap();
    h.settle(7, usage(0, 0, Some(950_000_000))).unwrap();
    let routed = openai(PRODUCTION);
    assert_eq!(routed.routing_rule.as_deref(), Some("capacity-failover"));
    assert_eq!(routed.provider, "groq");
    assert_eq!(routed.routed_model.as_deref(), Some("llama-2-70b"));
    // No provider named yet: the provider config's budget is not one of the request's limits.
    assert_eq!(ask(&h, Some(PRODUCTION), &[], "gpt-4o").routing_rule, None);
    // The research key's openai config has no budget at all.
    assert_eq!(openai(RESEARCH).routing_rule, None);
}

#[test]
fn a_request_without_a_key_meets_global_rules_only() {
    let h = harness(config(documented_rules()));
    let premium = try_ask(&h, None, &[("x-tier", "premium")], None, "gpt-4o-mini", &[]).unwrap();
    assert_eq!(premium.virtual_key_id, "");
    assert_eq!(premium.provider, "openai");
    assert_eq!(premium.routed_model.as_deref(), Some("gpt-4o"));
    let plain = try_ask(&h, None, &[], None, "gpt-4o-mini", &[]).unwrap();
    assert_eq!(plain.routing_rule, None);
}

#[test]
fn request_type_params_and_pinned_keys_reach_the_rules() {
    let rules = json!([
        {"id": "streams", "name": "s", "cel_expression": "request_type == \"chat_completion_stream\"",
         "targets": [{"provider": "azure", "weight": 1}], "priority": 0},
        {"id": "gold", "name": "g", "cel_expression": "params[\"tier\"] == \"gold plus\"",
         "targets": [{"provider": "openai", "model": "gpt-4o", "provider_key_name": "openai-prod", "weight": 1}],
         "priority": 1}
    ]);
    let h = harness(config(rules));
    let stream = [Extension::number(ExtensionKey::STREAM, 1)];
    let routed = try_ask(&h, Some(PRODUCTION), &[], None, "gpt-4o", &stream).unwrap();
    assert_eq!(routed.routing_rule.as_deref(), Some("streams"));
    let query = [Extension::text(ExtensionKey::QUERY, "x=1&Tier=gold+plus")];
    let gold = try_ask(&h, Some(PRODUCTION), &[], None, "gpt-4o-mini", &query).unwrap();
    assert_eq!(gold.routing_rule.as_deref(), Some("gold"));
    assert_eq!(gold.routed_key.as_deref(), Some("openai-prod"));
    let plain = try_ask(&h, Some(PRODUCTION), &[], None, "gpt-4o-mini", &[]).unwrap();
    assert_eq!(plain.routing_rule, None);
}

#[test]
fn an_authorization_the_host_does_not_mark_route_is_not_routed() {
    let h = harness(config(documented_rules()));
    // Authorized without ROUTE (a fallback's authorization, a probe, an older host).
    let pairs = [("x-bf-vk", PRODUCTION), ("x-tier", "premium")];
    let admitted = h
        .authorize_told(1, &headers(&pairs), Some("azure"), "gpt-4o", &[])
        .unwrap();
    assert_eq!(admitted.provider, "azure");
    assert_eq!(admitted.routing_rule, None);
}

#[test]
fn a_bad_rule_is_refused_naming_its_field() {
    let cases = [
        (
            json!([{"id": "r", "name": "n", "cel_expression": "headers[\"x-tier", "targets": [{"weight": 1}]}]),
            "routing_rules[0].cel_expression",
        ),
        (
            json!([{"id": "r", "name": "n", "cel_expression": "true", "scope": "team", "scope_id": "no-such-team",
                    "targets": [{"weight": 1}]}]),
            "routing_rules[0].scope_id",
        ),
        (
            json!([{"id": "r", "name": "n", "targets": [{"provider": "a", "weight": 0.5}, {"provider": "b", "weight": 0.4}]}]),
            "routing_rules[0].targets",
        ),
        (
            json!([{"id": "r", "name": "n", "targets": [{"weight": 1}]},
                   {"id": "r", "name": "m", "targets": [{"weight": 1}]}]),
            "routing_rules[1].id",
        ),
        (
            json!([{"id": "r", "name": "n", "targets": [{"weight": 1}]},
                   {"id": "s", "name": "n", "targets": [{"weight": 1}]}]),
            "routing_rules[1].name",
        ),
        (
            json!([{"id": "r", "name": "n", "cel_expression": "model.length() > 5", "targets": [{"weight": 1}]}]),
            "routing_rules[0].cel_expression",
        ),
        (
            json!([{"id": "r", "name": "n", "targets": [{"provider": "azur", "weight": 1}]}]),
            "routing_rules[0].targets[0].provider",
        ),
    ];
    for (rules, path) in cases {
        let error = try_harness_with(config(rules.clone())).err().unwrap();
        assert_eq!(error.code, ErrorCode::INVALID_CONFIG);
        assert!(error.message.contains(path), "{rules}: {}", error.message);
    }
}

#[test]
fn shadow_mode_admits_where_enforcement_would_have_routed() {
    let rules = json!([
        {"id": "to-anthropic", "name": "a", "cel_expression": "headers[\"x-route\"] == \"anthropic\"",
         "targets": [{"provider": "anthropic", "model": "claude-3-5-sonnet", "weight": 1}]}
    ]);
    let mut cfg = config(rules);
    cfg["shadow_mode"] = json!(true);
    let h = harness(cfg);
    // The production key does not allow anthropic: enforced, a 403; in shadow mode admitted, at
    // the routed target, with the denial reported.
    let admitted = ask(&h, Some(PRODUCTION), &[("x-route", "anthropic")], "gpt-4o");
    assert_eq!(admitted.would_deny, ErrorCode::PROVIDER_BLOCKED);
    assert_eq!(admitted.provider, "anthropic");
    assert_eq!(admitted.routed_model.as_deref(), Some("claude-3-5-sonnet"));
    assert_eq!(admitted.routing_rule.as_deref(), Some("to-anthropic"));
}
