//! The frames the reset path writes: probes (SYN|ACK from the client to the VIP, acknowledging the
//! connection's cookie), exact RSTs, and the spine's fan-out frames toward chassis appliances.

use super::Conn;
use crate::wire::ethernet;
use crate::wire::ip;
use crate::wire::parse::{Addr, PROTO_TCP};
use crate::wire::tcp::{self, flags};

/// The ethertype of fan-out frames between a spine and its chassis appliances (IEEE 802 local
/// experimental): Ethernet header, [`FANOUT_MAGIC`], then the probe's IP packet.
pub const FANOUT_ETHERTYPE: u16 = 0x88b5;
/// Marks a fan-out frame's payload: "SLR" and version byte 1.
pub const FANOUT_MAGIC: [u8; 4] = [b'S', b'L', b'R', 1];
/// Marks a peer appliance's fan-out frame ("SLP" and version byte 1): [`PEER_MAGIC`], the owner (a family byte,
/// 0 none, 4 or 6, then 16 address bytes), then the probe's IP packet.
pub const PEER_MAGIC: [u8; 4] = [b'S', b'L', b'P', 1];
/// Bytes between the Ethernet header and the carried IP packet of a peer frame.
pub const PEER_HEADER_LEN: usize = PEER_MAGIC.len() + 17;

/// Writes an untagged Ethernet frame (MACs zero: the caller's rewrite fills them) carrying a TCP segment
/// with no payload from the client to the VIP of `conn`, checksums correct. Returns its length, or None if
/// `buf` is too short.
pub fn write_segment(buf: &mut [u8], conn: &Conn, seq: u32, ack: u32, tcp_flags: u8) -> Option<usize> {
    let tcp = tcp::Repr::new(conn.cport, conn.vport, seq, ack, tcp_flags);
    write_tcp_frame(buf, [0; 6], [0; 6], conn.client, conn.vip, &tcp)
}

/// Writes an untagged Ethernet frame from `src_mac` to `dst_mac` carrying `tcp` (a segment without
/// payload) from `src` to `dst` (IPv4 TTL or IPv6 hop limit 64, otherwise as [`ip::Repr::new`] writes
/// it), checksums correct. Returns its length, or None if `buf` is too short.
pub fn write_tcp_frame(
    buf: &mut [u8],
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Addr,
    dst: Addr,
    tcp: &tcp::Repr<'_>,
) -> Option<usize> {
    debug_assert_eq!(tcp.payload_len, 0, "a payload is not written here");
    let ip = ip::Repr::new(src, dst, PROTO_TCP, tcp.buffer_len(), 64);
    let eth = ethernet::Repr { dst: dst_mac, src: src_mac, ethertype: ip.ethertype() };
    let len = eth.buffer_len() + ip.buffer_len();
    let (l2, rest) = buf.get_mut(..len)?.split_at_mut(eth.buffer_len());
    let (l3, l4) = rest.split_at_mut(ip.header_len());
    eth.emit(&mut ethernet::Frame::new_unchecked(l2));
    ip.emit(l3);
    tcp.emit(&mut tcp::Packet::new_unchecked(l4), &src, &dst);
    Some(len)
}

/// The probe of a fan-out: a SYN|ACK acknowledging `cookie` (see [`super::ProbeCookie`]). A node that
/// does not hold the connection refuses it with a RST whose sequence number is exactly `cookie`, which is
/// how sluice knows a refusal from any other RST; a node that holds it answers with a challenge ACK.
pub fn write_probe(buf: &mut [u8], conn: &Conn, cookie: u32) -> Option<usize> {
    write_segment(buf, conn, cookie, cookie, flags::SYN | flags::ACK)
}

/// A spine's fan-out frame toward a chassis appliance: Ethernet (`dst`, `src`, [`FANOUT_ETHERTYPE`]),
/// [`FANOUT_MAGIC`], then a probe's IP packet naming the connection (the chassis writes its own probes).
pub fn write_fanout_frame(buf: &mut [u8], conn: &Conn, dst: [u8; 6], src: [u8; 6]) -> Option<usize> {
    let len = write_probe(buf.get_mut(FANOUT_MAGIC.len()..)?, conn, 0)? + FANOUT_MAGIC.len();
    let eth = ethernet::Repr { dst, src, ethertype: FANOUT_ETHERTYPE };
    eth.emit(&mut ethernet::Frame::new_unchecked(&mut buf[..]));
    buf[eth.buffer_len()..eth.buffer_len() + FANOUT_MAGIC.len()].copy_from_slice(&FANOUT_MAGIC);
    Some(len)
}

