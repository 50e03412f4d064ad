use keyward_plugin_api::hosts::ManualHost;

use super::*;

fn smoothing(config: SmoothingConfig, host: &ManualHost) -> Smoothing {
    Smoothing::build(Some(&config), &["a", "b"], &host.handle()).unwrap()
}

#[test]
fn a_burst_then_one_per_interval_on_the_host_clock() {
    let host = ManualHost::at_unix_secs(1_000);
    let handle = host.handle();
    let s = smoothing(
        SmoothingConfig {
            requests_per_second: Some(2),
            burst: Some(2),
            virtual_keys: BTreeMap::new(),
        },
        &host,
    );
    assert!(s.check(0, &handle).is_ok());
    assert!(s.check(0, &handle).is_ok());
    let (retry_ms, rate) = s
        .check(0, &handle)
        .map(|()| (0, 0))
        .unwrap_or_else(|(ms, r)| (ms, r.per_second));
    assert_eq!((retry_ms, rate), (500, 2));
    // The other key has its own cell.
    assert!(s.check(1, &handle).is_ok());
    host.advance_nanos(500_000_000);
    assert!(s.check(0, &handle).is_ok());
}

#[test]
fn overrides_apply_to_their_key_only_and_must_name_a_key() {
    let host = ManualHost::at_unix_secs(1_000);
    let handle = host.handle();
    let mut overrides = BTreeMap::new();
    overrides.insert(
        "b".to_owned(),
        SmoothingRate {
            requests_per_second: 1,
            burst: None,
        },
    );
    let s = smoothing(
        SmoothingConfig {
            requests_per_second: None,
            burst: None,
            virtual_keys: overrides.clone(),
        },
        &host,
    );
    for _ in 0..10 {
        assert!(s.check(0, &handle).is_ok());
    }
    assert!(s.check(1, &handle).is_ok());
    assert!(s.check(1, &handle).is_err());
    overrides.insert(
        "nobody".to_owned(),
        SmoothingRate {
            requests_per_second: 1,
            burst: None,
        },
    );
    let config = SmoothingConfig {
        requests_per_second: None,
        burst: None,
        virtual_keys: overrides,
    };
    let error = Smoothing::build(Some(&config), &["a", "b"], &handle).unwrap_err();
    assert!(
        error
            .message
            .as_str()
            .contains("smoothing.virtual_keys.nobody")
    );
}
