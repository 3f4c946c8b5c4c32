//! Structure-aware mutations of frames: bit flips and interesting values, truncation at every layer
//! boundary, extension, splicing two frames, length, header-length, next-header and fragment fields set
//! to inconsistent values, VLAN tags inserted or removed, and MACs, addresses and ports set to ones the
//! configuration knows, so that the sender and ownership checks pass some of the time.

use super::layout::{self, Layout, TPIDS};

/// SplitMix64: a small deterministic generator, so that a run is repeated by its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5c1e_f022_0000_0001)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    pub fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// Values the configuration knows, which mutations plant so that lookups succeed some of the time.
#[derive(Default, Clone)]
pub struct Known {
    pub macs: Vec<[u8; 6]>,
    pub v4: Vec<[u8; 4]>,
    pub v6: Vec<[u8; 16]>,
    pub ports: Vec<u16>,
}

const BYTES: [u8; 8] = [0, 0xff, 0x7f, 0x80, 1, 0x40, 0x45, 0x60];
const PROTOS: [u8; 16] = [0, 1, 4, 6, 17, 41, 43, 44, 50, 51, 58, 59, 60, 135, 255, 2];
const ETHERTYPES: [u16; 7] = [0x0800, 0x86dd, 0x0806, 0x88b5, 0x8100, 0x88a8, 0x9100];
const TCP_FLAGS: [u8; 9] = [0x04, 0x02, 0x12, 0x10, 0x14, 0x01, 0, 0xff, 0x06];

/// Applies one to four mutations to `f`, drawing a second frame from `other` for splices, and fixes
/// the checksums afterwards half of the time.
pub fn mutate(rng: &mut Rng, f: &mut Vec<u8>, other: &[u8], known: &Known) {
    for _ in 0..1 + rng.below(2) + rng.below(2) {
        one(rng, f, other, known);
    }
    if rng.one_in(2) {
        layout::fix_checksums(f);
    }
    f.truncate(4096);
}

/// A position in `f`, mostly within its headers.
fn position(rng: &mut Rng, f: &[u8], l: &Layout) -> usize {
    let head = l.inner_l4.or(l.l4).map_or(l.l3() + 40, |(_, e)| e + 8);
    if rng.one_in(4) {
        rng.below(f.len())
    } else {
        rng.below(head.min(f.len()))
    }
}

