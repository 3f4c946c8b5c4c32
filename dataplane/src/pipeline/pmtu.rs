//! Path MTU toward IP-in-IP nodes. A client packet that would not fit the node port's MTU once the outer
//! header is added is answered, in its own mbuf, with an ICMP "fragmentation needed" (IPv4 with DF set)
//! or an ICMPv6 "packet too big", carrying the largest inner packet that fits (RFC 1191, RFC 8201), so
//! the client's TCP lowers its segment size instead of black-holing. The answers are rate-limited per
//! worker (`dataplane.too_big_per_sec`) and counted. An IPv4 packet without DF that does not fit is
//! dropped (`encap_too_big`): sluice does not fragment the outer packet, so a node port's MTU should
//! exceed its client port's by the outer header (20 or 40 bytes), as storage underlays do.
//!
//! Also here: clamping the MSS option that IP-in-IP nodes announce in their SYN-ACKs to what fits once
//! encapsulated (`dataplane.mss_clamp`), so clients' connections start at the right size without any
//! ICMP. (The clients' own SYNs need no clamping: nodes answer them unencapsulated.)

use super::{Context, DropReason, FrameBuf, KeyCounter, Verdict, WorkerState};
use crate::wire::parse::{Network, Parsed, PROTO_ICMP, PROTO_ICMPV6};
use crate::wire::{ethernet, icmp, ip, ipv4, ipv6, tcp};

/// The most an ICMP error may be (IPv4: 576 bytes, RFC 1812; IPv6: the minimum MTU, RFC 4443).
const V4_ERROR_MAX: usize = 576;
const V6_ERROR_MAX: usize = 1280;
const ICMP_HEADER: usize = icmp::HEADER_LEN;

/// The answer to a client packet that was `EncapTooBig`: an ICMP error back out of `in_port` while the
/// worker's budget lasts, otherwise the drop.
pub(super) fn too_big(
    ctx: &Context,
    in_port: u16,
    frame: &mut FrameBuf<'_>,
    p: &Parsed,
    st: &mut WorkerState,
    now: u64,
) -> Verdict {
    let drop = Verdict::Drop(DropReason::EncapTooBig);
    let d = frame.data();
    let v4 = p.network == Network::Ipv4;
    // IPv4 without DF (which may be fragmented on the way) gets no ICMP: it is dropped.
    let df = || ipv4::Packet::new_unchecked(&d[p.l3_offset..]).dont_frag();
    if p.fragment || (v4 && !df()) || p.protocol == PROTO_ICMP || p.protocol == PROTO_ICMPV6 {
        return drop;
    }
    if !st.too_big.take(now) {
        st.keys[KeyCounter::TooBigSuppressed] += 1;
        return drop;
    }
    let mtu = if v4 { ctx.encap_mtu } else { ctx.encap_mtu.max(1280) };
    let port = &ctx.ports[in_port as usize];
    // From the client port's own address of the family (as a router on the path would), else the VIP.
    let src = port.addresses.iter().find(|a| a.v6 == p.src.v6).copied().unwrap_or(p.dst);
    let (l3, max) = (p.l3_offset, if v4 { V4_ERROR_MAX } else { V6_ERROR_MAX });
    let header = if v4 { ipv4::MIN_HEADER_LEN } else { ipv6::HEADER_LEN };
    let quote = p.l3_len.min(max - header - ICMP_HEADER);
    let icmp_at = l3 + header;
    let len = icmp_at + ICMP_HEADER + quote;
    // The quoted packet moves back behind the new headers; the frame only shrinks (or keeps its length).
    let start = frame.start;
    frame.buf.copy_within(start + l3..start + l3 + quote, start + icmp_at + ICMP_HEADER);
    if !frame.reframe(start, len) {
        return drop;
    }
    let client = p.src;
    let out = frame.data_mut();
    // The quote is in place: the ICMP header goes in front of it, then the IP header in front of that.
    let mut msg = icmp::Packet::new_unchecked(&mut out[icmp_at..]);
    let protocol = if v4 {
        icmp::v4::Repr::FragNeeded { mtu, quote_len: quote }.emit(&mut msg);
        PROTO_ICMP
    } else {
        icmp::v6::Repr::PacketTooBig { mtu: u32::from(mtu), quote_len: quote }.emit(
            &mut msg,
            &src.bytes,
            &client.bytes,
        );
        PROTO_ICMPV6
    };
    ip::Repr::new(src, client, protocol, ICMP_HEADER + quote, 64).emit(&mut out[l3..icmp_at]);
    // Back to the sender, from our port, any VLAN tags kept.
    let mut eth = ethernet::Frame::new_checked(&mut out[..]).expect("parsed frame has an Ethernet header");
    let sender = eth.src();
    eth.set_dst(sender);
    eth.set_src(port.mac);
    st.keys[KeyCounter::TooBigSent] += 1;
    Verdict::Reply { port: in_port }
}

