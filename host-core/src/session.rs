//! [`Session`]: one inference request's life in the gateway, in phase order — the same for every
//! host. A host parses the request ([`InferenceRequest`]), then:
//!
//! ```text
//!  admit ──▶ next_attempt ──▶ (host sends it) ──▶ attempt_failed ──▶ next_attempt … (key retries,
//!    │            │                                                  then provider fallbacks)
//!    │            └─ Err: no attempt left → answer the error (the reservation is released)
//!    │
//!    └─ Err: denial (401/403/402/429 …) → answer it; nothing is reserved
//!
//!  an answer to relay ──▶ respond (status, content type) → UsageMeter, fed the body as it goes
//!                     ──▶ finish (status, metered) → Outcome   (settle or release, exactly once)
//! ```
//!
//! Dropping a session that holds a reservation releases it, so a handler that fails or a
//! client that leaves before the answer never leaves usage reserved. What is charged is
//! [`crate::charge`]'s rule. The session does no I/O: the host sends the attempt, reads the
//! answer and relays the body.
//!
//! Provider fallbacks: when the admission lists other providers and the chosen one fails with
//! a retryable error (connect error, timeout, 429, 5xx) after its own key retries, the session
//! releases, authorizes the fallback provider (which yields the keys the virtual key allows
//! there), reserves again at the fallback's price and goes on there. A fallback a routing rule
//! gave may name a model too (`provider/model`; `provider/` is the model as requested).
//!
//! Routing: when the authorizer's routing rules chose another model
//! ([`ExtensionKey::ROUTED_MODEL`]), the session reserves, selects and sends with it; a key the
//! rule pins ([`ExtensionKey::ROUTED_KEY`]) is used as a caller's pinned key would be, except
//! that the rule's fallbacks still apply.

use std::{borrow::Cow, collections::VecDeque, sync::Arc, time::Duration};

use http::{HeaderName, HeaderValue};
use keyward_plugin_api::{
    abi_stable::std_types::{RSlice, RStr},
    ffi::{
        ErrorCode, Extension, ExtensionKey, Extensions, FailedKey, FailureKind, Header,
        KeySelectorExt, KeywardError, ReserveRequest, SelectRequest,
    },
};

use crate::{
    admission::authorize_request,
    charge::{Charge, charge},
    error::GatewayError,
    request::InferenceRequest,
    roles::{Roles, call_with_retry},
    upstream::{ProviderRoute, Routes},
    usage::{BodyFormat, Metered, UsageMeter},
};

mod ids;
mod pinned;
mod upstream_error;

pub use self::{
    ids::RequestIds,
    pinned::{PINNED_KEY_ID_HEADER, PINNED_KEY_NAME_HEADER, pinned_key},
    upstream_error::{failure_of_status, foreign_error, timed_out, unreachable, upstream_error},
};

/// What a session needs to make its next attempt.
#[derive(Clone, Copy)]
pub struct AttemptContext<'a> {
    /// The provider adapters in force for this request.
    pub routes: &'a Routes,
    /// The route's path (`/v1/chat/completions`, …).
    pub path: &'a str,
    /// The request's headers (a fallback provider is authorized again with them).
    pub headers: &'a [Header<'a>],
    /// Where a fallback's new reservation id comes from.
    pub ids: &'a RequestIds,
}

/// One upstream attempt: where to send the request and with which key.
#[derive(Debug)]
pub struct Attempt<'r> {
    /// The provider called.
    pub provider: String,
    /// The chosen key's id.
    pub key_id: String,
    /// The model id sent upstream (alias or deployment resolved, provider prefix removed).
    pub provider_model: String,
    /// The full upstream URL.
    pub url: String,
    /// The credential header (its value is marked sensitive), if the key has a credential.
    pub auth: Option<(HeaderName, HeaderValue)>,
    /// Whether the body's `model` is replaced by [`provider_model`](Self::provider_model).
    pub replace_model: bool,
    /// The provider's headers added to every request.
    pub extra_headers: &'r [(HeaderName, HeaderValue)],
    /// The attempt's timeout: the answer's headers and a whole non-streamed body.
    pub timeout: Duration,
    /// How long a streamed answer may go without a byte.
    pub stream_idle_timeout: Duration,
    /// The key's base URL (its own URL for self-hosted servers, else the provider's).
    pub base_url: Option<&'r str>,
    /// The key's secret, for hosts that set the credential themselves (nginx). Never printed.
    pub secret: &'r keyward_plugin_api::model::secret::Secret,
    /// 0 for the first attempt, then 1, 2, … across keys and providers.
    pub number: u32,
}

