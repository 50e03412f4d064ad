//! The serde domain model, compatible with Bifrost's JSON documents (`/api/keys`,
//! `/api/governance/virtual-keys`, `config.json`). It never crosses the ABI per request: hosts
//! hand it to plugins as JSON text at construction and reconfiguration.
//!
//! - [`secret`]: [`Secret`](secret::Secret) (redacts itself) and
//!   [`EnvValue`](secret::EnvValue) (`{"value","env_var","from_env"}` or `"env.NAME"`).
//! - [`weight`]: the fixed-point [`Weight`](weight::Weight).
//! - [`allow_lists`]: what an empty allow-list means (the file's `version`).
//! - [`kept`]: a key document's fields keyward does not read, kept and shown redacted.
//! - [`request_type`]: Bifrost's names of request types.

pub mod allow_lists;
pub mod kept;
pub mod request_type;
pub mod secret;
pub mod weight;

pub mod governance;
pub mod key;
