//! [`MemoryToken`], the in-memory backend's handle for one delivery, and `TokenHasher`, the
//! fast hasher its in-flight map keys token numbers with. A leaf: it imports nothing from the
//! crate.

use std::fmt;
use std::hash::Hasher;

/// The in-memory backend's handle for one delivery.
///
/// A backend never hands out the same token twice, so a token acked or nacked once is
/// unknown afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemoryToken(pub(crate) u64);

impl MemoryToken {
    /// The token's number: tokens are numbered in the order deliveries were handed out.
    #[must_use]
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for MemoryToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "memory#{}", self.0)
    }
}

/// A fast hasher for the in-flight map: its keys are sequential numbers this crate makes, not
/// input an attacker controls, so SipHash's flood resistance buys nothing here.
#[derive(Default, Clone, Copy)]
pub(crate) struct TokenHasher(u64);

impl TokenHasher {
    fn mix(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.mix(u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hasher_spreads_sequential_keys() {
        let hashes: std::collections::HashSet<u64> = (0..10_000u64)
            .map(|n| {
                let mut h = TokenHasher::default();
                h.write_u64(n);
                h.finish()
            })
            .collect();
        assert_eq!(hashes.len(), 10_000);
    }
}
