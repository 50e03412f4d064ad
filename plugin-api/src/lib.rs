//! The keyward plugin contract.
//!
//! This crate is the one thing a host and a plugin share. It holds:
//!
//! - [`ffi`]: the `#[repr(C)]` [`StableAbi`](abi_stable::StableAbi) types that cross the
//!   boundary on every request, the three role traits ([`ffi::KeySelector`],
//!   [`ffi::VirtualKeyAuthorizer`], [`ffi::UsageEnforcer`]), the host services a plugin may
//!   call ([`ffi::HostServices`]) and the root module every plugin exports ([`ffi::PluginMod`]).
//! - [`guard`]: the plugin-side panic guard, so a panic never crosses the ABI.
//! - [`export`]: [`export_plugin!`], which makes a plugin crate loadable in one macro call.
//! - [`loader`]: the host-side safe loader (unique copies, typed errors) and the swappable
//!   [`loader::RoleSlot`].
//! - [`model`]: the serde domain model (provider keys, virtual keys, budgets, rate limits),
//!   compatible with Bifrost's JSON documents. It never crosses the ABI: plugins receive it as
//!   JSON text at construction and reconfiguration only.
//!
//! How to write a plugin: `docs/abi.md`, and `plugins/testing/panicking` for the smallest
//! complete example.

pub mod export;
pub mod ffi;
pub mod guard;
pub mod hosts;
pub mod loader;
pub mod model;

pub use abi_stable;

/// The interface version plugins are built against (this crate's version).
pub const INTERFACE_VERSION: &str = env!("CARGO_PKG_VERSION");
