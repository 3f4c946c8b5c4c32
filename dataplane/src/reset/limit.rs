//! Fan-out rate limits: a token bucket per worker, and one per client prefix (IPv4 /24, IPv6 /64) so
//! that one client cannot spend the budget every other client's fan-outs need. Each prefix also draws on
//! the bucket of its wider prefix (IPv4 /16, IPv6 /48) at four times the rate and depth, so that a client
//! holding many /64s (a /56 is common) gets no more than four /64s' worth. The buckets live in a fixed,
//! direct-mapped table under a per-worker random key; a prefix whose slot is taken over starts again with
//! a full bucket, and the worker's bucket bounds the total whatever the prefixes.

use crate::wire::parse::Addr;

/// A token bucket counted in clock ticks: `tokens` ticks of credit, one token costs `per_token`.
#[derive(Clone, Copy, Default)]
struct Bucket {
    credit: u64,
    last: u64,
}

impl Bucket {
    fn full(max: u64, now: u64) -> Bucket {
        Bucket { credit: max, last: now }
    }

    fn refill(&mut self, now: u64, max: u64) {
        self.credit = (self.credit + now.saturating_sub(self.last)).min(max);
        self.last = self.last.max(now);
    }
}

/// Slots in the prefix table.
const PREFIX_SLOTS: usize = 1024;

/// Why a fan-out may not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The worker's bucket is empty.
    Worker,
    /// The client prefix's bucket is empty.
    Prefix,
}

/// A worker's fan-out limits.
pub struct Limits {
    worker: Bucket,
    worker_max: u64,
    worker_per_token: u64,
    /// Narrow prefixes' buckets, then wide prefixes' (apart, so that narrow prefixes never evict a wide one).
    prefixes: Box<[(u128, Bucket)]>,
    prefix_max: u64,
    prefix_per_token: u64,
    key: ahash::RandomState,
}

/// The prefix a client belongs to for rate limiting, tagged with its family (never 0): IPv6 /64 and
/// IPv4 /24, or (`wide`) IPv6 /48 and IPv4 /16.
fn prefix_of(a: &Addr, wide: bool) -> u128 {
    if a.v6 {
        let p = u64::from_be_bytes(a.bytes[..8].try_into().expect("16 bytes"));
        if wide {
            3 << 64 | (p >> 16) as u128
        } else {
            1 << 64 | p as u128
        }
    } else {
        let b = a.v4_bytes();
        if wide {
            4 << 64 | u16::from_be_bytes([b[0], b[1]]) as u128
        } else {
            2 << 64 | u32::from_be_bytes([0, b[0], b[1], b[2]]) as u128
        }
    }
}

/// How many times a prefix's rate and depth its wider prefix has.
const WIDE: u64 = 4;

impl Limits {
    /// `rate`/`burst` per worker and `prefix_rate`/`prefix_burst` per client prefix, with time in ticks of
    /// `ticks_per_sec`.
    pub fn new(rate: u32, burst: u32, prefix_rate: u32, prefix_burst: u32, ticks_per_sec: u64) -> Limits {
        let worker_per_token = (ticks_per_sec / rate.max(1) as u64).max(1);
        let prefix_per_token = (ticks_per_sec / prefix_rate.max(1) as u64).max(1);
        let worker_max = burst.max(1) as u64 * worker_per_token;
        Limits {
            worker: Bucket::full(worker_max, 0),
            worker_max,
            worker_per_token,
            prefixes: vec![(0, Bucket::default()); 2 * PREFIX_SLOTS].into_boxed_slice(),
            prefix_max: prefix_burst.max(1) as u64 * prefix_per_token,
            prefix_per_token,
            key: ahash::RandomState::new(),
        }
    }

    /// The slot of `prefix` (in the wide half of the table when `wide`) with its bucket refilled (a prefix
    /// new to the slot starts full).
    fn slot(&mut self, prefix: u128, wide: bool, max: u64, now: u64) -> usize {
        let slot = (self.key.hash_one(prefix) as usize & (PREFIX_SLOTS - 1)) + wide as usize * PREFIX_SLOTS;
        let (tag, bucket) = &mut self.prefixes[slot];
        if *tag != prefix {
            *tag = prefix;
            *bucket = Bucket::full(max, now);
        }
        bucket.refill(now, max);
        slot
    }

