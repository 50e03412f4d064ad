use super::*;

fn nanos(text: &str) -> u64 {
    let time: DateTime<Utc> = text.parse().unwrap();
    from_datetime(time)
}

#[test]
fn every_unit_parses() {
    for (text, months, seconds) in [
        ("30s", 0, 30),
        ("5m", 0, 300),
        ("1h", 0, 3_600),
        ("1d", 0, 86_400),
        ("1w", 0, 604_800),
        ("1M", 1, 0),
        ("1Q", 3, 0),
        ("1Y", 12, 0),
    ] {
        let d = ResetDuration::parse(text).unwrap();
        assert_eq!((d.months(), d.fixed_seconds()), (months, seconds), "{text}");
        assert_eq!(d.as_str(), text);
    }
}

#[test]
fn combinations_add_up() {
    assert_eq!(
        ResetDuration::parse("1h30m").unwrap().fixed_seconds(),
        5_400
    );
    assert_eq!(
        ResetDuration::parse("1d12h").unwrap().fixed_seconds(),
        129_600
    );
    let mixed = ResetDuration::parse("1M15d").unwrap();
    assert_eq!((mixed.months(), mixed.fixed_seconds()), (1, 15 * 86_400));
}

#[test]
fn anything_else_is_a_clear_error() {
    for text in [
        "", "5", "m", "1x", "1.5h", "-1h", " 1h", "1h ", "1H", "1hm", "1 h",
    ] {
        let error = ResetDuration::parse(text).unwrap_err();
        assert!(
            matches!(error, DurationError::Syntax { .. }),
            "{text}: {error}"
        );
        assert!(
            error
                .to_string()
                .contains("expected a number followed by a unit")
        );
    }
    assert!(matches!(
        ResetDuration::parse("0s").unwrap_err(),
        DurationError::Zero { .. }
    ));
    assert!(matches!(
        ResetDuration::parse("99999999999999999999s").unwrap_err(),
        DurationError::Overflow { .. }
    ));
}

#[test]
fn serde_reads_and_writes_the_text() {
    let d: ResetDuration = serde_json::from_str("\"1h30m\"").unwrap();
    assert_eq!(serde_json::to_string(&d).unwrap(), "\"1h30m\"");
    let error = serde_json::from_str::<ResetDuration>("\"1x\"").unwrap_err();
    assert!(error.to_string().contains("invalid duration \"1x\""));
}

#[test]
fn only_single_day_or_longer_units_align_to_the_calendar() {
    for text in ["1d", "1w", "1M", "1Q", "1Y"] {
        assert!(
            ResetDuration::parse(text)
                .unwrap()
                .calendar_unit()
                .is_some(),
            "{text}"
        );
    }
    for text in ["30s", "5m", "1h", "2d", "1d12h", "1M1d"] {
        let error = ResetDuration::parse(text)
            .unwrap()
            .check_calendar_alignable()
            .unwrap_err();
        assert!(
            error.to_string().contains("cannot be calendar-aligned"),
            "{text}"
        );
    }
}

#[test]
fn calendar_periods_start_on_utc_boundaries() {
    // Wednesday 2025-05-14 15:30 UTC.
    let now = nanos("2025-05-14T15:30:00Z");
    let period = |text: &str| {
        ResetDuration::parse(text)
            .unwrap()
            .calendar_period(now)
            .unwrap()
    };
    assert_eq!(
        period("1d"),
        (nanos("2025-05-14T00:00:00Z"), nanos("2025-05-15T00:00:00Z"))
    );
    assert_eq!(
        period("1w"),
        (nanos("2025-05-12T00:00:00Z"), nanos("2025-05-19T00:00:00Z"))
    );
    assert_eq!(
        period("1M"),
        (nanos("2025-05-01T00:00:00Z"), nanos("2025-06-01T00:00:00Z"))
    );
    assert_eq!(
        period("1Q"),
        (nanos("2025-04-01T00:00:00Z"), nanos("2025-07-01T00:00:00Z"))
    );
    assert_eq!(
        period("1Y"),
        (nanos("2025-01-01T00:00:00Z"), nanos("2026-01-01T00:00:00Z"))
    );
}

#[test]
fn rolling_windows_use_calendar_months() {
    let jan31 = nanos("2025-01-31T10:00:00Z");
    assert_eq!(
        ResetDuration::parse("1M").unwrap().window_end(jan31),
        nanos("2025-02-28T10:00:00Z")
    );
    assert_eq!(
        ResetDuration::parse("1h30m").unwrap().window_end(jan31),
        nanos("2025-01-31T11:30:00Z")
    );
}

mod properties {
    use proptest::prelude::*;

    use super::super::ResetDuration;

    fn unit() -> impl Strategy<Value = (char, u64, u32)> {
        prop_oneof![
            Just(('s', 1, 0)),
            Just(('m', 60, 0)),
            Just(('h', 3_600, 0)),
            Just(('d', 86_400, 0)),
            Just(('w', 604_800, 0)),
            Just(('M', 0, 1)),
            Just(('Q', 0, 3)),
            Just(('Y', 0, 12)),
        ]
    }

    proptest! {
        #[test]
        fn any_sequence_of_number_and_unit_parses_to_its_sum(
            parts in prop::collection::vec((1..1_000u64, unit()), 1..5)
        ) {
            let text: String = parts.iter().map(|(n, (c, _, _))| format!("{n}{c}")).collect();
            let parsed = ResetDuration::parse(&text).unwrap();
            let seconds: u64 = parts.iter().map(|(n, (_, s, _))| n * s).sum();
            let months: u32 = parts.iter().map(|(n, (_, _, m))| *n as u32 * m).sum();
            prop_assert_eq!(parsed.fixed_seconds(), seconds);
            prop_assert_eq!(parsed.months(), months);
            prop_assert_eq!(parsed.as_str(), text.as_str());
        }

        #[test]
        fn an_unknown_unit_is_a_syntax_error(n in 1..1_000u64, unit in "[a-zA-Z%.]") {
            prop_assume!(!"smhdwMQY".contains(unit.as_str()));
            let text = format!("1h{n}{unit}");
            let error = ResetDuration::parse(&text).unwrap_err();
            prop_assert!(
                matches!(error, super::super::DurationError::Syntax { .. }),
                "{} -> {}", text, error
            );
        }
    }
}
