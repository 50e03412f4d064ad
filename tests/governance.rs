//! End to end through the real governance `.so`: the loader loads it, `instantiate` builds both
//! roles over one state, and every decision comes back through the ABI with its status and
//! type; reservations cannot overshoot; state survives a swap to a second load.

mod support;

use abi_stable::std_types::{ROption, RSlice, RStr};
use keyward::{
    ffi::{
        AuthorizeRequest, AuthorizerBox, EnforcerBox, ErrorCode, Header, KeywardError, RequestKind,
        Reservation, ReserveRequest, RoleMask, Usage, UsageEstimate,
    },
    hosts::ManualHost,
    loader::{LoadedPlugin, load_plugin},
};

/// Bifrost v1.4's shape (a team `budget_id`, a key without provider configs): `"version": 1`.
const CONFIG: &str = r#"{
  "version": 1,
  "enforce_virtual_keys": true,
  "pricing": {"test-model": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000001}},
  "budgets": [{"id": "b-team", "max_limit": 0.0001, "reset_duration": "1M", "calendar_aligned": true}],
  "teams": [{"id": "t1", "name": "eng", "budget_id": "b-team"}],
  "virtual_keys": [
    {"id": "vk-main", "name": "main", "value": "sk-bf-main", "team_id": "t1",
     "rate_limit": {"id": "rl", "request_max_limit": 100, "request_reset_duration": "1m",
                    "token_max_limit": 1000, "token_reset_duration": "1h"},
     "provider_configs": [
       {"provider": "openai", "weight": 2, "keys": ["k-openai"], "blacklisted_models": ["bad"]},
       {"provider": "azure", "weight": 1, "allow_all_keys": true}
     ]},
    {"id": "vk-small", "value": "sk-bf-small",
     "rate_limit": {"request_max_limit": 1, "request_reset_duration": "30s"}},
    {"id": "vk-off", "value": "sk-bf-off", "is_active": false}
  ]
}"#;

struct Roles {
    host: ManualHost,
    authorizer: AuthorizerBox,
    enforcer: EnforcerBox,
}

fn load() -> LoadedPlugin {
    load_plugin(&support::plugin_path("keyward-governance")).expect("load the governance plugin")
}

fn instantiate(plugin: &LoadedPlugin) -> Roles {
    let host = ManualHost::at_unix_secs(1_747_236_600);
    let set = plugin
        .instantiate(
            CONFIG,
            RoleMask::AUTHORIZATION.union(RoleMask::ENFORCEMENT),
            host.handle(),
        )
        .expect("instantiate");
    Roles {
        host,
        authorizer: set.authorizer.into_option().expect("authorizer"),
        enforcer: set.enforcer.into_option().expect("enforcer"),
    }
}

/// What an admission says, owned: (virtual key id, provider, allowed key ids, fallbacks).
type Admitted = (String, String, Option<Vec<String>>, Vec<String>);

impl Roles {
    /// Authorizes with the key in `Authorization: Bearer` and returns (key id, provider,
    /// allowed key ids, fallbacks).
    fn authorize(
        &self,
        id: u64,
        vk: Option<&str>,
        provider: Option<&str>,
        model: &str,
    ) -> Result<Admitted, KeywardError> {
        let bearer = vk.map(|v| format!("Bearer {v}"));
        let headers: Vec<Header<'_>> = bearer
            .iter()
            .map(|value| Header {
                name: RStr::from_str("authorization"),
                value: RStr::from_str(value),
            })
            .collect();
        let request = AuthorizeRequest {
            extensions: Default::default(),
            request_id: id,
            headers: RSlice::from_slice(&headers),
            provider: provider.map(RStr::from_str).into(),
            model: RStr::from_str(model),
            kind: RequestKind::CHAT_COMPLETION,
            estimate: UsageEstimate::default(),
        };
        self.authorizer.authorize(&request).into_result().map(|a| {
            (
                a.virtual_key_id.to_string(),
                a.provider.to_string(),
                a.allowed_key_ids
                    .into_option()
                    .map(|ids| ids.iter().map(|s| s.to_string()).collect()),
                a.fallbacks
                    .as_slice()
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            )
        })
    }

    fn reserve(&self, id: u64, vk_id: &str, provider: &str) -> Result<Reservation, KeywardError> {
        self.enforcer
            .reserve(&ReserveRequest {
                extensions: Default::default(),
                request_id: id,
                virtual_key_id: RStr::from_str(vk_id),
                provider: RStr::from_str(provider),
                model: RStr::from_str("test-model"),
                estimate: UsageEstimate {
                    input_tokens: 10,
                    max_output_tokens: ROption::RSome(10),
                },
            })
            .into_result()
    }

    fn decide(&self, id: u64, vk: &str) -> Result<Reservation, KeywardError> {
        let (vk_id, provider, _, _) = self.authorize(id, Some(vk), Some("openai"), "test-model")?;
        self.reserve(id, &vk_id, &provider)
    }
}

fn denied<T: std::fmt::Debug>(result: Result<T, KeywardError>, code: ErrorCode, status: u16) {
    let error = result.expect_err("expected a denial");
    assert_eq!((error.code, error.http_status), (code, status), "{error}");
}

fn settled(tokens: u64) -> Usage {
    Usage {
        extensions: Default::default(),
        input_tokens: tokens / 2,
        cached_input_tokens: 0,
        output_tokens: tokens - tokens / 2,
        cost_nanos: ROption::RNone,
        success: true,
    }
}

