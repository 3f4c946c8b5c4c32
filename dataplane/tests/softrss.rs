//! sluice's table-driven Toeplitz against DPDK's own bit-serial `rte_softrss` (through the shim), on many
//! random tuples and keys.

use dpdk_sys::thash::softrss;
use sluice_control::config::{HashKey, MICROSOFT_KEY};
use sluice_dataplane::hash::Toeplitz;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn words(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks(4).map(|c| u32::from_be_bytes(c.try_into().unwrap())).collect()
}

#[test]
fn toeplitz_matches_rte_softrss() {
    let mut rng = Rng(42);
    let mut random_key = [0u8; 52];
    random_key.iter_mut().for_each(|b| *b = rng.next() as u8);
    let keys: Vec<Vec<u8>> =
        vec![MICROSOFT_KEY.to_vec(), "symmetric".parse::<HashKey>().unwrap().bytes, random_key.to_vec()];
    for key in &keys {
        let t = Toeplitz::new(key);
        for _ in 0..20_000 {
            let r = rng.next();
            let (s4, d4) = ((r as u32).to_be_bytes(), ((r >> 32) as u32).to_be_bytes());
            let (sp, dp) = (rng.next() as u16, rng.next() as u16);
            let mut v4 = s4.to_vec();
            v4.extend_from_slice(&d4);
            assert_eq!(t.hash_v4(s4, d4, None), softrss(&words(&v4), key));
            v4.extend_from_slice(&sp.to_be_bytes());
            v4.extend_from_slice(&dp.to_be_bytes());
            assert_eq!(t.hash_v4(s4, d4, Some((sp, dp))), softrss(&words(&v4), key));

            let mut s6 = [0u8; 16];
            let mut d6 = [0u8; 16];
            s6.iter_mut().chain(d6.iter_mut()).for_each(|b| *b = rng.next() as u8);
            let mut v6 = s6.to_vec();
            v6.extend_from_slice(&d6);
            assert_eq!(t.hash_v6(&s6, &d6, None), softrss(&words(&v6), key));
            v6.extend_from_slice(&sp.to_be_bytes());
            v6.extend_from_slice(&dp.to_be_bytes());
            assert_eq!(t.hash_v6(&s6, &d6, Some((sp, dp))), softrss(&words(&v6), key));
        }
    }
}
