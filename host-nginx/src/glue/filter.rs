//! The response filters: the header filter hands the upstream's status and content type to the
//! session (which gives the usage meter for the body); the body filter feeds the meter every
//! buffer it passes on and finishes the session at the last one. A response that never
//! completes is finished when the request pool is destroyed (see `RequestCtx`'s `Drop`), with
//! what was delivered.

use ngx::ffi::{
    NGX_ERROR, ngx_chain_t, ngx_http_output_body_filter_pt, ngx_http_output_header_filter_pt,
    ngx_http_request_t, ngx_http_top_body_filter, ngx_http_top_header_filter, ngx_int_t,
};

use super::{
    ctx::{Outcome, ctx_mut},
    guard,
};

static mut NEXT_HEADER: ngx_http_output_header_filter_pt = None;
static mut NEXT_BODY: ngx_http_output_body_filter_pt = None;

/// Puts the filters on top of nginx's filter chains (once per configuration).
pub unsafe fn register() {
    // SAFETY: filters are registered during postconfiguration, single-threaded, before any
    // request; the previous top filters become our successors.
    unsafe {
        NEXT_HEADER = ngx_http_top_header_filter;
        ngx_http_top_header_filter = Some(header_filter);
        NEXT_BODY = ngx_http_top_body_filter;
        ngx_http_top_body_filter = Some(body_filter);
    }
}

unsafe extern "C" fn header_filter(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls the filter with a live request.
    guard((), || unsafe { on_header(r) });
    // SAFETY: NEXT_HEADER was set at registration; nginx's chain always ends in a filter.
    unsafe {
        match NEXT_HEADER {
            Some(next) => next(r),
            None => NGX_ERROR as ngx_int_t,
        }
    }
}

unsafe fn on_header(r: *mut ngx_http_request_t) {
    // SAFETY: `r` is live; the context, if any, is ours.
    unsafe {
        if (*r).main != r {
            return;
        }
        let Some(ctx) = ctx_mut(r) else { return };
        let Outcome::Admitted(admitted) = &ctx.outcome else {
            return;
        };
        let Some(session) = admitted.session.as_ref() else {
            return;
        };
        if ctx.answer.is_some() {
            return;
        }
        let status = u16::try_from((*r).headers_out.status).unwrap_or(500);
        let mut meter = session.respond(Some((*r).headers_out.content_type.as_bytes()));
        let encoded = {
            let encoding = (*r).headers_out.content_encoding;
            !encoding.is_null()
                && !(*encoding)
                    .value
                    .as_bytes()
                    .eq_ignore_ascii_case(b"identity")
        };
        if encoded {
            // A compressed body cannot be read: its bytes are counted as delivered output (set
            // `proxy_set_header Accept-Encoding "";` to avoid that).
            meter.unreadable();
        }
        ctx.answer = Some((status, meter));
    }
}

unsafe extern "C" fn body_filter(r: *mut ngx_http_request_t, chain: *mut ngx_chain_t) -> ngx_int_t {
    // SAFETY: nginx calls the filter with a live request and chain.
    guard((), || unsafe { on_body(r, chain) });
    // SAFETY: NEXT_BODY was set at registration.
    unsafe {
        match NEXT_BODY {
            Some(next) => next(r, chain),
            None => NGX_ERROR as ngx_int_t,
        }
    }
}

unsafe fn on_body(r: *mut ngx_http_request_t, chain: *mut ngx_chain_t) {
    // SAFETY: `r` and `chain` are live; in-memory buffers span `pos..last`. The buffers are
    // only read, before they are passed on.
    unsafe {
        if (*r).main != r {
            return;
        }
        let Some(ctx) = ctx_mut(r) else { return };
        let Some((_, meter)) = ctx.answer.as_mut() else {
            return;
        };
        let mut last = false;
        let mut link = chain;
        while !link.is_null() {
            let buf = (*link).buf;
            if !buf.is_null() {
                let in_memory =
                    (*buf).temporary() != 0 || (*buf).memory() != 0 || (*buf).mmap() != 0;
                if in_memory && !(*buf).pos.is_null() && (*buf).last > (*buf).pos {
                    let len = (*buf).last.offset_from((*buf).pos) as usize;
                    meter.feed(std::slice::from_raw_parts((*buf).pos, len));
                } else if (*buf).in_file() != 0 && (*buf).file_last > (*buf).file_pos {
                    // Spilled to a temporary file: counted, not read.
                    meter.skip(((*buf).file_last - (*buf).file_pos) as u64);
                }
                last |= (*buf).last_buf() != 0;
            }
            link = (*link).next;
        }
        if last {
            ctx.finish();
        }
    }
}