    /// Takes one token from the worker's bucket and one from each of `client`'s prefixes, or none.
    pub fn take(&mut self, client: &Addr, now: u64) -> Result<(), Refused> {
        self.worker.refill(now, self.worker_max);
        if self.worker.credit < self.worker_per_token {
            return Err(Refused::Worker);
        }
        let narrow = self.slot(prefix_of(client, false), false, self.prefix_max, now);
        let wide = self.slot(prefix_of(client, true), true, self.prefix_max * WIDE, now);
        let need = self.prefix_per_token;
        if self.prefixes[narrow].1.credit < need || self.prefixes[wide].1.credit < need {
            return Err(Refused::Prefix);
        }
        self.prefixes[narrow].1.credit -= need;
        self.prefixes[wide].1.credit -= need;
        self.worker.credit -= self.worker_per_token;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HZ: u64 = 1_000_000;

    fn v4(a: [u8; 4]) -> Addr {
        Addr::v4(a)
    }

    #[test]
    fn one_prefix_cannot_spend_the_workers_budget() {
        let mut l = Limits::new(100, 50, 10, 5, HZ);
        let hog = v4([192, 0, 2, 7]);
        let took = (0..100).filter(|_| l.take(&hog, 1).is_ok()).count();
        assert_eq!(took, 5, "a prefix gets its burst, no more");
        assert_eq!(l.take(&v4([192, 0, 2, 200]), 1), Err(Refused::Prefix), "the same /24");
        // A tenth of a second later the hog has one token again (10 per second). (Checked before other
        // prefixes come: one of them may take over the hog's slot, which then starts full.)
        assert!(l.take(&hog, 1 + HZ / 10).is_ok());
        assert_eq!(l.take(&hog, 1 + HZ / 10), Err(Refused::Prefix));
        let others = (0..40u8).filter(|i| l.take(&v4([100 + *i, 18, 0, 1]), 1 + HZ / 10).is_ok()).count();
        assert_eq!(others, 40, "other prefixes still start theirs");
    }

    #[test]
    fn the_worker_bucket_bounds_every_prefix_together() {
        let mut l = Limits::new(100, 20, 100, 20, HZ);
        let took = (0..=255u8).filter(|i| l.take(&v4([10 + *i % 100, *i, 0, 1]), 5).is_ok()).count();
        assert_eq!(took, 20);
        assert_eq!(l.take(&v4([10, 99, 9, 9]), 5), Err(Refused::Worker));
    }

    #[test]
    fn ipv6_prefixes_are_slash_64() {
        let mut l = Limits::new(1000, 100, 10, 2, HZ);
        let mut a = Addr::v6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert!(l.take(&a, 1).is_ok());
        a.bytes[15] = 9;
        assert!(l.take(&a, 1).is_ok());
        a.bytes[12] = 9;
        assert_eq!(l.take(&a, 1), Err(Refused::Prefix), "same /64");
        a.bytes[7] = 2;
        assert!(l.take(&a, 1).is_ok(), "another /64");
    }

    #[test]
    fn many_slash_64s_of_one_slash_48_share_four_buckets_worth() {
        let mut l = Limits::new(100_000, 10_000, 10, 5, HZ);
        let mut took = 0;
        for sub in 0..=255u8 {
            // 256 /64s of one /56 (so of one /48).
            let a = Addr::v6([0x20, 1, 0xd, 0xb8, 0, 7, 0, sub, 0, 0, 0, 0, 0, 0, 0, 1]);
            took += (0..10).filter(|_| l.take(&a, 1).is_ok()).count();
        }
        assert_eq!(took, 20, "four /64s' burst for the whole /48");
        let other = Addr::v6([0x20, 1, 0xd, 0xb8, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert!(l.take(&other, 1).is_ok(), "another /48 is untouched");
        let mut l = Limits::new(100_000, 10_000, 10, 5, HZ);
        let took = (0..=255u8).filter(|i| l.take(&Addr::v4([198, 18, *i, 1]), 1).is_ok()).count();
        assert_eq!(took, 20, "and IPv4 /24s of one /16 likewise");
    }
}
