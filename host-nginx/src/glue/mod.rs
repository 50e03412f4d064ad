//! The nginx side: the module definition, its directives and configuration structures, and the
//! registration of the access handler, the response filters and the variables.
//!
//! This is the only place with `unsafe` code (each block has a `// SAFETY:` comment): nginx
//! hands the module raw pointers to its configuration, requests and buffers, and the module
//! must export C symbols. Every `extern "C"` entry point catches panics ([`guard`]) so no
//! unwind ever crosses into nginx.

// An nginx module is FFI throughout: raw pointers from nginx, C statics, exported symbols.
#![allow(unsafe_code, static_mut_refs, clippy::missing_safety_doc)]

mod access;
mod filter;
mod host;
mod log;
mod vars;

use std::{
    ffi::{c_char, c_void},
    mem::offset_of,
    panic::{AssertUnwindSafe, catch_unwind},
    path::PathBuf,
    ptr::{addr_of, addr_of_mut, null_mut},
    sync::Arc,
};

use ngx::{
    core::{NGX_CONF_ERROR, NGX_CONF_OK, Pool},
    ffi::{
        NGX_CONF_FLAG, NGX_CONF_TAKE1, NGX_HTTP_LOC_CONF, NGX_HTTP_MAIN_CONF, NGX_HTTP_MODULE,
        NGX_HTTP_SRV_CONF, NGX_LOG_EMERG, NGX_LOG_NOTICE, ngx_command_t, ngx_conf_t,
        ngx_core_conf_t, ngx_core_module, ngx_cycle_t, ngx_flag_t, ngx_http_conf_ctx_t,
        ngx_http_module, ngx_http_module_t, ngx_int_t, ngx_module_t, ngx_parse_size, ngx_str_t,
        ngx_uint_t,
    },
    ngx_string,
};

use crate::{config::SharedConfig, runtime::Runtime};

/// The default `keyward_max_body_size`: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
const UNSET_SIZE: usize = usize::MAX;
const UNSET_FLAG: ngx_flag_t = -1;

/// The `http`-level configuration.
#[derive(Debug)]
pub struct MainConf {
    config_path: Option<PathBuf>,
    per_worker_limits: ngx_flag_t,
    runtime: Option<Arc<Runtime>>,
}

impl Default for MainConf {
    fn default() -> Self {
        Self {
            config_path: None,
            per_worker_limits: UNSET_FLAG,
            runtime: None,
        }
    }
}

/// The `location`-level configuration (also settable at `http` and `server` level).
#[derive(Debug)]
pub struct LocConf {
    enable: ngx_flag_t,
    max_body: usize,
}

impl Default for LocConf {
    fn default() -> Self {
        Self {
            enable: UNSET_FLAG,
            max_body: UNSET_SIZE,
        }
    }
}

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

const MAIN_OFFSET: ngx_uint_t = offset_of!(ngx_http_conf_ctx_t, main_conf) as ngx_uint_t;
const LOC_OFFSET: ngx_uint_t = offset_of!(ngx_http_conf_ctx_t, loc_conf) as ngx_uint_t;
const ANY_LEVEL: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

static mut COMMANDS: [ngx_command_t; 5] = [
    ngx_command_t {
        name: ngx_string!("keyward_config"),
        type_: (NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(set_config),
        conf: MAIN_OFFSET,
        offset: 0,
        post: null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("keyward_per_worker_limits"),
        type_: (NGX_HTTP_MAIN_CONF | NGX_CONF_FLAG) as ngx_uint_t,
        set: Some(set_per_worker_limits),
        conf: MAIN_OFFSET,
        offset: 0,
        post: null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("keyward"),
        type_: (ANY_LEVEL | NGX_CONF_FLAG) as ngx_uint_t,
        set: Some(set_enable),
        conf: LOC_OFFSET,
        offset: 0,
        post: null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("keyward_max_body_size"),
        type_: (ANY_LEVEL | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(set_max_body),
        conf: LOC_OFFSET,
        offset: 0,
        post: null_mut(),
    },
    ngx_command_t::empty(),
];

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

/// Runs `f`, turning a panic into `fallback` (no unwind may cross into nginx).
fn guard<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        log::error("keyward: internal panic caught at the nginx boundary");
        fallback
    })
}

/// The directive's arguments (the directive name is `[0]`).
unsafe fn args<'a>(cf: *mut ngx_conf_t) -> &'a [ngx_str_t] {
    // SAFETY: in a directive handler `cf->args` is an array of `ngx_str_t` with `nelts` items.
    unsafe {
        let args = (*cf).args;
        std::slice::from_raw_parts((*args).elts as *const ngx_str_t, (*args).nelts)
    }
}

