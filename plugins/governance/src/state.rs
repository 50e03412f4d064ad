//! Exported state: every counter (settled usage, open reservations, window start = last reset,
//! next reset), every open reservation, and the shadow-mode counts, as JSON. A new instance
//! imports it: counters whose limit id and kind still exist take the exported usage and window
//! (counters of limits that no longer exist are dropped), and open reservations are re-applied
//! on the new instance's path for their key and provider, so their settlement works there.
//!
//! ```json
//! {"format": "keyward-governance-state/1",
//!  "counters": [{"limit_id": "b1", "kind": "budget", "max_limit": 10000000000,
//!                "current_usage": 1500000000, "reserved": 0,
//!                "window_start_unix_nanos": 1700000000000000000,
//!                "last_reset": "2023-11-14T22:13:20Z", "next_reset": "2023-12-14T22:13:20Z"}],
//!  "reservations": [{"request_id": 7, "virtual_key_id": "vk1", "provider": "openai",
//!                    "reserved_tokens": 4196, "reserved_cost_nanos": 41210000, "price": null}],
//!  "shadow_denials": {"budget_exceeded": 0}}
//! ```
//!
//! Budget amounts are nano-dollars (`current_usage_dollars` shows dollars); token and request
//! counters count tokens and requests.

use std::collections::BTreeMap;

use keyward_plugin_api::{
    ffi::{ErrorCode, KeywardError},
    model::governance::{duration::to_datetime, money::nanos_to_dollars},
};
use serde::{Deserialize, Serialize};

use crate::{
    engine::Engine,
    policy::CounterKind,
    prices::Price,
    reservations::{NONE, Open},
};

/// The format tag of exported state.
pub const STATE_FORMAT: &str = "keyward-governance-state/1";

/// The exported state document.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportedState {
    /// [`STATE_FORMAT`].
    pub format: String,
    /// Every counter.
    pub counters: Vec<ExportedCounter>,
    /// Every open reservation.
    pub reservations: Vec<ExportedReservation>,
    /// Shadow-mode would-be denials by error type.
    #[serde(default)]
    pub shadow_denials: BTreeMap<String, u64>,
}

/// One counter.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportedCounter {
    /// The budget's or rate limit's id.
    pub limit_id: String,
    /// `budget`, `requests` or `tokens`.
    pub kind: String,
    /// The limit (nano-dollars for budgets).
    pub max_limit: u64,
    /// Settled usage in the current window.
    pub current_usage: u64,
    /// Usage held by open reservations.
    pub reserved: u64,
    /// Budgets only: `current_usage` in dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_usage_dollars: Option<f64>,
    /// The current window's start (the last reset), Unix nanoseconds.
    pub window_start_unix_nanos: u64,
    /// The same, as a time.
    pub last_reset: String,
    /// The next reset.
    pub next_reset: String,
}

/// One open reservation.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportedReservation {
    /// The host's request id.
    pub request_id: u64,
    /// The virtual key's id (empty: none).
    pub virtual_key_id: String,
    /// The provider config's provider (empty: none).
    pub provider: String,
    /// Tokens reserved.
    pub reserved_tokens: u64,
    /// Nano-dollars reserved.
    pub reserved_cost_nanos: u64,
    /// The model's price, to price the settlement.
    pub price: Option<Price>,
    /// The model-level and provider-level entries it holds before the key's path (model config
    /// ids, `provider/NAME` for a provider's own limits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_limits_before: Vec<String>,
    /// Those it holds after the key's path (the key's scoped model configs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_limits_after: Vec<String>,
}

