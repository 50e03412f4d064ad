//! Which model-level and provider-level entries a request meets.

use super::{ModelLimits, ModelTable};
use crate::policy::Path;

fn limits() -> (ModelLimits, ModelTable) {
    let mut limits = ModelLimits {
        paths: (0..8).map(|_| Path::default()).collect(),
        ..ModelLimits::default()
    };
    limits.providers.insert("openai".into(), 0);
    assert!(limits.global.insert(Some("openai"), "gpt-4o", 1));
    assert!(limits.global.insert(None, "gpt-4o", 2));
    assert!(limits.global.insert(Some("openai"), "*", 3));
    assert!(limits.global.insert(None, "*", 4));
    assert!(
        !limits.global.insert(None, "*", 5),
        "one entry per provider and model"
    );
    let mut scoped = ModelTable::default();
    assert!(scoped.insert(Some("openai"), "gpt-4o", 6));
    assert!(scoped.insert(None, "*", 7));
    (limits, scoped)
}

#[test]
fn a_request_meets_every_tier_that_applies_in_checking_order() {
    let (limits, scoped) = limits();
    let matched = limits.matching(Some(&scoped), "openai", "gpt-4o");
    assert_eq!(matched.before(), [0, 1, 2, 3, 4]);
    assert_eq!(matched.after(), [6, 7]);
    // A dated name meets its base name's configs.
    let dated = limits.matching(None, "openai", "gpt-4o-2024-08-06");
    assert_eq!(dated.before(), [0, 1, 2, 3, 4]);
    assert!(dated.after().is_empty());
    // Another model on another provider: only the configs for every model everywhere.
    let other = limits.matching(Some(&scoped), "anthropic", "claude-sonnet-4-5");
    assert_eq!(other.before(), [4]);
    assert_eq!(other.after(), [7]);
    // Another model of the same provider.
    assert_eq!(
        limits.matching(None, "openai", "gpt-4o-mini").before(),
        [0, 3, 4]
    );
}

#[test]
fn without_entries_nothing_is_met() {
    let limits = ModelLimits::default();
    let matched = limits.matching(None, "openai", "gpt-4o");
    assert!(matched.before().is_empty() && matched.after().is_empty());
}
