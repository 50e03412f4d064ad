//! `ngx_http_keyward_module`: an nginx dynamic module that hosts the keyward plugins.
//!
//! nginx loads it with `load_module`; it loads the same plugin `.so` files as `keyward-host`,
//! through the same loader ([`keyward_plugin_api::loader`]), from the same configuration file
//! (`keyward_config`), and gates the locations where `keyward on` is set: in the access phase it
//! reads the JSON body and runs the gateway core's session — authorize, reserve, select a provider
//! key — then either answers the denial with the core's error envelope or sets variables
//! (`$keyward_upstream_url`, `$keyward_key`, …) for `proxy_pass`; the response filters meter the
//! answer and the session is finished by the core's charging rule (the usage reported, else what
//! was delivered; a non-2xx without usage releases). See `docs/nginx.md`.
//!
//! Layout: everything a host decides — parsing, admission, the attempt, metering, charging, the
//! envelope — is the gateway core's (`keyward_host_core`, shared with keyward-host);
//! [`config`] and [`runtime`] are the module's thin, safe view of it; `glue` holds every
//! `unsafe` line, the nginx side.

pub mod config;
pub mod runtime;

#[cfg(feature = "count-allocations")]
pub mod allocations {
    //! The `count-allocations` feature (tests only): every heap allocation of the module's Rust
    //! code is counted (`stats_alloc` over the system allocator), read by
    //! `$keyward_allocations`. The plugins, separate libraries, keep their own allocator.

    use std::alloc::System;

    use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

    #[global_allocator]
    static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

    /// Allocations so far in this process.
    pub fn count() -> usize {
        GLOBAL.stats().allocations
    }
}

// The nginx side links against nginx's symbols, which only the nginx binary provides: it is
// left out of unit-test builds.
#[cfg(not(test))]
mod glue;
