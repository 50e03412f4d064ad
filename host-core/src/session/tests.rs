//! The session's phases with the real plugins in process (governance and the weighted
//! selector, built from their rlibs) on a manual clock: what is held, released and settled,
//! the retry budget, fallbacks and pinned keys. The behaviour table (tests/behaviours/) runs the
//! same rules through every host.

use std::{path::PathBuf, sync::Arc};

use keyward_plugin_api::{
    abi_stable::std_types::RStr,
    ffi::{FailureKind, Header, RequestKind, RoleMask},
    hosts::ManualHost,
    loader::RoleSlot,
};

use super::{AttemptContext, RequestIds, Session, upstream_error};
use crate::{
    charge::Charge, config::HostConfig, request::InferenceRequest, roles::Roles, upstream::Routes,
    usage::Metered,
};

const CONFIG: &str = r#"{
  "providers": {
    "openai": {"keys": [{"id": "oa-1", "name": "oa-1", "value": "sk-oa-1-0123456789", "models": ["*"], "weight": 1}],
               "network_config": {"base_url": "http://127.0.0.1:9", "max_retries": 1}},
    "broken": {"keys": [{"id": "br-1", "name": "br-1", "value": "sk-br-1-0123456789", "models": ["*"], "weight": 1}],
               "network_config": {"base_url": "http://127.0.0.1:9", "max_retries": 0}}
  },
  "governance": {
    "pricing": {"gpt-4o": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.00001}},
    "virtual_keys": [
      {"id": "vk-once", "value": "sk-bf-once-0123456789",
       "provider_configs": [{"provider": "openai", "allowed_models": ["*"], "key_ids": ["*"]}],
       "rate_limit": {"request_max_limit": 1, "request_reset_duration": "1h"}},
      {"id": "vk-fallback", "value": "sk-bf-fallback-0123456789",
       "provider_configs": [
         {"provider": "broken", "allowed_models": ["*"], "key_ids": ["*"], "weight": 1},
         {"provider": "openai", "allowed_models": ["*"], "key_ids": ["*"], "weight": 0}
       ]}
    ]
  },
  "plugins": {"key_selection": {"path": "selector.so"}, "governance": {"path": "governance.so"}}
}"#;

struct Gateway {
    roles: Arc<Roles>,
    routes: Routes,
    ids: RequestIds,
}

fn gateway() -> Gateway {
    let config = HostConfig::parse(CONFIG).unwrap().config;
    let data = config.role_data();
    let host = ManualHost::at_unix_secs(1_700_000_000);
    let groups = config.plugins.groups().unwrap();
    let selector_json = groups[0].config_json(&data);
    let governance_json = groups[1].config_json(&data);
    let selector = keyward_weighted_selector::WeightedSelector::from_json(&selector_json).unwrap();
    let set = keyward_governance::build_role_set(
        &governance_json,
        RoleMask::AUTHORIZATION.union(RoleMask::ENFORCEMENT),
        host.handle(),
    )
    .unwrap();
    let origin = PathBuf::from("in-process");
    Gateway {
        roles: Arc::new(Roles {
            selector: RoleSlot::new(keyward_weighted_selector::boxed(selector), origin.clone()),
            authorizer: RoleSlot::new(set.authorizer.unwrap(), origin.clone()),
            enforcer: RoleSlot::new(set.enforcer.unwrap(), origin),
        }),
        routes: Routes::build(&config),
        ids: RequestIds::for_this_process(),
    }
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

fn chat() -> InferenceRequest {
    InferenceRequest::parse(
        RequestKind::CHAT_COMPLETION,
        br#"{"model": "gpt-4o", "max_tokens": 10, "messages": []}"#,
    )
    .unwrap()
}

fn admit(gateway: &Gateway, pairs: &[(&str, &str)]) -> Result<Session, crate::error::GatewayError> {
    Session::admit(gateway.roles.clone(), &gateway.ids, &headers(pairs), chat())
}

fn context<'a>(gateway: &'a Gateway, headers: &'a [Header<'a>]) -> AttemptContext<'a> {
    AttemptContext {
        routes: &gateway.routes,
        path: "/v1/chat/completions",
        headers,
        ids: &gateway.ids,
    }
}

const ONCE: (&str, &str) = ("x-bf-vk", "sk-bf-once-0123456789");
const FALLBACK: (&str, &str) = ("x-bf-vk", "sk-bf-fallback-0123456789");

#[test]
fn dropping_an_unfinished_session_releases_its_reservation() {
    let gateway = gateway();
    let session = admit(&gateway, &[ONCE]).unwrap();
    drop(session);
    // The request slot came back: the one request an hour is still there.
    let session = admit(&gateway, &[ONCE]).expect("the drop released the slot");
    let outcome = session.finish(
        200,
        Metered {
            usage: None,
            delivered_output_tokens: 3,
        },
    );
    assert!(matches!(outcome.charge, Charge::Settle(u) if u.output_tokens == 3));
    assert!(outcome.enforcer_error.is_none());
    // Settled: the hour's one request is used.
    let refused = admit(&gateway, &[ONCE]).map(|_| ()).unwrap_err();
    assert_eq!(refused.error_type, "request_limited");
    assert_eq!(refused.plugin_role, Some("enforcement"));
}

