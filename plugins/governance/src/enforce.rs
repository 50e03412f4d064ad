//! Enforcement: reserve before the upstream call, settle or release after it.
//!
//! A reservation takes a request slot, the estimated tokens (input estimate + `max_tokens` or
//! the configured default) and the estimated cost (priced with the table) on every counter of
//! the request's path — rate limits first (429 `request_limited`, `token_limited`), then
//! budgets (402 `budget_exceeded`), each from the provider config up to the customer. Each
//! counter reserves with a compare-and-swap that refuses to pass its limit; when one refuses,
//! those already taken are returned, so a reservation is all-or-nothing and no counter ever
//! admits past its limit. The key's optional per-second smoothing ([`crate::smoothing`]) is
//! checked last.
//!
//! Settling replaces the estimate with the actual usage (the host's cost, or the table's price
//! of the actual tokens); releasing returns the estimate. Both are idempotent per request id.

use abi_stable::std_types::ROption;
use keyward_plugin_api::ffi::{
    ErrorCode, ExtensionKey, KeywardError, RequestKind, Reservation, ReserveRequest, Settlement,
    Usage,
};

use crate::{
    engine::Engine,
    policy::{CounterKind, Path, Step},
    price_overrides::request_types_of,
    reservations::{Finish, NONE, Open},
};

impl Open {
    /// The amount this reservation holds on a counter of `kind`.
    #[inline]
    pub fn amount(&self, kind: CounterKind) -> u64 {
        match kind {
            CounterKind::Requests => 1,
            CounterKind::Tokens => self.tokens,
            CounterKind::Budget => self.cost_nanos,
        }
    }
}

impl Engine {
    /// Reserves for one request (see the module docs).
    pub fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Reservation, KeywardError> {
        let now = self.now();
        let provider = request.provider.as_str();
        let model = request.model.as_str();
        let shadow = self.policy.options.shadow_mode;
        let mut would_deny: Option<KeywardError> = None;
        let (key, config) = match self.locate(request.virtual_key_id.as_str(), provider) {
            Ok(found) => found,
            // Shadow mode admitted what authorization would have refused: reserve at the levels
            // that exist (the key's, without a provider config; or none).
            Err(error) if shadow => {
                would_deny = Some(error);
                self.locate_leniently(request.virtual_key_id.as_str())
            }
            Err(error) => return Err(error),
        };
        let path = self.path_of(key, config);
        let scoped = self.policy.keys.get(key as usize).map(|k| &k.model_configs);
        let model_limits = self.policy.model_limits.matching(scoped, provider, model);
        let kind = request
            .extensions
            .number(ExtensionKey::REQUEST_KIND)
            .and_then(|kind| u8::try_from(kind).ok())
            .map(RequestKind);
        let price = self.policy.price_of(
            request.virtual_key_id.as_str(),
            provider,
            model,
            request_types_of(kind),
        );
        let has_budgets = path.has_budgets
            || model_limits
                .all()
                .iter()
                .any(|&i| self.policy.model_limits.path(i).has_budgets);
        if price.is_none() && has_budgets && would_deny.is_none() {
            let error = KeywardError::new(
                ErrorCode::MODEL_BLOCKED,
                format!(
                    "model {model:?} has no price and a budget applies to virtual key {}: add \
                     it to `pricing` or set `unknown_model_pricing`",
                    request.virtual_key_id.as_str()
                ),
            );
            if !shadow {
                return Err(error);
            }
            would_deny.get_or_insert(error);
        }
        let input = request.estimate.input_tokens;
        let max_output = match request.estimate.max_output_tokens {
            ROption::RSome(tokens) => tokens,
            ROption::RNone => self.policy.options.default_max_output_tokens,
        };
        let open = Open {
            key,
            provider: config,
            tokens: input.saturating_add(max_output),
            cost_nanos: price.map_or(0, |p| p.estimate_nanos(input, max_output)),
            price,
            model_limits,
        };

        for (taken, step) in self.steps(&open).enumerate() {
            let amount = open.amount(step.kind);
            let counter = &self.policy.counters[step.counter as usize];
            if let Err(in_use) = counter.try_reserve(amount, now) {
                let error = self.limit_error(step, in_use, amount, now);
                if shadow {
                    counter.force_reserve(amount, now);
                    would_deny.get_or_insert(error);
                } else {
                    self.give_back(&open, taken);
                    // A retried reserve for a request that already holds its reservation is
                    // answered with it, whatever the counters say now.
                    if let Some(held) = self.held(request.request_id) {
                        return self.repeated_reserve(request, held);
                    }
                    return Err(error);
                }
            }
        }
        if let Err((retry_after_ms, rate)) = self.smoothing.check(key, &self.host) {
            let error = self.smoothing_error(key, retry_after_ms, rate);
            if shadow {
                would_deny.get_or_insert(error);
            } else {
                self.give_back(&open, usize::MAX);
                if let Some(held) = self.held(request.request_id) {
                    return self.repeated_reserve(request, held);
                }
                return Err(error);
            }
        }
        if let Err(held) = self.reservations.open(request.request_id, open) {
            self.give_back(&open, usize::MAX);
            return self.repeated_reserve(request, held);
        }
        let would_deny = match would_deny {
            Some(error) => {
                self.shadow_denied(request.request_id, &error);
                error.code
            }
            None => ErrorCode::NONE,
        };
        Ok(Reservation {
            extensions: Default::default(),
            request_id: request.request_id,
            reserved_tokens: open.tokens,
            reserved_cost_nanos: open.cost_nanos,
            would_deny,
        })
    }

