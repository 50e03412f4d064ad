//! Vose's alias method: after an O(n) build, one weighted draw costs one random `u64`, one
//! multiply and at most two table reads, whatever the number of candidates.
//!
//! Column `i` keeps itself with probability `threshold / 2^32` and otherwise yields its
//! `alias`. Everything is integer arithmetic on the fixed-point weights, so a table is
//! reproducible bit for bit.

/// One column of an alias table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The column keeps itself when the draw's high 32 bits are below this.
    pub threshold: u32,
    /// The column it yields otherwise.
    pub alias: u32,
}

impl Slot {
    /// The column as one word (threshold high, alias low), as a record's selector word keeps it.
    #[inline]
    pub fn to_word(self) -> u64 {
        (u64::from(self.threshold) << 32) | u64::from(self.alias)
    }

    /// The column a word holds.
    #[inline]
    pub fn from_word(word: u64) -> Self {
        Self {
            threshold: (word >> 32) as u32,
            alias: word as u32,
        }
    }
}

/// Builds the columns for `weights` (zero weights are never drawn; all zero: uniform).
pub fn build(weights: &[u64]) -> Vec<Slot> {
    let n = weights.len();
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let uniform = total == 0;
    let one = if uniform { n as u128 } else { total };
    // Column i's share, scaled so that a full column is `one`.
    let mut scaled: Vec<u128> = weights
        .iter()
        .map(|&w| if uniform { 1 } else { u128::from(w) } * n as u128)
        .collect();
    let mut slots: Vec<Slot> = (0..n)
        .map(|i| Slot {
            threshold: u32::MAX,
            alias: i as u32,
        })
        .collect();
    let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| scaled[i] < one);
    while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
        // scaled[s] < one, so the threshold fits in 32 bits.
        slots[s] = Slot {
            threshold: ((scaled[s] << 32) / one) as u32,
            alias: l as u32,
        };
        scaled[l] -= one - scaled[s];
        if scaled[l] < one {
            large.pop();
            small.push(l);
        }
    }
    // Leftovers are full columns (up to rounding): they keep themselves.
    slots
}

/// The column a draw lands on, and the coin (high 32 bits) to compare with its threshold.
#[inline(always)]
pub fn column(random: u64, columns: usize) -> (usize, u32) {
    let column = ((random & 0xffff_ffff) * columns as u64) >> 32;
    (column as usize, (random >> 32) as u32)
}

/// Column `column` itself or its alias, by the coin. Without a branch: the coin is random, so
/// a branch would be mispredicted about as often as a column is split.
#[inline(always)]
pub fn resolve(column: usize, coin: u32, slot: Slot) -> usize {
    let keep = usize::from(coin < slot.threshold).wrapping_neg();
    (column & keep) | (slot.alias as usize & !keep)
}

/// A weighted draw from `slots` with one random `u64`.
#[inline]
pub fn sample(slots: &[Slot], random: u64) -> usize {
    let (i, coin) = column(random, slots.len());
    resolve(i, coin, slots[i])
}

#[cfg(test)]
mod tests;
