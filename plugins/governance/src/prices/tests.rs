use super::*;

fn price(input: f64, output: f64, cached: Option<f64>) -> ModelPrice {
    ModelPrice {
        input_cost_per_token: input,
        output_cost_per_token: output,
        cache_read_input_token_cost: cached,
    }
}

#[test]
fn the_default_file_parses_and_prices_gpt_4o() {
    let table = PriceTable::build(true, [], UnknownModelPricing::Deny).unwrap();
    let gpt4o = table.lookup("openai", "gpt-4o").unwrap();
    // 1000 input tokens at $2.50/M and 500 output tokens at $10/M = $0.0075.
    assert_eq!(gpt4o.estimate_nanos(1_000, 500), 7_500_000);
    assert_eq!(table.lookup("openai", "no-such-model"), None);
}

#[test]
fn cached_input_is_charged_at_its_own_price() {
    let p = Price::from_model(&price(1e-6, 2e-6, Some(1e-7)));
    // 800 uncached * 1000 n$ + 200 cached * 100 n$ + 100 output * 2000 n$.
    assert_eq!(p.charge_nanos(1_000, 200, 100), 800_000 + 20_000 + 200_000);
}

#[test]
fn tiny_prices_round_up_and_never_charge_zero() {
    let p = Price::from_model(&price(1e-12, 0.0, None));
    assert_eq!(p.estimate_nanos(1, 0), 1);
}

#[test]
fn qualified_overrides_win_and_unknown_models_can_have_a_price() {
    let overrides = [
        ("azure/gpt-4o".to_owned(), price(1e-6, 1e-6, None)),
        ("gpt-4o".to_owned(), price(2e-6, 2e-6, None)),
    ];
    let table = PriceTable::build(
        false,
        overrides.iter().map(|(k, v)| (k, v)),
        UnknownModelPricing::Price(price(5e-6, 5e-6, None)),
    )
    .unwrap();
    assert_eq!(
        table
            .lookup("azure", "gpt-4o")
            .unwrap()
            .estimate_nanos(1, 0),
        1_000
    );
    assert_eq!(
        table
            .lookup("openai", "gpt-4o")
            .unwrap()
            .estimate_nanos(1, 0),
        2_000
    );
    assert_eq!(
        table
            .lookup("openai", "other")
            .unwrap()
            .estimate_nanos(1, 0),
        5_000
    );
}
