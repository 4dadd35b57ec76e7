//! The hashing the enrichment tables share: string keys are looked up by a 64-bit hash that
//! ignores ASCII case (computed on the borrowed input, eight bytes at a time, no allocation), and
//! tables keyed by such hashes or by IP integers use [`Mix`], which only finishes the mixing.
//!
//! Not keyed against collision attacks: the stored keys come from the operator's own lists, so
//! a looked-up value from a log cannot lengthen a chain it does not already share.

use std::hash::{BuildHasherDefault, Hasher};

const K: u64 = 0xf135_7aea_2e62_a9c5;

/// murmur3's 64-bit finalizer: every input bit affects every output bit, so masked subnets (low
/// bits zero) and sequential integers still spread over buckets.
pub(crate) fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A hash of `b` that ignores ASCII case.
pub(crate) fn caseless_hash(b: &[u8]) -> u64 {
    let (words, rest) = b.as_chunks::<8>();
    let mut h = (b.len() as u64).wrapping_mul(K);
    for w in words {
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w.map(|b| b.to_ascii_lowercase()))).wrapping_mul(K);
    }
    let mut last = [0u8; 8];
    for (d, s) in last.iter_mut().zip(rest) {
        *d = s.to_ascii_lowercase();
    }
    fmix64((h.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(K))
}

/// Hasher for keys that are already hashes, or IP addresses as integers.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        fmix64(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(K);
    }
    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }
}

/// `HashMap` hasher for [`MixHasher`] keys.
pub(crate) type Mix = BuildHasherDefault<MixHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caseless_hash_ignores_ascii_case_only() {
        let same = [
            ("", ""),
            ("a", "A"),
            ("Anna.Berg@Parliament.Example", "anna.berg@parliament.example"),
        ];
        for (a, b) in same {
            assert_eq!(caseless_hash(a.as_bytes()), caseless_hash(b.as_bytes()), "{a:?} {b:?}");
        }
        let differ = [("a", "b"), ("a", "a\0"), ("ä", "Ä"), ("12345678", "123456789")];
        for (a, b) in differ {
            assert_ne!(caseless_hash(a.as_bytes()), caseless_hash(b.as_bytes()), "{a:?} {b:?}");
        }
    }
}
