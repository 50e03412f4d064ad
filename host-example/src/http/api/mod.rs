//! The management API (`/api/*`, admin-authenticated through [`auth`]): providers
//! ([`providers`]), provider keys ([`keys`]), governance ([`governance`]), plugin reloads ([`plugins`]) and the version
//! ([`version`]); and the `/metrics`
//! scrape ([`metrics`]), which is not authenticated.

pub mod auth;
pub mod governance;
pub mod keys;
pub mod metrics;
pub mod plugins;
pub mod providers;
pub mod version;
