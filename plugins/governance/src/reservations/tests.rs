use super::*;

fn settlement(cost: u64) -> Settlement {
    Settlement {
        charged_cost_nanos: cost,
        charged_tokens: 0,
        duplicate: false,
    }
}

#[test]
fn a_tombstone_answers_for_its_own_id_only() {
    let table = Reservations::default();
    table.bury(7, settlement(70));
    assert_eq!(table.finished(7), Some(settlement(70)));
    assert_eq!(table.finished(8), None);
    // An id on the same slot replaces it: the old id is forgotten, never misattributed.
    let clash = (8..u64::MAX)
        .find(|id| std::ptr::eq(table.slot(*id), table.slot(7)))
        .unwrap();
    table.bury(clash, settlement(1));
    assert_eq!(table.finished(7), None);
    assert_eq!(table.finished(clash), Some(settlement(1)));
}

#[test]
fn ids_that_differ_in_high_bits_use_different_slots() {
    let table = Reservations::default();
    let slots: std::collections::HashSet<*const Mutex<Option<Tombstone>>> = (0..8u64)
        .map(|worker| std::ptr::from_ref(table.slot((worker << 48) | 42)))
        .collect();
    assert_eq!(slots.len(), 8);
}

#[test]
fn open_reservations_list_in_id_order() {
    let table = Reservations::default();
    let open = Open {
        key: NONE,
        provider: NONE,
        tokens: 1,
        cost_nanos: 1,
        price: None,
    };
    table.open.insert(9, open);
    table.open.insert(3, open);
    assert_eq!(table.all_open(), vec![(3, open), (9, open)]);
}
