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

pub mod bounded;

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

/// The backends that can win slots (weight > 0), in identity order, with their seeds and weight classes.
struct Field<'a> {
    backends: Vec<Backend<'a>>,
    seeds: Vec<u64>,
    /// The distinct weights, ascending, and each backend's index into them.
    weights: Vec<u32>,
    class: Vec<usize>,
}

impl<'a> Field<'a> {
    fn new(backends: &[Backend<'a>]) -> Field<'a> {
        let mut sorted: Vec<Backend> = backends.iter().filter(|b| b.weight > 0).copied().collect();
        // Identity order breaks (64-bit) ties the same way on every appliance.
        sorted.sort_by(|a, b| a.identity.cmp(b.identity));
        let seeds = sorted.iter().map(|b| seed(b.identity)).collect();
        let mut weights: Vec<u32> = sorted.iter().map(|b| b.weight).collect();
        weights.sort_unstable();
        weights.dedup();
        let class = sorted.iter().map(|b| weights.binary_search(&b.weight).expect("listed")).collect();
        Field { backends: sorted, seeds, weights, class }
    }

    /// `a` (scoring `ua`) wins a slot over `b` (scoring `ub`). Every slot goes to the first backend in one
    /// total order: the smallest `-ln(u) / weight`, then the largest `u`, then the smallest identity.
    /// Between equal weights that is simply the largest `u`, then the smallest identity (the logarithm is
    /// monotonic), so no logarithm is taken.
    #[inline]
    fn beats(&self, a: usize, ua: u64, b: usize, ub: u64) -> bool {
        let (wa, wb) = (self.backends[a].weight, self.backends[b].weight);
        if wa != wb {
            match key(ua, wa).total_cmp(&key(ub, wb)) {
                std::cmp::Ordering::Less => return true,
                std::cmp::Ordering::Greater => return false,
                std::cmp::Ordering::Equal => {}
            }
        }
        ua > ub || (ua == ub && self.backends[a].identity < self.backends[b].identity)
    }

    /// The winner of `slot` among the backends `skip` leaves, in [`Field::beats`]'s order (smallest
    /// `-ln(u) / weight`, then largest `u`, then smallest identity, which is their index); None if it
    /// skips all. One logarithm per backend.
    fn winner_among(&self, slot: u64, skip: impl Fn(usize) -> bool) -> Option<usize> {
        let mut w: Option<(f64, std::cmp::Reverse<u64>, usize)> = None;
        for (i, &s) in self.seeds.iter().enumerate() {
            if skip(i) {
                continue;
            }
            let u = score(s, slot);
            let k = (key(u, self.backends[i].weight), std::cmp::Reverse(u), i);
            if w.is_none_or(|b| k.0.total_cmp(&b.0).then(k.1.cmp(&b.1)).then(k.2.cmp(&b.2)).is_lt()) {
                w = Some(k);
            }
        }
        w.map(|(_, _, i)| i)
    }

    /// The winner of `slot` among every backend: the best of each weight class by score alone, then the
    /// classes' winners against each other. `best` is scratch space, one entry per class.
    fn winner(&self, slot: u64, best: &mut [(u64, usize)]) -> usize {
        best.fill((0, usize::MAX));
        for (i, &s) in self.seeds.iter().enumerate() {
            let u = score(s, slot);
            let b = &mut best[self.class[i]];
            // Backends come in identity order, so on equal scores the first one seen stays.
            if b.1 == usize::MAX || u > b.0 {
                *b = (u, i);
            }
        }
        let mut w = best[0];
        for &c in &best[1..] {
            if self.beats(c.1, c.0, w.1, w.0) {
                w = c;
            }
        }
        w.1
    }
}

/// -ln(u) / weight, with u in (0, 1) from the top 53 bits of the score: smallest for the winner.
#[inline]
fn key(u: u64, weight: u32) -> f64 {
    let unit = ((u >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -unit.ln() / weight as f64
}

/// Builds a table of `size` slots over `backends`: every slot holds the `value` of the backend with the
/// best weighted score for it, or [`EMPTY`] everywhere if no backend has weight.
pub fn build(backends: &[Backend<'_>], size: u32) -> Vec<u16> {
    let f = Field::new(backends);
    if f.backends.is_empty() {
        return vec![EMPTY; size as usize];
    }
    let mut best = vec![(0u64, usize::MAX); f.weights.len()];
    (0..size as u64).map(|slot| f.backends[f.winner(slot, &mut best)].value).collect()
}

/// The table [`build`] would make over `new`, worked out from `old_table`, the table of `old`: a slot whose
/// owner is still there with the same weight can only go to that owner or to a backend that arrived (or
/// whose weight changed), so only those are scored; the slots of departed or reweighted owners are decided
/// afresh. A change of one backend in N therefore costs about two scores per slot instead of N. Values
/// may differ between `old` and `new` (node indices shift when one is removed); identities decide.
pub fn rebuild(old: &[Backend<'_>], old_table: &[u16], new: &[Backend<'_>]) -> Vec<u16> {
    let size = old_table.len() as u32;
    let f = Field::new(new);
    let index: std::collections::HashMap<&str, usize> =
        f.backends.iter().enumerate().map(|(i, b)| (b.identity, i)).collect();
    // Old value → the same backend in `new`, when it stays with the same weight.
    let mut kept = vec![usize::MAX; old.iter().map(|b| b.value as usize + 1).max().unwrap_or(0)];
    let mut stayed = vec![false; f.backends.len()];
    for b in old.iter().filter(|b| b.weight > 0) {
        if let Some(&i) = index.get(b.identity) {
            if f.backends[i].weight == b.weight {
                kept[b.value as usize] = i;
                stayed[i] = true;
            }
        }
    }
    let arrived: Vec<usize> = (0..f.backends.len()).filter(|&i| !stayed[i]).collect();
    // When much has changed, or nothing is left, a fresh build is as cheap.
    if f.backends.is_empty() || arrived.len() * 4 > f.backends.len() || old_table.iter().all(|&v| v == EMPTY) {
        return build(new, size);
    }
    let mut best = vec![(0u64, usize::MAX); f.weights.len()];
    old_table
        .iter()
        .enumerate()
        .map(|(slot, &v)| {
            let slot = slot as u64;
            let owner = kept.get(v as usize).copied().unwrap_or(usize::MAX);
            let w = if owner == usize::MAX {
                f.winner(slot, &mut best)
            } else {
                let (mut w, mut uw) = (owner, score(f.seeds[owner], slot));
                for &a in &arrived {
                    let ua = score(f.seeds[a], slot);
                    if f.beats(a, ua, w, uw) {
                        (w, uw) = (a, ua);
                    }
                }
                w
            };
            f.backends[w].value
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("node-{i}")).collect()
    }

    /// Backend i is `names[i]`, with value i.
    pub(super) fn backends(names: &[String], weight: impl Fn(usize) -> u32) -> Vec<Backend<'_>> {
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

    /// A small deterministic generator for the membership sequences.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            score(self.0, 0) % n
        }
    }

    #[test]
    fn an_incremental_rebuild_is_the_fresh_build_slot_for_slot() {
        let pool = names(48);
        let mut rng = Rng(11);
        // (name index, weight) of the members now; values are positions in the list, so they shift.
        let mut members: Vec<(usize, u32)> = (0..24).map(|i| (i, 100)).collect();
        let to_backends = |m: &[(usize, u32)]| -> Vec<Backend> {
            m.iter()
                .enumerate()
                .map(|(v, &(i, w))| Backend { identity: &pool[i], weight: w, value: v as u16 })
                .collect()
        };
        let mut table = build(&to_backends(&members), 4099);
        let mut incremental = 0;
        for step in 0..60 {
            let before = members.clone();
            match rng.below(5) {
                // Remove one (values after it shift down).
                0 if members.len() > 2 => {
                    members.remove(rng.below(members.len() as u64) as usize);
                }
                // Add one not present.
                1 => {
                    let free: Vec<usize> = (0..pool.len()).filter(|i| members.iter().all(|m| m.0 != *i)).collect();
                    if let Some(&i) = free.get(rng.below(free.len().max(1) as u64) as usize) {
                        let at = rng.below(members.len() as u64 + 1) as usize;
                        members.insert(at, (i, [50, 100, 200][rng.below(3) as usize]));
                    }
                }
                // Drain or undrain (weight 0), or reweight.
                2 => {
                    let k = rng.below(members.len() as u64) as usize;
                    members[k].1 = if members[k].1 == 0 { 100 } else { 0 };
                }
                3 => {
                    let k = rng.below(members.len() as u64) as usize;
                    members[k].1 = [50, 100, 200, 300][rng.below(4) as usize];
                }
                // Nothing changes.
                _ => {}
            }
            let (old, new) = (to_backends(&before), to_backends(&members));
            let fresh = build(&new, 4099);
            let changed = new.iter().filter(|b| !old.iter().any(|o| o.identity == b.identity && o.weight == b.weight));
            if changed.filter(|b| b.weight > 0).count() * 4 <= new.iter().filter(|b| b.weight > 0).count() {
                incremental += 1;
            }
            assert_eq!(rebuild(&old, &table, &new), fresh, "step {step}: {before:?} -> {members:?}");
            table = fresh;
        }
        assert!(incremental > 40, "only {incremental} steps took the incremental path");
    }

    #[test]
    fn a_rebuild_from_nothing_or_to_nothing_is_a_build() {
        let n = names(6);
        let none = backends(&n, |_| 0);
        let some = backends(&n, |i| [0, 100, 100, 0, 300, 100][i]);
        let empty = build(&none, 251);
        assert_eq!(rebuild(&none, &empty, &some), build(&some, 251));
        assert_eq!(rebuild(&some, &build(&some, 251), &none), empty);
    }
}
