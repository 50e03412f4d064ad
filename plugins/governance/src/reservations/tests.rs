use super::*;

const SEC: u64 = 1_000_000_000;

fn finished(at: u64) -> Entry {
    Entry::Finished {
        settlement: Settlement {
            charged_cost_nanos: 0,
            charged_tokens: 0,
            duplicate: false,
        },
        at,
    }
}

#[test]
fn sweeps_forget_old_finished_ids_and_keep_open_ones() {
    let table = Reservations::default();
    let open = Open {
        key: NONE,
        provider: NONE,
        tokens: 1,
        cost_nanos: 1,
        price: None,
    };
    table.map.insert(1, Entry::Open(open));
    for id in 2..(FIRST_SWEEP as u64 + 2) {
        table.map.insert(id, finished(SEC));
    }
    table.map.insert(u64::MAX, finished(200 * SEC));
    for _ in 0..FIRST_SWEEP {
        table.note_finished(200 * SEC);
    }
    assert!(table.map.contains_key(&1));
    assert!(table.map.contains_key(&u64::MAX));
    assert!(!table.map.contains_key(&2));
    assert_eq!(table.open(), vec![(1, open)]);
}
