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
    /// The view of the enforcer's current counters (empty when it cannot snapshot).
    pub fn current(state: &crate::http::state::AppState) -> Self {
        state
            .store
            .plugins()
            .snapshot_usage()
            .map(|s| Self::from_snapshot(&s))
            .unwrap_or_default()
    }

    /// Reads a snapshot of the governance plugin's state (`keyward-governance-state/1`, see
    /// `docs/governance.md`): `counters[]` of `{limit_id, kind, current_usage,
    /// current_usage_dollars, last_reset}` where `kind` is `budget`, `requests` or `tokens`. An
    /// unreadable snapshot gives an empty view (usage shows as recorded in the configuration).
    pub fn from_snapshot(snapshot: &str) -> Self {
        let Ok(value) = serde_json::from_str::<Value>(snapshot) else {
            return Self::default();
        };
        let mut view = Self::default();
        for counter in value
            .get("counters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(id) = counter.get("limit_id").and_then(Value::as_str) else {
                continue;
            };
            let last_reset = counter
                .get("last_reset")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            let usage = counter
                .get("current_usage")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            match counter.get("kind").and_then(Value::as_str) {
                Some("budget") => {
                    let dollars = counter
                        .get("current_usage_dollars")
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0);
                    view.budgets.insert(id.to_owned(), (dollars, last_reset));
                }
                Some("requests") => {
                    let entry = view.rate_limits.entry(id.to_owned()).or_default();
                    entry.requests = usage;
                    entry.request_last_reset = last_reset;
                }
                Some("tokens") => {
                    let entry = view.rate_limits.entry(id.to_owned()).or_default();
                    entry.tokens = usage;
                    entry.token_last_reset = last_reset;
                }
                _ => {}
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
