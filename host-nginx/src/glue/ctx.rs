//! The per-request state ([`RequestCtx`]) kept in the request pool: the decision, the
//! variables' values, and the session, finished exactly once — from the body filter when the
//! answer ends, or when the pool is destroyed first (upstream error, client gone: the core's
//! charging rule charges what was delivered, or releases when nothing was).

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::Arc,
};

use keyward_host_core::{error::GatewayError, usage::UsageMeter};
use ngx::ffi::ngx_http_request_t;

use super::{log, module};
use crate::runtime::{Admitted, Runtime};

/// Where a request stands.
#[derive(Debug)]
pub enum Outcome {
    /// The body is being read.
    Reading,
    /// Admitted: the upstream call goes ahead.
    Admitted(Box<Admitted>),
    /// Denied; `sent` once the envelope went out.
    Denied { denial: GatewayError, sent: bool },
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
    /// `$keyward_charge`, once the session finished.
    pub charge: String,
    /// `$keyward_allocations` (the `count-allocations` feature), when last read.
    pub allocations: String,
    /// The answer's status and meter, once its headers came in.
    pub answer: Option<(u16, UsageMeter)>,
    /// The location's `keyward_max_body_size`.
    pub max_body: usize,
}

impl RequestCtx {
    /// Finishes the session: charged by what the meter read (released when no answer came).
    pub fn finish(&mut self) {
        let Outcome::Admitted(admitted) = &mut self.outcome else {
            return;
        };
        let Some(session) = admitted.session.take() else {
            return;
        };
        let outcome = match self.answer.take() {
            Some((status, meter)) => session.finish(status, meter.finish()),
            // No answer reached the client (upstream unreachable, client gone first).
            None => session.finish(502, Default::default()),
        };
        if let Some(error) = &outcome.enforcer_error {
            log::error(&format!(
                "keyward: settlement of request {} failed: {error}",
                outcome.request_id
            ));
        }
        self.charge = outcome.charge.to_string();
    }
}

impl Drop for RequestCtx {
    fn drop(&mut self) {
        // The request pool is being destroyed: a session still open means the response never
        // completed (upstream error, client gone).
        let _ = catch_unwind(AssertUnwindSafe(|| self.finish()));
    }
}

/// The request's context, if the gate saw it.
pub unsafe fn ctx_mut<'a>(r: *mut ngx_http_request_t) -> Option<&'a mut RequestCtx> {
    // SAFETY: `r->ctx[ctx_index]` is NULL or the `RequestCtx` this module stored; nginx runs a
    // request on one thread and no other reference to it is alive across these calls.
    unsafe { (*(*r).ctx.add(module().ctx_index) as *mut RequestCtx).as_mut() }
}
