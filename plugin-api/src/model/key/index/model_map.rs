//! [`ModelMap`]: a read-only string map tuned for the request path's one lookup: open
//! addressing over a power-of-two slot array holding each name's full 64-bit hash, a hash that
//! reads a short name in two 8-byte loads, and an inline comparison (no `memcmp` call) once the
//! hashes match. Built once per configuration.

/// A slot: the name's hash and its entry's position (`u32::MAX`: empty).
#[derive(Clone, Copy, Debug)]
struct Slot {
    hash: u64,
    entry: u32,
}

const EMPTY: u32 = u32::MAX;

/// A read-only map from names to values.
#[derive(Debug)]
pub struct ModelMap<V> {
    slots: Box<[Slot]>,
    mask: usize,
    entries: Box<[(Box<str>, V)]>,
}

impl<V> ModelMap<V> {
    /// Builds the map; later duplicates of a name are unreachable (callers pass unique names).
    pub fn new(entries: Vec<(Box<str>, V)>) -> Self {
        let capacity = (entries.len() * 2).next_power_of_two().max(8);
        let mask = capacity - 1;
        let mut slots = vec![
            Slot {
                hash: 0,
                entry: EMPTY
            };
            capacity
        ];
        for (position, (name, _)) in (0u32..).zip(&entries) {
            let hash = hash_name(name.as_bytes());
            let mut i = hash as usize & mask;
            while slots[i].entry != EMPTY {
                i = (i + 1) & mask;
            }
            slots[i] = Slot {
                hash,
                entry: position,
            };
        }
        Self {
            slots: slots.into_boxed_slice(),
            mask,
            entries: entries.into_boxed_slice(),
        }
    }

    /// Whether the map is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value for exactly `name`.
    #[inline]
    pub fn get(&self, name: &str) -> Option<&V> {
        let hash = hash_name(name.as_bytes());
        let mut i = hash as usize & self.mask;
        loop {
            let slot = self.slots[i];
            if slot.entry == EMPTY {
                return None;
            }
            if slot.hash == hash {
                let (key, value) = &self.entries[slot.entry as usize];
                if same_bytes(key.as_bytes(), name.as_bytes()) {
                    return Some(value);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Every entry.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.entries.iter().map(|(name, value)| (&**name, value))
    }
}

#[inline(always)]
fn load8(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[inline(always)]
fn load4(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u64::from(u32::from_le_bytes(word))
}

/// Packs up to 8 bytes into a word with fixed-size loads (no `memcpy` of a variable length):
/// for a given length, different bytes give different words.
#[inline(always)]
fn load_short(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    if len >= 4 {
        (load4(bytes, 0) << 32) | load4(bytes, len - 4)
    } else if len > 0 {
        (u64::from(bytes[0]) << 16) | (u64::from(bytes[len / 2]) << 8) | u64::from(bytes[len - 1])
    } else {
        0
    }
}

const K0: u64 = 0x9e37_79b9_7f4a_7c15;
const K1: u64 = 0xc2b2_ae3d_27d4_eb4f;

#[inline(always)]
fn mix(a: u64, b: u64) -> u64 {
    let product = u128::from(a ^ K0).wrapping_mul(u128::from(b ^ K1));
    (product as u64) ^ ((product >> 64) as u64)
}

/// A fast, deterministic hash of a name: the first and last 8 bytes (overlapping for short
/// names) and the length for names up to 16 bytes; every 8-byte block for longer ones.
#[inline(always)]
pub fn hash_name(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    let (a, b) = if len <= 8 {
        (load_short(bytes), len as u64)
    } else if len <= 16 {
        (
            load8(bytes, 0),
            load8(bytes, len - 8) ^ ((len as u64) << 56),
        )
    } else {
        let mut acc = len as u64;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            acc = mix(acc, load8(chunk, 0));
        }
        (acc, load8(bytes, len - 8))
    };
    mix(a, b)
}

/// Byte equality without a `memcmp` call for short names.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let len = a.len();
    if len <= 8 {
        load_short(a) == load_short(b)
    } else if len <= 16 {
        load8(a, 0) == load8(b, 0) && load8(a, len - 8) == load8(b, len - 8)
    } else {
        a == b
    }
}

/// Whether two names are equal (the inline comparison the map uses), for provider lookups.
#[inline(always)]
pub fn same_name(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

#[cfg(test)]
mod tests;