#[test]
fn the_plugin_describes_both_roles() {
    let plugin = load();
    let info = plugin.info();
    assert_eq!(info.name.as_str(), "governance");
    assert!(
        info.roles
            .contains(RoleMask::AUTHORIZATION.union(RoleMask::ENFORCEMENT))
    );
}

#[test]
fn authorization_decisions_cross_the_abi_with_their_status_and_type() {
    let roles = instantiate(&load());
    denied(
        roles.authorize(1, None, Some("openai"), "test-model"),
        ErrorCode::VIRTUAL_KEY_REQUIRED,
        401,
    );
    denied(
        roles.authorize(2, Some("sk-bf-who"), Some("openai"), "test-model"),
        ErrorCode::VIRTUAL_KEY_NOT_FOUND,
        403,
    );
    denied(
        roles.authorize(3, Some("sk-bf-off"), Some("openai"), "test-model"),
        ErrorCode::VIRTUAL_KEY_BLOCKED,
        403,
    );
    denied(
        roles.authorize(4, Some("sk-bf-main"), Some("bedrock"), "test-model"),
        ErrorCode::PROVIDER_BLOCKED,
        403,
    );
    denied(
        roles.authorize(5, Some("sk-bf-main"), Some("openai"), "bad"),
        ErrorCode::MODEL_BLOCKED,
        403,
    );

    let (vk, provider, keys, fallbacks) = roles
        .authorize(6, Some("sk-bf-main"), Some("openai"), "test-model")
        .unwrap();
    assert_eq!((vk.as_str(), provider.as_str()), ("vk-main", "openai"));
    assert_eq!(keys, Some(vec!["k-openai".to_owned()]));
    assert!(fallbacks.is_empty());
    let (_, chosen, _, fallbacks) = roles
        .authorize(7, Some("sk-bf-main"), None, "test-model")
        .unwrap();
    assert!(chosen == "openai" || chosen == "azure");
    assert_eq!(fallbacks.len(), 1);
    assert_ne!(fallbacks[0], chosen);
}

#[test]
fn limits_cross_the_abi_as_429_and_402() {
    let roles = instantiate(&load());
    roles.decide(1, "sk-bf-small").unwrap();
    roles
        .enforcer
        .settle(1, &settled(20))
        .into_result()
        .unwrap();
    let error = roles.decide(2, "sk-bf-small").unwrap_err();
    assert_eq!(
        (error.code, error.http_status),
        (ErrorCode::REQUEST_LIMITED, 429)
    );
    assert_eq!(error.retry_after_secs(), Some(30));
    roles.host.advance_secs(30);
    roles.decide(3, "sk-bf-small").unwrap();

    // The team budget fits five requests of $0.00002.
    for id in 10..15 {
        roles.decide(id, "sk-bf-main").unwrap();
    }
    let error = roles.decide(15, "sk-bf-main").unwrap_err();
    assert_eq!(
        (error.code, error.http_status),
        (ErrorCode::BUDGET_EXCEEDED, 402)
    );
    assert!(error.message.as_str().contains("team level"));
    // Settling for less than the estimate frees room for one more.
    for id in 10..15 {
        let charged = roles
            .enforcer
            .settle(id, &settled(10))
            .into_result()
            .unwrap();
        assert_eq!(charged.charged_cost_nanos, 10_000);
    }
    roles.decide(16, "sk-bf-main").unwrap();
}

#[test]
fn concurrent_requests_through_the_abi_never_overshoot() {
    let roles = instantiate(&load());
    let admitted = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| {
        for thread in 0..8u64 {
            let (roles, admitted) = (&roles, &admitted);
            scope.spawn(move || {
                for i in 0..8 {
                    if roles.decide(thread * 100 + i, "sk-bf-main").is_ok() {
                        admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(admitted.into_inner(), 5);
}

#[test]
fn state_survives_a_swap_to_a_second_load() {
    let old = instantiate(&load());
    for id in 0..3 {
        old.decide(id, "sk-bf-main").unwrap();
    }
    old.enforcer.settle(0, &settled(20)).into_result().unwrap();
    let state = old.enforcer.export_state().into_result().unwrap();
    denied(
        old.decide(9, "sk-bf-main"),
        ErrorCode::INSTANCE_RETIRED,
        503,
    );

    let new = instantiate(&load());
    new.enforcer
        .import_state(state.as_str().into())
        .into_result()
        .unwrap();
    let snapshot = new.enforcer.snapshot_state().into_result().unwrap();
    let old_json: serde_json::Value = serde_json::from_str(state.as_str()).unwrap();
    let new_json: serde_json::Value = serde_json::from_str(snapshot.as_str()).unwrap();
    assert_eq!(old_json["counters"], new_json["counters"]);
    assert_eq!(old_json["reservations"], new_json["reservations"]);
    // One of five slots is spent and two are held by open reservations: two are left.
    new.decide(20, "sk-bf-main").unwrap();
    new.decide(21, "sk-bf-main").unwrap();
    denied(
        new.decide(22, "sk-bf-main"),
        ErrorCode::BUDGET_EXCEEDED,
        402,
    );
    new.enforcer.release(1).into_result().unwrap();
    new.decide(23, "sk-bf-main").unwrap();
}
