//! Weighted Maglev lookup tables (Eisenbud et al., NSDI '16; weights as in Katran's MaglevHashV2).
//!
//! Each backend has a preference permutation of the table's slots, derived from its identity alone
//! (`offset`, `skip` from two keyed SipHashes of its name), so the table depends only on the set of
//! (identity, weight) pairs and not on their order. Backends take turns claiming their next preferred
//! free slot; a backend claims a turn each time its accumulated weight reaches the largest weight, so slot
//! counts are proportional to weight. Weight-0 backends claim nothing.

use std::hash::Hasher;

use siphasher::sip::SipHasher13;

/// A slot no backend claimed (only when every weight is 0).
pub const EMPTY: u16 = u16::MAX;

const OFFSET_KEY: (u64, u64) = (0x736c_7569_6365_2d31, 0x6f66_6673_6574_2d6b);
const SKIP_KEY: (u64, u64) = (0x736c_7569_6365_2d32, 0x736b_6970_2d6b_6579);

/// A backend for a table build: a stable identity and a weight.
#[derive(Debug, Clone, Copy)]
pub struct Backend<'a> {
    pub identity: &'a str,
    pub weight: u32,
    /// The value written into claimed slots (e.g. a global node index).
    pub value: u16,
}

fn keyed(key: (u64, u64), s: &str) -> u64 {
    let mut h = SipHasher13::new_with_keys(key.0, key.1);
    h.write(s.as_bytes());
    h.finish()
}

/// Builds a table of `size` slots (a prime) over `backends`. Every slot holds some backend's `value`,
/// or [`EMPTY`] everywhere if no backend has weight.
pub fn build(backends: &[Backend<'_>], size: u32) -> Vec<u16> {
    // Turn order decides contested slots, so take turns in identity order, never in the caller's order.
    let mut sorted = backends.to_vec();
    sorted.sort_by(|a, b| a.identity.cmp(b.identity));
    let backends = &sorted[..];
    let m = size as u64;
    let mut table = vec![EMPTY; size as usize];
    let max_w = backends.iter().map(|b| b.weight).max().unwrap_or(0) as u64;
    if max_w == 0 || size < 2 {
        return table;
    }
    let offset: Vec<u64> = backends.iter().map(|b| keyed(OFFSET_KEY, b.identity) % m).collect();
    let skip: Vec<u64> = backends.iter().map(|b| keyed(SKIP_KEY, b.identity) % (m - 1) + 1).collect();
    // Each backend's next preferred slot, (offset + j * skip) mod m for its j-th probe, kept as a running
    // position so a probe costs an add and a compare rather than a division.
    let mut next = offset;
    let mut credit = vec![0u64; backends.len()];
    let mut filled = 0u64;
    loop {
        for (i, b) in backends.iter().enumerate() {
            if b.weight == 0 {
                continue;
            }
            credit[i] += b.weight as u64;
            if credit[i] < max_w {
                continue;
            }
            credit[i] -= max_w;
            loop {
                let slot = next[i] as usize;
                next[i] += skip[i];
                if next[i] >= m {
                    next[i] -= m;
                }
                if table[slot] == EMPTY {
                    table[slot] = b.value;
                    filled += 1;
                    break;
                }
            }
            if filled == m {
                return table;
            }
        }
    }
}

/// Maps a 32-bit hash uniformly onto `0..len` without a division.
#[inline(always)]
pub fn slot(hash: u32, len: usize) -> usize {
    ((hash as u64 * len as u64) >> 32) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("node-{i}")).collect()
    }

    fn count(table: &[u16], v: u16) -> usize {
        table.iter().filter(|&&x| x == v).count()
    }

    #[test]
    fn order_does_not_matter() {
        let n = names(7);
        let mut b: Vec<Backend> = n
            .iter()
            .enumerate()
            .map(|(i, s)| Backend { identity: s, weight: 10 + i as u32, value: i as u16 })
            .collect();
        let t1 = build(&b, 65537);
        b.reverse();
        assert_eq!(t1, build(&b, 65537));
    }

    #[test]
    fn slots_proportional_to_weight() {
        let n = names(5);
        let w = [100u32, 200, 100, 50, 300];
        let b: Vec<Backend> = n
            .iter()
            .zip(w)
            .enumerate()
            .map(|(i, (s, w))| Backend { identity: s, weight: w, value: i as u16 })
            .collect();
        let t = build(&b, 65537);
        let total: u32 = w.iter().sum();
        for (i, w) in w.iter().enumerate() {
            let want = 65537.0 * *w as f64 / total as f64;
            let got = count(&t, i as u16) as f64;
            assert!((got - want).abs() / want < 0.002, "backend {i}: {got} slots, want {want}");
        }
    }

    #[test]
    fn zero_weight_gets_nothing_and_all_zero_is_empty() {
        let n = names(3);
        let b: Vec<Backend> = n
            .iter()
            .enumerate()
            .map(|(i, s)| Backend { identity: s, weight: (i as u32) * 5, value: i as u16 })
            .collect();
        let t = build(&b, 251);
        assert_eq!(count(&t, 0), 0);
        assert_eq!(count(&t, EMPTY), 0);
        let z: Vec<Backend> = n.iter().map(|s| Backend { identity: s, weight: 0, value: 0 }).collect();
        assert!(build(&z, 251).iter().all(|&x| x == EMPTY));
    }

    #[test]
    fn slot_is_in_range() {
        for h in [0u32, 1, u32::MAX, 0x8000_0000] {
            assert!(slot(h, 65537) < 65537);
        }
        assert_eq!(slot(u32::MAX, 7), 6);
    }
}
