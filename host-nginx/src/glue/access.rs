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
    sync::Arc,
};

use keyward_plugin_api::{abi_stable::std_types::RStr, ffi::Header};
use ngx::{
    core::Pool,
    ffi::{
        NGX_DECLINED, NGX_DONE, NGX_ERROR, NGX_HTTP_INTERNAL_SERVER_ERROR,
        NGX_HTTP_SPECIAL_RESPONSE, NGX_OK, ngx_array_push, ngx_buf_t, ngx_chain_t, ngx_conf_t,
        ngx_create_temp_buf, ngx_http_conf_ctx_t, ngx_http_core_main_conf_t, ngx_http_core_module,
        ngx_http_core_run_phases, ngx_http_discard_request_body, ngx_http_finalize_request,
        ngx_http_handler_pt, ngx_http_output_filter, ngx_http_phases_NGX_HTTP_ACCESS_PHASE,
        ngx_http_read_client_request_body, ngx_http_request_t, ngx_http_send_header, ngx_int_t,
        ngx_table_elt_t,
    },
    http::Request,
};

use super::{LocConf, MainConf, guard, log, module};
use crate::{
    envelope::{Denial, ExtraFields},
    request::{self, RequestInfo},
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
    max_body: usize,
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

/// Adds the access handler to the access phase.
pub unsafe fn register(cf: *mut ngx_conf_t) -> Result<(), ()> {
    // SAFETY: `cf->ctx` is the http block's conf ctx; the core module's main conf holds the
    // phase arrays, to which handlers are added during postconfiguration.
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
    }
    Ok(())
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
            return finish_with(r, &Denial::internal());
        };
        let max_body = loc_conf(r).max_body;
        let declared = (*r).headers_in.content_length_n;
        let denied = declared > 0 && usize::try_from(declared).map_or(true, |n| n > max_body);
        let ctx = RequestCtx {
            runtime,
            outcome: Outcome::Reading,
            decision: String::new(),
            request_id: String::new(),
            open: false,
            scanner: None,
            max_body,
        };
        let ctx = Pool::from_ngx_pool((*r).pool).allocate(ctx);
        if ctx.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        (*(*r).ctx.add(module().ctx_index)) = ctx as *mut c_void;
        if denied {
            ngx_http_discard_request_body(r);
            let denial = too_large(max_body);
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

fn too_large(max_body: usize) -> Denial {
    let mut denial = Denial::new(
        413,
        "request_too_large",
        format!("the request body exceeds {max_body} bytes"),
    );
    denial.param = Some("body".to_owned());
    denial
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
                    ctx.release();
                    let denial = Denial::internal();
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
            Ok(body) => {
                let path = String::from_utf8_lossy((*r).uri.as_bytes()).into_owned();
                match request::parse(&path, &body) {
                    Err(error) => Err(Denial::bad_request(error.param, error.message).with_extra(
                        ExtraFields {
                            request_type: Some(
                                request::kind_name(request::kind_of(&path)).to_owned(),
                            ),
                            ..ExtraFields::default()
                        },
                    )),
                    Ok(info) => admit(r, ctx, &info, &body),
                }
            }
        };
        match outcome {
            Ok(admitted) => {
                ctx.decision = admitted.decision.clone();
                ctx.request_id = admitted.request_id.to_string();
                ctx.open = true;
                ctx.outcome = Outcome::Admitted(admitted);
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
    info: &RequestInfo,
    body: &[u8],
) -> Result<Admitted, Denial> {
    // SAFETY: `r` is live; the headers borrow from its pool for the duration of the call.
    unsafe {
        let headers = headers(r);
        let admitted = ctx.runtime.admit(info, &headers)?;
        if let Some(new_body) = request::upstream_body(body, info, &admitted.provider_model)
            && replace_body(r, &new_body).is_err()
        {
            let _ = ctx.runtime.release(admitted.request_id);
            return Err(Denial::internal());
        }
        Ok(admitted)
    }
}

/// The request headers, names in lower case (as nginx keeps them in `lowcase_key`). Headers
/// that are not UTF-8 are skipped.
unsafe fn headers<'a>(r: *mut ngx_http_request_t) -> Vec<Header<'a>> {
    let mut out = Vec::new();
    // SAFETY: `headers_in.headers` is an nginx list of `ngx_table_elt_t`, living in the
    // request pool; `lowcase_key` has `key.len` bytes.
    unsafe {
        let mut part = &(*r).headers_in.headers.part as *const ngx::ffi::ngx_list_part_t;
        while !part.is_null() {
            let elts =
                std::slice::from_raw_parts((*part).elts as *const ngx_table_elt_t, (*part).nelts);
            for elt in elts {
                if elt.lowcase_key.is_null() {
                    continue;
                }
                let name = std::slice::from_raw_parts(elt.lowcase_key, elt.key.len);
                if let (Ok(name), Ok(value)) = (
                    std::str::from_utf8(name),
                    std::str::from_utf8(elt.value.as_bytes()),
                ) {
                    out.push(Header {
                        name: RStr::from_str(name),
                        value: RStr::from_str(value),
                    });
                }
            }
            part = (*part).next;
        }
    }
    out
}

/// The request body, from memory buffers or nginx's temporary file.
unsafe fn read_body(r: *mut ngx_http_request_t, max_body: usize) -> Result<Vec<u8>, Denial> {
    let mut body = Vec::new();
    // SAFETY: `request_body` and its chain belong to the live request; in-memory buffers span
    // `pos..last`, file buffers `file_pos..file_last` of their file.
    unsafe {
        let rb = (*r).request_body;
        if rb.is_null() {
            return Ok(body);
        }
        let mut link = (*rb).bufs;
        while !link.is_null() {
            let buf = (*link).buf;
            if (*buf).in_file() != 0 && !(*buf).file.is_null() {
                // nginx unlinks its body temp files at once: read through the open descriptor.
                let start = (*buf).file_pos;
                let len = usize::try_from((*buf).file_last - start).unwrap_or(0);
                if body.len() + len > max_body {
                    return Err(too_large(max_body));
                }
                let at = body.len();
                body.resize(at + len, 0);
                let read =
                    ngx::ffi::ngx_read_file((*buf).file, body[at..].as_mut_ptr(), len, start);
                if usize::try_from(read).ok() != Some(len) {
                    log::error("keyward: cannot read the request body nginx buffered to a file");
                    return Err(Denial::internal());
                }
            } else if !(*buf).pos.is_null() && (*buf).last > (*buf).pos {
                let len = (*buf).last.offset_from((*buf).pos) as usize;
                body.extend_from_slice(std::slice::from_raw_parts((*buf).pos, len));
            }
            if body.len() > max_body {
                return Err(too_large(max_body));
            }
            link = (*link).next;
        }
    }
    Ok(body)
}

/// Replaces the request body sent upstream (the model rewritten to the provider's id).
unsafe fn replace_body(r: *mut ngx_http_request_t, body: &[u8]) -> Result<(), ()> {
    // SAFETY: the new buffer and chain link are allocated from the request pool and filled
    // before they are linked; the proxy module reads `request_body->bufs` and
    // `headers_in.content_length_n` when it builds the upstream request, after this phase.
    unsafe {
        let rb = (*r).request_body;
        if rb.is_null() {
            return Err(());
        }
        let buf = memory_buf(r, body)?;
        let link = ngx::ffi::ngx_alloc_chain_link((*r).pool);
        if link.is_null() {
            return Err(());
        }
        (*link).buf = buf;
        (*link).next = std::ptr::null_mut();
        (*rb).bufs = link;
        (*rb).temp_file = std::ptr::null_mut();
        (*r).headers_in.content_length_n = body.len() as ngx::ffi::off_t;
        (*r).headers_in.set_chunked(0);
    }
    Ok(())
}

unsafe fn memory_buf(r: *mut ngx_http_request_t, data: &[u8]) -> Result<*mut ngx_buf_t, ()> {
    // SAFETY: `ngx_create_temp_buf` returns a buffer of at least `len` bytes at `pos` (or
    // NULL); exactly `data.len()` bytes are copied into it.
    unsafe {
        let buf = ngx_create_temp_buf((*r).pool, data.len().max(1));
        if buf.is_null() {
            return Err(());
        }
        std::ptr::copy_nonoverlapping(data.as_ptr(), (*buf).pos, data.len());
        (*buf).last = (*buf).pos.add(data.len());
        (*buf).set_last_buf(1);
        (*buf).set_last_in_chain(1);
        Ok(buf)
    }
}

/// Sends the denial and finalizes the request; returns `NGX_DONE` for the phase engine.
unsafe fn finish_with(r: *mut ngx_http_request_t, denial: &Denial) -> ngx_int_t {
    // SAFETY: `r` is live and no response was sent yet.
    unsafe {
        let rc = send_denial(r, denial);
        ngx_http_finalize_request(r, rc);
    }
    NGX_DONE as ngx_int_t
}

unsafe fn send_denial(r: *mut ngx_http_request_t, denial: &Denial) -> ngx_int_t {
    let body = denial.body();
    // SAFETY: `r` is live; the header strings are static or copied into the request pool by
    // `add_header_out`; the body buffer comes from the request pool.
    unsafe {
        (*r).headers_out.status = ngx::ffi::ngx_uint_t::from(denial.status);
        const JSON: &[u8] = b"application/json";
        (*r).headers_out.content_type.len = JSON.len();
        (*r).headers_out.content_type.data = JSON.as_ptr() as *mut u8;
        (*r).headers_out.content_type_len = JSON.len();
        (*r).headers_out.content_type_lowcase = std::ptr::null_mut();
        (*r).headers_out.content_length_n = body.len() as ngx::ffi::off_t;
        if let Some(secs) = denial.retry_after_secs {
            let request = Request::from_ngx_http_request(r);
            if request
                .add_header_out("Retry-After", &secs.to_string())
                .is_none()
            {
                return NGX_ERROR as ngx_int_t;
            }
        }
        let rc = ngx_http_send_header(r);
        if rc == NGX_ERROR as ngx_int_t || rc > NGX_OK as ngx_int_t || (*r).header_only() != 0 {
            return rc;
        }
        let Ok(buf) = memory_buf(r, &body) else {
            return NGX_ERROR as ngx_int_t;
        };
        let mut out = ngx_chain_t {
            buf,
            next: std::ptr::null_mut(),
        };
        ngx_http_output_filter(r, &mut out)
    }
}
