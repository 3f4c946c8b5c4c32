//! Answers from the appliance itself: ARP, IPv6 neighbour advertisements and ICMP/ICMPv6 echo. Each turns
//! the request around in its own mbuf, keeping any VLAN tags.

use sluice_control::config::PortRole;

use super::{Context, DropReason, FrameBuf, Verdict};
use crate::wire::parse::{Addr, Network, Parsed, PROTO_ICMP, PROTO_ICMPV6};
use crate::wire::{arp, ethernet, icmp, ipv4, ipv6};

/// Swaps the Ethernet addresses: back to the sender, from our port.
fn turn_around_l2(frame: &mut FrameBuf<'_>, our_mac: [u8; 6]) {
    let d = frame.data_mut();
    let mut f = ethernet::Frame::new_checked(&mut d[..]).expect("parsed frame has an Ethernet header");
    let sender = f.src();
    f.set_dst(sender);
    f.set_src(our_mac);
}

/// Addresses the appliance answers for on `port`: its own, and the VIPs on client ports.
fn answers_for(ctx: &Context, port: u16, addr: &Addr) -> bool {
    ctx.is_own(port, addr) || (ctx.ports[port as usize].role == PortRole::Client && ctx.vip(addr).is_some())
}

pub(super) fn arp(ctx: &Context, in_port: u16, frame: &mut FrameBuf<'_>, p: &Parsed) -> Verdict {
    let mac = ctx.ports[in_port as usize].mac;
    let d = frame.data_mut();
    let Ok(mut a) = arp::Packet::new_checked(&mut d[p.l3_offset..]) else {
        return Verdict::Drop(DropReason::MalformedArp);
    };
    let Ok(request) = arp::Repr::parse(&a) else {
        return Verdict::Drop(DropReason::MalformedArp);
    };
    if request.operation != arp::OP_REQUEST || !answers_for(ctx, in_port, &Addr::v4(request.target_ip)) {
        return Verdict::Drop(DropReason::ArpIgnored);
    }
    // Over the request, in place (any Ethernet padding after it stays).
    request.reply(mac).emit(&mut a);
    turn_around_l2(frame, mac);
    Verdict::Reply { port: in_port }
}

/// Answers an echo request to an address we answer for; anything else is dropped as `otherwise`.
pub(super) fn echo_or(
    ctx: &Context,
    in_port: u16,
    frame: &mut FrameBuf<'_>,
    p: &Parsed,
    otherwise: DropReason,
) -> Verdict {
    let request = match p.protocol {
        PROTO_ICMP => icmp::v4::ECHO_REQUEST,
        PROTO_ICMPV6 => icmp::v6::ECHO_REQUEST,
        _ => return Verdict::Drop(otherwise),
    };
    if p.fragment || p.icmp_type != request || p.icmp_code != 0 || !answers_for(ctx, in_port, &p.dst) {
        return Verdict::Drop(otherwise);
    }
    let mac = ctx.ports[in_port as usize].mac;
    let (l3, l4, end) = (p.l3_offset, p.l4_offset, p.l3_offset + p.l3_len);
    let d = frame.data_mut();
    if p.network == Network::Ipv4 {
        let mut ip = ipv4::Packet::new_checked(&mut d[l3..end]).expect("parsed");
        ip.swap_addresses();
        ip.update_ttl(64);
        icmp::Packet::new_checked(&mut d[l4..end]).expect("parsed").update_type(icmp::v4::ECHO_REPLY);
    } else {
        // Swapping the addresses leaves the pseudo-header sum, and so the checksum, unchanged.
        let mut ip = ipv6::Packet::new_checked(&mut d[l3..end]).expect("parsed");
        ip.swap_addresses();
        ip.set_hop_limit(64);
        icmp::Packet::new_checked(&mut d[l4..end]).expect("parsed").update_type(icmp::v6::ECHO_REPLY);
    }
    turn_around_l2(frame, mac);
    Verdict::Reply { port: in_port }
}

/// Answers a neighbour solicitation for one of our addresses (or a VIP on a client port) with a solicited
/// advertisement from that address.
pub(super) fn neighbor_solicit(ctx: &Context, in_port: u16, frame: &mut FrameBuf<'_>, p: &Parsed) -> Verdict {
    let (l3, l4, end) = (p.l3_offset, p.l4_offset, p.l3_offset + p.l3_len);
    let d = frame.data();
    let hop_limit = ipv6::Packet::new_unchecked(&d[l3..end]).hop_limit();
    // RFC 4861 7.1.1: hop limit 255, code 0, at least 24 bytes; a DAD probe (source ::) is not answered
    // (we never claim a tentative address).
    if hop_limit != 255 || p.icmp_code != 0 || end - l4 < icmp::v6::ND_LEN || p.fragment || p.src.bytes == [0; 16] {
        return Verdict::Drop(DropReason::NdIgnored);
    }
    let target = icmp::Packet::new_unchecked(&d[l4..end]).nd_target();
    if !answers_for(ctx, in_port, &Addr::v6(target)) {
        return Verdict::Drop(DropReason::NdIgnored);
    }
    let mac = ctx.ports[in_port as usize].mac;
    let solicitor = p.src.bytes;
    let flags = icmp::v6::NA_SOLICITED | icmp::v6::NA_OVERRIDE;
    let advert = icmp::v6::Repr::NeighborAdvert { flags, target, target_mac: Some(mac) };
    let ip = ipv6::Repr::new(target, solicitor, PROTO_ICMPV6, advert.buffer_len(), 255);
    // The advertisement replaces the solicitation after the IPv6 header (extension headers dropped).
    if !frame.reframe(frame.start, l3 + ip.buffer_len()) {
        return Verdict::Drop(DropReason::NdIgnored);
    }
    let (l3_buf, l4_buf) = frame.data_mut()[l3..].split_at_mut(ip.header_len());
    ip.emit(&mut ipv6::Packet::new_unchecked(l3_buf));
    advert.emit(&mut icmp::Packet::new_unchecked(l4_buf), &target, &solicitor);
    turn_around_l2(frame, mac);
    Verdict::Reply { port: in_port }
}
