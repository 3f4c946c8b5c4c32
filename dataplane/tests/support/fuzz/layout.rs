//! A lenient walk over a frame's layers, for choosing where to mutate and for reading back what the
//! pipeline wrote: it never fails, it records as much as it finds (Ethernet and up to three tags, IPv4 or
//! IPv6 with extension headers, the upper-layer header, one tunnelled IP packet). Also the checksum
//! fix-up that makes a mutated frame consistent again, computed with the test's own RFC 1071 sum.

use crate::support::ones_sum;

/// TPIDs of the tags the walk steps over (802.1Q, 802.1ad, legacy QinQ).
pub const TPIDS: [u16; 3] = [0x8100, 0x88a8, 0x9100];

/// An IP header found by the walk. Offsets are from the start of the frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ip {
    pub v6: bool,
    pub start: usize,
    /// After the IPv4 header (options included) or the IPv6 extension headers.
    pub hdr_end: usize,
    /// Where the packet ends by its length field, clamped to the frame.
    pub end: usize,
    /// The byte naming the upper-layer protocol (IPv4 protocol, the last next-header field walked).
    pub proto_at: usize,
    pub proto: u8,
    /// IPv4: the flags/fragment-offset field; IPv6: the fragment header.
    pub frag_at: Option<usize>,
    /// A fragment other than the first (no upper-layer header follows).
    pub later_fragment: bool,
    pub fragment: bool,
}

/// What the walk found in a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    pub tags: usize,
    /// The innermost ethertype's offset; L3 starts 2 bytes after it.
    pub ethertype_at: usize,
    pub ethertype: u16,
    pub ip: Option<Ip>,
    /// The upper-layer header's start and end (TCP: by its data offset).
    pub l4: Option<(usize, usize)>,
    /// An IP packet carried by IP-in-IP (protocol 4 or 41) and its own upper-layer header.
    pub inner: Option<Ip>,
    pub inner_l4: Option<(usize, usize)>,
}

impl Layout {
    pub fn l3(&self) -> usize {
        self.ethertype_at + 2
    }

