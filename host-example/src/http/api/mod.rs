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

/// Applies an update's `changes` to a stored document, as Bifrost's upserts do: a field sent
/// replaces the stored one, `null` removes it; the fields in `fixed` (the document's name) are
/// never changed.
pub fn apply_fields(
    stored: &mut serde_json::Map<String, serde_json::Value>,
    changes: serde_json::Map<String, serde_json::Value>,
    fixed: &[&str],
) {
    for (field, value) in changes {
        if fixed.contains(&field.as_str()) {
            continue;
        }
        if value.is_null() {
            stored.remove(&field);
        } else {
            stored.insert(field, value);
        }
    }
}
