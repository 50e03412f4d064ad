//! The access-phase gate: read the body asynchronously (within `keyward_max_body_size`),
//! authorize, reserve and select a key, and either let the request go on (the variables now
//! hold the upstream and the key) or answer the denial with keyward-host's envelope.
//!
//! The body is read with `ngx_http_read_client_request_body`, in the manner of nginx's mirror
//! module: the handler returns `NGX_DONE`, the body handler decides and re-runs the phases, and
//! the handler, called again, reads the decision from the request context.

use std::{
    ffi::c_void,
    panic::{AssertUnwindSafe, catch_unwind},
};

use ngx::ffi::{
    NGX_DECLINED, NGX_DONE, NGX_ERROR, NGX_HTTP_GET, NGX_HTTP_INTERNAL_SERVER_ERROR,
    NGX_HTTP_SPECIAL_RESPONSE, NGX_OK, ngx_array_push, ngx_conf_t, ngx_http_conf_ctx_t,
    ngx_http_core_main_conf_t, ngx_http_core_module, ngx_http_core_run_phases,
    ngx_http_discard_request_body, ngx_http_finalize_request, ngx_http_handler_pt,
    ngx_http_phases_NGX_HTTP_ACCESS_PHASE, ngx_http_phases_NGX_HTTP_LOG_PHASE,
    ngx_http_read_client_request_body, ngx_http_request_t, ngx_int_t, ngx_uint_t,
};

use super::{
    conf::{LocConf, MainConf},
    ctx::{Outcome, RequestCtx, ctx_mut},
    guard,
    io::{
        add_response_headers, finish_with, header, headers, read_body, replace_body, send_denial,
        send_empty, send_json, too_large,
    },
    log, module, pool_allocate,
};
use keyward_host_core::{
    cors::{CorsAnswer, refused_preflight},
    error::GatewayError,
};

use crate::runtime::Admitted;

/// Adds the access handler to the access phase.
pub unsafe fn register(cf: *mut ngx_conf_t) -> Result<(), ()> {
    // SAFETY: `cf->ctx` is the http block's conf ctx; the core module's main conf holds the
    // phase arrays, to which handlers are added during postconfiguration. After the push the
    // log-phase array holds `nelts` initialized-or-new slots of `ngx_http_handler_pt`; moving
    // the first `nelts - 1` one slot up stays inside it.
    unsafe {
        let ctx = (*cf).ctx as *mut ngx_http_conf_ctx_t;
        let cmcf =
            *(*ctx).main_conf.add(ngx_http_core_module.ctx_index) as *mut ngx_http_core_main_conf_t;
        let phase = ngx_http_phases_NGX_HTTP_ACCESS_PHASE as usize;
        let handler =
            ngx_array_push(&mut (*cmcf).phases[phase].handlers) as *mut ngx_http_handler_pt;
        if handler.is_null() {
            return Err(());
        }
        *handler = Some(access_handler);
        // The log phase finishes a session the body filter did not (a client that left, an
        // upstream that broke), and it must run before the access log writes
        // `$keyward_charge`: nginx calls log-phase handlers in the order of the array (not
        // through the phase engine), and the log module's is already there, so ours goes
        // first.
        let handlers = &mut (*cmcf).phases[ngx_http_phases_NGX_HTTP_LOG_PHASE as usize].handlers;
        if ngx_array_push(handlers).is_null() {
            return Err(());
        }
        let elts = handlers.elts as *mut ngx_http_handler_pt;
        let count = handlers.nelts;
        std::ptr::copy(elts, elts.add(1), count - 1);
        *elts = Some(log_handler);
    }
    Ok(())
}

unsafe extern "C" fn log_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    guard(NGX_OK as ngx_int_t, || {
        // SAFETY: nginx calls log-phase handlers with the live main request.
        if let Some(ctx) = unsafe { ctx_mut(r) } {
            ctx.finish();
        }
        NGX_OK as ngx_int_t
    })
}

unsafe fn loc_conf<'a>(r: *mut ngx_http_request_t) -> &'a LocConf {
    // SAFETY: `loc_conf[ctx_index]` is our merged `LocConf` for the request's location.
    unsafe { &*(*(*r).loc_conf.add(module().ctx_index) as *const LocConf) }
}

unsafe fn main_conf<'a>(r: *mut ngx_http_request_t) -> &'a MainConf {
    // SAFETY: `main_conf[ctx_index]` is our `MainConf`.
    unsafe { &*(*(*r).main_conf.add(module().ctx_index) as *const MainConf) }
}

unsafe extern "C" fn access_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    guard(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t, || {
        // SAFETY: nginx calls the handler with a live request.
        unsafe { access(r) }
    })
}