    /// Every offset where one layer ends and the next begins (and a byte either side), ascending.
    pub fn boundaries(&self, len: usize) -> Vec<usize> {
        let mut b = vec![0, 1, 6, 12, 13, self.ethertype_at, self.l3()];
        for ip in self.ip.iter().chain(self.inner.iter()) {
            b.extend([ip.start + 1, ip.start + 20, ip.hdr_end, ip.end]);
        }
        for (s, e) in self.l4.iter().chain(self.inner_l4.iter()) {
            b.extend([*s, *s + 4, *s + 8, *e]);
        }
        let mut out: Vec<usize> =
            b.iter().flat_map(|&x| [x.saturating_sub(1), x, x + 1]).filter(|&x| x <= len).collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn be16(f: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([f[at], f[at + 1]])
}

/// Walks `frame` as far as it goes.
pub fn scan(frame: &[u8]) -> Layout {
    let mut l = Layout { ethertype_at: 12, ..Layout::default() };
    while frame.len() >= l.ethertype_at + 2 {
        let t = be16(frame, l.ethertype_at);
        l.ethertype = t;
        if TPIDS.contains(&t) && l.tags < 3 {
            l.tags += 1;
            l.ethertype_at += 4;
            continue;
        }
        break;
    }
    let v6 = match l.ethertype {
        0x0800 => false,
        0x86dd => true,
        _ => return l,
    };
    l.ip = scan_ip(frame, l.l3(), v6);
    if let Some(ip) = l.ip {
        l.l4 = upper(frame, &ip);
        if matches!(ip.proto, 4 | 41) && !ip.later_fragment {
            l.inner = scan_ip(&frame[..ip.end], ip.hdr_end, ip.proto == 41);
            l.inner_l4 = l.inner.and_then(|i| upper(frame, &i));
        }
    }
    l
}

/// The IP header at `start` (version `v6`), if its fixed part is there.
pub fn scan_ip(frame: &[u8], start: usize, v6: bool) -> Option<Ip> {
    if !v6 {
        let h = frame.get(start..start + 20)?;
        let ihl = ((h[0] & 0x0f) as usize * 4).max(20);
        let total = be16(h, 2) as usize;
        let fo = be16(h, 6);
        let hdr_end = (start + ihl).min(frame.len());
        let end = (start + total).clamp(hdr_end, frame.len());
        let fragment = fo & 0x3fff != 0;
        let later_fragment = fo & 0x1fff != 0;
        return Some(Ip {
            v6,
            start,
            hdr_end,
            end,
            proto_at: start + 9,
            proto: h[9],
            frag_at: Some(start + 6),
            later_fragment,
            fragment,
        });
    }
    let h = frame.get(start..start + 40)?;
    let end = (start + 40 + be16(h, 4) as usize).min(frame.len());
    let mut ip = Ip { v6, start, hdr_end: start + 40, end, proto_at: start + 6, proto: h[6], ..Ip::default() };
    for _ in 0..10 {
        let off = ip.hdr_end;
        let len = match ip.proto {
            0 | 43 | 60 | 135 => frame.get(off + 1).map(|l| (*l as usize + 1) * 8),
            51 => frame.get(off + 1).map(|l| (*l as usize + 2) * 4),
            44 => {
                ip.frag_at = Some(off);
                ip.fragment = true;
                ip.later_fragment = frame.get(off + 2..off + 4).is_some_and(|f| be16(f, 0) & 0xfff8 != 0);
                Some(8)
            }
            _ => None,
        };
        let Some(len) = len.filter(|l| off + l <= end) else { break };
        ip.proto_at = off;
        ip.proto = frame[off];
        ip.hdr_end = off + len;
        if ip.later_fragment {
            break;
        }
    }
    Some(ip)
}

/// The upper-layer header of `ip`, when it starts one.
fn upper(frame: &[u8], ip: &Ip) -> Option<(usize, usize)> {
    if ip.later_fragment || ip.hdr_end >= ip.end {
        return None;
    }
    let s = ip.hdr_end;
    let len = match ip.proto {
        6 => frame.get(s + 12).map_or(20, |d| ((d >> 4) as usize * 4).max(20)),
        17 | 1 | 58 => 8,
        _ => return None,
    };
    Some((s, (s + len).min(ip.end)))
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Makes the IP header checksum (IPv4) and the TCP/UDP/ICMP checksum of `ip` right again, where the
/// walk found them whole; leaves anything it cannot make sense of alone.
fn fix_ip(frame: &mut [u8], ip: &Ip) {
    if !ip.v6 && ip.hdr_end <= frame.len() && ip.hdr_end >= ip.start + 20 {
        frame[ip.start + 10..ip.start + 12].fill(0);
        let c = fold(ones_sum(&frame[ip.start..ip.hdr_end]));
        frame[ip.start + 10..ip.start + 12].copy_from_slice(&c.to_be_bytes());
    }
    if ip.fragment || ip.hdr_end >= ip.end {
        return;
    }
    let (l4, end) = (ip.hdr_end, ip.end);
    let at = match ip.proto {
        6 if end - l4 >= 20 => 16,
        17 if end - l4 >= 8 => 6,
        1 | 58 if end - l4 >= 4 => 2,
        _ => return,
    };
    frame[l4 + at..l4 + at + 2].fill(0);
    let mut s = ones_sum(&frame[l4..end]);
    if ip.proto != 1 {
        let (src, dst) = if ip.v6 { (ip.start + 8, ip.start + 24) } else { (ip.start + 12, ip.start + 16) };
        let n = if ip.v6 { 16 } else { 4 };
        let len = (end - l4) as u32;
        s += ones_sum(&frame[src..src + n])
            + ones_sum(&frame[dst..dst + n])
            + ip.proto as u32
            + (len >> 16)
            + (len & 0xffff);
    }
    let c = fold(s);
    frame[l4 + at..l4 + at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Recomputes every checksum the walk can place, inner packet first.
pub fn fix_checksums(frame: &mut [u8]) {
    let l = scan(frame);
    if let Some(inner) = l.inner {
        fix_ip(frame, &inner);
    }
    if let Some(ip) = l.ip {
        fix_ip(frame, &ip);
    }
}

/// Sets the length fields of the IP header at `ip.start` (and an IPv4 header's checksum) to cover
/// everything to the end of `frame`; for UDP, its length too.
pub fn fix_lengths(frame: &mut [u8]) {
    let l = scan(frame);
    let Some(ip) = l.ip else { return };
    let total = frame.len() - ip.start;
    if ip.v6 {
        frame[ip.start + 4..ip.start + 6].copy_from_slice(&(total.saturating_sub(40) as u16).to_be_bytes());
    } else {
        frame[ip.start + 2..ip.start + 4].copy_from_slice(&(total as u16).to_be_bytes());
    }
    let ip = scan(frame).ip.expect("still there");
    if ip.proto == 17 && !ip.fragment && ip.end >= ip.hdr_end + 8 {
        let n = (ip.end - ip.hdr_end) as u16;
        frame[ip.hdr_end + 4..ip.hdr_end + 6].copy_from_slice(&n.to_be_bytes());
    }
}
