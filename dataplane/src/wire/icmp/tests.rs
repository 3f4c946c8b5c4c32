use super::*;

#[test]
fn echo_request_to_reply_keeps_checksum() {
    let mut m = vec![8u8, 0, 0, 0, 0x12, 0x34, 0, 1, b'p', b'i', b'n', b'g'];
    let c = checksum::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut p = Packet::new_checked(&mut m[..]).unwrap();
    p.update_type(v4::ECHO_REPLY);
    assert_eq!(checksum::checksum(&m), 0);
    assert_eq!(m[0], 0);
}

/// `ping -c 1 10.10.0.1` from Linux: identifier 0x1c46, sequence 1, 56 bytes of data (a timestamp,
/// then 0x10..0x37). Checksum 0x57a5.
const ECHO4: [u8; 64] = [
    0x08, 0x00, 0x57, 0xa5, 0x1c, 0x46, 0x00, 0x01, 0x38, 0x5d, 0x56, 0x65, 0x00, 0x00, 0x00, 0x00, 0x2b, 0x7e, 0x0b,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
    0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30,
    0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
];

/// The fragmentation-needed sluice sends a client whose 1500-byte DF segment (192.0.2.7:40000 →
/// 10.10.0.1:2049, ident 0x04d2) does not fit an IP-in-IP node: next-hop MTU 1480, quoting the IP
/// header and 8 bytes. Checksum 0x52f1.
const FRAG_NEEDED: [u8; 36] = [
    0x03, 0x04, 0x52, 0xf1, 0x00, 0x00, 0x05, 0xc8, // quote:
    0x45, 0x00, 0x05, 0xdc, 0x04, 0xd2, 0x40, 0x00, 0x40, 0x06, 0x64, 0x38, 0xc0, 0x00, 0x02, 0x07, 0x0a, 0x0a, 0x00,
    0x01, 0x9c, 0x40, 0x08, 0x01, 0x00, 0x00, 0x00, 0x01,
];

const CLIENT6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
const ROUTER6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const VIP6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// An echo request from 2001:db8:c::5 to 2001:db8:10::1: identifier 0x0a2b, sequence 7, 16 bytes of
/// data (0x20..0x2f). Checksum 0xe0a5 over the pseudo-header.
const ECHO6: [u8; 24] = [
    0x80, 0x00, 0xe0, 0xa5, 0x0a, 0x2b, 0x00, 0x07, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a,
    0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
];

/// A packet too big from 2001:db8:c::1 to 2001:db8:c::5 (MTU 1280) quoting the IPv6 header and 8 bytes
/// of a 1500-byte segment [2001:db8:c::5]:40001 → [2001:db8:10::1]:3260. Checksum 0x2c72.
const TOO_BIG: [u8; 56] = [
    0x02, 0x00, 0x2c, 0x72, 0x00, 0x00, 0x05, 0x00, // quote:
    0x60, 0x00, 0x00, 0x00, 0x05, 0xb4, 0x06, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x05, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x9c, 0x41, 0x0c, 0xbc, 0x00, 0x00, 0x00, 0x05,
];

/// The solicited advertisement sluice sends for a VIP, 2001:db8:10::1 → 2001:db8:c::5: solicited and
/// override, target link-layer address 02:00:00:00:00:01. Checksum 0x8a44.
const ADVERT: [u8; 32] = [
    0x88, 0x00, 0x8a, 0x44, 0x60, 0x00, 0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
];

/// An emitted copy of `bytes`: the body (echo data, quoted packet) copied in first, as callers do.
fn emitted(bytes: &[u8], body_from: usize, emit: impl FnOnce(&mut Packet<&mut [u8]>)) -> Vec<u8> {
    let mut b = vec![0u8; bytes.len()];
    b[body_from..].copy_from_slice(&bytes[body_from..]);
    emit(&mut Packet::new_unchecked(&mut b[..]));
    b
}

#[test]
fn echo4_deconstruct() {
    let p = Packet::new_checked(&ECHO4[..]).unwrap();
    assert_eq!((p.msg_type(), p.code(), p.checksum()), (v4::ECHO_REQUEST, 0, 0x57a5));
    assert_eq!((p.echo_ident(), p.echo_seq_no(), p.body()), (0x1c46, 1, &ECHO4[8..]));
    assert!(p.checksum_ok());
    let r = v4::Repr::parse(&p).unwrap();
    assert_eq!(r, v4::Repr::EchoRequest { ident: 0x1c46, seq_no: 1, data_len: 56 });
    assert_eq!((r.header_len(), r.buffer_len()), (8, 64));
}

#[test]
fn echo4_construct() {
    let r = v4::Repr::EchoRequest { ident: 0x1c46, seq_no: 1, data_len: 56 };
    assert_eq!(emitted(&ECHO4, 8, |p| r.emit(p)), ECHO4);
}

#[test]
fn frag_needed_deconstruct() {
    let p = Packet::new_checked(&FRAG_NEEDED[..]).unwrap();
    assert_eq!((p.msg_type(), p.code(), p.checksum()), (v4::DEST_UNREACHABLE, v4::CODE_FRAG_NEEDED, 0x52f1));
    assert_eq!((p.next_hop_mtu(), p.body()), (1480, &FRAG_NEEDED[8..]));
    assert!(v4::is_error(p.msg_type()));
    let r = v4::Repr::parse(&p).unwrap();
    assert_eq!(r, v4::Repr::FragNeeded { mtu: 1480, quote_len: 28 });
    assert_eq!(r.buffer_len(), 36);
    // The quote is a datagram sluice can follow back to its flow.
    let flow = crate::wire::parse::embedded_flow(p.body(), false).unwrap();
    assert_eq!((flow.src_port, flow.dst_port, flow.protocol), (40000, 2049, 6));
}