unsafe fn access(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: `r` is live for the whole call.
    unsafe {
        if (*r).main != r || loc_conf(r).enable != 1 {
            return NGX_DECLINED as ngx_int_t;
        }
        if let Some(ctx) = ctx_mut(r) {
            return match &mut ctx.outcome {
                Outcome::Reading => NGX_DONE as ngx_int_t,
                Outcome::Admitted(_) => NGX_DECLINED as ngx_int_t,
                Outcome::Denied { denial, sent } => {
                    if *sent {
                        return NGX_DONE as ngx_int_t;
                    }
                    *sent = true;
                    let denial = denial.clone();
                    finish_with(r, &denial)
                }
            };
        }
        let Some(runtime) = main_conf(r).runtime.clone() else {
            log::error("keyward: `keyward on` without `keyward_config` in the http block");
            ngx_http_discard_request_body(r);
            return finish_with(r, &internal());
        };
        // Cross-origin rules first, as keyward-host answers them (the core's `cors`).
        let method = std::str::from_utf8((*r).method_name.as_bytes()).unwrap_or("");
        match runtime.cors.answer(
            method,
            header(r, "origin"),
            header(r, "access-control-request-method"),
            header(r, "access-control-request-headers"),
        ) {
            CorsAnswer::NotCors | CorsAnswer::Refused => {}
            CorsAnswer::RefusedPreflight => {
                ngx_http_discard_request_body(r);
                return finish_with(r, &refused_preflight());
            }
            CorsAnswer::Allowed { preflight, headers } => {
                add_response_headers(r, &headers);
                if preflight {
                    let rc = ngx_http_discard_request_body(r);
                    if rc != NGX_OK as ngx_int_t {
                        return rc;
                    }
                    let rc = send_empty(r, 200);
                    ngx_http_finalize_request(r, rc);
                    return NGX_DONE as ngx_int_t;
                }
            }
        }
        if (*r).method == NGX_HTTP_GET as ngx_uint_t
            && (*r)
                .uri
                .as_bytes()
                .strip_suffix(b"/")
                .unwrap_or((*r).uri.as_bytes())
                .ends_with(b"/v1/models")
        {
            // Answered here, from the authorizer: nothing goes upstream.
            let rc = ngx_http_discard_request_body(r);
            if rc != NGX_OK as ngx_int_t {
                return rc;
            }
            let headers = headers(r);
            let rc = match runtime.models(&headers) {
                Ok(body) => send_json(r, 200, &body, None),
                Err(denial) => send_denial(r, &denial),
            };
            ngx_http_finalize_request(r, rc);
            return NGX_DONE as ngx_int_t;
        }
        let max_body = loc_conf(r).max_body;
        let declared = (*r).headers_in.content_length_n;
        let denied = declared > 0 && usize::try_from(declared).map_or(true, |n| n > max_body);
        let ctx = RequestCtx {
            runtime,
            outcome: Outcome::Reading,
            decision: String::new(),
            charge: String::new(),
            allocations: String::new(),
            answer: None,
            max_body,
        };
        let ctx = pool_allocate((*r).pool, ctx);
        if ctx.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        (*(*r).ctx.add(module().ctx_index)) = ctx as *mut c_void;
        // The key first, from the headers: a request no key admits is refused before its body
        // is read (the core's admission check, as in keyward-host).
        let path = String::from_utf8_lossy((*r).uri.as_bytes()).into_owned();
        let key_refusal = (*ctx).runtime.check_key(&path, &headers(r)).err();
        if denied || key_refusal.is_some() {
            ngx_http_discard_request_body(r);
            let denial = key_refusal.unwrap_or_else(|| too_large(max_body));
            (*ctx).decision = denial.decision();
            (*ctx).outcome = Outcome::Denied {
                denial: denial.clone(),
                sent: true,
            };
            return finish_with(r, &denial);
        }
        let rc = ngx_http_read_client_request_body(r, Some(body_ready));
        if rc >= NGX_HTTP_SPECIAL_RESPONSE as ngx_int_t {
            return rc;
        }
        ngx_http_finalize_request(r, NGX_DONE as ngx_int_t);
        NGX_DONE as ngx_int_t
    }
}

/// The body handler: decides, then resumes the phases (the access handler runs again).
unsafe extern "C" fn body_ready(r: *mut ngx_http_request_t) {
    guard((), || {
        // SAFETY: nginx calls the body handler with the live request whose body was read.
        unsafe {
            let decided = catch_unwind(AssertUnwindSafe(|| decide(r))).is_ok();
            if let Some(ctx) = ctx_mut(r) {
                if !decided || matches!(ctx.outcome, Outcome::Reading) {
                    log::error("keyward: the request could not be decided");
                    ctx.finish();
                    let denial = internal();
                    ctx.decision = denial.decision();
                    ctx.outcome = Outcome::Denied {
                        denial,
                        sent: false,
                    };
                }
            }
            (*r).write_event_handler = Some(ngx_http_core_run_phases);
            ngx_http_core_run_phases(r);
        }
    })
}

unsafe fn decide(r: *mut ngx_http_request_t) {
    // SAFETY: `r` is live; its body was read.
    unsafe {
        let Some(ctx) = ctx_mut(r) else { return };
        let outcome = match read_body(r, ctx.max_body) {
            Err(denial) => Err(denial),
            Ok(body) => admit(r, ctx, &body),
        };
        match outcome {
            Ok(admitted) => {
                ctx.decision = admitted.decision.clone();
                ctx.outcome = Outcome::Admitted(Box::new(admitted));
            }
            Err(denial) => {
                ctx.decision = denial.decision();
                ctx.outcome = Outcome::Denied {
                    denial,
                    sent: false,
                };
            }
        }
    }
}

unsafe fn admit(
    r: *mut ngx_http_request_t,
    ctx: &RequestCtx,
    body: &[u8],
) -> Result<Admitted, GatewayError> {
    // SAFETY: `r` is live; the headers borrow from its pool for the duration of the call.
    unsafe {
        let path = String::from_utf8_lossy((*r).uri.as_bytes());
        let query = String::from_utf8_lossy((*r).args.as_bytes());
        let headers = headers(r);
        let mut admitted = ctx.runtime.admit(&path, Some(&query), body, &headers)?;
        if let Some(new_body) = admitted.new_body.take()
            && replace_body(r, &new_body).is_err()
        {
            // Dropping the session releases the reservation.
            drop(admitted);
            return Err(internal());
        }
        Ok(admitted)
    }
}

/// 500 with a generic message (the cause goes to the error log).
pub fn internal() -> GatewayError {
    GatewayError::internal("the gateway could not process the request")
}
