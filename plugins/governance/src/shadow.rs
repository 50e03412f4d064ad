//! Shadow-mode accounting: how many requests each decision would have denied.

use std::sync::atomic::{AtomicU64, Ordering};

use keyward_plugin_api::ffi::ErrorCode;

/// The codes a decision can deny with, in the order they are reported.
pub const DECISION_CODES: [ErrorCode; 8] = [
    ErrorCode::VIRTUAL_KEY_REQUIRED,
    ErrorCode::VIRTUAL_KEY_NOT_FOUND,
    ErrorCode::VIRTUAL_KEY_BLOCKED,
    ErrorCode::PROVIDER_BLOCKED,
    ErrorCode::MODEL_BLOCKED,
    ErrorCode::REQUEST_LIMITED,
    ErrorCode::TOKEN_LIMITED,
    ErrorCode::BUDGET_EXCEEDED,
];

/// Would-be denials per code.
#[derive(Debug, Default)]
pub struct ShadowCounts {
    counts: [AtomicU64; DECISION_CODES.len()],
}

impl ShadowCounts {
    /// Counts one would-be denial.
    pub fn record(&self, code: ErrorCode) {
        if let Some(i) = DECISION_CODES.iter().position(|c| *c == code) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds imported counts.
    pub fn add(&self, code_name: &str, count: u64) {
        if let Some(i) = DECISION_CODES.iter().position(|c| c.as_str() == code_name) {
            self.counts[i].fetch_add(count, Ordering::Relaxed);
        }
    }

    /// `(code name, count)` for every code.
    pub fn read(&self) -> Vec<(&'static str, u64)> {
        DECISION_CODES
            .iter()
            .zip(&self.counts)
            .map(|(code, count)| (code.as_str(), count.load(Ordering::Relaxed)))
            .collect()
    }
}
