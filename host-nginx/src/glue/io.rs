//! Reading the request (headers, body from memory or nginx's temporary file), replacing the
//! body sent upstream, and answering a denial with the envelope.

use keyward_plugin_api::{abi_stable::std_types::RStr, ffi::Header};
use ngx::{
    ffi::{
        NGX_DONE, NGX_ERROR, NGX_OK, ngx_buf_t, ngx_chain_t, ngx_create_temp_buf,
        ngx_http_finalize_request, ngx_http_output_filter, ngx_http_request_t,
        ngx_http_send_header, ngx_int_t, ngx_table_elt_t,
    },
    http::Request,
};

use super::log;
use keyward_host_core::error::GatewayError;

/// Walks the request headers (lower-case name, value) until `visit` answers `Some`.
unsafe fn walk_headers<'a, T>(
    r: *mut ngx_http_request_t,
    mut visit: impl FnMut(&'a [u8], &'a [u8]) -> Option<T>,
) -> Option<T> {
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
                if let Some(found) = visit(name, elt.value.as_bytes()) {
                    return Some(found);
                }
            }
            part = (*part).next;
        }
    }
    None
}

/// The request headers, names in lower case (as nginx keeps them in `lowcase_key`). Headers
/// that are not UTF-8 are skipped.
pub unsafe fn headers<'a>(r: *mut ngx_http_request_t) -> Vec<Header<'a>> {
    let mut out = Vec::new();
    // SAFETY: `r` is a live request.
    unsafe {
        walk_headers::<()>(r, |name, value| {
            if let (Ok(name), Ok(value)) = (std::str::from_utf8(name), std::str::from_utf8(value)) {
                out.push(Header {
                    name: RStr::from_str(name),
                    value: RStr::from_str(value),
                });
            }
            None
        });
    }
    out
}

/// The value of request header `name` (lower case), if present and UTF-8; nothing allocated.
pub unsafe fn header<'a>(r: *mut ngx_http_request_t, name: &str) -> Option<&'a str> {
    // SAFETY: `r` is a live request.
    unsafe {
        walk_headers(r, |key, value| {
            (key == name.as_bytes()).then(|| std::str::from_utf8(value).ok())
        })
        .flatten()
    }
}

/// Adds response headers (nginx copies them into the pool).
pub unsafe fn add_response_headers(r: *mut ngx_http_request_t, headers: &[(&str, String)]) {
    // SAFETY: `r` is a live request whose response headers are not sent yet.
    let request = unsafe { Request::from_ngx_http_request(r) };
    for (name, value) in headers {
        if request.add_header_out(name, value).is_none() {
            log::error("keyward: cannot add a response header (out of memory)");
        }
    }
}

/// The request body, from memory buffers or nginx's temporary file.
pub unsafe fn read_body(
    r: *mut ngx_http_request_t,
    max_body: usize,
) -> Result<Vec<u8>, GatewayError> {
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
                    return Err(super::access::internal());
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
pub unsafe fn replace_body(r: *mut ngx_http_request_t, body: &[u8]) -> Result<(), ()> {
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

pub unsafe fn memory_buf(r: *mut ngx_http_request_t, data: &[u8]) -> Result<*mut ngx_buf_t, ()> {
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
pub unsafe fn finish_with(r: *mut ngx_http_request_t, denial: &GatewayError) -> ngx_int_t {
    // SAFETY: `r` is live and no response was sent yet.
    unsafe {
        let rc = send_denial(r, denial);
        ngx_http_finalize_request(r, rc);
    }
    NGX_DONE as ngx_int_t
}

/// Sends the denial's envelope.
pub unsafe fn send_denial(r: *mut ngx_http_request_t, denial: &GatewayError) -> ngx_int_t {
    // SAFETY: the caller passes a live request with no response sent yet.
    unsafe { send_json(r, denial.status, &denial.body(), denial.retry_after_secs) }
}

/// Sends an answer of `status` with no body (a CORS preflight's).
pub unsafe fn send_empty(r: *mut ngx_http_request_t, status: u16) -> ngx_int_t {
    // SAFETY: `r` is live and no response was sent yet; with `header_only` nginx writes the
    // header alone and the request is finalized with its answer.
    unsafe {
        (*r).headers_out.status = ngx::ffi::ngx_uint_t::from(status);
        (*r).headers_out.content_length_n = 0;
        (*r).set_header_only(1);
        ngx_http_send_header(r)
    }
}

/// Sends a JSON answer of `status` (and `Retry-After`, when given).
pub unsafe fn send_json(
    r: *mut ngx_http_request_t,
    status: u16,
    body: &[u8],
    retry_after_secs: Option<u64>,
) -> ngx_int_t {
    // SAFETY: `r` is live; the header strings are static or copied into the request pool by
    // `add_header_out`; the body buffer comes from the request pool.
    unsafe {
        (*r).headers_out.status = ngx::ffi::ngx_uint_t::from(status);
        const JSON: &[u8] = b"application/json";
        (*r).headers_out.content_type.len = JSON.len();
        (*r).headers_out.content_type.data = JSON.as_ptr() as *mut u8;
        (*r).headers_out.content_type_len = JSON.len();
        (*r).headers_out.content_type_lowcase = std::ptr::null_mut();
        (*r).headers_out.content_length_n = body.len() as ngx::ffi::off_t;
        if let Some(secs) = retry_after_secs {
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
        let Ok(buf) = memory_buf(r, body) else {
            return NGX_ERROR as ngx_int_t;
        };
        let mut out = ngx_chain_t {
            buf,
            next: std::ptr::null_mut(),
        };
        ngx_http_output_filter(r, &mut out)
    }
}

/// 413 `request_too_large`.
pub fn too_large(max_body: usize) -> GatewayError {
    let mut denial = GatewayError::new(
        413,
        "request_too_large",
        format!("the request body exceeds {max_body} bytes"),
    );
    denial.param = Some("body".to_owned());
    denial
}
