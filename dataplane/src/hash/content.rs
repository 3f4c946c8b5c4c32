//! Hashes of content keys (file handles, payload fields) with ahash under fixed seeds, so every worker
//! of an appliance agrees. (ahash's output may differ between CPU feature sets and crate versions: two
//! appliances that must agree on content keys run the same build on the same CPU family.)

const SEEDS: (u64, u64, u64, u64) = (0x736c_7569_6365, 0x0063_6f6e_7465_6e74, 0x6b65_7973, 0x7631);

/// A content-key hasher.
#[derive(Clone)]
pub struct ContentHasher {
    state: ahash::RandomState,
}

impl Default for ContentHasher {
    fn default() -> Self {
        ContentHasher { state: ahash::RandomState::with_seeds(SEEDS.0, SEEDS.1, SEEDS.2, SEEDS.3) }
    }
}

impl ContentHasher {
    /// A 32-bit hash of `key`, ready for table lookup.
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u32 {
        let h = self.state.hash_one(key);
        (h ^ (h >> 32)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_spread() {
        let a = ContentHasher::default();
        let b = ContentHasher::default();
        assert_eq!(a.hash(b"file-handle-1"), b.hash(b"file-handle-1"));
        let mut seen = std::collections::HashSet::new();
        for i in 0u32..10_000 {
            seen.insert(a.hash(&i.to_be_bytes()));
        }
        assert!(seen.len() > 9_990);
    }
}
