//! RSS-compatible Toeplitz hashing, table-driven.
//!
//! For each input byte position `i` and byte value `b`, the table holds the XOR of the 32-bit key windows
//! starting at bits `8i + j` for each set bit `j` of `b`, so a hash is one lookup and XOR per input byte.
//! Inputs are the NIC's: `src ‖ dst [‖ src_port ‖ dst_port]`, big-endian, as in the packet.

/// Longest input: IPv6 addresses and ports.
pub const MAX_INPUT: usize = 36;

/// A Toeplitz hasher for one key.
#[derive(Clone)]
pub struct Toeplitz {
    table: Box<[[u32; 256]; MAX_INPUT]>,
    key: Vec<u8>,
}

impl Toeplitz {
    /// Builds the tables for `key` (40 or 52 bytes; inputs of up to `key.len() - 4` bytes are hashed).
    pub fn new(key: &[u8]) -> Toeplitz {
        assert!(key.len() >= 16, "Toeplitz key too short");
        let bit = |n: usize| -> u32 { key.get(n / 8).map_or(0, |b| ((b >> (7 - n % 8)) & 1) as u32) };
        let window = |start: usize| -> u32 { (0..32).fold(0u32, |acc, k| (acc << 1) | bit(start + k)) };
        let mut table = Box::new([[0u32; 256]; MAX_INPUT]);
        for (i, row) in table.iter_mut().enumerate() {
            let windows: [u32; 8] = std::array::from_fn(|j| window(8 * i + j));
            for (b, slot) in row.iter_mut().enumerate() {
                *slot = (0..8).filter(|j| b & (0x80 >> j) != 0).fold(0, |acc, j| acc ^ windows[j]);
            }
        }
        Toeplitz { table, key: key.to_vec() }
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Hashes `input` (at most [`MAX_INPUT`] bytes; longer input is cut).
    #[inline]
    pub fn hash(&self, input: &[u8]) -> u32 {
        let mut h = 0u32;
        for (row, &b) in self.table.iter().zip(input) {
            h ^= row[b as usize];
        }
        h
    }

    /// A fixed-length input: the loop fully unrolls into independent table loads.
    #[inline(always)]
    fn hash_n<const N: usize>(&self, input: &[u8; N]) -> u32 {
        const { assert!(N <= MAX_INPUT) };
        let t: &[[u32; 256]; MAX_INPUT] = &self.table;
        let mut h = 0u32;
        for (row, &b) in t.iter().zip(input.iter()) {
            h ^= row[b as usize];
        }
        h
    }

    /// IPv4 2-tuple or 4-tuple (ports when `ports` is Some).
    #[inline]
    pub fn hash_v4(&self, src: [u8; 4], dst: [u8; 4], ports: Option<(u16, u16)>) -> u32 {
        let mut buf = [0u8; 12];
        buf[..4].copy_from_slice(&src);
        buf[4..8].copy_from_slice(&dst);
        match ports {
            Some((s, d)) => {
                buf[8..10].copy_from_slice(&s.to_be_bytes());
                buf[10..12].copy_from_slice(&d.to_be_bytes());
                self.hash_n(&buf)
            }
            None => self.hash_n::<8>(buf[..8].try_into().expect("8 bytes")),
        }
    }

    /// The part of an IPv4 hash that the destination contributes (bytes 4..8 of the input). A VIP's is
    /// computed once; [`Toeplitz::hash_v4_premixed`] then needs 8 lookups instead of 12.
    pub fn dst_part_v4(&self, dst: [u8; 4]) -> u32 {
        (0..4).fold(0, |h, i| h ^ self.table[4 + i][dst[i] as usize])
    }

    /// [`Toeplitz::hash_v4`] with the destination's part precomputed by [`Toeplitz::dst_part_v4`].
    #[inline(always)]
    pub fn hash_v4_premixed(&self, src: [u8; 4], dst_part: u32, ports: Option<(u16, u16)>) -> u32 {
        let t = &self.table;
        let mut h =
            dst_part ^ t[0][src[0] as usize] ^ t[1][src[1] as usize] ^ t[2][src[2] as usize] ^ t[3][src[3] as usize];
        if let Some((s, d)) = ports {
            let (s, d) = (s.to_be_bytes(), d.to_be_bytes());
            h ^= t[8][s[0] as usize] ^ t[9][s[1] as usize] ^ t[10][d[0] as usize] ^ t[11][d[1] as usize];
        }
        h
    }

    /// The part of an IPv6 hash that the destination contributes (bytes 16..32 of the input): with a VIP's
    /// computed once, [`Toeplitz::hash_v6_premixed`] needs 20 lookups instead of 36.
    pub fn dst_part_v6(&self, dst: &[u8; 16]) -> u32 {
        (0..16).fold(0, |h, i| h ^ self.table[16 + i][dst[i] as usize])
    }

    /// [`Toeplitz::hash_v6`] with the destination's part precomputed by [`Toeplitz::dst_part_v6`].
    #[inline(always)]
    pub fn hash_v6_premixed(&self, src: &[u8; 16], dst_part: u32, ports: Option<(u16, u16)>) -> u32 {
        let t = &self.table;
        let mut h = dst_part;
        for i in 0..16 {
            h ^= t[i][src[i] as usize];
        }
        if let Some((s, d)) = ports {
            let (s, d) = (s.to_be_bytes(), d.to_be_bytes());
            h ^= t[32][s[0] as usize] ^ t[33][s[1] as usize] ^ t[34][d[0] as usize] ^ t[35][d[1] as usize];
        }
        h
    }

    /// IPv6 2-tuple or 4-tuple.
    #[inline]
    pub fn hash_v6(&self, src: &[u8; 16], dst: &[u8; 16], ports: Option<(u16, u16)>) -> u32 {
        let mut buf = [0u8; 36];
        buf[..16].copy_from_slice(src);
        buf[16..32].copy_from_slice(dst);
        match ports {
            Some((s, d)) => {
                buf[32..34].copy_from_slice(&s.to_be_bytes());
                buf[34..36].copy_from_slice(&d.to_be_bytes());
                self.hash_n(&buf)
            }
            None => self.hash_n::<32>(buf[..32].try_into().expect("32 bytes")),
        }
    }
}

#[cfg(test)]
mod premixed_tests {
    use super::*;

