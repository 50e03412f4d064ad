//! What an empty allow-list means, from a Bifrost file's top-level `version`
//! (`transports/config.schema.json`): `2`, the default, is Bifrost v1.5's — an empty list allows
//! nothing and `["*"]` everything (a key's `models`, a virtual key's `provider_configs`,
//! `allowed_models`, `key_ids`); `1` keeps v1.4's, where an empty list allows everything. The
//! host reads it once and passes it to every role, which all apply this one rule.

/// Whether an empty allow-list allows everything under `version` (absent: the default, 2);
/// `Err` says what the field must be.
pub fn empty_list_allows_all(version: Option<u64>) -> Result<bool, String> {
    match version {
        None | Some(2) => Ok(false),
        Some(1) => Ok(true),
        Some(other) => Err(format!(
            "must be 1 (Bifrost v1.4: an empty allow-list allows all) or 2 (the default: it allows none), got {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::empty_list_allows_all;

    #[test]
    fn only_version_1_reads_an_empty_list_as_all() {
        assert_eq!(empty_list_allows_all(None), Ok(false));
        assert_eq!(empty_list_allows_all(Some(2)), Ok(false));
        assert_eq!(empty_list_allows_all(Some(1)), Ok(true));
        assert!(
            empty_list_allows_all(Some(3))
                .unwrap_err()
                .contains("got 3")
        );
    }
}
