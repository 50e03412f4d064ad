//! Re-seeding from an edited `--config` file once the data directory holds a configuration, as
//! Bifrost re-seeds the entries of its file whose hash changed.
//!
//! The data directory keeps, beside the saved configuration, the `--config` document as it was
//! last seeded ([`SEED_COPY`]). At start, when the file differs from that copy, the change is
//! applied to the saved configuration entry by entry — a three-way merge whose base is the copy:
//! - an entry the file added or changed since the copy takes the file's version (the file wins
//!   over a change made through the API to the same entry, as in Bifrost);
//! - an entry the file removed is removed, unless the API changed it since (then it is kept and
//!   warned);
//! - every other entry keeps the saved version, so changes made through the API survive.
//!
//! An entry is a provider's settings (without its keys), one provider key (by `id`, else
//! `name`), one item of a governance list (`virtual_keys`, `teams`, `customers`, `budgets`,
//! `rate_limits`, `model_configs`, `routing_rules`, `pricing_overrides`, …, by `id`, else
//! `name`), any other governance field, or any other top-level field. Messages name entries by
//! path and id, never a value.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The file, in the data directory, holding the `--config` document as last seeded.
pub const SEED_COPY: &str = "seed.json";

/// Where an entry lives in the document.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Entry {
    /// A top-level field other than `providers` and `governance`.
    Top(String),
    /// A provider's fields other than `keys`.
    Provider(String),
    /// A provider's key, by id.
    Key(String, String),
    /// A governance field that is not a list of identified items.
    Governance(String),
    /// An item of a governance list, by id.
    Item(String, String),
}

impl Entry {
    fn describe(&self) -> String {
        match self {
            Entry::Top(field) => field.clone(),
            Entry::Provider(name) => format!("providers.{name}"),
            Entry::Key(provider, id) => format!("providers.{provider}.keys[{id}]"),
            Entry::Governance(field) => format!("governance.{field}"),
            Entry::Item(list, id) => format!("governance.{list}[{id}]"),
        }
    }
}

/// What a merge did, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reseeded {
    /// Entries taken from the file (added or changed there).
    pub taken: Vec<String>,
    /// Entries removed because the file removed them.
    pub removed: Vec<String>,
    /// Entries the file removed but the API had changed: kept.
    pub kept: Vec<String>,
}

impl Reseeded {
    /// Whether the merge changed nothing.
    pub fn is_empty(&self) -> bool {
        self.taken.is_empty() && self.removed.is_empty()
    }
}

fn identity(item: &Value) -> Option<String> {
    ["id", "key_id", "name"]
        .into_iter()
        .find_map(|field| match item.get(field) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
}

/// Whether every item of `list` has an identity, none twice (else the list is one entry).
fn identified(list: &[Value]) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    list.iter()
        .all(|item| identity(item).is_some_and(|id| seen.insert(id)))
}

fn entries(document: &Value) -> BTreeMap<Entry, Value> {
    let mut found = BTreeMap::new();
    let Some(root) = document.as_object() else {
        return found;
    };
    for (field, value) in root {
        match (field.as_str(), value) {
            ("providers", Value::Object(providers)) => {
                for (name, provider) in providers {
                    let mut settings = provider.clone();
                    let keys = settings.as_object_mut().and_then(|p| p.remove("keys"));
                    match keys {
                        Some(Value::Array(keys)) if identified(&keys) => {
                            for key in keys {
                                let id = identity(&key).unwrap_or_default();
                                found.insert(Entry::Key(name.clone(), id), key);
                            }
                        }
                        Some(other) => {
                            // Unidentified keys stay with the provider's settings.
                            if let Some(object) = settings.as_object_mut() {
                                object.insert("keys".to_owned(), other);
                            }
                        }
                        None => {}
                    }
                    found.insert(Entry::Provider(name.clone()), settings);
                }
            }
            ("governance", Value::Object(governance)) => {
                for (name, value) in governance {
                    match value {
                        Value::Array(items) if identified(items) => {
                            for item in items {
                                let id = identity(item).unwrap_or_default();
                                found.insert(Entry::Item(name.clone(), id), item.clone());
                            }
                        }
                        _ => {
                            found.insert(Entry::Governance(name.clone()), value.clone());
                        }
                    }
                }
            }
            _ => {
                found.insert(Entry::Top(field.clone()), value.clone());
            }
        }
    }
    found
}

