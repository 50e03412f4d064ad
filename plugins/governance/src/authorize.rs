//! Authorization: find the virtual key, check it, the provider and the model, and choose the
//! provider when the request names none. Decision order and codes:
//!
//! 1. no virtual key while one is required -> 401 `virtual_key_required`
//! 2. unknown key -> 403 `virtual_key_not_found`
//! 3. inactive or expired key -> 403 `virtual_key_blocked`
//! 4. provider not in the key's provider configs -> 403 `provider_blocked`
//! 5. model black-listed, not allowed, or without a price where a budget applies (under
//!    `unknown_model_pricing: "deny"`) -> 403 `model_blocked`
//!
//! Routing rules ([`crate::routing`]) run once the key is found and active (or when no key is
//! sent, global rules only), before steps 4 and 5: those then check the routed provider and
//! model, and the admission tells the host the routed model, the rule and a pinned key in its
//! extensions. Only an authorization the host marks `ROUTE` is routed: an older host (which
//! would not apply the decision), a fallback's authorization and a probe are not.
//!
//! Limits (429, 402) are the enforcer's, at reservation. The admit path allocates nothing: the
//! admission borrows from the instance and the request. In shadow mode a denial is counted,
//! logged and reported in `would_deny`, and the request is admitted.

use abi_stable::std_types::{ROption, RStr};
use keyward_plugin_api::{
    ffi::{
        Admission, AuthorizeRequest, ErrorCode, ExtensionKey, Extensions, Fallbacks, KeywardError,
    },
    model::request_type::request_type,
};

use crate::{
    engine::Engine,
    headers::find_virtual_key,
    policy::{KeyPolicy, Path, ProviderPolicy},
    price_overrides::ALL_REQUEST_TYPES,
    routing::decide::{Decision, RouteRequest},
};

fn admission<'a>(virtual_key_id: &'a str, provider: RStr<'a>) -> Admission<'a> {
    Admission {
        extensions: Default::default(),
        virtual_key_id: RStr::from_str(virtual_key_id),
        provider,
        allowed_key_ids: ROption::RNone,
        fallbacks: Fallbacks::EMPTY,
        would_deny: ErrorCode::NONE,
    }
}

/// A key with no provider configs (Bifrost v1.5: it may call no provider).
#[cold]
fn no_provider(key: &KeyPolicy) -> KeywardError {
    KeywardError::new(
        ErrorCode::PROVIDER_BLOCKED,
        format!(
            "{} allows no provider: its provider_configs is empty (since Bifrost v1.5 an empty list allows none)",
            key.label()
        ),
    )
}

fn requested_provider<'a>(request: &AuthorizeRequest<'a>) -> RStr<'a> {
    match request.provider {
        ROption::RSome(provider) => provider,
        ROption::RNone => RStr::from_str(""),
    }
}

/// What routing rules read of an authorization request.
fn route_request<'a>(request: &AuthorizeRequest<'a>) -> RouteRequest<'a> {
    let extensions = request.extensions;
    RouteRequest {
        provider: request.provider.map(|p| p.as_str()).into_option(),
        model: request.model.as_str(),
        request_type: request_type(
            request.kind,
            extensions.number(ExtensionKey::STREAM) == Some(1),
        ),
        headers: request.headers.as_slice(),
        query: extensions.text(ExtensionKey::QUERY).unwrap_or(""),
    }
}

/// Whether routing rules apply to this authorization: the host applies routing and this is
/// not a fallback's or a probe's.
fn routes(request: &AuthorizeRequest<'_>) -> bool {
    request.extensions.number(ExtensionKey::ROUTE) == Some(1)
}

/// Tells the host what a routing decision changed: the answer's extensions and, when the rule
/// has fallbacks, those instead of the virtual key's.
fn with_decision<'a>(mut admitted: Admission<'a>, decision: Option<Decision<'a>>) -> Admission<'a> {
    if let Some(decision) = decision {
        admitted.extensions = Extensions::new(decision.extensions);
        let fallbacks = &decision.rule.fallbacks;
        if !fallbacks.as_slice().is_empty() {
            admitted.fallbacks = *fallbacks;
        }
    }
    admitted
}