/// The inner MTU of the IP-in-IP nodes behind next hop `mac` (the smallest, where several share a
/// router); 0 when none is.
pub(super) fn ipip_inner_mtu_by_mac(ctx: &Context, mac: [u8; 6]) -> u16 {
    ctx.nodes.iter().filter(|n| n.inner_mtu != 0 && n.mac == mac).map(|n| n.inner_mtu).min().unwrap_or(0)
}

/// With `dataplane.mss_clamp`: a node's SYN-ACK (parsed as `p`, in `frame`) on its way to the client
/// announces the MSS the client may send; from an IP-in-IP node whose packets fit `inner_mtu` once
/// encapsulated, it is lowered to what fits (IP and TCP headers without options), and counted.
pub(super) fn clamp_syn_ack(frame: &mut FrameBuf<'_>, p: &Parsed, inner_mtu: u16, keys: &mut super::KeyCounters) {
    if inner_mtu == 0 || p.tcp_flags & (tcp::flags::SYN | tcp::flags::ACK) != tcp::flags::SYN | tcp::flags::ACK {
        return;
    }
    let mss = inner_mtu.saturating_sub(if p.src.v6 { 60 } else { 40 });
    let start = frame.start;
    if clamp_mss(frame.buf, start, p, mss) {
        keys[KeyCounter::MssClamped] += 1;
    }
}

/// Lowers the MSS option of the SYN parsed as `p`, whose frame began at `buf[origin..]` (the inner packet
/// stays in place when a rewrite adds headers in front), to `mss` if it offers more, and works out the
/// TCP checksum again. True if it changed anything.
fn clamp_mss(buf: &mut [u8], origin: usize, p: &Parsed, mss: u16) -> bool {
    let (l4, end) = (p.l4_offset, p.l3_offset + p.l3_len);
    let Some(d) = buf.get_mut(origin..origin + end) else { return false };
    let Some(hdr) = d.get(l4 + tcp::field::DATA_OFFSET).map(|b| (b >> 4) as usize * 4) else { return false };
    if hdr < tcp::MIN_HEADER_LEN || l4 + hdr > end {
        return false;
    }
    let mut i = l4 + tcp::MIN_HEADER_LEN;
    while i < l4 + hdr {
        match d[i] {
            0 => return false,
            1 => i += 1,
            kind => {
                let Some(&n) = d.get(i + 1) else { return false };
                let n = n as usize;
                if n < 2 || i + n > l4 + hdr {
                    return false;
                }
                if kind == 2 && n == 4 {
                    let offered = u16::from_be_bytes([d[i + 2], d[i + 3]]);
                    if offered <= mss {
                        return false;
                    }
                    d[i + 2..i + 4].copy_from_slice(&mss.to_be_bytes());
                    // A SYN is short: its checksum is worked out again whole.
                    tcp::Packet::new_unchecked(&mut d[l4..end]).fill_checksum(&p.src, &p.dst);
                    return true;
                }
                i += n;
            }
        }
    }
    false
}

/// The per-worker budget of ICMP answers: a token bucket, `per_sec` a second, as deep.
pub struct TooBigBudget {
    tokens: u64,
    per_sec: u64,
    last: u64,
    ticks_per_sec: u64,
}

impl TooBigBudget {
    pub fn new(per_sec: u32, ticks_per_sec: u64) -> TooBigBudget {
        TooBigBudget { tokens: per_sec as u64, per_sec: per_sec as u64, last: 0, ticks_per_sec: ticks_per_sec.max(1) }
    }

    /// Spends one answer at `now` if there is one left.
    fn take(&mut self, now: u64) -> bool {
        let tick = self.ticks_per_sec / self.per_sec.max(1);
        let earned = now.saturating_sub(self.last) / tick.max(1);
        if earned > 0 {
            self.tokens = (self.tokens + earned).min(self.per_sec);
            self.last = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}