/// How a finished request ended, for metrics and logs.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The request id of the last reservation.
    pub request_id: u64,
    /// The provider that answered.
    pub provider: String,
    /// The upstream status relayed.
    pub status: u16,
    /// What the enforcer was told.
    pub charge: Charge,
    /// Upstream attempts made.
    pub attempts: u32,
    /// `admit`, or `would_deny:<type>` in shadow mode.
    pub decision: Cow<'static, str>,
    /// Why the enforcer could not settle or release (the host logs it), if it could not.
    pub enforcer_error: Option<KeywardError>,
    /// The routing rule that chose the provider and model, if one did.
    pub routing_rule: Option<String>,
}

/// One admitted request.
pub struct Session {
    roles: Arc<Roles>,
    request: InferenceRequest,
    request_id: u64,
    virtual_key_id: String,
    provider: String,
    allowed_key_ids: Option<Vec<String>>,
    fallbacks: VecDeque<String>,
    pinned_key: Option<String>,
    /// Whether `pinned_key` came from a routing rule (its fallbacks still apply).
    pinned_by_rule: bool,
    /// The model called when it is not the one requested (a routing rule or a fallback chose
    /// it).
    routed_model: Option<String>,
    routing_rule: Option<String>,
    would_deny: ErrorCode,
    failed: Vec<(String, FailureKind)>,
    /// Whether an attempt at the current provider failed in a way another provider may not
    /// (connect error, timeout, 429, 5xx).
    retryable_here: bool,
    attempts_here: u32,
    attempts: u32,
    last_failure: Option<GatewayError>,
    reserved: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("request_id", &self.request_id)
            .field("virtual_key_id", &self.virtual_key_id)
            .field("provider", &self.provider)
            .field("attempts", &self.attempts)
            .field("reserved", &self.reserved)
            .finish_non_exhaustive()
    }
}

/// What authorization admitted, owned (it outlives the plugin call).
struct Authorized {
    virtual_key_id: String,
    provider: String,
    allowed_key_ids: Option<Vec<String>>,
    fallbacks: VecDeque<String>,
    would_deny: ErrorCode,
    routed_model: Option<String>,
    routed_key: Option<String>,
    routing_rule: Option<String>,
}

impl Session {
    /// ① Authorizes the request (the virtual key, its providers and models) and ② reserves its
    /// worst case. `Err` is the denial to answer; nothing is then held.
    pub fn admit(
        roles: Arc<Roles>,
        ids: &RequestIds,
        headers: &[Header<'_>],
        request: InferenceRequest,
    ) -> Result<Self, GatewayError> {
        let request_id = ids.next();
        let admitted = authorize(&roles, request_id, headers, &request, None).map_err(|e| {
            GatewayError::from_plugin("authorization", e).with_extra(request.extra(None))
        })?;
        let pinned_by_rule = admitted.routed_key.is_some();
        // A caller's pin names a key of the provider it asked for: a rule that sent the request
        // to another provider leaves it no key to name.
        let caller_pin = pinned_key(headers).filter(|_| {
            admitted.routing_rule.is_none()
                || request
                    .provider
                    .as_deref()
                    .is_none_or(|asked| asked == admitted.provider)
        });
        let mut session = Self {
            roles,
            request_id,
            virtual_key_id: admitted.virtual_key_id,
            provider: admitted.provider,
            allowed_key_ids: admitted.allowed_key_ids,
            fallbacks: admitted.fallbacks,
            pinned_key: admitted
                .routed_key
                .or_else(|| caller_pin.map(str::to_owned)),
            pinned_by_rule,
            routed_model: admitted.routed_model,
            routing_rule: admitted.routing_rule,
            would_deny: admitted.would_deny,
            request,
            failed: Vec::new(),
            retryable_here: false,
            attempts_here: 0,
            attempts: 0,
            last_failure: None,
            reserved: false,
        };
        session.reserve()?;
        Ok(session)
    }

    /// The request.
    pub fn request(&self) -> &InferenceRequest {
        &self.request
    }

    /// The id of the reservation held.
    pub fn request_id(&self) -> u64 {
        self.request_id
    }

    /// The admitted virtual key's id (empty: none).
    pub fn virtual_key_id(&self) -> &str {
        &self.virtual_key_id
    }

    /// The provider being called.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The model being called: the one requested, unless a routing rule or a fallback chose
    /// another.
    pub fn model(&self) -> &str {
        self.routed_model.as_deref().unwrap_or(&self.request.model)
    }

    /// The routing rule that chose the provider and model, if one did.
    pub fn routing_rule(&self) -> Option<&str> {
        self.routing_rule.as_deref()
    }

    /// `admit`, or `would_deny:<type>` when shadow mode admitted a request the policy denies.
    pub fn decision(&self) -> Cow<'static, str> {
        if self.would_deny == ErrorCode::NONE {
            Cow::Borrowed("admit")
        } else {
            Cow::Owned(format!("would_deny:{}", self.would_deny.as_str()))
        }
    }

