//! Finding the virtual key in the request headers (names in lower case, as the host passes
//! them): `x-bf-vk` (any value, so older keys without the prefix work), or an `sk-bf-` value in
//! `authorization: Bearer …`, `x-api-key`, `api-key` or `x-goog-api-key`. A non-`sk-bf-` value
//! in those is a provider key meant for the upstream, not a virtual key. `x-bf-vk` wins over
//! the others; otherwise the first match in header order.

use keyward_plugin_api::{ffi::Header, model::governance::virtual_key::VIRTUAL_KEY_PREFIX};

/// The virtual key the request carries, if any. Allocates nothing.
#[inline]
pub fn find_virtual_key<'a>(headers: &[Header<'a>]) -> Option<&'a str> {
    let mut found = None;
    for header in headers {
        let value = header.value.as_str().trim();
        match header.name.as_str() {
            "x-bf-vk" if !value.is_empty() => return Some(value),
            "authorization" if found.is_none() => {
                found = strip_bearer(value).filter(|v| v.starts_with(VIRTUAL_KEY_PREFIX));
            }
            "x-api-key" | "api-key" | "x-goog-api-key"
                if found.is_none() && value.starts_with(VIRTUAL_KEY_PREFIX) =>
            {
                found = Some(value);
            }
            _ => {}
        }
    }
    found
}

fn strip_bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_start())
}

#[cfg(test)]
mod tests;
