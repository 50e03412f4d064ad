//! Current usage for responses: the enforcer's state snapshot, read as "id -> counters" for
//! budgets and rate limits, and copied into the documents a response embeds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use keyward_plugin_api::model::governance::{Budget, RateLimit};
use serde_json::Value;

/// Counters by id.
#[derive(Clone, Debug, Default)]
pub struct UsageView {
    budgets: BTreeMap<String, (f64, Option<DateTime<Utc>>)>,
    rate_limits: BTreeMap<String, RateLimitUsage>,
}

#[derive(Clone, Debug, Default)]
struct RateLimitUsage {
    tokens: u64,
    requests: u64,
    token_last_reset: Option<DateTime<Utc>>,
    request_last_reset: Option<DateTime<Utc>>,
}

impl UsageView {
    /// Reads a snapshot of the governance plugin's state. Budgets are entries of
    /// `budgets` with `id`, `current_usage` (dollars) and `last_reset`; rate limits entries of
    /// `rate_limits` with `id`, `token_current_usage`, `request_current_usage` and the last
    /// resets — the shape of the documents themselves, as `docs/governance.md` specifies. An
    /// unreadable snapshot gives an empty view (usage shows as zero).
    pub fn from_snapshot(snapshot: &str) -> Self {
        let Ok(value) = serde_json::from_str::<Value>(snapshot) else {
            return Self::default();
        };
        let mut view = Self::default();
        for entry in value
            .get("budgets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Ok(budget) = serde_json::from_value::<Budget>(entry.clone()) {
                view.budgets
                    .insert(budget.id.clone(), (budget.current_usage, budget.last_reset));
            }
        }
        for entry in value
            .get("rate_limits")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Ok(limit) = serde_json::from_value::<RateLimit>(entry.clone()) {
                view.rate_limits.insert(
                    limit.id.clone(),
                    RateLimitUsage {
                        tokens: limit.token_current_usage,
                        requests: limit.request_current_usage,
                        token_last_reset: limit.token_last_reset,
                        request_last_reset: limit.request_last_reset,
                    },
                );
            }
        }
        view
    }

    /// Copies the counters of `budget` into it.
    pub fn fill_budget(&self, budget: &mut Budget) {
        if let Some((usage, last_reset)) = self.budgets.get(&budget.id) {
            budget.current_usage = *usage;
            if last_reset.is_some() {
                budget.last_reset = *last_reset;
            }
        }
    }

    /// Copies the counters of `limit` into it.
    pub fn fill_rate_limit(&self, limit: &mut RateLimit) {
        if let Some(usage) = self.rate_limits.get(&limit.id) {
            limit.token_current_usage = usage.tokens;
            limit.request_current_usage = usage.requests;
            if usage.token_last_reset.is_some() {
                limit.token_last_reset = usage.token_last_reset;
            }
            if usage.request_last_reset.is_some() {
                limit.request_last_reset = usage.request_last_reset;
            }
        }
    }

    /// The current usage of a budget, in dollars.
    pub fn budget_usage(&self, id: &str) -> f64 {
        self.budgets.get(id).map(|(usage, _)| *usage).unwrap_or(0.0)
    }
}
