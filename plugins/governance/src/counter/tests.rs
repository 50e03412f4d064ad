use super::*;

const SEC: u64 = 1_000_000_000;

fn counter(max: u64, duration: &str, at: u64) -> Counter {
    Counter::new(
        max,
        0,
        Window::new(ResetDuration::parse(duration).unwrap(), false, at),
    )
}

#[test]
fn reserves_up_to_the_limit_and_not_past_it() {
    let c = counter(10, "1m", 0);
    assert_eq!(c.try_reserve(6, 1), Ok(()));
    assert_eq!(c.try_reserve(4, 1), Ok(()));
    assert_eq!(c.try_reserve(1, 1), Err(10));
    assert!(c.is_exhausted(1));
}

#[test]
fn settle_replaces_the_estimate_and_release_returns_it() {
    let c = counter(100, "1m", 0);
    c.try_reserve(30, 1).unwrap();
    c.try_reserve(20, 1).unwrap();
    c.settle(30, 12, 2);
    c.release(20);
    let read = c.read();
    assert_eq!((read.used, read.settled), (12, 12));
}

#[test]
fn a_reset_drops_settled_usage_but_keeps_open_reservations() {
    let c = counter(100, "1m", 0);
    c.try_reserve(40, SEC).unwrap();
    c.settle(40, 40, SEC);
    c.try_reserve(25, SEC).unwrap();
    // The window ends at 60 s.
    assert_eq!(c.try_reserve(50, 61 * SEC), Ok(()));
    let read = c.read();
    assert_eq!((read.used, read.settled), (75, 0));
    assert_eq!(read.window_start, 61 * SEC);
    // The reservation from the old window settles into the new one.
    c.settle(25, 10, 62 * SEC);
    assert_eq!(c.read().settled, 10);
    assert_eq!(c.read().used, 60);
}

#[test]
fn restore_keeps_open_reservations_on_top_of_imported_usage() {
    let c = counter(100, "1h", 0);
    c.force_reserve(7, 1);
    c.restore(30, 0);
    let read = c.read();
    assert_eq!((read.used, read.settled), (37, 30));
}

#[test]
fn an_absurd_usage_fills_the_counter_instead_of_wrapping_it() {
    let c = counter(1_000, "1m", 0);
    c.try_reserve(100, 1).unwrap();
    c.try_reserve(10, 1).unwrap();
    c.settle(100, u64::MAX, 2);
    let read = c.read();
    assert_eq!(read.used, u64::MAX, "spend never goes down");
    assert_eq!(read.settled, u64::MAX);
    assert!(c.is_exhausted(2));
    assert_eq!(c.try_reserve(1, 2), Err(u64::MAX));
    c.settle(10, u64::MAX, 3);
    assert_eq!(c.read().used, u64::MAX);
}
