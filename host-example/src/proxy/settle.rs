//! [`Settlement`]: the reservation of one request, settled exactly once. Dropping it without
//! settling (the client went away, the handler failed) releases the reservation, so no usage is
//! ever left reserved; settling after a stream ends charges the actual usage.

use std::sync::Arc;

use keyward_plugin_api::{
    abi_stable::std_types::ROption,
    ffi::{Usage, UsageEstimate},
};

use crate::plugins::{PluginHost, call_with_retry};

/// A held reservation.
pub struct Settlement {
    plugins: Arc<PluginHost>,
    request_id: u64,
    estimate: UsageEstimate,
    done: bool,
}

impl Settlement {
    /// Holds the reservation of `request_id`.
    pub fn new(plugins: Arc<PluginHost>, request_id: u64, estimate: UsageEstimate) -> Self {
        Self {
            plugins,
            request_id,
            estimate,
            done: false,
        }
    }

    /// Charges `usage` (or, without it, the estimate: the upstream served the request but did not
    /// say what it used).
    pub fn settle(mut self, usage: Option<Usage>) {
        self.finish(Some(usage.unwrap_or_else(|| self.estimated_usage(None))));
    }

    /// Charges what a stream that ended early used: its usage if it carried one, else the prompt
    /// estimate and the output it delivered (`delivered_tokens`, an estimate from the bytes sent,
    /// capped at the request's output cap: no answer exceeds it).
    pub fn settle_partial(mut self, usage: Option<Usage>, delivered_tokens: u64) {
        let cap = self
            .estimate
            .max_output_tokens
            .into_option()
            .unwrap_or(u64::MAX);
        let delivered = delivered_tokens.min(cap);
        self.finish(Some(
            usage.unwrap_or_else(|| self.estimated_usage(Some(delivered))),
        ));
    }

    /// Returns the reservation (the request failed before the upstream served it).
    pub fn release(mut self) {
        self.finish(None);
    }

    fn estimated_usage(&self, output: Option<u64>) -> Usage {
        Usage {
            input_tokens: self.estimate.input_tokens,
            cached_input_tokens: 0,
            output_tokens: output
                .unwrap_or_else(|| self.estimate.max_output_tokens.into_option().unwrap_or(0)),
            cost_nanos: ROption::RNone,
            success: true,
        }
    }

    fn finish(&mut self, usage: Option<Usage>) {
        if self.done {
            return;
        }
        self.done = true;
        let slot = &self.plugins.roles.enforcer;
        let outcome = match usage {
            Some(usage) => call_with_retry(slot, |e| e.settle(self.request_id, &usage)),
            None => call_with_retry(slot, |e| e.release(self.request_id)),
        };
        if let Err(error) = outcome {
            tracing::error!(request_id = self.request_id, %error, "settlement failed");
        }
    }
}

impl Drop for Settlement {
    fn drop(&mut self) {
        self.finish(None);
    }
}
