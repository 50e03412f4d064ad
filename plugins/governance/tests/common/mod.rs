//! Shared helpers for the governance plugin's integration tests: build both roles as the ABI
//! trait objects over a manual clock, and call them with short helpers.

#![allow(dead_code)] // Each test binary uses a different subset.

use abi_stable::std_types::{ROption, RSlice, RStr};
use keyward_governance::build_role_set;
use keyward_plugin_api::{
    ffi::{
        AuthorizeRequest, AuthorizerBox, EnforcerBox, ErrorCode, Extension, ExtensionKey,
        Extensions, Header, KeywardError, RequestKind, Reservation, ReserveRequest, RoleMask,
        Settlement, Usage, UsageEstimate,
    },
    hosts::ManualHost,
};

/// 2025-05-14T15:30:00Z, a Wednesday.
pub const START_SECS: u64 = 1_747_236_600;
pub const SEC: u64 = 1_000_000_000;

/// An admission, owned.
#[derive(Clone, Debug, PartialEq)]
pub struct Admitted {
    pub virtual_key_id: String,
    pub provider: String,
    pub allowed_key_ids: Option<Vec<String>>,
    pub fallbacks: Vec<String>,
    pub would_deny: ErrorCode,
    /// What a routing rule changed: the model, the rule's id, a pinned key.
    pub routed_model: Option<String>,
    pub routing_rule: Option<String>,
    pub routed_key: Option<String>,
}

pub struct Harness {
    pub host: ManualHost,
    pub authorizer: AuthorizerBox,
    pub enforcer: EnforcerBox,
}

/// Builds both roles from `config`. The fixtures of these tests are written in Bifrost v1.4's
/// shape, where an empty allow-list (no `provider_configs`, no `allowed_models`, no `key_ids`)
/// allows everything, so a config that does not say its `version` is read as `"version": 1`;
/// the tests of v1.5's meaning (the default a host passes) say `"version": 2`.
pub fn try_harness(mut config: serde_json::Value) -> Result<Harness, KeywardError> {
    if let Some(object) = config.as_object_mut() {
        object.entry("version").or_insert(serde_json::json!(1));
    }
    try_harness_with(config).map(|(harness, _)| harness)
}

/// [`try_harness`] for a config taken as it is, with the host (and its log).
pub fn try_harness_with(config: serde_json::Value) -> Result<(Harness, ManualHost), KeywardError> {
    let host = ManualHost::at_unix_secs(START_SECS);
    let set = build_role_set(
        &config.to_string(),
        RoleMask::AUTHORIZATION.union(RoleMask::ENFORCEMENT),
        host.handle(),
    )?;
    Ok((
        Harness {
            authorizer: set.authorizer.unwrap(),
            enforcer: set.enforcer.unwrap(),
            host: host.clone(),
        },
        host,
    ))
}

pub fn harness(config: serde_json::Value) -> Harness {
    try_harness(config).expect("valid configuration")
}

impl Harness {
    /// Authorizes with the virtual key (if any) in `x-bf-vk`.
    pub fn authorize(
        &self,
        request_id: u64,
        vk: Option<&str>,
        provider: Option<&str>,
        model: &str,
    ) -> Result<Admitted, KeywardError> {
        let headers: Vec<Header<'_>> = vk
            .map(|v| Header {
                name: RStr::from_str("x-bf-vk"),
                value: RStr::from_str(v),
            })
            .into_iter()
            .collect();
        self.authorize_with(request_id, &headers, provider, model)
    }

