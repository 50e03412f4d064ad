//! Bifrost's governance management API: virtual keys ([`virtual_keys`]), teams and customers
//! ([`org`]), the budgets and rate limits they own ([`limits`]), and the model configs and
//! pricing overrides ([`lists`]). Every change goes through
//! [`Store::update`](crate::service::store::Store::update), so the governance plugin is rebuilt
//! from it at once (counters carried over) and the change is saved atomically.
//!
//! Responses embed what the documents reference — a key's team (with its customer), customer,
//! budgets with their current usage, rate limit with its current usage, provider configs with
//! their keys — and redact every secret. The documents are read and written back by
//! [`crate::service::governance`].

pub mod limits;
pub mod lists;
pub mod org;
pub mod quota;
pub mod usage;
pub mod virtual_keys;

use axum::Router;

use crate::http::state::AppState;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(virtual_keys::routes())
        .merge(org::routes())
        .merge(limits::routes())
        .merge(lists::routes())
}

/// A fresh id for a document that came without one.
pub fn fresh_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
