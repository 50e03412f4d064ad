//! Which override a request gets.

use super::{ALL_REQUEST_TYPES, OverrideSet, PriceOverrides, request_type_bit, request_types_of};
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
    overrides
        .global
        .insert("gpt-4o", false, patch(1_000), ALL_REQUEST_TYPES);
    overrides
        .global
        .insert("gpt-", true, patch(2_000), ALL_REQUEST_TYPES);
    overrides
        .global
        .insert("gpt-4", true, patch(3_000), ALL_REQUEST_TYPES);
    let mut openai = OverrideSet::default();
    openai.insert("gpt-", true, patch(4_000), ALL_REQUEST_TYPES);
    overrides.providers.insert("openai".into(), openai);
    let mut vk = OverrideSet::default();
    vk.insert("claude-3", true, patch(5_000), ALL_REQUEST_TYPES);
    overrides.keys.insert("vk-1".into(), vk);
    // Scope beats specificity: the provider's wildcard beats the global exact entry.
    assert_eq!(
        input_of(overrides.price(&prices, "", "openai", "gpt-4o", ALL_REQUEST_TYPES)),
        4_000
    );
    assert_eq!(
        input_of(overrides.price(&prices, "", "azure", "gpt-4o", ALL_REQUEST_TYPES)),
        1_000
    );
    assert_eq!(
        input_of(overrides.price(&prices, "", "azure", "gpt-4.1", ALL_REQUEST_TYPES)),
        3_000
    );
    assert_eq!(
        input_of(overrides.price(&prices, "", "azure", "gpt-5", ALL_REQUEST_TYPES)),
        2_000
    );
    assert_eq!(
        input_of(overrides.price(
            &prices,
            "vk-1",
            "anthropic",
            "claude-3-5-haiku-latest",
            ALL_REQUEST_TYPES
        )),
        5_000
    );
    assert!(
        overrides
            .price(
                &prices,
                "vk-2",
                "anthropic",
                "claude-3-5-haiku-latest",
                ALL_REQUEST_TYPES
            )
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
        ALL_REQUEST_TYPES,
    );
    let patched = overrides
        .price(&prices, "", "openai", "gpt-4o", ALL_REQUEST_TYPES)
        .unwrap();
    assert_eq!(
        patched.estimate_nanos(1000, 0),
        base.estimate_nanos(1000, 0)
    );
    assert_eq!(patched.estimate_nanos(0, 1000), 0);
}

#[test]
fn an_override_prices_only_the_request_types_it_names() {
    let prices = PriceTable::default();
    let mut overrides = PriceOverrides::default();
    overrides.mark_used();
    let embedding = request_type_bit("embedding");
    let chat = request_type_bit("chat_completion");
    overrides
        .global
        .insert("text-embedding-3-small", false, patch(1_000), embedding);
    overrides
        .global
        .insert("text-embedding-3-small", false, patch(2_000), chat);
    overrides
        .global
        .insert("text-", true, patch(3_000), embedding);
    let of = |model: &str, types| input_of(overrides.price(&prices, "", "openai", model, types));
    assert_eq!(of("text-embedding-3-small", embedding), 1_000);
    assert_eq!(of("text-embedding-3-small", chat), 2_000);
    // A wildcard for embeddings only: a chat request for a matching model is not priced by it.
    assert_eq!(of("text-other", embedding), 3_000);
    assert_eq!(of("text-other", chat), 0);
    // A request whose type the host does not say meets every override.
    assert_eq!(of("text-other", ALL_REQUEST_TYPES), 3_000);
    assert_eq!(request_types_of(None), ALL_REQUEST_TYPES);
    assert_eq!(
        request_types_of(Some(keyward_plugin_api::ffi::RequestKind::EMBEDDING)),
        embedding
    );
}