#[test]
fn frag_needed_construct() {
    let r = v4::Repr::FragNeeded { mtu: 1480, quote_len: 28 };
    assert_eq!(emitted(&FRAG_NEEDED, 8, |p| r.emit(p)), FRAG_NEEDED);
}

#[test]
fn echo6_deconstruct() {
    let p = Packet::new_checked(&ECHO6[..]).unwrap();
    assert_eq!((p.msg_type(), p.code(), p.checksum()), (v6::ECHO_REQUEST, 0, 0xe0a5));
    assert_eq!((p.echo_ident(), p.echo_seq_no(), p.body()), (0x0a2b, 7, &ECHO6[8..]));
    assert!(p.checksum_ok_v6(&CLIENT6, &VIP6));
    let r = v6::Repr::parse(&p, &CLIENT6, &VIP6).unwrap();
    assert_eq!(r, v6::Repr::EchoRequest { ident: 0x0a2b, seq_no: 7, data_len: 16 });
    assert_eq!(r.buffer_len(), 24);
    let e = v6::Repr::parse(&p, &VIP6, &ROUTER6).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadChecksum, "the pseudo-header counts");
}

#[test]
fn echo6_construct() {
    let r = v6::Repr::EchoRequest { ident: 0x0a2b, seq_no: 7, data_len: 16 };
    assert_eq!(emitted(&ECHO6, 8, |p| r.emit(p, &CLIENT6, &VIP6)), ECHO6);
}

#[test]
fn too_big_deconstruct() {
    let p = Packet::new_checked(&TOO_BIG[..]).unwrap();
    assert_eq!((p.msg_type(), p.code(), p.checksum(), p.mtu()), (v6::PACKET_TOO_BIG, 0, 0x2c72, 1280));
    assert!(v6::is_error(p.msg_type()));
    let r = v6::Repr::parse(&p, &ROUTER6, &CLIENT6).unwrap();
    assert_eq!(r, v6::Repr::PacketTooBig { mtu: 1280, quote_len: 48 });
    assert_eq!(r.buffer_len(), 56);
    let flow = crate::wire::parse::embedded_flow(p.body(), true).unwrap();
    assert_eq!((flow.src_port, flow.dst_port, flow.protocol), (40001, 3260, 6));
}

#[test]
fn too_big_construct() {
    let r = v6::Repr::PacketTooBig { mtu: 1280, quote_len: 48 };
    assert_eq!(emitted(&TOO_BIG, 8, |p| r.emit(p, &ROUTER6, &CLIENT6)), TOO_BIG);
}

fn advert() -> v6::Repr {
    let flags = v6::NA_SOLICITED | v6::NA_OVERRIDE;
    v6::Repr::NeighborAdvert { flags, target: VIP6, target_mac: Some([2, 0, 0, 0, 0, 1]) }
}

#[test]
fn neighbour_advert_deconstruct() {
    let p = Packet::new_checked(&ADVERT[..]).unwrap();
    assert_eq!((p.msg_type(), p.code(), p.checksum(), p.na_flags()), (v6::NEIGHBOR_ADVERT, 0, 0x8a44, 0x60));
    assert_eq!(p.nd_target(), VIP6);
    assert!(p.checksum_ok_v6(&VIP6, &CLIENT6));
    let r = v6::Repr::parse(&p, &VIP6, &CLIENT6).unwrap();
    assert_eq!(r, advert());
    assert_eq!(r.buffer_len(), 32);
}

#[test]
fn neighbour_advert_construct() {
    assert_eq!(emitted(&ADVERT, 32, |p| advert().emit(p, &VIP6, &CLIENT6)), ADVERT);
    // Without the option: 24 bytes, and it verifies.
    let r = v6::Repr::NeighborAdvert { flags: v6::NA_ROUTER, target: VIP6, target_mac: None };
    let mut b = [0xa5u8; 24];
    r.emit(&mut Packet::new_unchecked(&mut b[..]), &VIP6, &CLIENT6);
    assert_eq!(b[4..8], [0x80, 0, 0, 0]);
    assert_eq!(v6::Repr::parse(&Packet::new_checked(&b[..]).unwrap(), &VIP6, &CLIENT6).unwrap(), r);
}

#[test]
fn unsupported_types_and_bad_checksums_are_refused() {
    let mut b = ECHO4;
    b[2] ^= 0x80;
    let e = v4::Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap_err();
    assert_eq!((e.layer, e.kind), (Layer::Icmp, ErrorKind::BadChecksum));
    // Time exceeded, checksummed right, is not something a Repr represents.
    let mut b = FRAG_NEEDED;
    b[0] = v4::TIME_EXCEEDED;
    b[1] = 0;
    let mut p = Packet::new_checked(&mut b[..]).unwrap();
    p.fill_checksum();
    assert_eq!(v4::Repr::parse(&p).unwrap_err().kind, ErrorKind::Unsupported);
    // An advertisement with a source link-layer address option instead.
    let mut b = ADVERT;
    b[24] = v6::ND_OPT_SOURCE_LLADDR;
    let mut p = Packet::new_checked(&mut b[..]).unwrap();
    p.fill_checksum_v6(&VIP6, &CLIENT6);
    assert_eq!(v6::Repr::parse(&p, &VIP6, &CLIENT6).unwrap_err().kind, ErrorKind::Unsupported);
    assert!(Packet::new_checked(&ADVERT[..7]).is_err());
}