fn flag(value: &ngx_str_t) -> Option<ngx_flag_t> {
    match value.as_bytes() {
        b"on" => Some(1),
        b"off" => Some(0),
        _ => None,
    }
}

fn conf_error(cf: *mut ngx_conf_t, message: &str) -> *mut c_char {
    // SAFETY: `cf` is the live configuration being parsed.
    unsafe { log::conf_emerg(cf, message) };
    NGX_CONF_ERROR
}

unsafe extern "C" fn set_config(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        // SAFETY: `conf` is this module's `MainConf` (conf offset: main_conf); `cf` is live.
        let (main, value, prefix) = unsafe {
            let cycle = (*cf).cycle;
            (
                &mut *(conf as *mut MainConf),
                args(cf)[1],
                (*cycle).conf_prefix,
            )
        };
        if main.config_path.is_some() {
            return conf_error(cf, "keyward_config is duplicate");
        }
        let Ok(path) = value.to_str() else {
            return conf_error(cf, "keyward_config: the path is not UTF-8");
        };
        let mut path = PathBuf::from(path);
        if path.is_relative() {
            path =
                PathBuf::from(String::from_utf8_lossy(prefix.as_bytes()).into_owned()).join(path);
        }
        main.config_path = Some(path);
        NGX_CONF_OK
    })
}

unsafe extern "C" fn set_per_worker_limits(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        // SAFETY: `conf` is this module's `MainConf`; `cf` is live.
        let (main, value) = unsafe { (&mut *(conf as *mut MainConf), args(cf)[1]) };
        match flag(&value) {
            Some(v) => {
                main.per_worker_limits = v;
                NGX_CONF_OK
            }
            None => conf_error(cf, "keyward_per_worker_limits takes `on` or `off`"),
        }
    })
}

unsafe extern "C" fn set_enable(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        // SAFETY: `conf` is this module's `LocConf` (conf offset: loc_conf); `cf` is live.
        let (loc, value) = unsafe { (&mut *(conf as *mut LocConf), args(cf)[1]) };
        match flag(&value) {
            Some(v) => {
                loc.enable = v;
                NGX_CONF_OK
            }
            None => conf_error(cf, "keyward takes `on` or `off`"),
        }
    })
}

unsafe extern "C" fn set_max_body(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        // SAFETY: `conf` is this module's `LocConf`; `cf` is live; `ngx_parse_size` only reads
        // the string.
        let (loc, size) = unsafe {
            let mut value = args(cf)[1];
            (&mut *(conf as *mut LocConf), ngx_parse_size(&mut value))
        };
        match usize::try_from(size) {
            Ok(size) if size > 0 => {
                loc.max_body = size;
                NGX_CONF_OK
            }
            _ => conf_error(cf, "keyward_max_body_size: invalid size"),
        }
    })
}

unsafe extern "C" fn create_main_conf(cf: *mut ngx_conf_t) -> *mut c_void {
    // SAFETY: `cf->pool` is the cycle's pool; `allocate` registers a cleanup that drops the
    // value when the cycle is destroyed.
    unsafe { Pool::from_ngx_pool((*cf).pool).allocate(MainConf::default()) as *mut c_void }
}

unsafe extern "C" fn create_loc_conf(cf: *mut ngx_conf_t) -> *mut c_void {
    // SAFETY: as in `create_main_conf`.
    unsafe { Pool::from_ngx_pool((*cf).pool).allocate(LocConf::default()) as *mut c_void }
}

unsafe extern "C" fn merge_loc_conf(
    cf: *mut ngx_conf_t,
    prev: *mut c_void,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: both are this module's `LocConf`s, created by `create_loc_conf`; `cf->ctx` is the
    // http block's conf ctx, whose main conf (parsed before any merge) is our `MainConf`.
    let (prev, conf, main) = unsafe {
        let ctx = (*cf).ctx as *mut ngx_http_conf_ctx_t;
        let main = *(*ctx).main_conf.add(module().ctx_index) as *const MainConf;
        (
            &*(prev as *const LocConf),
            &mut *(conf as *mut LocConf),
            &*main,
        )
    };
    if conf.enable == UNSET_FLAG {
        conf.enable = if prev.enable == UNSET_FLAG {
            0
        } else {
            prev.enable
        };
    }
    if conf.max_body == UNSET_SIZE {
        conf.max_body = if prev.max_body == UNSET_SIZE {
            DEFAULT_MAX_BODY
        } else {
            prev.max_body
        };
    }
    if conf.enable == 1 && main.config_path.is_none() {
        return conf_error(cf, "`keyward on` needs `keyward_config` in the http block");
    }
    NGX_CONF_OK
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
        let loaded =
            SharedConfig::load(&path).and_then(|config| Runtime::start(config, host::handle()));
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
