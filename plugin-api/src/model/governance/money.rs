//! Money: JSON carries dollars as numbers (`"max_limit": 10.5`); counters hold integer
//! nano-dollars (`10.5` = `10_500_000_000`), so concurrent updates are exact integer atomics.
//!
//! ```
//! use keyward_plugin_api::model::governance::money::{dollars_to_nanos, nanos_to_dollars};
//!
//! assert_eq!(dollars_to_nanos(10.5), 10_500_000_000);
//! assert_eq!(dollars_to_nanos(-1.0), 0);
//! assert_eq!(nanos_to_dollars(1_500_000_000), 1.5);
//! ```

/// Nano-dollars per dollar.
pub const NANOS_PER_DOLLAR: f64 = 1e9;

/// Dollars as nano-dollars, rounded; negative and NaN are zero, huge values saturate.
pub fn dollars_to_nanos(dollars: f64) -> u64 {
    if dollars.is_nan() || dollars <= 0.0 {
        return 0;
    }
    let nanos = (dollars * NANOS_PER_DOLLAR).round();
    if nanos >= u64::MAX as f64 {
        u64::MAX
    } else {
        // Finite, non-negative and in range after the checks above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let nanos = nanos as u64;
        nanos
    }
}

/// Nano-dollars as dollars.
pub fn nanos_to_dollars(nanos: u64) -> f64 {
    // Precision loss above 2^53 nano-dollars (9 million dollars) is acceptable for display.
    #[allow(clippy::cast_precision_loss)]
    let nanos = nanos as f64;
    nanos / NANOS_PER_DOLLAR
}
