use abi_stable::std_types::RResult;

use super::PanicGuard;
use crate::ffi::ErrorCode;

#[test]
fn a_panic_poisons_and_later_calls_fail_closed() {
    let guard = PanicGuard::new("test");
    let first: RResult<(), _> = guard.run(|| panic!("secret-free message"));
    let error = first.unwrap_err();
    assert_eq!(error.code, ErrorCode::PLUGIN_PANICKED);
    assert_eq!(error.http_status, 503);
    assert!(error.message.contains("secret-free message"), "{error}");
    assert!(guard.is_poisoned());
    let second: RResult<u8, _> = guard.run(|| RResult::ROk(1));
    assert_eq!(second.unwrap_err().code, ErrorCode::PLUGIN_POISONED);
}

#[test]
fn retirement_refuses_mutating_calls_only() {
    let guard = PanicGuard::new("test");
    guard.retire();
    let mutating: RResult<u8, _> = guard.run_mutating(|| RResult::ROk(1));
    let error = mutating.unwrap_err();
    assert_eq!(error.code, ErrorCode::INSTANCE_RETIRED);
    assert!(error.retryable);
    let reading: RResult<u8, _> = guard.run(|| RResult::ROk(2));
    assert_eq!(reading.unwrap(), 2);
}

#[test]
fn retiring_waits_for_the_changes_in_progress() {
    use std::sync::{Arc, mpsc};

    let guard = Arc::new(PanicGuard::new("test"));
    let (entered_tx, entered_rx) = mpsc::channel();
    let (finish_tx, finish_rx) = mpsc::channel::<()>();
    let changing = {
        let guard = Arc::clone(&guard);
        std::thread::spawn(move || {
            guard.run_mutating(|| {
                entered_tx.send(()).unwrap();
                finish_rx.recv().unwrap();
                RResult::ROk(1u8)
            })
        })
    };
    entered_rx.recv().unwrap();
    let retiring = {
        let guard = Arc::clone(&guard);
        std::thread::spawn(move || guard.retire())
    };
    // The change is still in progress: retiring cannot have returned.
    for _ in 0..10_000 {
        assert!(!retiring.is_finished(), "retire returned during a change");
        std::thread::yield_now();
    }
    finish_tx.send(()).unwrap();
    assert_eq!(
        changing.join().unwrap().unwrap(),
        1,
        "the change in progress completes"
    );
    retiring.join().unwrap();
    let after: RResult<u8, _> = guard.run_mutating(|| RResult::ROk(2));
    assert_eq!(after.unwrap_err().code, ErrorCode::INSTANCE_RETIRED);
}
