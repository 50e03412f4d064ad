//! The host services nginx offers the plugins: the system clock and nginx's error log.

use std::time::{SystemTime, UNIX_EPOCH};

use keyward_plugin_api::{
    abi_stable::{
        sabi_trait::TD_Opaque,
        std_types::{RArc, RStr},
    },
    ffi::{HostHandle, HostServices, HostServices_TO, LogLevel},
};
use ngx::ffi::{NGX_LOG_DEBUG, NGX_LOG_ERR, NGX_LOG_INFO, NGX_LOG_WARN, ngx_uint_t};

/// The host services handle given to every plugin instance.
pub fn handle() -> HostHandle {
    HostServices_TO::from_ptr(RArc::new(NginxHost), TD_Opaque)
}

#[derive(Clone, Copy, Debug)]
struct NginxHost;

impl HostServices for NginxHost {
    fn now_unix_nanos(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        let level = match level {
            LogLevel::ERROR => NGX_LOG_ERR,
            LogLevel::WARN => NGX_LOG_WARN,
            LogLevel::INFO => NGX_LOG_INFO,
            _ => NGX_LOG_DEBUG,
        };
        super::log::write_cycle(level as ngx_uint_t, &format!("keyward plugin: {message}"));
    }
}
