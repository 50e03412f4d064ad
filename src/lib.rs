//! keyward: governance plugins for LLM gateways, as stable-ABI modules.
//!
//! This crate is a thin facade: it re-exports the plugin contract and the safe loader from
//! [`keyward_plugin_api`], and stamps the build with the contract's identity (see `build.rs`).
//! Its `tests/` hold the end-to-end tests that load the real plugin `.so` files.
//!
//! ```
//! assert_eq!(keyward::INTERFACE_VERSION, keyward::plugin_api::INTERFACE_VERSION);
//! assert_eq!(keyward::CONTRACT_FINGERPRINT.len(), 16);
//! ```

pub use keyward_plugin_api as plugin_api;
pub use keyward_plugin_api::{ffi, guard, hosts, loader, model};

/// The interface version (the `keyward-plugin-api` package version) this build speaks.
pub const INTERFACE_VERSION: &str = env!("KEYWARD_INTERFACE_VERSION");

/// A fingerprint of the ABI contract's source (`plugin-api/src/ffi/`), stamped by `build.rs`
/// and checked there against `plugin-api/abi.lock`, so a contract change without an interface
/// version bump fails the build.
pub const CONTRACT_FINGERPRINT: &str = env!("KEYWARD_CONTRACT_FINGERPRINT");