#[test]
fn a_relayed_failure_releases_and_the_slot_returns() {
    let gateway = gateway();
    let session = admit(&gateway, &[ONCE]).unwrap();
    let outcome = session.finish(404, Metered::default());
    assert_eq!(outcome.charge, Charge::Release);
    assert!(
        admit(&gateway, &[ONCE]).is_ok(),
        "a released request is not counted"
    );
}

#[test]
fn the_retry_budget_then_the_last_failure_is_the_answer() {
    let gateway = gateway();
    let pairs = [ONCE];
    let headers = headers(&pairs);
    let context = context(&gateway, &headers);
    let mut session = admit(&gateway, &pairs).unwrap();
    for _ in 0..2 {
        // max_retries 1: two attempts (the only key comes back after transient failures).
        let attempt = session.next_attempt(&context).unwrap();
        assert_eq!(attempt.key_id, "oa-1");
        let refusal = upstream_error("openai", 503, None, b"{}");
        session.attempt_failed(&attempt.key_id, FailureKind::SERVER_ERROR, refusal);
    }
    let answer = session.next_attempt(&context).unwrap_err();
    assert_eq!(answer.status, 503);
    assert_eq!(answer.error_type, "upstream_error");
    drop(session);
    assert!(
        admit(&gateway, &[ONCE]).is_ok(),
        "nothing left to try released the slot"
    );
}

#[test]
fn a_retryable_failure_falls_back_under_a_new_reservation() {
    let gateway = gateway();
    let pairs = [FALLBACK];
    let headers = headers(&pairs);
    let context = context(&gateway, &headers);
    let mut session = admit(&gateway, &pairs).unwrap();
    assert_eq!(session.provider(), "broken", "weight 1 against 0");
    let first = session.request_id();
    let attempt = session.next_attempt(&context).unwrap();
    let refusal = upstream_error("broken", 500, None, b"{}");
    session.attempt_failed(&attempt.key_id, FailureKind::SERVER_ERROR, refusal);
    let attempt = session.next_attempt(&context).unwrap();
    assert_eq!(attempt.provider, "openai");
    assert_eq!(attempt.key_id, "oa-1");
    assert_ne!(
        session.request_id(),
        first,
        "the fallback holds its own reservation"
    );
    let outcome = session.finish(200, Metered::default());
    assert_eq!(outcome.provider, "openai");
    assert_eq!(outcome.attempts, 2);
}

#[test]
fn a_pinned_key_never_falls_back_and_a_credential_refusal_does_not_either() {
    let gateway = gateway();
    let pairs = [FALLBACK, ("x-bf-api-key", "br-1")];
    let headers = headers(&pairs);
    let context = context(&gateway, &headers);
    let mut session = admit(&gateway, &pairs).unwrap();
    let reserved = session.request_id();
    let attempt = session.next_attempt(&context).unwrap();
    assert_eq!(attempt.key_id, "br-1");
    let refusal = upstream_error("broken", 500, None, b"{}");
    session.attempt_failed(&attempt.key_id, FailureKind::SERVER_ERROR, refusal);
    let answer = session.next_attempt(&context).unwrap_err();
    assert_eq!(
        answer.status, 500,
        "the pinned provider's failure is the answer"
    );
    assert_eq!(session.request_id(), reserved, "no fallback was reserved");
    assert_eq!(session.provider(), "broken");

    let pairs = [FALLBACK];
    let headers = self::headers(&pairs);
    let context = self::context(&gateway, &headers);
    let mut session = admit(&gateway, &pairs).unwrap();
    let attempt = session.next_attempt(&context).unwrap();
    let refusal = upstream_error(
        "broken",
        401,
        None,
        br#"{"error": {"message": "bad key sk-br-1-0123456789"}}"#,
    );
    assert!(
        !refusal.message.contains("sk-"),
        "a refused credential's message is ours: {}",
        refusal.message
    );
    session.attempt_failed(&attempt.key_id, FailureKind::CREDENTIALS, refusal);
    let answer = session.next_attempt(&context).unwrap_err();
    assert_eq!(
        answer.status, 401,
        "a credential refusal is not a fallback's to cure"
    );
}

#[test]
fn only_an_error_whose_body_is_not_a_json_object_is_foreign() {
    use super::foreign_error;
    let foreign = foreign_error("openai", 404, b"404 page not found").unwrap();
    assert_eq!(foreign.status, 404);
    assert_eq!(foreign.error_type, "upstream_error");
    assert!(!foreign.is_gateway_error);
    assert!(foreign_error("openai", 502, b"<html>bad gateway</html>").is_some());
    assert!(foreign_error("openai", 400, br#"{"error": {"message": "bad"}}"#).is_none());
    assert!(foreign_error("openai", 302, b"").is_none());
    assert!(foreign_error("openai", 200, b"not json").is_none());
}
