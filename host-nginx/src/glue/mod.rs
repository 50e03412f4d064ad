//! The nginx side: the module definition, the plugin load when nginx reads its configuration
//! (`init_main_conf`), the `worker_processes` guard (`init_module`), and the submodules:
//! [`conf`] (directives), [`access`] (the access-phase gate), [`ctx`] (per-request state),
//! [`io`] (request body and denial responses), [`filter`] (settlement from the response),
//! [`vars`] (the `$keyward_*` variables), [`host`] (host services), [`log`] (error log).
//!
//! This is the only place with `unsafe` code (each block has a `// SAFETY:` comment): nginx
//! hands the module raw pointers to its configuration, requests and buffers, and the module
//! must export C symbols. Every `extern "C"` entry point catches panics ([`guard`]) so no
//! unwind ever crosses into nginx.

// An nginx module is FFI throughout: raw pointers from nginx, C statics, exported symbols.
#![allow(unsafe_code, static_mut_refs, clippy::missing_safety_doc)]

mod access;
mod conf;
mod ctx;
mod filter;
mod host;
mod io;
mod log;
mod vars;

use std::{
    ffi::{c_char, c_void},
    panic::{AssertUnwindSafe, catch_unwind},
    ptr::{addr_of, addr_of_mut},
    sync::Arc,
};

use ngx::{
    core::{NGX_CONF_ERROR, NGX_CONF_OK},
    ffi::{
        NGX_HTTP_MODULE, NGX_LOG_EMERG, NGX_LOG_NOTICE, ngx_command_t, ngx_conf_t, ngx_core_conf_t,
        ngx_core_module, ngx_cycle_t, ngx_http_conf_ctx_t, ngx_http_module, ngx_http_module_t,
        ngx_int_t, ngx_module_t, ngx_uint_t,
    },
};

use conf::{COMMANDS, MainConf, conf_error, create_loc_conf, create_main_conf, merge_loc_conf};

use crate::{config::SharedConfig, runtime::Runtime};

static HTTP_MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: Some(vars::add_variables),
    postconfiguration: Some(postconfiguration),
    create_main_conf: Some(create_main_conf),
    init_main_conf: Some(init_main_conf),
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(create_loc_conf),
    merge_loc_conf: Some(merge_loc_conf),
};

/// The module nginx loads (`load_module .../ngx_http_keyward_module.so;`).
#[used]
#[allow(non_upper_case_globals)]
pub static mut ngx_http_keyward_module: ngx_module_t = ngx_module_t {
    ctx: addr_of!(HTTP_MODULE_CTX) as *mut c_void,
    commands: addr_of_mut!(COMMANDS) as *mut ngx_command_t,
    type_: NGX_HTTP_MODULE as ngx_uint_t,
    init_module: Some(init_module),
    init_process: Some(init_process),
    ..ngx_module_t::default()
};

ngx::ngx_modules!(ngx_http_keyward_module);

/// The module descriptor, for context and configuration lookups.
fn module() -> &'static ngx_module_t {
    // SAFETY: nginx writes the module's indexes while loading it, before any request or
    // configuration callback; afterwards the static is only read.
    unsafe { &*addr_of!(ngx_http_keyward_module) }
}

/// Moves `value` into `pool`, dropped when the pool is destroyed; NULL when out of memory.
unsafe fn pool_allocate<T>(pool: *mut ngx::ffi::ngx_pool_t, value: T) -> *mut T {
    // SAFETY: `pool` is live; `ngx_palloc` returns NULL or word-aligned memory of the size
    // asked (T's alignment is at most a word: no SIMD types here); the value is written before
    // the cleanup that drops it is registered, and dropped at once if that fails.
    unsafe {
        debug_assert!(std::mem::align_of::<T>() <= std::mem::size_of::<usize>());
        let memory = ngx::ffi::ngx_palloc(pool, std::mem::size_of::<T>()) as *mut T;
        if memory.is_null() {
            return memory;
        }
        memory.write(value);
        let cleanup = ngx::ffi::ngx_pool_cleanup_add(pool, 0);
        if cleanup.is_null() {
            std::ptr::drop_in_place(memory);
            return std::ptr::null_mut();
        }
        (*cleanup).handler = Some(drop_in_pool::<T>);
        (*cleanup).data = memory as *mut c_void;
        memory
    }
}

unsafe extern "C" fn drop_in_pool<T>(data: *mut c_void) {
    // SAFETY: registered by `pool_allocate` for this `T`, run once when the pool is destroyed.
    // A panic in a destructor must not unwind into nginx.
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
        std::ptr::drop_in_place(data as *mut T)
    }));
}

