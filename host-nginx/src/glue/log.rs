//! Writing to nginx's error log. Messages never contain secrets (key values are never
//! formatted anywhere in the module).

use ngx::ffi::{
    NGX_LOG_EMERG, NGX_LOG_ERR, NGX_LOG_NOTICE, NGX_LOG_WARN, ngx_conf_t, ngx_log_t, ngx_uint_t,
};

/// Writes `message` to `log` at `level`, if the log's level lets it through.
pub unsafe fn write(log: *mut ngx_log_t, level: ngx_uint_t, message: &str) {
    // SAFETY: the caller passes a live log (or NULL, which is skipped).
    unsafe {
        if log.is_null() || level > (*log).log_level {
            return;
        }
        ngx::log::log_error(level, log, 0, message.as_bytes());
    }
}

/// Writes to the current cycle's log.
pub fn write_cycle(level: ngx_uint_t, message: &str) {
    // SAFETY: `ngx_cycle` is set before any module code runs and its log lives as long as the
    // cycle; nginx runs module code on one thread.
    unsafe {
        let cycle = ngx::ffi::ngx_cycle;
        if !cycle.is_null() {
            write((*cycle).log, level, message);
        }
    }
}

/// An error-level line.
pub fn error(message: &str) {
    write_cycle(NGX_LOG_ERR as ngx_uint_t, message);
}

/// A warning.
pub fn warn(message: &str) {
    write_cycle(NGX_LOG_WARN as ngx_uint_t, message);
}

/// A notice.
pub fn notice(message: &str) {
    write_cycle(NGX_LOG_NOTICE as ngx_uint_t, message);
}

/// A configuration error, with the file and line nginx is parsing.
pub unsafe fn conf_emerg(cf: *mut ngx_conf_t, message: &str) {
    // SAFETY: `cf` is live; the format consumes exactly a length and a pointer.
    unsafe {
        ngx::ffi::ngx_conf_log_error(
            NGX_LOG_EMERG as ngx_uint_t,
            cf,
            0,
            c"%*s".as_ptr(),
            message.len(),
            message.as_ptr(),
        );
    }
}
