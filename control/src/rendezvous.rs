//! Weighted rendezvous (highest-random-weight) lookup tables: the minimally disruptive alternative to
//! [`crate::maglev`].
//!
//! Every (backend, slot) pair gets a pseudo-random score from the backend's identity and the slot number
//! alone, and each slot goes to the backend with the best weighted score, `weight / -ln(u)` (Schindelhauer
//! and Schomaker's weighted rendezvous: a backend wins a slot with probability weight / total). A slot's
//! owner is therefore decided by the scores of the backends present and nothing else:
//!
//! * removing a backend moves exactly the slots it held, and adding one moves exactly the slots it wins,
//!   which is the ideal 1/N that Maglev only approaches as the table grows;
//! * the table depends on the set of (identity, weight) pairs, never on their order, so two appliances
//!   with the same membership build the same table.
//!
//! The price is balance: shares follow a binomial around the weights, so the busiest backend holds about
//! 1 + 3·sqrt(N / size) of the mean (Maglev's are within a slot of exact). Building costs one 64-bit mix
//! per (backend, slot), plus one logarithm per slot for each distinct weight when weights differ.

use std::hash::Hasher;

use siphasher::sip::SipHasher13;

use crate::maglev::{Backend, EMPTY};

const SEED_KEY: (u64, u64) = (0x736c_7569_6365_2d33, 0x7265_6e64_657a_766f);

fn seed(identity: &str) -> u64 {
    let mut h = SipHasher13::new_with_keys(SEED_KEY.0, SEED_KEY.1);
    h.write(identity.as_bytes());
    h.finish()
}

/// splitmix64's output function over the backend's seed stepped by the slot: a score per (backend, slot)
/// that is uniform and independent across backends for practical purposes.
#[inline(always)]
fn score(seed: u64, slot: u64) -> u64 {
    let mut z = seed.wrapping_add((slot + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Builds a table of `size` slots over `backends`: every slot holds the `value` of the backend with the
/// best weighted score for it, or [`EMPTY`] everywhere if no backend has weight.
pub fn build(backends: &[Backend<'_>], size: u32) -> Vec<u16> {
    let mut sorted: Vec<Backend> = backends.iter().filter(|b| b.weight > 0).copied().collect();
    // Identity order breaks (64-bit) ties the same way on every appliance.
    sorted.sort_by(|a, b| a.identity.cmp(b.identity));
    if sorted.is_empty() {
        return vec![EMPTY; size as usize];
    }
    let seeds: Vec<u64> = sorted.iter().map(|b| seed(b.identity)).collect();
    let mut weights: Vec<u32> = sorted.iter().map(|b| b.weight).collect();
    weights.sort_unstable();
    weights.dedup();
    // Backend index → its weight class; within a class the highest score wins, since w / -ln(u) grows
    // with u. Classes are compared with the logarithm only when there is more than one.
    let class: Vec<usize> = sorted.iter().map(|b| weights.binary_search(&b.weight).expect("listed")).collect();
    let mut best = vec![(0u64, usize::MAX); weights.len()];
    (0..size as u64)
        .map(|slot| {
            best.fill((0, usize::MAX));
            for (i, &s) in seeds.iter().enumerate() {
                let u = score(s, slot);
                let b = &mut best[class[i]];
                if b.1 == usize::MAX || u > b.0 {
                    *b = (u, i);
                }
            }
            let winner = if best.len() == 1 {
                best[0].1
            } else {
                best.iter()
                    .zip(&weights)
                    .map(|(&(u, i), &w)| {
                        // u in (0, 1) from the top 53 bits; -ln(u) / w is smallest for the winner.
                        let unit = ((u >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
                        (-unit.ln() / w as f64, i)
                    })
                    .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
                    .expect("a class")
                    .1
            };
            sorted[winner].value
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("node-{i}")).collect()
    }

    fn backends(names: &[String], weight: impl Fn(usize) -> u32) -> Vec<Backend<'_>> {
        names.iter().enumerate().map(|(i, n)| Backend { identity: n, weight: weight(i), value: i as u16 }).collect()
    }

    fn count(table: &[u16], v: u16) -> usize {
        table.iter().filter(|&&x| x == v).count()
    }

    #[test]
    fn order_does_not_matter_and_every_slot_is_filled() {
        let n = names(10);
        let a = build(&backends(&n, |_| 100), 4099);
        let mut rev = backends(&n, |_| 100);
        rev.reverse();
        assert_eq!(build(&rev, 4099), a);
        assert!(a.iter().all(|&v| v < 10));
    }

    #[test]
    fn removal_moves_only_the_removed_backends_slots_and_addition_only_the_new_ones() {
        let n = names(33);
        let all = build(&backends(&n, |_| 100), 65537);
        let without: Vec<Backend> = backends(&n, |_| 100).into_iter().filter(|b| b.value != 7).collect();
        let after = build(&without, 65537);
        for (x, y) in all.iter().zip(&after) {
            assert!(x == y || *x == 7, "a slot of another backend moved");
        }
        // Added back: exactly the slots it wins move, all to it.
        for (x, y) in after.iter().zip(&all) {
            assert!(x == y || *y == 7);
        }
    }

    #[test]
    fn shares_follow_weights_and_weight_zero_gets_nothing() {
        let n = names(4);
        let t = build(&backends(&n, |i| [100, 200, 100, 0][i]), 65537);
        let (a, b, c) = (count(&t, 0) as f64, count(&t, 1) as f64, count(&t, 2) as f64);
        assert_eq!(count(&t, 3), 0);
        assert!((b / a - 2.0).abs() < 0.06 && (b / c - 2.0).abs() < 0.06, "{a} {b} {c}");
        assert!(build(&backends(&n, |_| 0), 101).iter().all(|&v| v == EMPTY));
    }

    #[test]
    fn equal_weights_balance_within_sampling_noise() {
        let n = names(16);
        let t = build(&backends(&n, |_| 100), 65537);
        let mean: f64 = 65537.0 / 16.0;
        let max = (0..16).map(|v| count(&t, v)).max().unwrap() as f64;
        // The binomial's standard deviation is sqrt(mean): 4 of them is far in the tail.
        assert!(max < mean + 4.0 * mean.sqrt(), "max {max} mean {mean}");
    }
}
