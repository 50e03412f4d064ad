use super::*;

fn settlement(cost: u64) -> Settlement {
    Settlement {
        extensions: Default::default(),
        charged_cost_nanos: cost,
        charged_tokens: 0,
        duplicate: false,
    }
}

fn open(tokens: u64) -> Open {
    Open {
        key: NONE,
        provider: NONE,
        tokens,
        cost_nanos: 1,
        price: None,
        model_limits: Default::default(),
    }
}

/// The first id after `id` that lands on the same slot.
fn clash_of(table: &Reservations, id: u64) -> u64 {
    (id + 1..u64::MAX)
        .find(|other| std::ptr::eq(table.slot(*other), table.slot(id)))
        .expect("some later id shares the slot")
}

#[test]
fn a_reservation_finishes_once_then_answers_as_a_duplicate() {
    let table = Reservations::default();
    table.open(7, open(5)).expect("the id is free");
    assert_eq!(table.held(7), Some(open(5)));
    assert_eq!(
        table.open(7, open(9)),
        Err(open(5)),
        "an open id keeps its reservation"
    );
    let mut charged = 0;
    let first = table.finish(7, |held| {
        charged += held.tokens;
        settlement(70)
    });
    assert_eq!(first, Finish::Done(settlement(70)));
    assert_eq!(charged, 5);
    assert_eq!(table.held(7), None);
    let again = table.finish(7, |_| {
        unreachable!("a finished request is never charged again")
    });
    assert_eq!(again, Finish::Duplicate(settlement(70)));
    assert_eq!(table.finish(8, |_| settlement(1)), Finish::Unknown);
}

#[test]
fn a_tombstone_answers_for_its_own_id_only() {
    let table = Reservations::default();
    table.open(7, open(1)).expect("free");
    table.finish(7, |_| settlement(70));
    // A later id on the same slot replaces the tombstone: the old id is forgotten, never
    // misattributed.
    let clash = clash_of(&table, 7);
    table.open(clash, open(1)).expect("free");
    table.finish(clash, |_| settlement(1));
    assert_eq!(table.finish(7, |_| settlement(99)), Finish::Unknown);
    assert_eq!(
        table.finish(clash, |_| settlement(99)),
        Finish::Duplicate(settlement(1))
    );
}

#[test]
fn an_id_whose_slot_is_still_open_overflows_and_finishes_there() {
    let table = Reservations::default();
    table.open(7, open(1)).expect("free");
    let clash = clash_of(&table, 7);
    table
        .open(clash, open(2))
        .expect("goes to the overflow map");
    assert_eq!(table.held(clash), Some(open(2)));
    assert_eq!(table.held(7), Some(open(1)));
    assert_eq!(table.open(clash, open(3)), Err(open(2)));
    assert_eq!(table.all_open(), vec![(7, open(1)), (clash, open(2))]);
    // The overflowed one finishes without touching the older open reservation.
    assert_eq!(
        table.finish(clash, |_| settlement(2)),
        Finish::Done(settlement(2))
    );
    assert_eq!(table.held(7), Some(open(1)));
    assert_eq!(
        table.finish(7, |_| settlement(1)),
        Finish::Done(settlement(1))
    );
    assert!(table.all_open().is_empty());
}

#[test]
fn an_overflowed_id_is_not_opened_twice_once_its_slot_frees() {
    let table = Reservations::default();
    table.open(7, open(1)).expect("free");
    let clash = clash_of(&table, 7);
    table.open(clash, open(2)).expect("overflow");
    table.finish(7, |_| settlement(1));
    // The slot is free now, but the id already holds its reservation in the overflow map.
    assert_eq!(table.open(clash, open(3)), Err(open(2)));
    assert_eq!(table.all_open(), vec![(clash, open(2))]);
}

#[test]
fn ids_that_differ_in_high_bits_use_different_slots() {
    let table = Reservations::default();
    let slots: std::collections::HashSet<*const Slot> = (0..8u64)
        .map(|worker| std::ptr::from_ref(table.slot((worker << 48) | 42)))
        .collect();
    assert_eq!(slots.len(), 8);
}

#[test]
fn consecutive_ids_use_different_cache_lines() {
    let table = Reservations::default();
    let first = std::ptr::from_ref(table.slot(1_000)) as usize;
    let second = std::ptr::from_ref(table.slot(1_001)) as usize;
    assert!(first.abs_diff(second) >= 64);
    assert_eq!(std::mem::align_of::<Slot>(), 64);
}

#[test]
fn open_reservations_list_in_id_order() {
    let table = Reservations::default();
    table.open(9, open(1)).expect("free");
    table.open(3, open(1)).expect("free");
    assert_eq!(table.all_open(), vec![(3, open(1)), (9, open(1))]);
}

#[test]
fn threads_racing_on_one_slot_finish_every_reservation_exactly_once() {
    let table = Reservations::default();
    // Ids that all land on one slot: each thread's reservations clash with the others'.
    let mut ids = vec![3u64];
    while ids.len() < 64 {
        let last = *ids.last().expect("non-empty");
        ids.push(clash_of(&table, last));
    }
    let done = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for chunk in ids.chunks(8) {
            let (table, done) = (&table, &done);
            scope.spawn(move || {
                for &id in chunk {
                    table.open(id, open(id)).expect("each id opens once");
                }
                for &id in chunk {
                    // Finished twice (a retried settle): only the first charges.
                    for _ in 0..2 {
                        match table.finish(id, |held| {
                            assert_eq!(held.tokens, id, "the reservation of this id");
                            settlement(id)
                        }) {
                            Finish::Done(s) => {
                                assert_eq!(s, settlement(id));
                                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            // Its tombstone may already be replaced by a clashing id's.
                            Finish::Duplicate(s) => assert_eq!(s, settlement(id)),
                            Finish::Unknown => {}
                        }
                    }
                }
            });
        }
    });
    assert_eq!(
        done.into_inner(),
        ids.len(),
        "every reservation charged once"
    );
    assert!(table.all_open().is_empty());
    assert_eq!(table.overflowing.load(Ordering::Relaxed), 0);
}

#[test]
fn sequential_ids_share_a_slot_only_a_whole_table_apart() {
    let table = Reservations::default();
    let first = (4242u64 << 40) + 1_000;
    assert_eq!(clash_of(&table, first), first + SLOTS as u64);
}
