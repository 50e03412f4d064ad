//! The host's metrics, recorded here and encoded in Prometheus' text format (OpenMetrics) by
//! [`Metrics::encode`] for the http layer's `GET /metrics` handler:
//!
//! - `keyward_requests_total{route, decision, status}`: every inference request, by outcome
//!   (`admitted`, or the error type: `budget_exceeded`, `rate_limit_exceeded`, …).
//! - `keyward_upstream_latency_seconds{provider}`: time to the upstream's response headers.
//! - `keyward_overhead_seconds`: the host's own time before the upstream call (parsing,
//!   authorization, reservation, key selection, request building).
//! - `keyward_budget_usage_dollars{virtual_key, budget}` and
//!   `keyward_rate_limit_usage{virtual_key, rate_limit, kind}`: current usage, read from the
//!   enforcer at scrape time (`virtual_key` is empty for team and customer budgets).
//! - `keyward_plugin_reloads_total{outcome}`, `keyward_plugin_failures_total{role, code}`.

use std::sync::atomic::AtomicU64;

use keyward_plugin_api::model::governance::GovernanceDocument;
use parking_lot::Mutex;
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of `keyward_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `chat_completion`, `text_completion`, `embedding`.
    pub route: &'static str,
    /// `admitted` or the error type.
    pub decision: String,
    /// The HTTP status answered.
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BudgetLabels {
    virtual_key: String,
    budget: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RateLabels {
    virtual_key: String,
    rate_limit: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    role: &'static str,
    code: &'static str,
}

/// Every metric of the host.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    upstream_latency: Family<ProviderLabels, Histogram>,
    overhead: Histogram,
    budget_usage: Family<BudgetLabels, Gauge<f64, AtomicU64>>,
    rate_usage: Family<RateLabels, Gauge>,
    reloads: Family<OutcomeLabels, Counter>,
    plugin_failures: Family<FailureLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("keyward");
        let requests = Family::<RequestLabels, Counter>::default();
        let upstream_latency = Family::<ProviderLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_5, 2.0, 18))
        });
        // 1 µs to ~65 ms: the host's own work is measured in microseconds.
        let overhead = Histogram::new(exponential_buckets(0.000_001, 2.0, 17));
        let budget_usage = Family::<BudgetLabels, Gauge<f64, AtomicU64>>::default();
        let rate_usage = Family::<RateLabels, Gauge>::default();
        let reloads = Family::<OutcomeLabels, Counter>::default();
        let plugin_failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "requests",
            "Inference requests by route, decision and status",
            requests.clone(),
        );
        registry.register(
            "upstream_latency_seconds",
            "Time to the upstream's response headers",
            upstream_latency.clone(),
        );
        registry.register(
            "overhead_seconds",
            "The host's own time before the upstream call",
            overhead.clone(),
        );
        registry.register(
            "budget_usage_dollars",
            "Current budget usage",
            budget_usage.clone(),
        );
        registry.register(
            "rate_limit_usage",
            "Current rate-limit window usage",
            rate_usage.clone(),
        );
        registry.register(
            "plugin_reloads",
            "Plugin reloads by outcome",
            reloads.clone(),
        );
        registry.register(
            "plugin_failures",
            "Plugin calls that failed closed (panics, poisoning)",
            plugin_failures.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            requests,
            upstream_latency,
            overhead,
            budget_usage,
            rate_usage,
            reloads,
            plugin_failures,
        }
    }

    /// Counts one inference request.
    pub fn request(&self, route: &'static str, decision: String, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                route,
                decision,
                status,
            })
            .inc();
    }

    /// Records the host's own time and the upstream's latency of a served request.
    pub fn served(&self, provider: &str, overhead_secs: f64, upstream_secs: f64) {
        self.overhead.observe(overhead_secs);
        self.upstream_latency
            .get_or_create(&ProviderLabels {
                provider: provider.to_owned(),
            })
            .observe(upstream_secs);
    }

    /// Counts a reload.
    pub fn reload(&self, succeeded: bool) {
        let outcome = if succeeded { "success" } else { "failure" };
        self.reloads.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts a plugin call that failed closed.
    pub fn plugin_failure(&self, role: &'static str, code: &'static str) {
        self.plugin_failures
            .get_or_create(&FailureLabels { role, code })
            .inc();
    }

    /// Every metric in the text format ([`CONTENT_TYPE`]). With `usage` — the enforcer's state
    /// snapshot and the governance documents it belongs to — the usage gauges are refreshed
    /// from it first; without it they keep their last values.
    pub fn encode(
        &self,
        usage: Option<(&str, &GovernanceDocument)>,
    ) -> Result<String, std::fmt::Error> {
        if let Some((snapshot, documents)) = usage {
            self.refresh_usage(snapshot, documents);
        }
        let mut text = String::new();
        encode(&mut text, &self.registry.lock())?;
        Ok(text)
    }

    fn refresh_usage(&self, snapshot: &str, documents: &GovernanceDocument) {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(snapshot) else {
            return;
        };
        self.budget_usage.clear();
        self.rate_usage.clear();
        for counter in value
            .get("counters")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
        {
            let id = counter
                .get("limit_id")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            let virtual_key = owner(documents, &id).unwrap_or_default();
            match counter.get("kind").and_then(|v| v.as_str()) {
                Some("budget") => {
                    let dollars = counter
                        .get("current_usage_dollars")
                        .and_then(|v| v.as_f64())
                        .unwrap_or(0.0);
                    self.budget_usage
                        .get_or_create(&BudgetLabels {
                            virtual_key,
                            budget: id,
                        })
                        .set(dollars);
                }
                Some(kind @ ("requests" | "tokens")) => {
                    let usage = counter
                        .get("current_usage")
                        .and_then(|v| v.as_i64())
                        .unwrap_or(0);
                    let labels = RateLabels {
                        virtual_key,
                        rate_limit: id,
                        kind: kind.to_owned(),
                    };
                    self.rate_usage.get_or_create(&labels).set(usage);
                }
                _ => {}
            }
        }
    }
}

/// The virtual key a budget or rate limit belongs to, if it belongs to one.
fn owner(documents: &GovernanceDocument, limit_id: &str) -> Option<String> {
    documents
        .budgets
        .iter()
        .find(|b| b.id == limit_id)
        .and_then(|b| b.virtual_key_id.clone())
        .or_else(|| {
            documents.virtual_keys.iter().find_map(|vk| {
                let owns = vk.budget_id.as_deref() == Some(limit_id)
                    || vk.rate_limit_id.as_deref() == Some(limit_id)
                    || vk.budgets.iter().any(|b| b.id == limit_id)
                    || vk.rate_limit.as_ref().is_some_and(|r| r.id == limit_id)
                    || vk.provider_configs.iter().any(|c| {
                        c.budget_id.as_deref() == Some(limit_id)
                            || c.rate_limit_id.as_deref() == Some(limit_id)
                            || c.budgets.iter().any(|b| b.id == limit_id)
                            || c.rate_limit.as_ref().is_some_and(|r| r.id == limit_id)
                    });
                owns.then(|| vk.id.clone())
            })
        })
}
