//! Internet checksum (RFC 1071) with incremental update (RFC 1624).

/// Adds `data` as big-endian 16-bit words to a running 32-bit sum.
#[inline]
pub fn sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc = acc.wrapping_add(u16::from_be_bytes([c[0], c[1]]) as u32);
    }
    if let [b] = chunks.remainder() {
        acc = acc.wrapping_add((*b as u32) << 8);
    }
    acc
}

/// Folds a running sum to 16 bits and complements it.
#[inline]
pub fn finish(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The checksum of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(0, data))
}

/// The pseudo-header sum for TCP/UDP/ICMPv6 over IPv4 or IPv6 addresses (each 4 or 16 bytes).
pub fn pseudo_header(src: &[u8], dst: &[u8], proto: u8, len: u32) -> u32 {
    let acc = sum(sum(0, src), dst);
    acc.wrapping_add(proto as u32).wrapping_add(len >> 16).wrapping_add(len & 0xffff)
}

/// RFC 1624 eqn. 3: the new checksum after a 16-bit word changed from `old` to `new`. Never 0x0000:
/// where eqn. 3 gives it, the covered data may now be all zero (an echo reply with identifier, sequence
/// and payload all 0), whose only valid checksum is 0xffff; and 0xffff verifies wherever 0x0000 would
/// (both are zero in ones' complement).
#[inline]
pub fn update16(csum: u16, old: u16, new: u16) -> u16 {
    let acc = (!csum as u32) + (!old as u32) + new as u32;
    match finish(acc) {
        0 => 0xffff,
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3's example words sum to 0xddf2 (before complement).
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(finish(sum(0, &d)), !0xddf2);
    }

    #[test]
    fn incremental_matches_full() {
        let mut d = [0x45u8, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 0x40, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        let c = checksum(&d);
        d[8] = 0x3f;
        let full = checksum(&d);
        assert_eq!(update16(c, 0x4001, 0x3f01), full);
    }

    #[test]
    fn incremental_update_to_all_zero_data_verifies() {
        // An echo request with identifier, sequence and payload 0 turned into a reply: every word 0.
        let mut d = [8u8, 0, 0, 0, 0, 0, 0, 0];
        let c = checksum(&d);
        d[2..4].copy_from_slice(&c.to_be_bytes());
        let c = update16(c, 0x0800, 0x0000);
        d[0] = 0;
        d[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(finish(sum(0, &d)), 0, "the reply's checksum verifies");
        // And where the data's sum is ones' complement -0 (0xffff), 0xffff verifies as 0x0000 does.
        let d = [0xffu8, 0xff, 0xff, 0xff];
        assert_eq!(finish(sum(0, &d)), 0);
    }

    #[test]
    fn odd_length() {
        assert_eq!(finish(sum(0, &[0xab])), !0xab00);
    }
}