    #[test]
    fn premixed_equals_the_full_hash() {
        let t = Toeplitz::new(&sluice_control::config::MICROSOFT_KEY);
        let mut x = 7u64;
        for _ in 0..10_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            let b = x.to_be_bytes();
            let (src, dst, ports) = ([b[0], b[1], b[2], b[3]], [b[4], b[5], b[6], b[7]], (x as u16, (x >> 16) as u16));
            let p = t.dst_part_v4(dst);
            assert_eq!(t.hash_v4_premixed(src, p, Some(ports)), t.hash_v4(src, dst, Some(ports)));
            assert_eq!(t.hash_v4_premixed(src, p, None), t.hash_v4(src, dst, None));
            let (mut s6, mut d6) = ([0u8; 16], [0u8; 16]);
            for i in 0..16 {
                s6[i] = b[i % 8].rotate_left(i as u32);
                d6[i] = b[(i + 3) % 8] ^ i as u8;
            }
            let p6 = t.dst_part_v6(&d6);
            assert_eq!(t.hash_v6_premixed(&s6, p6, Some(ports)), t.hash_v6(&s6, &d6, Some(ports)));
            assert_eq!(t.hash_v6_premixed(&s6, p6, None), t.hash_v6(&s6, &d6, None));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_control::config::MICROSOFT_KEY;

    fn v4(s: &str) -> [u8; 4] {
        s.parse::<std::net::Ipv4Addr>().unwrap().octets()
    }
    fn v6(s: &str) -> [u8; 16] {
        s.parse::<std::net::Ipv6Addr>().unwrap().octets()
    }

    /// Microsoft's "Verifying the RSS Hash Calculation" vectors, IPv4: (src, sport, dst, dport, L3, L3+L4).
    const V4: [(&str, u16, &str, u16, u32, u32); 5] = [
        ("66.9.149.187", 2794, "161.142.100.80", 1766, 0x323e8fc2, 0x51ccc178),
        ("199.92.111.2", 14230, "65.69.140.83", 4739, 0xd718262a, 0xc626b0ea),
        ("24.19.198.95", 12898, "12.22.207.184", 38024, 0xd2d0a5de, 0x5c2b394a),
        ("38.27.205.30", 48228, "209.142.163.6", 2217, 0x82989176, 0xafc7327f),
        ("153.39.163.191", 44251, "202.188.127.2", 1303, 0x5d1809c5, 0x10e828a2),
    ];

    /// The same, IPv6.
    const V6: [(&str, u16, &str, u16, u32, u32); 3] = [
        ("3ffe:2501:200:1fff::7", 2794, "3ffe:2501:200:3::1", 1766, 0x2cc18cd5, 0x40207d3d),
        ("3ffe:501:8::260:97ff:fe40:efab", 14230, "ff02::1", 4739, 0x0f0c461c, 0xdde51bbf),
        ("3ffe:1900:4545:3:200:f8ff:fe21:67cf", 44251, "fe80::200:f8ff:fe21:67cf", 38024, 0x4b61e985, 0x02d1feef),
    ];

    #[test]
    fn microsoft_vectors_ipv4() {
        let t = Toeplitz::new(&MICROSOFT_KEY);
        for (s, sp, d, dp, l3, l4) in V4 {
            assert_eq!(t.hash_v4(v4(s), v4(d), None), l3, "{s} -> {d}");
            assert_eq!(t.hash_v4(v4(s), v4(d), Some((sp, dp))), l4, "{s}:{sp} -> {d}:{dp}");
        }
    }

    #[test]
    fn microsoft_vectors_ipv6() {
        let t = Toeplitz::new(&MICROSOFT_KEY);
        for (s, sp, d, dp, l3, l4) in V6 {
            assert_eq!(t.hash_v6(&v6(s), &v6(d), None), l3, "{s} -> {d}");
            assert_eq!(t.hash_v6(&v6(s), &v6(d), Some((sp, dp))), l4, "{s}:{sp} -> {d}:{dp}");
        }
    }

    #[test]
    fn symmetric_key_is_symmetric() {
        let key: sluice_control::config::HashKey = "symmetric".parse().unwrap();
        let t = Toeplitz::new(&key.bytes);
        let (a, b) = (v4("10.1.2.3"), v4("192.0.2.77"));
        assert_eq!(t.hash_v4(a, b, Some((1234, 2049))), t.hash_v4(b, a, Some((2049, 1234))));
        let (a, b) = (v6("2001:db8::1"), v6("2001:db8:10::1"));
        assert_eq!(t.hash_v6(&a, &b, Some((1, 2))), t.hash_v6(&b, &a, Some((2, 1))));
    }
}