/// A fan-out frame toward a peer appliance (same ethertype as a spine's, [`PEER_MAGIC`]): the connection
/// and its current owner, so that the peer turns the answers to this appliance's probes that reach it into
/// exact RSTs and lets the owner's segments pass.
///
/// The carried probe acknowledges `cookie` (the connection's probe cookie, keyed with the fleet's shared
/// hash key): a peer takes the frame only when it computes the same, so that a host that can send from
/// a peer's MAC but does not know the key cannot name connections of its choosing.
pub fn write_peer_frame(
    buf: &mut [u8],
    conn: &Conn,
    cookie: u32,
    owner: Option<Addr>,
    dst: [u8; 6],
    src: [u8; 6],
) -> Option<usize> {
    let len = write_probe(buf.get_mut(PEER_HEADER_LEN..)?, conn, cookie)? + PEER_HEADER_LEN;
    let eth = ethernet::Repr { dst, src, ethertype: FANOUT_ETHERTYPE };
    eth.emit(&mut ethernet::Frame::new_unchecked(&mut buf[..]));
    let h = &mut buf[eth.buffer_len()..eth.buffer_len() + PEER_HEADER_LEN];
    h[..4].copy_from_slice(&PEER_MAGIC);
    h[4] = match owner {
        None => 0,
        Some(a) if a.v6 => 6,
        Some(_) => 4,
    };
    h[5..21].copy_from_slice(&owner.map_or([0; 16], |a| a.bytes));
    Some(len)
}

/// The owner a peer frame names (`h` starts at [`PEER_MAGIC`]): Some(None) for none, None when the frame
/// is too short or its family byte is not 0, 4 or 6.
pub fn peer_owner(h: &[u8]) -> Option<Option<Addr>> {
    let bytes: [u8; 16] = h.get(5..21)?.try_into().ok()?;
    match h[4] {
        0 => Some(None),
        4 => Some(Some(Addr::v4([bytes[0], bytes[1], bytes[2], bytes[3]]))),
        6 => Some(Some(Addr::v6(bytes))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;

    #[test]
    fn probes_verify_and_carry_the_cookie() {
        for c in [
            Conn { client: Addr::v4([192, 0, 2, 1]), vip: Addr::v4([10, 10, 0, 1]), cport: 7, vport: 2049 },
            Conn {
                client: Addr::v6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
                vip: Addr::v6([0x20, 1, 0xd, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
                cport: 5,
                vport: 6,
            },
        ] {
            let mut b = [0u8; 128];
            let n = write_probe(&mut b, &c, 0xdead_beef).unwrap();
            let p = match crate::wire::parse::classify(&b[..n]).unwrap() {
                crate::wire::parse::Classified::Parsed(p) => p,
                _ => panic!(),
            };
            assert_eq!(
                (p.src, p.dst, p.src_port, p.dst_port, p.tcp_flags),
                (c.client, c.vip, c.cport, c.vport, flags::SYN | flags::ACK)
            );
            let l4 = &b[p.l4_offset..n];
            assert_eq!(crate::wire::be32(l4, 8), 0xdead_beef, "the probe acknowledges the cookie");
            let ph = checksum::pseudo_header(c.client.octets(), c.vip.octets(), PROTO_TCP, l4.len() as u32);
            assert_eq!(checksum::finish(checksum::sum(ph, l4)), 0);
            assert!(write_probe(&mut b[..40], &c, 1).is_none());
        }
    }

    /// The exact RST sluice sends a stale holder of 192.0.2.7:50000 → 10.10.0.1:2049 whose rcv_nxt is
    /// 0x6e0f4a31 (MACs zero: the rewrite toward the node fills them). IP checksum 0xaebe, TCP 0x603c.
    const RST4: [u8; 54] = [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00, // IPv4:
        0x45, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x40, 0x06, 0xae, 0xbe, 0xc0, 0x00, 0x02, 0x07, 0x0a, 0x0a,
        0x00, 0x01, // TCP:
        0xc3, 0x50, 0x08, 0x01, 0x6e, 0x0f, 0x4a, 0x31, 0x00, 0x00, 0x00, 0x00, 0x50, 0x04, 0x00, 0x00, 0x60, 0x3c,
        0x00, 0x00,
    ];

    #[test]
    fn the_exact_rst_is_these_bytes_over_anything_in_the_buffer() {
        let c = Conn { client: Addr::v4([192, 0, 2, 7]), vip: Addr::v4([10, 10, 0, 1]), cport: 50000, vport: 2049 };
        for fill in [0u8, 0xff] {
            let mut b = [fill; 64];
            let n = write_segment(&mut b, &c, 0x6e0f_4a31, 0, flags::RST).unwrap();
            assert_eq!(b[..n], RST4);
            assert_eq!(b[n..], [fill; 10], "nothing written after the frame");
        }
    }
}
