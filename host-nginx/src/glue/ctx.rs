//! The per-request state ([`RequestCtx`]) kept in the request pool: the decision, the
//! variables' values, and the reservation, settled or released exactly once (released when the
//! pool is destroyed with the reservation still open: upstream error, client gone).

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::Arc,
};

use ngx::ffi::ngx_http_request_t;

use super::{log, module};
use crate::{
    envelope::Denial,
    runtime::{Admitted, Runtime},
    usage::UsageScanner,
};

/// Where a request stands.
#[derive(Debug)]
pub enum Outcome {
    /// The body is being read.
    Reading,
    /// Admitted: the upstream call goes ahead.
    Admitted(Admitted),
    /// Denied; `sent` once the envelope went out.
    Denied { denial: Denial, sent: bool },
}

/// The per-request state, in the request pool (dropped with it).
#[derive(Debug)]
pub struct RequestCtx {
    /// The runtime that admitted the request (kept alive until the request ends).
    pub runtime: Arc<Runtime>,
    /// The decision.
    pub outcome: Outcome,
    /// `$keyward_decision`.
    pub decision: String,
    /// `$keyward_request_id`.
    pub request_id: String,
    /// Whether a reservation is held (settled or released exactly once).
    pub open: bool,
    /// The response's usage scanner, once its headers came in.
    pub scanner: Option<UsageScanner>,
    /// The location's `keyward_max_body_size`.
    pub max_body: usize,
}

impl RequestCtx {
    /// Settles the reservation with `usage`, or with the estimate when the response had none.
    pub fn settle(&mut self, usage: Option<keyward_plugin_api::ffi::Usage>) {
        let Outcome::Admitted(admitted) = &self.outcome else {
            return;
        };
        if !std::mem::replace(&mut self.open, false) {
            return;
        }
        let usage = usage.unwrap_or_else(|| {
            log::warn(&format!(
                "keyward: request {} had no readable usage; charging the estimate",
                admitted.request_id
            ));
            keyward_plugin_api::ffi::Usage {
                input_tokens: admitted.estimate.input_tokens,
                cached_input_tokens: 0,
                output_tokens: admitted
                    .estimate
                    .max_output_tokens
                    .into_option()
                    .unwrap_or(0),
                cost_nanos: None.into(),
                success: true,
            }
        });
        if let Err(error) = self.runtime.settle(admitted.request_id, &usage) {
            log::error(&format!(
                "keyward: settle of request {} failed: {error}",
                admitted.request_id
            ));
        }
    }

    /// Returns the reservation (upstream failed, client gone).
    pub fn release(&mut self) {
        let Outcome::Admitted(admitted) = &self.outcome else {
            return;
        };
        if !std::mem::replace(&mut self.open, false) {
            return;
        }
        if let Err(error) = self.runtime.release(admitted.request_id) {
            log::error(&format!(
                "keyward: release of request {} failed: {error}",
                admitted.request_id
            ));
        }
    }
}

impl Drop for RequestCtx {
    fn drop(&mut self) {
        // The request pool is being destroyed: a reservation still open means the response
        // never completed (upstream error, client gone).
        let _ = catch_unwind(AssertUnwindSafe(|| self.release()));
    }
}

/// The request's context, if the gate saw it.
pub unsafe fn ctx_mut<'a>(r: *mut ngx_http_request_t) -> Option<&'a mut RequestCtx> {
    // SAFETY: `r->ctx[ctx_index]` is NULL or the `RequestCtx` this module stored; nginx runs a
    // request on one thread and no other reference to it is alive across these calls.
    unsafe { (*(*r).ctx.add(module().ctx_index) as *mut RequestCtx).as_mut() }
}