fn rfc3339(nanos: u64) -> String {
    to_datetime(nanos).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Engine {
    /// The state as JSON.
    pub fn export_json(&self) -> Result<String, KeywardError> {
        let counters = self
            .policy
            .counters
            .iter()
            .zip(&self.policy.counter_ids)
            .map(|(counter, id)| {
                let read = counter.read();
                ExportedCounter {
                    limit_id: id.limit_id.clone(),
                    kind: id.kind.as_str().to_owned(),
                    max_limit: read.max,
                    current_usage: read.settled,
                    reserved: read.used.saturating_sub(read.settled),
                    current_usage_dollars: (id.kind == CounterKind::Budget)
                        .then(|| nanos_to_dollars(read.settled)),
                    window_start_unix_nanos: read.window_start,
                    last_reset: rfc3339(read.window_start),
                    next_reset: rfc3339(read.window_end),
                }
            })
            .collect();
        let reservations = self
            .reservations
            .all_open()
            .into_iter()
            .map(|(request_id, open)| {
                let key = self.policy.keys.get(open.key as usize);
                let provider = key
                    .and_then(|k| k.providers.get(open.provider as usize))
                    .map(|p| p.provider.clone())
                    .unwrap_or_default();
                ExportedReservation {
                    request_id,
                    virtual_key_id: key.map(|k| k.id.clone()).unwrap_or_default(),
                    provider,
                    reserved_tokens: open.tokens,
                    reserved_cost_nanos: open.cost_nanos,
                    price: open.price,
                    model_limits_before: self.policy.model_limits.ids(open.model_limits.before()),
                    model_limits_after: self.policy.model_limits.ids(open.model_limits.after()),
                }
            })
            .collect();
        let state = ExportedState {
            format: STATE_FORMAT.to_owned(),
            counters,
            reservations,
            shadow_denials: self
                .shadow
                .read()
                .into_iter()
                .map(|(code, count)| (code.to_owned(), count))
                .collect(),
        };
        serde_json::to_string(&state).map_err(|e| {
            KeywardError::new(ErrorCode::INTERNAL, format!("state export failed: {e}"))
        })
    }

    /// Loads exported state into this (fresh) instance.
    pub fn import_json(&self, json: &str) -> Result<(), KeywardError> {
        let invalid = |reason: String| KeywardError::new(ErrorCode::INVALID_STATE, reason);
        let trimmed = json.trim();
        if trimmed.is_empty() || trimmed == "null" {
            return Ok(());
        }
        let state: ExportedState = serde_json::from_str(trimmed)
            .map_err(|e| invalid(format!("governance state is not valid: {e}")))?;
        if state.format != STATE_FORMAT {
            return Err(invalid(format!(
                "governance state format {:?} is not {STATE_FORMAT:?}",
                state.format
            )));
        }
        for exported in &state.counters {
            if let Some(index) = self.policy.counter_of(&exported.limit_id, &exported.kind) {
                self.policy.counters[index]
                    .restore(exported.current_usage, exported.window_start_unix_nanos);
            }
        }
        let now = self.now();
        for exported in &state.reservations {
            let (key, provider) = self
                .policy
                .by_id
                .get(exported.virtual_key_id.as_str())
                .map_or((NONE, NONE), |&index| {
                    let provider = self.policy.keys[index]
                        .provider(&exported.provider)
                        .map_or(NONE, |(i, _)| u32::try_from(i).unwrap_or(NONE));
                    (u32::try_from(index).unwrap_or(NONE), provider)
                });
            let open = Open {
                key,
                provider,
                tokens: exported.reserved_tokens,
                cost_nanos: exported.reserved_cost_nanos,
                price: exported.price,
                model_limits: self
                    .policy
                    .model_limits
                    .by_ids(&exported.model_limits_before, &exported.model_limits_after),
            };
            // A request id listed twice holds its first reservation only.
            if self.reservations.open(exported.request_id, open).is_err() {
                continue;
            }
            for step in self.steps(&open) {
                self.policy.counters[step.counter as usize]
                    .force_reserve(open.amount(step.kind), now);
            }
        }
        for (code, count) in &state.shadow_denials {
            self.shadow.add(code, *count);
        }
        Ok(())
    }
}