    /// Finds the key and provider config a reservation goes through.
    #[inline]
    fn locate(&self, virtual_key_id: &str, provider: &str) -> Result<(u32, u32), KeywardError> {
        if virtual_key_id.is_empty() {
            return Ok((NONE, NONE));
        }
        let Some(&index) = self.policy.by_id.get(virtual_key_id) else {
            return Err(KeywardError::new(
                ErrorCode::VIRTUAL_KEY_NOT_FOUND,
                format!("no virtual key with id {virtual_key_id:?}"),
            ));
        };
        let key = &self.policy.keys[index];
        let config = match key.provider(provider) {
            Some((i, _)) => u32::try_from(i).unwrap_or(NONE),
            None if key.providers.is_empty() => NONE,
            None => {
                return Err(KeywardError::new(
                    ErrorCode::PROVIDER_BLOCKED,
                    format!("provider {provider:?} is not allowed for {}", key.label()),
                ));
            }
        };
        Ok((u32::try_from(index).unwrap_or(NONE), config))
    }

    /// The key by id, without its provider config (shadow mode's fallback).
    #[cold]
    fn locate_leniently(&self, virtual_key_id: &str) -> (u32, u32) {
        match self.policy.by_id.get(virtual_key_id) {
            Some(&index) => (u32::try_from(index).unwrap_or(NONE), NONE),
            None => (NONE, NONE),
        }
    }

    /// A reserve for a request id that already holds a reservation: the same reservation when
    /// it is for the same key and provider (a retried call), else a conflict.
    #[cold]
    fn repeated_reserve(
        &self,
        request: &ReserveRequest<'_>,
        held: Open,
    ) -> Result<Reservation, KeywardError> {
        let same = self
            .locate(request.virtual_key_id.as_str(), request.provider.as_str())
            .is_ok_and(|(key, config)| key == held.key && config == held.provider);
        if same {
            return Ok(Reservation {
                extensions: Default::default(),
                request_id: request.request_id,
                reserved_tokens: held.tokens,
                reserved_cost_nanos: held.cost_nanos,
                would_deny: ErrorCode::NONE,
            });
        }
        Err(KeywardError::new(
            ErrorCode::INTERNAL,
            format!(
                "request {} already holds a reservation for another key or provider: settle or \
                 release it first",
                request.request_id
            ),
        )
        .with_status(409))
    }

