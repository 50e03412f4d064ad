//! The state both roles share: the compiled policy (with its counters), the reservation table,
//! shadow-mode counts and the host. [`authorize`](crate::authorize), [`enforce`](crate::enforce)
//! and [`state`](crate::state) add its methods.

use keyward_plugin_api::{
    ffi::{ErrorCode, HostHandle, KeywardError, LogLevel},
    model::governance::money::nanos_to_dollars,
};

use crate::{
    config::PluginConfig,
    policy::{CounterKind, Path, Policy, Step, compile},
    reservations::{NONE, Reservations},
    shadow::ShadowCounts,
    smoothing::{KeySmoothing, Smoothing},
};

/// The shared state of one instance.
pub struct Engine {
    /// The compiled policy and its counters.
    pub policy: Policy,
    /// Open and recently finished reservations.
    pub reservations: Reservations,
    /// Shadow-mode would-be denials.
    pub shadow: ShadowCounts,
    /// Optional per-second smoothing per key.
    pub smoothing: Smoothing,
    /// The host: clock and log.
    pub host: HostHandle,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("policy", &self.policy)
            .field("reservations", &self.reservations)
            .field("shadow", &self.shadow)
            .field("smoothing", &self.smoothing)
            .finish_non_exhaustive()
    }
}

static EMPTY_PATH: Path = Path {
    steps: Vec::new(),
    has_budgets: false,
};

impl Engine {
    /// Builds the engine from a parsed configuration.
    pub fn new(config: &PluginConfig, host: HostHandle) -> Result<Self, KeywardError> {
        let policy = compile(config, host.now_unix_nanos())?;
        for warning in &policy.warnings {
            host.log(LogLevel::WARN, warning.as_str().into());
        }
        let key_ids: Vec<&str> = policy.keys.iter().map(|k| k.id.as_str()).collect();
        let smoothing = Smoothing::build(config.smoothing.as_ref(), &key_ids, &host)?;
        Ok(Self {
            policy,
            reservations: Reservations::default(),
            shadow: ShadowCounts::default(),
            smoothing,
            host,
        })
    }

    /// Host time, Unix nanoseconds.
    #[inline]
    pub fn now(&self) -> u64 {
        self.host.now_unix_nanos()
    }

    /// The path of a reservation held through key `key` and provider config `provider`.
    #[inline]
    pub fn path_of(&self, key: u32, provider: u32) -> &Path {
        if key == NONE {
            return &EMPTY_PATH;
        }
        match self.policy.keys.get(key as usize) {
            Some(policy) => policy.path((provider != NONE).then_some(provider as usize)),
            None => &EMPTY_PATH,
        }
    }

    /// Records and logs a shadow-mode denial.
    #[cold]
    pub fn shadow_denied(&self, request_id: u64, error: &KeywardError) {
        self.shadow.record(error.code);
        let line = format!(
            "governance shadow mode: would deny request {request_id} with {} ({}): {}",
            error.code.as_str(),
            error.http_status,
            error.message
        );
        self.host.log(LogLevel::WARN, line.as_str().into());
    }

    /// The denial for a key whose per-second smoothing refused.
    #[cold]
    pub fn smoothing_error(
        &self,
        key: u32,
        retry_after_ms: u64,
        rate: &KeySmoothing,
    ) -> KeywardError {
        let label = self
            .policy
            .keys
            .get(key as usize)
            .map_or_else(String::new, |k| k.label());
        KeywardError::new(
            ErrorCode::REQUEST_LIMITED,
            format!(
                "request rate smoothing at the virtual key level: {label}: {} requests per \
                 second (burst {}); retry in {retry_after_ms}ms",
                rate.per_second, rate.burst
            ),
        )
        .with_retry_after_ms(retry_after_ms)
    }

    /// The denial for a counter that refused `amount` with `in_use` already used.
    #[cold]
    pub fn limit_error(&self, step: &Step, in_use: u64, amount: u64, now: u64) -> KeywardError {
        let counter = &self.policy.counters[step.counter as usize];
        let id = &self.policy.counter_ids[step.counter as usize].limit_id;
        let window = counter.window();
        let level = step.level.as_str();
        let owner = &step.owner;
        let max = counter.max();
        let duration = window.duration();
        match step.kind {
            CounterKind::Requests | CounterKind::Tokens => {
                let retry_after_ms = window.end().saturating_sub(now).div_ceil(1_000_000).max(1);
                let (code, limit, what, need) = if step.kind == CounterKind::Requests {
                    (
                        ErrorCode::REQUEST_LIMITED,
                        "request",
                        "requests",
                        String::new(),
                    )
                } else {
                    (
                        ErrorCode::TOKEN_LIMITED,
                        "token",
                        "tokens",
                        format!(", this request needs up to {amount}"),
                    )
                };
                KeywardError::new(
                    code,
                    format!(
                        "{limit} limit reached at the {level} level: {owner}, rate limit {id}: \
                         {in_use} of {max} {what} used in the current {duration} window{need}; \
                         retry in {}s",
                        retry_after_ms.div_ceil(1000)
                    ),
                )
                .with_retry_after_ms(retry_after_ms)
            }
            CounterKind::Budget => KeywardError::new(
                ErrorCode::BUDGET_EXCEEDED,
                format!(
                    "budget exceeded at the {level} level: {owner}, budget {id}: ${} of ${} used \
                     in the current {duration} window (open reservations included), this \
                     request needs up to ${}",
                    nanos_to_dollars(in_use),
                    nanos_to_dollars(max),
                    nanos_to_dollars(amount)
                ),
            ),
        }
    }
}
