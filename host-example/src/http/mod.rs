//! The http layer: axum handlers over the service layer. [`router`] assembles the application
//! (health, `/metrics`, the inference routes of [`proxy`], the management API of [`api`]);
//! [`state`] is what every handler shares, [`client`] the upstream HTTP client, [`error`] the
//! envelope every failure is answered in, [`cors`] the cross-origin answers, and [`extract`] the extractors that answer bad input in
//! it.

pub mod api;
pub mod body_budget;
pub mod bounds;
pub mod client;
pub mod cors;
pub mod error;
pub mod extract;
pub mod proxy;
pub mod router;
pub mod state;
