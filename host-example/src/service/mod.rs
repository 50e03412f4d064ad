//! The service layer: the live configuration and how it changes ([`store`]), the plugins and
//! their reloads ([`plugins`]), crash-safe files ([`persist`]), start-up ([`startup`]), and the
//! governance documents of a configuration ([`governance`]).
//!
//! Nothing here knows HTTP: failures are the core's
//! [`GatewayError`](keyward_host_core::error::GatewayError) (or a plain message at start-up),
//! which the http layer answers in its envelope.

pub mod governance;
pub mod persist;
pub mod plugins;
pub mod reseed;
pub mod startup;
pub mod store;
