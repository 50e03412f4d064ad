//! Finding the virtual key in the request headers (names in lower case, as the host passes
//! them): `x-bf-vk` (any value, so older keys without the prefix work), or an `sk-bf-` value in
//! `authorization: Bearer …`, `x-api-key`, `api-key` or `x-goog-api-key`. A non-`sk-bf-` value
//! in those is a provider key meant for the upstream, not a virtual key. `x-bf-vk` wins over
//! the others; otherwise the first match in header order.

use keyward_plugin_api::{ffi::Header, model::governance::virtual_key};

/// The virtual key in the request's headers (the rule: [`virtual_key::find_virtual_key`]).
#[inline]
pub fn find_virtual_key<'a>(headers: &[Header<'a>]) -> Option<&'a str> {
    virtual_key::find_virtual_key(headers.iter().map(|h| (h.name.as_str(), h.value.as_str())))
}

#[cfg(test)]
mod tests;
