//! The directives and the configuration structures: `keyward_config` and
//! `keyward_per_worker_limits` (http), `keyward` and `keyward_max_body_size` (http, server,
//! location).

use std::{
    ffi::{c_char, c_void},
    mem::offset_of,
    path::PathBuf,
    ptr::null_mut,
    sync::Arc,
};

use ngx::{
    core::{NGX_CONF_ERROR, NGX_CONF_OK},
    ffi::{
        NGX_CONF_FLAG, NGX_CONF_TAKE1, NGX_HTTP_LOC_CONF, NGX_HTTP_MAIN_CONF, NGX_HTTP_SRV_CONF,
        ngx_command_t, ngx_conf_t, ngx_flag_t, ngx_http_conf_ctx_t, ngx_parse_size, ngx_str_t,
        ngx_uint_t,
    },
    ngx_string,
};

use super::{guard, log, module, pool_allocate};
use crate::runtime::Runtime;

/// The default `keyward_max_body_size`: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
const UNSET_SIZE: usize = usize::MAX;
const UNSET_FLAG: ngx_flag_t = -1;

/// The `http`-level configuration.
#[derive(Debug)]
pub struct MainConf {
    pub(super) config_path: Option<PathBuf>,
    pub(super) per_worker_limits: ngx_flag_t,
    pub(super) runtime: Option<Arc<Runtime>>,
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
    pub(super) enable: ngx_flag_t,
    pub(super) max_body: usize,
}

impl Default for LocConf {
    fn default() -> Self {
        Self {
            enable: UNSET_FLAG,
            max_body: UNSET_SIZE,
        }
    }
}

const MAIN_OFFSET: ngx_uint_t = offset_of!(ngx_http_conf_ctx_t, main_conf) as ngx_uint_t;
const LOC_OFFSET: ngx_uint_t = offset_of!(ngx_http_conf_ctx_t, loc_conf) as ngx_uint_t;
const ANY_LEVEL: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

/// The directives, terminated by an empty command.
pub static mut COMMANDS: [ngx_command_t; 5] = [
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

pub fn conf_error(cf: *mut ngx_conf_t, message: &str) -> *mut c_char {
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

pub unsafe extern "C" fn create_main_conf(cf: *mut ngx_conf_t) -> *mut c_void {
    // SAFETY: `cf->pool` is the cycle's pool; `pool_allocate` registers a cleanup that drops the
    // value when the cycle is destroyed.
    unsafe { pool_allocate((*cf).pool, MainConf::default()) as *mut c_void }
}

pub unsafe extern "C" fn create_loc_conf(cf: *mut ngx_conf_t) -> *mut c_void {
    // SAFETY: as in `create_main_conf`.
    unsafe { pool_allocate((*cf).pool, LocConf::default()) as *mut c_void }
}

pub unsafe extern "C" fn merge_loc_conf(
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