/// Runs `f`, turning a panic into `fallback` (no unwind may cross into nginx).
fn guard<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        log::error("keyward: internal panic caught at the nginx boundary");
        fallback
    })
}

/// Loads the plugins once the `http` block is parsed, so `nginx -t` and a reload with a bad
/// configuration or plugin fail here, with the old workers still serving.
unsafe extern "C" fn init_main_conf(cf: *mut ngx_conf_t, conf: *mut c_void) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        // SAFETY: `conf` is this module's `MainConf`.
        let main = unsafe { &mut *(conf as *mut MainConf) };
        let Some(path) = main.config_path.clone() else {
            return NGX_CONF_OK;
        };
        let started = std::time::Instant::now();
        let loaded = SharedConfig::load(&path).and_then(|config| {
            // What keyward does not act on is named once, at load.
            for warning in &config.warnings {
                log::warn(&format!("keyward: {}: {warning}", path.display()));
            }
            Runtime::start(config, host::handle())
        });
        match loaded {
            Ok(runtime) => {
                log::notice(&format!(
                    "keyward: loaded {} from {} in {:.1} ms",
                    runtime.describe(),
                    path.display(),
                    started.elapsed().as_secs_f64() * 1000.0
                ));
                main.runtime = Some(Arc::new(runtime));
                NGX_CONF_OK
            }
            Err(error) => conf_error(cf, &format!("keyward: {error}")),
        }
    })
}

unsafe extern "C" fn postconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
    // SAFETY: called once per configuration with the live `cf`.
    unsafe {
        if access::register(cf).is_err() {
            return ngx::ffi::NGX_ERROR as ngx_int_t;
        }
        filter::register();
    }
    ngx::ffi::NGX_OK as ngx_int_t
}

/// This module's `MainConf` in a cycle, if the cycle has an `http` block.
unsafe fn cycle_main_conf<'a>(cycle: *mut ngx_cycle_t) -> Option<&'a MainConf> {
    // SAFETY: `conf_ctx[ngx_http_module.index]` is NULL or the `http` block's
    // `ngx_http_conf_ctx_t`, whose `main_conf[ctx_index]` is our `MainConf`.
    unsafe {
        let http = *(*cycle).conf_ctx.add(ngx_http_module.index) as *mut ngx_http_conf_ctx_t;
        if http.is_null() {
            return None;
        }
        let conf = *(*http).main_conf.add(module().ctx_index) as *const MainConf;
        conf.as_ref()
    }
}

/// Refuses `worker_processes` > 1 unless `keyward_per_worker_limits on` acknowledges that each
/// worker enforces its own limits.
unsafe extern "C" fn init_module(cycle: *mut ngx_cycle_t) -> ngx_int_t {
    guard(ngx::ffi::NGX_ERROR as ngx_int_t, || {
        // SAFETY: `cycle` is the new cycle; the core module's configuration is initialized
        // before `init_module` runs.
        let (main, workers) = unsafe {
            let core = *(*cycle).conf_ctx.add(ngx_core_module.index) as *const ngx_core_conf_t;
            (cycle_main_conf(cycle), (*core).worker_processes)
        };
        let Some(main) = main.filter(|m| m.runtime.is_some()) else {
            return ngx::ffi::NGX_OK as ngx_int_t;
        };
        if workers > 1 && main.per_worker_limits != 1 {
            // SAFETY: the cycle's log is live.
            unsafe {
                log::write(
                    (*cycle).log,
                    NGX_LOG_EMERG as ngx_uint_t,
                    &format!(
                        "keyward: worker_processes is {workers}, and each worker process would enforce \
                     budgets and rate limits on its own (up to {workers}x the configured limits); \
                     set `worker_processes 1`, or acknowledge with `keyward_per_worker_limits on`"
                    ),
                );
            }
            return ngx::ffi::NGX_ERROR as ngx_int_t;
        }
        ngx::ffi::NGX_OK as ngx_int_t
    })
}

/// Gives each worker its own request-id range.
unsafe extern "C" fn init_process(cycle: *mut ngx_cycle_t) -> ngx_int_t {
    guard(ngx::ffi::NGX_OK as ngx_int_t, || {
        // SAFETY: `cycle` is the worker's cycle.
        if let Some(runtime) = unsafe { cycle_main_conf(cycle) }.and_then(|m| m.runtime.as_ref()) {
            runtime.reseed_request_ids();
            log::write_cycle(
                NGX_LOG_NOTICE as ngx_uint_t,
                "keyward: worker ready; its plugin state is its own",
            );
        }
        ngx::ffi::NGX_OK as ngx_int_t
    })
}