fn object_at<'d>(document: &'d mut Value, field: &str) -> &'d mut Map<String, Value> {
    if !document.is_object() {
        *document = Value::Object(Map::new());
    }
    let root = document.as_object_mut().expect("made an object above");
    let slot = root
        .entry(field.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().expect("made an object above")
}

/// Sets (`Some`) or removes (`None`) an identified item of `list`, in place when present.
fn set_item(list: &mut Value, id: &str, value: Option<&Value>) {
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    let items = list.as_array_mut().expect("made an array above");
    let position = items
        .iter()
        .position(|item| identity(item).as_deref() == Some(id));
    match (position, value) {
        (Some(i), Some(value)) => items[i] = value.clone(),
        (Some(i), None) => {
            items.remove(i);
        }
        (None, Some(value)) => items.push(value.clone()),
        (None, None) => {}
    }
}

/// Sets (`Some`) or removes (`None`) `field` of `object`.
fn put(object: &mut Map<String, Value>, field: &str, value: Option<&Value>) {
    match value {
        Some(value) => {
            object.insert(field.to_owned(), value.clone());
        }
        None => {
            object.remove(field);
        }
    }
}

fn apply(document: &mut Value, entry: &Entry, value: Option<&Value>) {
    match entry {
        Entry::Top(field) => {
            if !document.is_object() {
                *document = Value::Object(Map::new());
            }
            put(
                document.as_object_mut().expect("made an object above"),
                field,
                value,
            );
        }
        Entry::Provider(name) => {
            let providers = object_at(document, "providers");
            match value {
                Some(Value::Object(settings)) => {
                    let provider = providers
                        .entry(name.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    let keys = provider.get("keys").cloned();
                    let mut next = settings.clone();
                    if let Some(keys) = keys
                        && !next.contains_key("keys")
                    {
                        next.insert("keys".to_owned(), keys);
                    }
                    *provider = Value::Object(next);
                }
                Some(other) => {
                    providers.insert(name.clone(), other.clone());
                }
                None => {
                    providers.remove(name);
                }
            }
        }
        Entry::Key(provider, id) => {
            let providers = object_at(document, "providers");
            if value.is_none() && !providers.contains_key(provider) {
                return;
            }
            let provider = providers
                .entry(provider.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(object) = provider.as_object_mut() {
                let keys = object
                    .entry("keys".to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                set_item(keys, id, value);
            }
        }
        Entry::Governance(field) => put(object_at(document, "governance"), field, value),
        Entry::Item(list, id) => {
            let governance = object_at(document, "governance");
            if value.is_none() && !governance.contains_key(list) {
                return;
            }
            let items = governance
                .entry(list.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            set_item(items, id, value);
        }
    }
}

/// Applies the change from `seeded` (the file as last seeded) to `file` (the file now) to
/// `saved` (the configuration as changed through the API since), in place.
pub fn merge(saved: &mut Value, seeded: &Value, file: &Value) -> Reseeded {
    let (base, theirs, ours) = (entries(seeded), entries(file), entries(saved));
    let mut report = Reseeded::default();
    let mut touched: Vec<&Entry> = base.keys().chain(theirs.keys()).collect();
    touched.sort();
    touched.dedup();
    for entry in touched {
        let (before, now) = (base.get(entry), theirs.get(entry));
        if before == now {
            continue;
        }
        match now {
            Some(value) => {
                apply(saved, entry, Some(value));
                report.taken.push(entry.describe());
            }
            None if ours.get(entry) == before => {
                apply(saved, entry, None);
                report.removed.push(entry.describe());
            }
            None => report.kept.push(entry.describe()),
        }
    }
    report
}

#[cfg(test)]
mod tests;