    pub fn authorize_with(
        &self,
        request_id: u64,
        headers: &[Header<'_>],
        provider: Option<&str>,
        model: &str,
    ) -> Result<Admitted, KeywardError> {
        self.authorize_told(request_id, headers, provider, model, &[])
    }

    /// [`Self::authorize_with`] with extensions (stream, query, fallback attempt).
    pub fn authorize_told(
        &self,
        request_id: u64,
        headers: &[Header<'_>],
        provider: Option<&str>,
        model: &str,
        told: &[Extension<'_>],
    ) -> Result<Admitted, KeywardError> {
        let request = AuthorizeRequest {
            extensions: Extensions::new(told),
            request_id,
            headers: RSlice::from_slice(headers),
            provider: provider.map(RStr::from_str).into(),
            model: RStr::from_str(model),
            kind: RequestKind::CHAT_COMPLETION,
            estimate: UsageEstimate::default(),
        };
        self.authorizer
            .authorize(&request)
            .into_result()
            .map(|a| Admitted {
                virtual_key_id: a.virtual_key_id.to_string(),
                provider: a.provider.to_string(),
                allowed_key_ids: a
                    .allowed_key_ids
                    .into_option()
                    .map(|ids| ids.iter().map(|s| s.to_string()).collect()),
                fallbacks: a
                    .fallbacks
                    .as_slice()
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                would_deny: a.would_deny,
                routed_model: a
                    .extensions
                    .text(ExtensionKey::ROUTED_MODEL)
                    .map(str::to_owned),
                routing_rule: a
                    .extensions
                    .text(ExtensionKey::ROUTING_RULE)
                    .map(str::to_owned),
                routed_key: a
                    .extensions
                    .text(ExtensionKey::ROUTED_KEY)
                    .map(str::to_owned),
            })
    }

    pub fn reserve(
        &self,
        request_id: u64,
        vk_id: &str,
        provider: &str,
        model: &str,
        input_tokens: u64,
        max_output_tokens: Option<u64>,
    ) -> Result<Reservation, KeywardError> {
        self.enforcer
            .reserve(&ReserveRequest {
                extensions: Default::default(),
                request_id,
                virtual_key_id: RStr::from_str(vk_id),
                provider: RStr::from_str(provider),
                model: RStr::from_str(model),
                estimate: UsageEstimate {
                    input_tokens,
                    max_output_tokens: max_output_tokens.into(),
                },
            })
            .into_result()
    }

    /// Authorizes (value in `x-bf-vk`, provider named) and reserves: one full decision.
    pub fn decide(
        &self,
        request_id: u64,
        vk: &str,
        provider: &str,
        model: &str,
        input_tokens: u64,
        max_output_tokens: u64,
    ) -> Result<Reservation, KeywardError> {
        let admitted = self.authorize(request_id, Some(vk), Some(provider), model)?;
        self.reserve(
            request_id,
            &admitted.virtual_key_id,
            &admitted.provider,
            model,
            input_tokens,
            Some(max_output_tokens),
        )
    }

    pub fn settle(&self, request_id: u64, usage: Usage) -> Result<Settlement, KeywardError> {
        self.enforcer.settle(request_id, &usage).into_result()
    }

    pub fn release(&self, request_id: u64) -> Result<Settlement, KeywardError> {
        self.enforcer.release(request_id).into_result()
    }

    pub fn state(&self) -> serde_json::Value {
        let text = self.enforcer.snapshot_state().into_result().unwrap();
        serde_json::from_str(text.as_str()).unwrap()
    }

    /// The exported counter of `limit_id` and `kind`.
    pub fn counter(&self, limit_id: &str, kind: &str) -> serde_json::Value {
        self.state()["counters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["limit_id"] == limit_id && c["kind"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no counter {limit_id}/{kind}"))
    }
}

pub fn usage(input: u64, output: u64, cost_nanos: Option<u64>) -> Usage {
    Usage {
        extensions: Default::default(),
        input_tokens: input,
        cached_input_tokens: 0,
        output_tokens: output,
        cost_nanos: cost_nanos.into(),
        success: true,
    }
}

/// A price of exactly 1 micro-dollar (1000 nano-dollars) per token, input and output.
pub fn flat_pricing() -> serde_json::Value {
    serde_json::json!({
        "test-model": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000001}
    })
}

pub fn assert_denied(
    result: Result<impl std::fmt::Debug, KeywardError>,
    code: ErrorCode,
    status: u16,
) -> KeywardError {
    let error = result.expect_err("expected a denial");
    assert_eq!(error.code, code, "{error}");
    assert_eq!(error.http_status, status, "{error}");
    assert_eq!(error.code.as_str(), code.as_str());
    error
}

pub fn none() -> ROption<u64> {
    ROption::RNone
}