    /// ③ Selects a key (excluding the keys that failed in this request) and builds the
    /// upstream target. After the provider's retry budget, or when no key is left, moves to
    /// the next fallback provider if the last failure was retryable. `Err` is the answer when
    /// nothing is left to try: the last upstream failure, or the selection error; the
    /// reservation is then released.
    pub fn next_attempt<'r>(
        &mut self,
        context: &AttemptContext<'r>,
    ) -> Result<Attempt<'r>, GatewayError> {
        loop {
            match self.try_provider(context) {
                Ok(attempt) => return Ok(attempt),
                Err(error) => {
                    if !self.fall_back(context, &error) {
                        self.release();
                        // After an upstream failure, that failure is the answer (not "no keys
                        // left", which only says every key was tried).
                        let answer = self.last_failure.take().unwrap_or(error);
                        return Err(answer.with_extra(self.request.extra(Some(&self.provider))));
                    }
                }
            }
        }
    }

    fn try_provider<'r>(
        &mut self,
        context: &AttemptContext<'r>,
    ) -> Result<Attempt<'r>, GatewayError> {
        let provider = &self.provider;
        let route = context.routes.provider(provider).ok_or_else(|| {
            GatewayError::bad_request("model", format!("provider {provider} is not configured"))
        })?;
        if let Some(reason) = route.adapter.unsupported() {
            return Err(GatewayError::new(
                501,
                "provider_not_supported",
                reason.to_owned(),
            ));
        }
        if let Some(refusal) =
            route
                .requests
                .refusal(provider, self.request.kind, self.request.stream)
        {
            return Err(refusal);
        }
        if self.attempts_here > route.max_retries {
            return Err(self.last_failure.clone().unwrap_or_else(|| {
                GatewayError::new(502, "upstream_failed", "every attempt failed")
            }));
        }
        let (key_id, provider_model) = self.select().map_err(|error| {
            if is_no_key(&error) && !route.unusable.is_empty() {
                // The keys that cannot be used may be the ones that would have served.
                key_unavailable(route, &error.message)
            } else {
                error
            }
        })?;
        if route.is_unusable_key(&key_id) {
            // A selector that ignores `enabled` must still not reach the key.
            return Err(key_unavailable(
                route,
                &format!("provider {provider}: key {key_id} cannot be used"),
            ));
        }
        let key = route.keys.get(&key_id).ok_or_else(|| {
            GatewayError::internal(format!("key {key_id} of {provider} is not configured"))
        })?;
        let target = route
            .target_for(
                provider,
                &key_id,
                key,
                &provider_model,
                (context.path, self.request.kind, self.request.stream),
            )
            .map_err(GatewayError::internal)?;
        let number = self.attempts;
        self.attempts += 1;
        self.attempts_here += 1;
        Ok(Attempt {
            provider: provider.clone(),
            key_id,
            provider_model,
            url: target.url,
            auth: target.auth,
            replace_model: target.replace_model,
            extra_headers: &route.extra_headers,
            timeout: route.timeout,
            stream_idle_timeout: route.stream_idle_timeout,
            base_url: key.url.as_deref().or(route.base_url.as_deref()),
            secret: &key.secret,
            number,
        })
    }

    /// The body to send for `attempt`, or `None` to send the caller's bytes unchanged.
    pub fn upstream_body(&self, body: &[u8], attempt: &Attempt<'_>) -> Option<Vec<u8>> {
        self.request
            .upstream_body(body, &attempt.provider_model, attempt.replace_model)
    }

    /// The attempt failed before an answer worth relaying: a transport error, a timeout, or a
    /// status [`failure_of_status`] classifies. The key is excluded from the next selection;
    /// `error` is what the client sees if nothing else succeeds.
    pub fn attempt_failed(&mut self, key_id: &str, failure: FailureKind, error: GatewayError) {
        self.failed.push((key_id.to_owned(), failure));
        self.retryable_here |= error.retryable;
        self.last_failure = Some(error);
    }

    /// ④ The upstream answered and its answer is relayed: a meter for its body, fed by the
    /// host as it relays the bytes. The content type alone decides the body's format.
    pub fn respond(&self, content_type: Option<&[u8]>) -> UsageMeter {
        UsageMeter::new(BodyFormat::of_content_type(content_type))
    }

    /// ⑤ Settles (or releases) the reservation for an answer of `status` whose body was
    /// `metered` — complete, cut short, or abandoned by the client — by [`crate::charge`]'s
    /// rule, exactly once.
    pub fn finish(mut self, status: u16, metered: Metered) -> Outcome {
        let charged = charge(status, &metered, &self.request.estimate);
        let mut enforcer_error = None;
        if self.reserved {
            self.reserved = false;
            let request_id = self.request_id;
            let result = match &charged {
                Charge::Settle(usage) => {
                    call_with_retry(&self.roles.enforcer, |e| e.settle(request_id, usage))
                }
                Charge::Release => call_with_retry(&self.roles.enforcer, |e| e.release(request_id)),
            };
            enforcer_error = result.err();
        }
        Outcome {
            request_id: self.request_id,
            provider: std::mem::take(&mut self.provider),
            status,
            charge: charged,
            attempts: self.attempts,
            decision: self.decision(),
            enforcer_error,
            routing_rule: self.routing_rule.take(),
        }
    }

    fn reserve(&mut self) -> Result<(), GatewayError> {
        let told = [
            Extension::number(ExtensionKey::REQUEST_KIND, u64::from(self.request.kind.0)),
            Extension::number(ExtensionKey::STREAM, u64::from(self.request.stream)),
        ];
        let reserve = ReserveRequest {
            extensions: Extensions::new(&told),
            request_id: self.request_id,
            virtual_key_id: RStr::from_str(&self.virtual_key_id),
            provider: RStr::from_str(&self.provider),
            model: RStr::from_str(self.model()),
            estimate: self.request.estimate,
        };
        let reservation =
            call_with_retry(&self.roles.enforcer, |e| e.reserve(&reserve)).map_err(|e| {
                GatewayError::from_plugin("enforcement", e)
                    .with_extra(self.request.extra(Some(&self.provider)))
            })?;
        if self.would_deny == ErrorCode::NONE {
            self.would_deny = reservation.would_deny;
        }
        self.reserved = true;
        Ok(())
    }

    fn release(&mut self) {
        if std::mem::replace(&mut self.reserved, false) {
            let request_id = self.request_id;
            let _ = call_with_retry(&self.roles.enforcer, |e| e.release(request_id));
        }
    }

    fn select(&self) -> Result<(String, String), GatewayError> {
        let failed: Vec<FailedKey<'_>> = self
            .failed
            .iter()
            .map(|(id, failure)| FailedKey {
                key_id: RStr::from_str(id),
                failure: *failure,
            })
            .collect();
        let allowed: Option<Vec<RStr<'_>>> = self
            .allowed_key_ids
            .as_ref()
            .map(|ids| ids.iter().map(|id| RStr::from_str(id)).collect());
        let request = SelectRequest {
            extensions: Default::default(),
            provider: RStr::from_str(&self.provider),
            model: RStr::from_str(self.model()),
            kind: self.request.kind,
            pinned_key: self.pinned_key.as_deref().map(RStr::from_str).into(),
            allowed_key_ids: allowed.as_deref().map(RSlice::from_slice).into(),
            failed: RSlice::from_slice(&failed),
        };
        call_with_retry(&self.roles.selector, |s| {
            s.pick(&request)
                .map(|choice| (choice.key_id.to_string(), choice.provider_model.to_string()))
        })
        .map_err(|e| GatewayError::from_plugin("key_selection", e))
    }

    /// Moves to the next fallback provider when the provider's failures allow it; `false` when
    /// there is none left, or a fallback cannot cure them. A fallback can cure a retryable
    /// failure of an attempt here (connect error, timeout, 429, 5xx), and a provider none of
    /// whose keys can serve the request (`no_keys`, `model_not_supported`,
    /// `all_keys_excluded`). A key the caller pinned names a key of this provider: no fallback
    /// (a key a routing rule pinned does not stop the rule's fallbacks).
    fn fall_back(&mut self, context: &AttemptContext<'_>, error: &GatewayError) -> bool {
        let no_key_here = is_no_key(error);
        let pinned_by_caller = self.pinned_key.is_some() && !self.pinned_by_rule;
        if pinned_by_caller || !(self.retryable_here || no_key_here) {
            return false;
        }
        while let Some(fallback) = self.fallbacks.pop_front() {
            self.release();
            // `provider/model` from a routing rule (`provider/`: the model as requested), else a
            // provider for the model being called.
            let (provider, model) = match fallback.split_once('/') {
                Some((provider, "")) => (provider, self.request.model.as_str()),
                Some((provider, model)) => (provider, model),
                None => (fallback.as_str(), self.model()),
            };
            let model = model.to_owned();
            let request_id = context.ids.next();
            let Ok(admitted) = authorize(
                &self.roles,
                request_id,
                context.headers,
                &self.request,
                Some((provider, &model)),
            ) else {
                continue;
            };
            self.routed_model = (model != self.request.model).then_some(model);
            if self.pinned_by_rule {
                self.pinned_key = None;
                self.pinned_by_rule = false;
            }
            self.request_id = request_id;
            self.provider = admitted.provider;
            self.allowed_key_ids = admitted.allowed_key_ids;
            self.failed.clear();
            self.retryable_here = false;
            self.attempts_here = 0;
            if self.reserve().is_ok() {
                return true;
            }
        }
        false
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.release();
    }
}

