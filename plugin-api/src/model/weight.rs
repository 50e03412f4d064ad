//! [`Weight`]: a fixed-point load-balancing weight. JSON numbers are read as `f64` and stored as
//! `u32` units of 1/10,000; NaN, negative and infinite weights become zero, huge ones saturate.
//!
//! ```
//! use keyward_plugin_api::model::weight::Weight;
//!
//! assert_eq!(Weight::from_f64(0.25).units(), 2_500);
//! assert_eq!(Weight::from_f64(f64::NAN), Weight::ZERO);
//! assert_eq!(Weight::from_f64(-3.0), Weight::ZERO);
//! assert_eq!(Weight::from_f64(f64::INFINITY), Weight::ZERO);
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative weight in units of 1/[`Weight::SCALE`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Weight(u32);

impl Weight {
    /// Units per 1.0.
    pub const SCALE: u32 = 10_000;
    /// Zero: never picked unless every candidate is zero (then picks are uniform).
    pub const ZERO: Weight = Weight(0);
    /// 1.0, the default.
    pub const ONE: Weight = Weight(Self::SCALE);

    /// From a float: NaN, negatives and infinities are zero; values above the range saturate.
    pub fn from_f64(value: f64) -> Self {
        if !value.is_finite() || value <= 0.0 {
            return Self::ZERO;
        }
        let units = (value * f64::from(Self::SCALE)).round();
        if units >= f64::from(u32::MAX) {
            Self(u32::MAX)
        } else {
            // In range and non-negative: the cast is exact after rounding.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Self(units as u32)
        }
    }

    /// The weight as a float.
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / f64::from(Self::SCALE)
    }

    /// The raw units.
    pub fn units(self) -> u32 {
        self.0
    }

    /// Whether the weight is zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl Default for Weight {
    fn default() -> Self {
        Self::ONE
    }
}

impl Serialize for Weight {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Weight {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        f64::deserialize(deserializer).map(Self::from_f64)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::Weight;

    proptest! {
        #[test]
        fn any_float_gives_a_sane_weight(value in any::<f64>()) {
            let weight = Weight::from_f64(value);
            if !value.is_finite() || value <= 0.0 {
                prop_assert_eq!(weight, Weight::ZERO);
            } else {
                prop_assert!(weight.as_f64() <= value.max(Weight::ZERO.as_f64()) + 0.5);
            }
        }
    }

    #[test]
    fn json_round_trip() {
        let weight: Weight = serde_json::from_str("2.5").unwrap();
        assert_eq!(weight.units(), 25_000);
        assert_eq!(serde_json::to_string(&weight).unwrap(), "2.5");
        assert!(serde_json::from_str::<Weight>("\"heavy\"").is_err());
    }
}