impl Engine {
    /// Authorizes one request (see the module docs).
    #[inline]
    pub fn authorize<'a>(
        &'a self,
        request: &AuthorizeRequest<'a>,
    ) -> Result<Admission<'a>, KeywardError> {
        let shadow = self.policy.options.shadow_mode;
        let mut would_deny: Option<KeywardError> = None;
        macro_rules! deny {
            ($error:expr) => {{
                let error = $error;
                if !shadow {
                    return Err(error);
                }
                if would_deny.is_none() {
                    would_deny = Some(error);
                }
            }};
        }

        let anonymous = || admission("", requested_provider(request));
        let Some(value) = find_virtual_key(request.headers.as_slice()) else {
            // No key: global routing rules only.
            let decision = self.decide(None, request);
            if self.policy.options.enforce_virtual_keys {
                deny!(KeywardError::new(
                    ErrorCode::VIRTUAL_KEY_REQUIRED,
                    "a virtual key is required: send it in x-bf-vk, or as an sk-bf- key in \
                     Authorization: Bearer, x-api-key, api-key or x-goog-api-key",
                ));
            }
            let mut admitted = anonymous();
            if let Some(provider) = decision.and_then(|d| d.provider) {
                admitted.provider = RStr::from_str(provider);
            }
            let admitted = with_decision(admitted, decision);
            return Ok(self.finish(request.request_id, admitted, would_deny));
        };
        let Some(&index) = self.policy.by_value.get(value) else {
            deny!(KeywardError::new(
                ErrorCode::VIRTUAL_KEY_NOT_FOUND,
                "the virtual key is not known",
            ));
            return Ok(self.finish(request.request_id, anonymous(), would_deny));
        };
        let key = &self.policy.keys[index];
        let mut usable = true;
        if !key.active {
            deny!(KeywardError::new(
                ErrorCode::VIRTUAL_KEY_BLOCKED,
                format!("{} is inactive", key.label()),
            ));
            usable = false;
        } else if key.expires_at.is_some_and(|expiry| self.now() >= expiry) {
            deny!(KeywardError::new(
                ErrorCode::VIRTUAL_KEY_BLOCKED,
                format!("{} has expired", key.label()),
            ));
            usable = false;
        }
        // Bifrost routes only a usable key's requests.
        let decision = usable.then(|| self.decide(Some(key), request)).flatten();
        let (provider, model) = match decision {
            Some(decision) => (decision.provider.map(RStr::from_str), decision.model),
            None => (request.provider.into_option(), request.model.as_str()),
        };
        let routed = match provider {
            Some(provider) => self.route_named(key, provider, model),
            None => self.route_chosen(key, model, self.now()),
        }
        .map(|admitted| with_decision(admitted, decision));
        match routed {
            // The admit path: returned as built, nothing else to do.
            Ok(admitted) if would_deny.is_none() => Ok(admitted),
            Ok(admitted) => Ok(self.finish(request.request_id, admitted, would_deny)),
            Err(error) => {
                deny!(error);
                // Shadow mode: admitted where enforcement would have sent it (routed, when a
                // rule decided), so shadow traffic is what enforced traffic would be.
                let provider = provider.unwrap_or_else(|| requested_provider(request));
                let admitted = with_decision(admission(&key.id, provider), decision);
                Ok(self.finish(request.request_id, admitted, would_deny))
            }
        }
    }

    /// The routing decision for `request` of `key` (none: no key), when the host marks it
    /// routable and a rule matches.
    #[inline]
    fn decide<'a>(
        &'a self,
        key: Option<&'a KeyPolicy>,
        request: &AuthorizeRequest<'a>,
    ) -> Option<Decision<'a>> {
        routes(request)
            .then(|| self.route(key, &route_request(request)))
            .flatten()
    }

    #[inline]
    fn finish<'a>(
        &self,
        request_id: u64,
        mut admitted: Admission<'a>,
        would_deny: Option<KeywardError>,
    ) -> Admission<'a> {
        if let Some(error) = would_deny {
            self.shadow_denied(request_id, &error);
            admitted.would_deny = error.code;
        }
        admitted
    }

    #[inline]
    fn priced(&self, key: &KeyPolicy, path: &Path, provider: &str, model: &str) -> bool {
        // Whether some price exists; the reservation prices the request's own type.
        !path.has_budgets
            || self
                .policy
                .price_of(&key.id, provider, model, ALL_REQUEST_TYPES)
                .is_some()
    }

    #[cold]
    fn unpriced(&self, key: &KeyPolicy, model: &str) -> KeywardError {
        KeywardError::new(
            ErrorCode::MODEL_BLOCKED,
            format!(
                "model {model:?} has no price and a budget applies to {}: add it to `pricing` \
                 or set `unknown_model_pricing`",
                key.label()
            ),
        )
    }

    #[inline]
    fn route_named<'a>(
        &'a self,
        key: &'a KeyPolicy,
        provider: RStr<'a>,
        model: &str,
    ) -> Result<Admission<'a>, KeywardError> {
        let Some((_, config)) = key.provider(provider.as_str()) else {
            if key.any_provider {
                if !self.priced(key, &key.any_provider_path, provider.as_str(), model) {
                    return Err(self.unpriced(key, model));
                }
                return Ok(admission(&key.id, provider));
            }
            if key.providers.is_empty() {
                return Err(no_provider(key));
            }
            return Err(KeywardError::new(
                ErrorCode::PROVIDER_BLOCKED,
                format!(
                    "provider {:?} is not allowed for {}",
                    provider.as_str(),
                    key.label()
                ),
            ));
        };
        if !config.allows_model(model) {
            return Err(KeywardError::new(
                ErrorCode::MODEL_BLOCKED,
                format!(
                    "model {model:?} is not allowed on provider {:?} for {}",
                    config.provider,
                    key.label()
                ),
            ));
        }
        if !config.always_priced && !self.priced(key, &config.path, &config.provider, model) {
            return Err(self.unpriced(key, model));
        }
        Ok(self.admit_through(key, config))
    }

    #[inline]
    fn admit_through<'a>(
        &'a self,
        key: &'a KeyPolicy,
        config: &'a ProviderPolicy,
    ) -> Admission<'a> {
        let mut admitted = admission(&key.id, RStr::from_str(&config.provider));
        if let Some(ids) = &config.key_ids {
            admitted.allowed_key_ids = ROption::RSome(ids.as_slice().into());
        }
        admitted
    }

    /// Whether a bare model name may go to `config`: it allows the model, has a price where a
    /// budget applies, and allows at least one provider key (an empty `key_ids` in Bifrost
    /// v1.5 allows none, so drawing it would only fail at key selection).
    #[inline]
    fn eligible(&self, key: &KeyPolicy, config: &ProviderPolicy, model: &str) -> bool {
        config.allows_model(model)
            && config.key_ids.as_ref().is_none_or(|ids| !ids.is_empty())
            && (config.always_priced || self.priced(key, &config.path, &config.provider, model))
    }

    #[inline]
    fn exhausted(&self, config: &ProviderPolicy, now: u64) -> bool {
        config
            .own_counters
            .iter()
            .any(|&c| self.policy.counters[c as usize].is_exhausted(now))
    }

    /// Whether the catalog says `config`'s provider serves the bare name `model`, or the config
    /// names it in `allowed_models` (then no catalog is asked).
    #[inline]
    fn served(&self, config: &ProviderPolicy, model: &str) -> bool {
        config.allowed_models.iter().any(|m| m == model)
            || self.policy.catalog.serves(&config.provider, model)
    }

    /// Weighted random choice among the provider configs that allow the model, have a price
    /// where needed and are not exhausted; the others that qualify become fallbacks, heaviest
    /// first. When every qualifying config is exhausted the heaviest is chosen anyway, so the
    /// reservation answers with the precise limit. A config that allows the model only through
    /// `"*"` qualifies when the model catalog says its provider serves it ([`crate::catalog`]);
    /// when no config is served that way (a model the catalog does not know), every config
    /// that allows it qualifies.
    fn route_chosen<'a>(
        &'a self,
        key: &'a KeyPolicy,
        model: &str,
        now: u64,
    ) -> Result<Admission<'a>, KeywardError> {
        if key.any_provider {
            if !self.priced(key, &key.any_provider_path, "", model) {
                return Err(self.unpriced(key, model));
            }
            return Ok(admission(&key.id, RStr::from_str("")));
        }
        if key.providers.is_empty() {
            return Err(no_provider(key));
        }
        let by_catalog = self.policy.catalog.is_active()
            && key
                .providers
                .iter()
                .any(|c| self.eligible(key, c, model) && self.served(c, model));
        let qualifies = |c: &ProviderPolicy| {
            self.eligible(key, c, model) && (!by_catalog || self.served(c, model))
        };
        let mut total: u64 = 0;
        let mut first_live = None;
        let mut first_allowed = None;
        for &i in &key.by_weight {
            let config = &key.providers[i];
            if !qualifies(config) {
                continue;
            }
            first_allowed.get_or_insert(i);
            if self.exhausted(config, now) {
                continue;
            }
            first_live.get_or_insert(i);
            total += u64::from(config.weight.unwrap_or(0));
        }
        let Some(first_allowed) = first_allowed else {
            let any_allows = key.providers.iter().any(|c| c.allows_model(model));
            return Err(if any_allows {
                self.unpriced(key, model)
            } else {
                KeywardError::new(
                    ErrorCode::MODEL_BLOCKED,
                    format!(
                        "model {model:?} is not allowed by any provider config of {}",
                        key.label()
                    ),
                )
            });
        };
        // Weighted among the live configs that have a weight; when none has one above zero,
        // the first live eligible one, heaviest first (configs outside the weighted choice serve
        // a bare model name only then, as Bifrost's core resolves the provider when no weighted
        // config applies). Fallbacks: the other weighted configs, heaviest first.
        let chosen = if total == 0 {
            first_live.unwrap_or(first_allowed)
        } else {
            let mut point = fastrand::u64(0..total);
            let mut chosen = first_allowed;
            for &i in &key.by_weight {
                let config = &key.providers[i];
                let Some(weight) = config.weight.filter(|w| *w > 0) else {
                    continue;
                };
                if !qualifies(config) || self.exhausted(config, now) {
                    continue;
                }
                let share = u64::from(weight);
                if point < share {
                    chosen = i;
                    break;
                }
                point -= share;
            }
            chosen
        };
        let mut admitted = self.admit_through(key, &key.providers[chosen]);
        for &i in &key.by_weight {
            let config = &key.providers[i];
            if i != chosen
                && config.weight.is_some()
                && qualifies(config)
                && !self.exhausted(config, now)
                && !admitted.fallbacks.push(&config.provider)
            {
                break;
            }
        }
        Ok(admitted)
    }
}