fn set16(f: &mut [u8], at: usize, v: u16) {
    if at + 2 <= f.len() {
        f[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }
}

/// A value near `len` or at an edge of a 16-bit field.
fn length_value(rng: &mut Rng, len: usize) -> u16 {
    let (l, any) = (len as u16, rng.next() as u16);
    *rng.pick(&[0, 1, l.wrapping_sub(1), l.wrapping_add(1), l.wrapping_add(8), l / 2, 0xffff, 0x7fff, any])
}

fn one(rng: &mut Rng, f: &mut Vec<u8>, other: &[u8], known: &Known) {
    let l = layout::scan(f);
    if f.is_empty() {
        f.extend((0..rng.below(80)).map(|_| rng.byte()));
        return;
    }
    match rng.below(16) {
        0 => {
            let at = position(rng, f, &l);
            f[at] ^= 1 << rng.below(8);
        }
        1 => {
            let at = position(rng, f, &l);
            f[at] = if rng.one_in(4) { rng.byte() } else { *rng.pick(&BYTES) };
        }
        2 => {
            let at = position(rng, f, &l);
            let v = length_value(rng, f.len() - at);
            set16(f, at, v);
        }
        3 => {
            let b = l.boundaries(f.len());
            let cut = *rng.pick(&b);
            f.truncate(cut);
        }
        4 => {
            let n = *rng.pick(&[1, 2, 4, 8, 20, 40, 64, 200, 1400]);
            match rng.below(3) {
                0 => f.resize(f.len() + n, 0),
                1 => f.extend((0..n).map(|_| rng.byte())),
                _ => {
                    let copy: Vec<u8> = f.iter().cycle().take(n).copied().collect();
                    f.extend(copy);
                }
            }
            if rng.one_in(2) {
                layout::fix_lengths(f);
            }
        }
        5 => {
            // Bytes inserted at a layer boundary: everything after shifts.
            let b = l.boundaries(f.len());
            let at = *rng.pick(&b);
            let n = *rng.pick(&[1, 2, 4, 8, 20]);
            let ins: Vec<u8> = (0..n).map(|_| if rng.one_in(2) { 0 } else { rng.byte() }).collect();
            f.splice(at..at, ins);
        }
        6 => splice(rng, f, &l, other),
        7 => lengths(rng, f, &l),
        8 => {
            // A next-header field: the IP protocol, or the last extension header's.
            let at = match (l.inner, l.ip) {
                (Some(i), _) if rng.one_in(3) => i.proto_at,
                (_, Some(ip)) => ip.proto_at,
                _ => return,
            };
            if at < f.len() {
                f[at] = if rng.one_in(5) { rng.byte() } else { *rng.pick(&PROTOS) };
            }
        }
        9 => fragment(rng, f, &l),
        10 => {
            if l.tags > 0 && f.len() >= 16 && rng.one_in(2) {
                f.drain(12..16);
            } else {
                let tag = [TPIDS[rng.below(3)].to_be_bytes(), (rng.next() as u16 & 0x0fff).to_be_bytes()].concat();
                let at = if rng.one_in(3) { l.ethertype_at.min(f.len()) } else { 12.min(f.len()) };
                f.splice(at..at, tag);
            }
        }
        11 => {
            let mac = if rng.one_in(8) { [0xff; 6] } else { *rng.pick(&known.macs) };
            let at = if rng.one_in(2) { 0 } else { 6 };
            if f.len() >= at + 6 {
                f[at..at + 6].copy_from_slice(&mac);
            }
        }
        12 => addresses(rng, f, &l, known),
        13 => {
            // Ports: a served port, a health probe's, or an edge.
            let Some((s, _)) = l.inner_l4.or(l.l4) else { return };
            let p = if rng.one_in(3) { rng.next() as u16 } else { *rng.pick(&known.ports) };
            set16(f, s + if rng.one_in(2) { 0 } else { 2 }, p);
        }
        14 => {
            let Some((s, _)) = l.inner_l4.or(l.l4) else { return };
            if s + 14 <= f.len() {
                f[s + 13] = *rng.pick(&TCP_FLAGS);
                if rng.one_in(2) {
                    let v = rng.next() as u32;
                    f[s + 4 + 4 * rng.below(2)..][..4].copy_from_slice(&v.to_be_bytes());
                }
            }
        }
        _ => {
            let at = l.ethertype_at.min(f.len().saturating_sub(2));
            let t = if rng.one_in(5) { rng.next() as u16 } else { *rng.pick(&ETHERTYPES) };
            set16(f, at, t);
        }
    }
}

/// The head of `f` up to one of its boundaries, then the tail of `other` from one of its own: at the same
/// layer when both have it, so headers of one frame meet the payload of another.
fn splice(rng: &mut Rng, f: &mut Vec<u8>, l: &Layout, other: &[u8]) {
    let o = layout::scan(other);
    let (a, b) = match rng.below(3) {
        0 => (l.l3(), o.l3()),
        1 => match (l.l4, o.l4) {
            (Some((a, _)), Some((b, _))) => (a, b),
            _ => (l.l3(), o.l3()),
        },
        _ => {
            let (x, y) = (l.boundaries(f.len()), o.boundaries(other.len()));
            (*rng.pick(&x), *rng.pick(&y))
        }
    };
    f.truncate(a);
    f.extend_from_slice(other.get(b..).unwrap_or(&[]));
    if rng.one_in(2) {
        layout::fix_lengths(f);
    }
}

/// A length field set inconsistent with what follows: IPv4 total length or IHL, IPv6 payload length,
/// UDP length, TCP data offset, an extension header's length.
fn lengths(rng: &mut Rng, f: &mut [u8], l: &Layout) {
    let ip = match (l.inner, l.ip) {
        (Some(i), _) if rng.one_in(3) => i,
        (_, Some(ip)) => ip,
        _ => return,
    };
    let rest = f.len() - ip.start;
    match rng.below(4) {
        0 if ip.v6 => {
            let v = length_value(rng, rest.saturating_sub(40));
            set16(f, ip.start + 4, v);
        }
        0 => {
            let v = length_value(rng, rest);
            set16(f, ip.start + 2, v);
        }
        1 if !ip.v6 => f[ip.start] = 0x40 | rng.below(16) as u8,
        1 => {
            // An extension header's length byte, or the version nibble.
            if ip.hdr_end > ip.start + 40 && ip.proto_at + 1 < f.len() {
                f[ip.proto_at + 1] = *rng.pick(&[0, 1, 0xff, 2]);
            } else {
                f[ip.start] = (rng.below(16) as u8) << 4;
            }
        }
        2 => {
            let Some((s, _)) = l.inner_l4.or(l.l4) else { return };
            if ip.proto == 17 {
                let v = length_value(rng, ip.end.saturating_sub(s));
                set16(f, s + 4, v);
            } else if s + 12 < f.len() {
                f[s + 12] = (rng.below(16) as u8) << 4;
            }
        }
        _ => {
            if let Some((s, e)) = l.l4 {
                let v = length_value(rng, e - s);
                set16(f, s + 4, v);
            }
        }
    }
}

/// Fragmentation: IPv4 MF and offsets, or an IPv6 fragment header inserted (first or later) or edited.
fn fragment(rng: &mut Rng, f: &mut Vec<u8>, l: &Layout) {
    let Some(ip) = l.ip else { return };
    let offset = *rng.pick(&[0u16, 1, 8, 185, 0x1fff]);
    let more = rng.one_in(2) as u16;
    if !ip.v6 {
        let df = if rng.one_in(4) { 0x4000 } else { 0 };
        set16(f, ip.start + 6, df | more << 13 | offset);
        return;
    }
    if let (Some(at), false) = (ip.frag_at, rng.one_in(3)) {
        set16(f, at + 2, offset << 3 | more);
        return;
    }
    // A fragment header right after the fixed header, taking over its next-header value.
    let at = ip.start + 40;
    let h = [
        f[ip.start + 6],
        0,
        (offset << 3 | more).to_be_bytes()[0],
        (offset << 3 | more).to_be_bytes()[1],
        0,
        0,
        0x12,
        0x34,
    ];
    f[ip.start + 6] = 44;
    f.splice(at..at, h);
    layout::fix_lengths(f);
}

/// An IP source or destination set to an address the configuration knows (or the other one of the pair).
fn addresses(rng: &mut Rng, f: &mut [u8], l: &Layout, known: &Known) {
    let ip = match (l.inner, l.ip) {
        (Some(i), _) if rng.one_in(2) => i,
        (_, Some(ip)) => ip,
        _ => return,
    };
    let dst = rng.one_in(2);
    if ip.v6 {
        let at = ip.start + if dst { 24 } else { 8 };
        let a = if rng.one_in(8) { [0; 16] } else { *rng.pick(&known.v6) };
        f[at..at + 16].copy_from_slice(&a);
    } else {
        let at = ip.start + if dst { 16 } else { 12 };
        let a = *rng.pick(&known.v4);
        f[at..at + 4].copy_from_slice(&a);
    }
}
