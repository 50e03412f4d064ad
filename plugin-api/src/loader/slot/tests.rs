use std::path::PathBuf;

use abi_stable::std_types::RResult;

use super::RoleSlot;
use crate::ffi::{ErrorCode, KeywardError};

#[test]
fn a_swap_serves_new_calls_while_old_guards_keep_the_old_instance() {
    let slot = RoleSlot::new("v1", PathBuf::from("v1.so"));
    let held = slot.load_full();
    let previous = slot.store("v2", PathBuf::from("v2.so"));
    assert_eq!(*previous.role(), "v1");
    assert_eq!(*held.role(), "v1");
    assert_eq!(*slot.load().role(), "v2");
    assert_eq!(slot.load().generation(), 2);
}

#[test]
fn a_panicking_call_poisons_the_instance_until_replaced() {
    let slot = RoleSlot::new((), PathBuf::from("p.so"));
    let instance = slot.load_full();
    let error = instance
        .call(|_| RResult::<(), _>::RErr(KeywardError::new(ErrorCode::PLUGIN_PANICKED, "boom")))
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::PLUGIN_PANICKED);
    let mut reached = false;
    let refused = instance.call(|_| {
        reached = true;
        RResult::<(), KeywardError>::ROk(())
    });
    assert!(!reached, "a poisoned instance must not be called");
    assert_eq!(refused.unwrap_err().code, ErrorCode::PLUGIN_POISONED);
    slot.store((), PathBuf::from("p.so"));
    assert!(
        slot.load()
            .call(|_| RResult::<(), KeywardError>::ROk(()))
            .is_ok()
    );
}

#[test]
fn denials_do_not_poison() {
    let slot = RoleSlot::new((), PathBuf::from("g.so"));
    let instance = slot.load_full();
    let _ = instance
        .call(|_| RResult::<(), _>::RErr(KeywardError::new(ErrorCode::BUDGET_EXCEEDED, "spent")));
    assert!(!instance.is_poisoned());
}
