use super::{Slot, build, sample};

/// The exact probability of each outcome, in units of 2^-32 per column.
fn exact_masses(slots: &[Slot]) -> Vec<u128> {
    let mut mass = vec![0u128; slots.len()];
    for (i, slot) in slots.iter().enumerate() {
        let keep = if slot.threshold == u32::MAX && slot.alias as usize == i {
            1u128 << 32
        } else {
            u128::from(slot.threshold)
        };
        mass[i] += keep;
        mass[slot.alias as usize] += (1u128 << 32) - keep;
    }
    mass
}

#[test]
fn each_outcome_gets_its_share_of_the_columns() {
    let weights = [10_000u64, 20_000, 0, 70_000];
    let slots = build(&weights);
    let masses = exact_masses(&slots);
    let total: u128 = masses.iter().sum();
    for (weight, mass) in weights.iter().zip(&masses) {
        let expected = total * u128::from(*weight) / 100_000;
        let error = expected.abs_diff(*mass);
        assert!(
            error <= 4,
            "weight {weight}: mass {mass}, expected {expected}"
        );
    }
    assert_eq!(masses[2], 0, "a zero weight is never drawn");
}

#[test]
fn all_zero_weights_are_uniform_and_one_key_is_always_drawn() {
    let slots = build(&[0, 0, 0, 0]);
    assert!(exact_masses(&slots).iter().all(|&m| m == 1u128 << 32));
    let single = build(&[5]);
    for random in [0, u64::MAX, 0x8000_0000_0000_0000, 12_345] {
        assert_eq!(sample(&single, random), 0);
    }
}

#[test]
fn draws_cover_the_columns_evenly() {
    let slots = build(&[1, 1, 1]);
    let picks: Vec<usize> = [0u64, 0x5555_5556, 0xaaaa_aaab]
        .iter()
        .map(|&low| sample(&slots, low))
        .collect();
    assert_eq!(picks, [0, 1, 2]);
}

#[test]
fn a_column_round_trips_through_a_record_word() {
    for slot in [
        Slot {
            threshold: 0,
            alias: 0,
        },
        Slot {
            threshold: u32::MAX,
            alias: 7,
        },
        Slot {
            threshold: 123_456,
            alias: u32::MAX,
        },
    ] {
        assert_eq!(Slot::from_word(slot.to_word()), slot);
    }
}
