//! What a host offers its plugins: [`HostServices`], passed to every instance at construction.
//! Time comes from here, so plugins never read the system clock themselves and tests drive
//! budget windows and rate limits with a manual clock (see [`crate::guard`] for a ready
//! [`SystemHost`](crate::guard::SystemHost) and `plugins/*/tests.rs` for manual clocks).

// Scoped allowances for the `#[sabi_trait]` expansion in this module, and nothing else here:
// it defines trait impls inside a const item (non_local_definitions), and its generated vtable
// shims and `Send`/`Sync` impls are `unsafe` code written by abi_stable, not by us.
#![allow(non_local_definitions, unsafe_code)]

use abi_stable::{
    StableAbi, sabi_trait,
    std_types::{RArc, RStr},
};

/// A log level, as a `u8` newtype (`0` error … `4` trace).
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Debug)]
pub struct LogLevel(pub u8);

impl LogLevel {
    /// Errors.
    pub const ERROR: Self = Self(0);
    /// Warnings, e.g. shadow-mode denials.
    pub const WARN: Self = Self(1);
    /// Information.
    pub const INFO: Self = Self(2);
    /// Debugging.
    pub const DEBUG: Self = Self(3);
    /// Tracing.
    pub const TRACE: Self = Self(4);
}

/// Services the host provides to plugins. Implemented by the host; mocked in tests.
#[sabi_trait]
pub trait HostServices: Send + Sync + Clone {
    /// Wall-clock time in nanoseconds since the Unix epoch. Budget windows, calendar resets and
    /// rate-limit windows read this and nothing else. It is read on every reservation and
    /// settlement, so a host may answer from a coarse clock (milliseconds of resolution are
    /// plenty for windows of seconds and more); it must not go backwards in normal operation.
    fn now_unix_nanos(&self) -> u64;

    /// Logs a message through the host's logger. The message must not contain secrets.
    #[sabi(last_prefix_field)]
    fn log(&self, level: LogLevel, message: RStr<'_>);
}

/// The host services handle a plugin holds: reference-counted, cloneable, `Send + Sync`.
pub type HostHandle = HostServices_TO<'static, RArc<()>>;