/// Authorizes `request`, or — `fallback` — its fallback to `(provider, model)`, which routing
/// rules do not route again.
fn authorize(
    roles: &Roles,
    request_id: u64,
    headers: &[Header<'_>],
    request: &InferenceRequest,
    fallback: Option<(&str, &str)>,
) -> Result<Authorized, KeywardError> {
    let (provider, model) = match fallback {
        Some((provider, model)) => (Some(provider), model),
        None => (request.provider.as_deref(), request.model.as_str()),
    };
    let mut call = authorize_request(
        request_id,
        headers,
        provider,
        model,
        request.kind,
        request.estimate,
    );
    let mut told = [Extension::number(ExtensionKey::STREAM, 0); 3];
    let mut len = 0;
    let mut tell = |entry| {
        told[len] = entry;
        len += 1;
    };
    if request.stream {
        tell(Extension::number(ExtensionKey::STREAM, 1));
    }
    if let Some(query) = &request.query {
        tell(Extension::text(ExtensionKey::QUERY, query));
    }
    // The first authorization is routed; a fallback's is not routed again.
    if fallback.is_none() {
        tell(Extension::number(ExtensionKey::ROUTE, 1));
    }
    call.extensions = Extensions::new(&told[..len]);
    call_with_retry(&roles.authorizer, |a| {
        a.authorize(&call).map(|admission| Authorized {
            virtual_key_id: admission.virtual_key_id.to_string(),
            provider: admission.provider.to_string(),
            allowed_key_ids: admission
                .allowed_key_ids
                .into_option()
                .map(|ids| ids.iter().map(|id| id.to_string()).collect()),
            fallbacks: admission
                .fallbacks
                .as_slice()
                .iter()
                .map(|p| p.to_string())
                .collect(),
            would_deny: admission.would_deny,
            routed_model: admission
                .extensions
                .text(ExtensionKey::ROUTED_MODEL)
                .filter(|m| !m.is_empty() && *m != model)
                .map(str::to_owned),
            routed_key: admission
                .extensions
                .text(ExtensionKey::ROUTED_KEY)
                .filter(|k| !k.is_empty())
                .map(str::to_owned),
            routing_rule: admission
                .extensions
                .text(ExtensionKey::ROUTING_RULE)
                .map(str::to_owned),
        })
    })
}

/// Whether a selection error says no key could be picked.
fn is_no_key(error: &GatewayError) -> bool {
    matches!(
        error.error_type.as_ref(),
        "no_keys" | "model_not_supported" | "all_keys_excluded"
    )
}

/// The 503 for a request that only keys that cannot be used (an unset `env.NAME`) could
/// serve: `what` happened, and which of the provider's entries cannot be used, and why.
fn key_unavailable(route: &ProviderRoute, what: &str) -> GatewayError {
    GatewayError::new(
        503,
        "provider_key_unavailable",
        format!("{what}; not usable: {}", route.unusable.join("; ")),
    )
}

#[cfg(test)]
mod tests;
