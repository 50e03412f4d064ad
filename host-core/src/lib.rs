//! The gateway core every keyward host shares: what a host does around the plugin roles, once.
//!
//! - [`config`]: the configuration file (Bifrost's `config.json` plus keyward's `plugins` and
//!   `admin` blocks), its checks and warnings, and the merge of the host's data into each
//!   plugin group's configuration;
//! - [`roles`]: building the roles from the plugin groups, and calling them across a swap;
//! - [`upstream`]: the provider adapters (URL, credential header, timeout, retries per key);
//! - [`request`]: what an inference request asks for, read without a JSON tree, and the body
//!   sent upstream;
//! - [`admission`]: what the headers alone decide (a missing, unknown or inactive virtual
//!   key), before a body is read;
//! - [`session`]: [`session::Session`], one request's phases (admit, attempts, respond,
//!   finish) around the roles;
//! - [`usage`]: reading usage and delivered output from a response body as it passes;
//! - [`charge`]: the one charging rule;
//! - [`models`]: `GET /v1/models`, asked of the authorizer;
//! - [`cors`]: cross-origin requests, Bifrost's rules from `client.allowed_origins`;
//! - [`error`]: [`error::GatewayError`] and the one error envelope.
//!
//! The core does no I/O: no async runtime, no HTTP client, no nginx. keyward-host (axum and
//! hyper) and the nginx module (nginx's event loop) are transport glue over it.

pub mod admission;
pub mod charge;
pub mod config;
pub mod cors;
pub mod error;
pub mod models;
pub mod request;
pub mod roles;
pub mod session;
pub mod upstream;
pub mod usage;
