//! Which override a request gets.

use super::{OverrideSet, PriceOverrides};
use crate::prices::{PricePatch, PriceTable};

fn patch(input: u64) -> PricePatch {
    PricePatch {
        input: Some(input),
        ..PricePatch::default()
    }
}

fn input_of(price: Option<crate::prices::Price>) -> u64 {
    // 1000 input tokens, no output: femto-dollars * 1000 / 1e6 nano-dollars.
    price.map_or(0, |p| p.estimate_nanos(1_000_000, 0))
}

#[test]
fn the_most_specific_scope_wins_then_exact_then_the_longer_prefix() {
    let prices = PriceTable::default();
    let mut overrides = PriceOverrides::default();
    overrides.mark_used();
    overrides.global.insert("gpt-4o", false, patch(1_000));
    overrides.global.insert("gpt-", true, patch(2_000));
    overrides.global.insert("gpt-4", true, patch(3_000));
    let mut openai = OverrideSet::default();
    openai.insert("gpt-", true, patch(4_000));
    overrides.providers.insert("openai".into(), openai);
    let mut vk = OverrideSet::default();
    vk.insert("claude-3", true, patch(5_000));
    overrides.keys.insert("vk-1".into(), vk);
    // Scope beats specificity: the provider's wildcard beats the global exact entry.
    assert_eq!(
        input_of(overrides.price(&prices, "", "openai", "gpt-4o")),
        4_000
    );
    assert_eq!(
        input_of(overrides.price(&prices, "", "azure", "gpt-4o")),
        1_000
    );
    assert_eq!(
        input_of(overrides.price(&prices, "", "azure", "gpt-4.1")),
        3_000
    );
    assert_eq!(
        input_of(overrides.price(&prices, "", "azure", "gpt-5")),
        2_000
    );
    assert_eq!(
        input_of(overrides.price(&prices, "vk-1", "anthropic", "claude-3-5-haiku-latest")),
        5_000
    );
    assert!(
        overrides
            .price(&prices, "vk-2", "anthropic", "claude-3-5-haiku-latest")
            .is_none()
    );
}

#[test]
fn a_patch_replaces_only_the_fields_it_sets() {
    let prices = PriceTable::build(true, [], Default::default()).unwrap();
    let base = prices.lookup("openai", "gpt-4o").unwrap();
    let mut overrides = PriceOverrides::default();
    overrides.mark_used();
    overrides.global.insert(
        "gpt-4o",
        false,
        PricePatch {
            output: Some(0),
            ..PricePatch::default()
        },
    );
    let patched = overrides.price(&prices, "", "openai", "gpt-4o").unwrap();
    assert_eq!(
        patched.estimate_nanos(1000, 0),
        base.estimate_nanos(1000, 0)
    );
    assert_eq!(patched.estimate_nanos(0, 1000), 0);
}
