//! Interned provider-key ids. An [`Admission`](keyward_plugin_api::ffi::Admission) lends the
//! host a slice of `RStr` ids borrowed from the instance; such a slice cannot point into the
//! instance's own strings without self-reference, so each distinct id is leaked once for the
//! life of the process (plugins are never unloaded either). Repeated reconfigurations with the
//! same ids reuse the same strings, so memory grows only with ids never seen before.

use std::{collections::HashSet, sync::OnceLock};

use parking_lot::Mutex;

static INTERNED: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();

/// The process-wide copy of `text`.
pub fn intern(text: &str) -> &'static str {
    let mut set = INTERNED.get_or_init(Mutex::default).lock();
    if let Some(existing) = set.get(text) {
        return existing;
    }
    let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
    set.insert(leaked);
    leaked
}
