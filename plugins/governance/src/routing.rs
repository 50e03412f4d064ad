//! Bifrost's routing rules (`governance.routing_rules`): before the virtual key's provider
//! choice and its checks, a request whose scopes hold a rule with a matching CEL condition is
//! sent to that rule's target instead — another provider, another model, a pinned key — and
//! the routed target is then authorized, reserved and charged like any other.
//!
//! - [`cel`]: the CEL subset the conditions are written in, compiled once, evaluated without
//!   allocating.
//! - [`table`]: the rules compiled and indexed by scope, with the answers the admission lends.
//! - [`decide`]: one request's walk over its scopes, chain rules included.

pub mod cel;
pub mod decide;
pub mod table;
