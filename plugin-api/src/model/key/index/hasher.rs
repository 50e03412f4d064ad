//! A small, fast, deterministic hasher for model names and key ids (the FxHash mixing step):
//! lookups on the request path hash a short string, and SipHash's DoS resistance buys nothing
//! for names that come from the operator's own configuration.

use std::hash::{BuildHasher, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// Builds [`ModelHasher`]s.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildModelHasher;

impl BuildHasher for BuildModelHasher {
    type Hasher = ModelHasher;

    #[inline]
    fn build_hasher(&self) -> ModelHasher {
        ModelHasher(0)
    }
}

/// FxHash-style hasher.
#[derive(Clone, Copy, Debug, Default)]
pub struct ModelHasher(u64);

impl ModelHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for ModelHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}
