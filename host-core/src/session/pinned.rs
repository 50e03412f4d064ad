//! The key a request pins, as Bifrost documents it: `x-bf-api-key-id` (a key id; it wins) or
//! `x-bf-api-key` (a key name). The selector resolves either (by id, else by name); a pin the
//! virtual key does not allow, or that cannot serve the model, is `pinned_key_unavailable`.

use keyward_plugin_api::ffi::Header;

/// The header naming a key by id.
pub const PINNED_KEY_ID_HEADER: &str = "x-bf-api-key-id";
/// The header naming a key by name.
pub const PINNED_KEY_NAME_HEADER: &str = "x-bf-api-key";

/// The pinned key's id or name, if the request names one (header names are matched
/// case-insensitively; an empty value pins nothing).
pub fn pinned_key<'h>(headers: &[Header<'h>]) -> Option<&'h str> {
    let find = |wanted: &str| {
        headers
            .iter()
            .find(|h| h.name.as_str().eq_ignore_ascii_case(wanted))
            .map(|h| h.value.as_str().trim())
            .filter(|v| !v.is_empty())
    };
    find(PINNED_KEY_ID_HEADER).or_else(|| find(PINNED_KEY_NAME_HEADER))
}

#[cfg(test)]
mod tests {
    use keyward_plugin_api::abi_stable::std_types::RStr;

    use super::*;

    fn header<'a>(name: &'a str, value: &'a str) -> Header<'a> {
        Header {
            name: RStr::from_str(name),
            value: RStr::from_str(value),
        }
    }

    #[test]
    fn the_id_header_wins_over_the_name() {
        let both = [
            header("x-bf-api-key", "by-name"),
            header("X-Bf-Api-Key-Id", "by-id"),
        ];
        assert_eq!(pinned_key(&both), Some("by-id"));
        assert_eq!(pinned_key(&both[..1]), Some("by-name"));
        assert_eq!(pinned_key(&[header("x-bf-api-key", " ")]), None);
        assert_eq!(pinned_key(&[]), None);
    }
}
