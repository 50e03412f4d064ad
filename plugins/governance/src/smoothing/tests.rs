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

#[test]
fn a_clock_that_moves_once_per_tick_still_reaches_the_rate() {
    // 1,000 requests a second with a burst of 1, on a clock that moves in 10 ms steps (a coarse
    // kernel clock): each step admits 10 ms worth, so one second admits the full rate.
    let host = ManualHost::at_unix_secs(1_000);
    let handle = host.handle();
    let s = smoothing(
        SmoothingConfig {
            requests_per_second: Some(1_000),
            burst: Some(1),
            virtual_keys: BTreeMap::new(),
        },
        &host,
    );
    assert_eq!(s.keys[0].as_ref().map(|k| k.burst), Some(10));
    let mut admitted = 0;
    for _tick in 0..100 {
        while s.check(0, &handle).is_ok() {
            admitted += 1;
        }
        host.advance_nanos(10_000_000);
    }
    assert!(
        (1_000..=1_010).contains(&admitted),
        "admitted {admitted} in one second"
    );
}