    /// The open reservation of a request id, if any.
    #[cold]
    fn held(&self, request_id: u64) -> Option<Open> {
        self.reservations.held(request_id)
    }

    /// Every counter a reservation holds, each once, in checking order: the provider's and
    /// the global model configs' entries, the key's path, its scoped model configs' entries
    /// ([`crate::model_limits`]).
    #[inline]
    pub fn steps<'e>(&'e self, open: &Open) -> impl Iterator<Item = &'e Step> + 'e {
        let limits = &self.policy.model_limits;
        let matched = open.model_limits;
        let path: &'e Path = self.path_of(open.key, open.provider);
        let all = move || {
            let before = (0..matched.before().len())
                .flat_map(move |i| limits.path(matched.before()[i]).steps.iter());
            let after = (0..matched.after().len())
                .flat_map(move |i| limits.path(matched.after()[i]).steps.iter());
            before.chain(path.steps.iter()).chain(after)
        };
        // A counter two entries share (a rate limit named by both) is held once; a key's path
        // alone has no repeats (compiled so).
        let alone = matched.all().is_empty();
        all()
            .enumerate()
            .filter(move |(i, step)| alone || !all().take(*i).any(|s| s.counter == step.counter))
            .map(|(_, step)| step)
    }

    /// Returns the first `taken` steps of a reservation (`usize::MAX`: all).
    fn give_back(&self, open: &Open, taken: usize) {
        for step in self.steps(open).take(taken) {
            self.policy.counters[step.counter as usize].release(open.amount(step.kind));
        }
    }

    /// Settles a request with its actual usage (see the module docs).
    pub fn settle(&self, request_id: u64, usage: &Usage) -> Result<Settlement, KeywardError> {
        let now = self.now();
        let finish = self
            .reservations
            .finish(request_id, |open| self.charge(open, usage, now));
        answer(request_id, finish)
    }

    /// Replaces a reservation's estimate with the actual usage on its counters.
    #[inline]
    fn charge(&self, open: &Open, usage: &Usage, now: u64) -> Settlement {
        let tokens = usage.input_tokens.saturating_add(usage.output_tokens);
        let cost = match usage.cost_nanos {
            ROption::RSome(cost) => cost,
            ROption::RNone => open.price.map_or(0, |p| {
                p.charge_nanos(
                    usage.input_tokens,
                    usage.cached_input_tokens,
                    usage.output_tokens,
                )
            }),
        };
        for step in self.steps(open) {
            let actual = match step.kind {
                CounterKind::Requests => 1,
                CounterKind::Tokens => tokens,
                CounterKind::Budget => cost,
            };
            self.policy.counters[step.counter as usize].settle(open.amount(step.kind), actual, now);
        }
        Settlement {
            extensions: Default::default(),
            charged_cost_nanos: cost,
            charged_tokens: tokens,
            duplicate: false,
        }
    }

    /// Returns a request's reservation (see the module docs).
    pub fn release(&self, request_id: u64) -> Result<Settlement, KeywardError> {
        let finish = self.reservations.finish(request_id, |open| {
            self.give_back(open, usize::MAX);
            Settlement {
                extensions: Default::default(),
                charged_cost_nanos: 0,
                charged_tokens: 0,
                duplicate: false,
            }
        });
        answer(request_id, finish)
    }
}

/// A settle's or release's answer.
#[inline]
fn answer(request_id: u64, finish: Finish) -> Result<Settlement, KeywardError> {
    match finish {
        Finish::Done(settlement) => Ok(settlement),
        Finish::Duplicate(settlement) => Ok(Settlement {
            duplicate: true,
            ..settlement
        }),
        Finish::Unknown => Err(unknown(request_id)),
    }
}

#[cold]
fn unknown(request_id: u64) -> KeywardError {
    KeywardError::new(
        ErrorCode::UNKNOWN_RESERVATION,
        format!("request {request_id} holds no reservation (never reserved, or forgotten)"),
    )
}
