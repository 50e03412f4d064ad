//! Windows and resets, driven by the host's manual clock (no sleeping): rolling windows from
//! the last reset, and calendar-aligned budgets on UTC boundaries.

// Test code: helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use keyward_plugin_api::ffi::ErrorCode;
use serde_json::json;

fn unix(text: &str) -> u64 {
    let time: chrono::DateTime<chrono::Utc> = text.parse().unwrap();
    u64::try_from(time.timestamp_nanos_opt().unwrap()).unwrap()
}

fn budget_key(duration: &str, calendar_aligned: bool) -> serde_json::Value {
    json!({
        "pricing": flat_pricing(),
        "virtual_keys": [{"id": "vk", "value": "sk-bf-x",
            "budgets": [{"id": "b", "max_limit": 0.00002, "reset_duration": duration,
                         "calendar_aligned": calendar_aligned}]}]
    })
}

/// Spends the whole budget (one request of 20 tokens at $0.000001).
fn spend(h: &Harness, id: u64) -> Result<(), keyward_plugin_api::ffi::KeywardError> {
    h.reserve(id, "vk", "openai", "test-model", 10, Some(10))?;
    h.settle(id, usage(10, 10, None)).map(|_| ())
}

#[test]
fn a_rolling_budget_resets_one_duration_after_its_last_reset() {
    let h = harness(budget_key("1h", false));
    spend(&h, 1).unwrap();
    assert_denied(spend(&h, 2), ErrorCode::BUDGET_EXCEEDED, 402);
    h.host.advance_secs(3_599);
    assert_denied(spend(&h, 3), ErrorCode::BUDGET_EXCEEDED, 402);
    h.host.advance_secs(1);
    spend(&h, 4).unwrap();
    assert_eq!(
        h.counter("b", "budget")["window_start_unix_nanos"],
        (START_SECS + 3_600) * SEC
    );
}

#[test]
fn a_calendar_aligned_daily_budget_resets_at_utc_midnight() {
    let h = harness(budget_key("1d", true));
    h.host.set_unix_nanos(unix("2025-05-14T23:59:00Z"));
    spend(&h, 1).unwrap();
    assert_denied(spend(&h, 2), ErrorCode::BUDGET_EXCEEDED, 402);
    h.host.set_unix_nanos(unix("2025-05-15T00:00:00Z"));
    spend(&h, 3).unwrap();
    assert_eq!(
        h.counter("b", "budget")["last_reset"],
        "2025-05-15T00:00:00Z"
    );
}

#[test]
fn calendar_aligned_budgets_reset_on_their_boundaries() {
    for (duration, spent_at, still_spent, reset_at) in [
        (
            "1w",
            "2025-05-14T10:00:00Z",
            "2025-05-18T23:59:59Z",
            "2025-05-19T00:00:00Z",
        ),
        (
            "1M",
            "2025-05-14T10:00:00Z",
            "2025-05-31T23:59:59Z",
            "2025-06-01T00:00:00Z",
        ),
        (
            "1Q",
            "2025-05-14T10:00:00Z",
            "2025-06-30T23:59:59Z",
            "2025-07-01T00:00:00Z",
        ),
        (
            "1Y",
            "2025-05-14T10:00:00Z",
            "2025-12-31T23:59:59Z",
            "2026-01-01T00:00:00Z",
        ),
    ] {
        let h = harness(budget_key(duration, true));
        h.host.set_unix_nanos(unix(spent_at));
        spend(&h, 1).unwrap();
        h.host.set_unix_nanos(unix(still_spent));
        assert_denied(spend(&h, 2), ErrorCode::BUDGET_EXCEEDED, 402);
        h.host.set_unix_nanos(unix(reset_at));
        spend(&h, 3).unwrap_or_else(|e| panic!("{duration}: {e}"));
        assert_eq!(
            h.counter("b", "budget")["last_reset"],
            reset_at.replace(".000", "")
        );
    }
}

#[test]
fn a_calendar_aligned_window_starts_at_the_boundary_not_at_startup() {
    let h = harness(budget_key("1M", true));
    // Started mid-May: the window is May.
    assert_eq!(
        h.counter("b", "budget")["last_reset"],
        "2025-05-01T00:00:00Z"
    );
    assert_eq!(
        h.counter("b", "budget")["next_reset"],
        "2025-06-01T00:00:00Z"
    );
}

#[test]
fn a_stale_last_reset_from_the_configuration_resets_at_first_use() {
    let config = json!({
        "pricing": flat_pricing(),
        "virtual_keys": [{"id": "vk", "value": "sk-bf-x",
            "budgets": [{"id": "b", "max_limit": 0.00002, "reset_duration": "1d",
                         "current_usage": 0.00002, "last_reset": "2025-05-10T00:00:00Z"}]}]
    });
    let h = harness(config);
    spend(&h, 1).unwrap();
    assert_eq!(h.counter("b", "budget")["current_usage"], 20_000);
}

#[test]
fn current_usage_from_the_configuration_counts_in_the_current_window() {
    let config = json!({
        "pricing": flat_pricing(),
        "virtual_keys": [{"id": "vk", "value": "sk-bf-x",
            "budgets": [{"id": "b", "max_limit": 0.00003, "reset_duration": "1d",
                         "current_usage": 0.00002, "last_reset": "2025-05-14T15:00:00Z"}]}]
    });
    let h = harness(config);
    assert_denied(spend(&h, 1), ErrorCode::BUDGET_EXCEEDED, 402);
}

#[test]
fn a_request_window_admits_again_after_it_resets() {
    let config = json!({
        "virtual_keys": [{"id": "vk", "value": "sk-bf-x",
            "rate_limit": {"request_max_limit": 1, "request_reset_duration": "30s"}}]
    });
    let h = harness(config);
    h.reserve(1, "vk", "openai", "m", 1, Some(1)).unwrap();
    h.settle(1, usage(1, 1, None)).unwrap();
    let error = assert_denied(
        h.reserve(2, "vk", "openai", "m", 1, Some(1)),
        ErrorCode::REQUEST_LIMITED,
        429,
    );
    assert_eq!(error.retry_after_secs(), Some(30));
    h.host.advance_secs(30);
    h.reserve(3, "vk", "openai", "m", 1, Some(1)).unwrap();
}

#[test]
fn an_open_reservation_carries_into_the_next_window() {
    let config = json!({
        "virtual_keys": [{"id": "vk", "value": "sk-bf-x",
            "rate_limit": {"request_max_limit": 2, "request_reset_duration": "1m"}}]
    });
    let h = harness(config);
    h.reserve(1, "vk", "openai", "m", 1, Some(1)).unwrap();
    h.reserve(2, "vk", "openai", "m", 1, Some(1)).unwrap();
    h.settle(1, usage(1, 1, None)).unwrap();
    h.host.advance_secs(60);
    // Request 2 is still in flight: one slot left in the new window.
    h.reserve(3, "vk", "openai", "m", 1, Some(1)).unwrap();
    assert_denied(
        h.reserve(4, "vk", "openai", "m", 1, Some(1)),
        ErrorCode::REQUEST_LIMITED,
        429,
    );
}

#[test]
fn a_team_or_customer_that_is_calendar_aligned_aligns_every_budget_it_resets() {
    for owner in ["teams", "customers"] {
        let mut config = serde_json::json!({
            "budgets": [{"id": "b-owned", "max_limit": 10, "reset_duration": "1M", "team_id": "t"}],
            "virtual_keys": [{"id": "vk", "value": "sk-bf-x", "team_id": "t"}]
        });
        if owner == "teams" {
            config["teams"] = serde_json::json!([{"id": "t", "calendar_aligned": true}]);
        } else {
            config["customers"] = serde_json::json!([{"id": "c", "calendar_aligned": true}]);
            config["teams"] = serde_json::json!([{"id": "t", "customer_id": "c"}]);
            config["budgets"][0] = serde_json::json!(
                {"id": "b-owned", "max_limit": 10, "reset_duration": "1M", "customer_id": "c"});
        }
        let h = harness(config);
        // Started mid-May (the harness's clock): the owner's budget runs May, not from startup.
        assert_eq!(
            h.counter("b-owned", "budget")["last_reset"],
            "2025-05-01T00:00:00Z",
            "{owner}"
        );
        assert_eq!(
            h.counter("b-owned", "budget")["next_reset"],
            "2025-06-01T00:00:00Z",
            "{owner}"
        );
    }
}
