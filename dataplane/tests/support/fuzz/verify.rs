//! What must hold for every frame the pipeline lets out, whatever came in: the verdict names a real port
//! (and node), the Ethernet header is the one that port and verdict call for, nothing but a reply keeps
//! VLAN tags, traffic toward nodes is addressed to a VIP and traffic toward clients comes from one, an
//! IP-in-IP outer header is exact, a forwarded packet is the one that came in (not a byte changed), and
//! the frame parses and its checksums verify whenever the input's did or sluice wrote it itself.

use sluice_control::config::{ForwardMode, PortRole, Role};
use sluice_dataplane::pipeline::{Context, Verdict};
use sluice_dataplane::wire::parse::Addr;

use super::layout::{self, Ip};
use crate::support::{check, folds_to_ffff, ones_sum};

type R = Result<(), String>;

fn fail<T>(what: impl Into<String>) -> Result<T, String> {
    Err(what.into())
}

/// The IP packet at `start` (version by its first nibble) and every packet it tunnels are consistent in
/// length, none is a fragment, and their checksums verify. `depth` bounds the tunnels followed.
fn ip_verifies(f: &[u8], start: usize, depth: usize) -> R {
    let v6 = match f.get(start).map(|b| b >> 4) {
        Some(4) => false,
        Some(6) => true,
        _ => return fail("not IPv4 or IPv6"),
    };
    let Some(ip) = layout::scan_ip(f, start, v6) else { return fail("IP header truncated") };
    let h = &f[start..];
    if !v6 {
        let (ihl, total) = ((h[0] & 0x0f) as usize * 4, u16::from_be_bytes([h[2], h[3]]) as usize);
        if ihl < 20 || total < ihl || start + total > f.len() {
            return fail("IPv4 lengths inconsistent");
        }
        if !folds_to_ffff(ones_sum(&h[..ihl])) {
            return fail("IPv4 header checksum");
        }
    } else {
        let payload = u16::from_be_bytes([h[4], h[5]]) as usize;
        // (Payload length 0 is a jumbogram's: etherparse then takes the rest of the frame, sluice none.)
        if payload == 0 || start + 40 + payload > f.len() {
            return fail("IPv6 payload length 0 or past the frame");
        }
        if matches!(ip.proto, 0 | 43 | 44 | 51 | 60 | 135) && !ip.later_fragment {
            return fail("IPv6 extension headers cut short");
        }
    }
    if ip.fragment {
        // Its upper-layer checksum covers the whole datagram; and etherparse's checker, which unwraps
        // one tunnel, takes a fragment's payload for a packet.
        return fail("a fragment");
    }
    let seg = &f[ip.hdr_end..ip.end];
    let pseudo = || {
        let (s, d, n) = if v6 { (start + 8, start + 24, 16) } else { (start + 12, start + 16, 4) };
        ones_sum(&f[s..s + n]) + ones_sum(&f[d..d + n]) + ip.proto as u32 + seg.len() as u32
    };
    match ip.proto {
        6 if seg.len() < 20 || seg[12] >> 4 < 5 || (seg[12] >> 4) as usize * 4 > seg.len() => fail("TCP lengths"),
        17 if seg.len() < 8 || (u16::from_be_bytes([seg[4], seg[5]]) as usize) != seg.len() => fail("UDP length"),
        6 | 17 | 58 if !folds_to_ffff(pseudo() + ones_sum(seg)) => fail(format!("protocol {} checksum", ip.proto)),
        1 if !folds_to_ffff(ones_sum(seg)) => fail("ICMP checksum"),
        4 | 41 if depth > 0 => ip_verifies(&f[..ip.end], ip.hdr_end, depth - 1),
        _ => Ok(()),
    }
}

/// The frame's IP packet, and whatever it tunnels, verifies (by the walk here and by etherparse).
pub fn verifies(frame: &[u8]) -> R {
    let l = layout::scan(frame);
    if l.ip.is_none() {
        return fail("no IP packet");
    }
    ip_verifies(frame, l.l3(), 4)?;
    check(frame).map(|_| ())
}

fn addr(f: &[u8], ip: &Ip, dst: bool) -> Addr {
    match (ip.v6, dst) {
        (false, d) => {
            let at = ip.start + if d { 16 } else { 12 };
            Addr::v4(f[at..at + 4].try_into().expect("4"))
        }
        (true, d) => {
            let at = ip.start + if d { 24 } else { 8 };
            Addr::v6(f[at..at + 16].try_into().expect("16"))
        }
    }
}

/// Checks the frame `out` that the pipeline made of `input` (arrived on `in_port`) with verdict `v`.
/// `input_ok`: the input verified (see [`verifies`]). Ok(true): the output's checksums were verified too.
pub fn output(
    ctx: &Context,
    in_port: u16,
    input: &[u8],
    input_ok: bool,
    v: Verdict,
    out: &[u8],
) -> Result<bool, String> {
    let from_node_side = ctx.ports[in_port as usize].role == PortRole::Node;
    let (port, dst_mac, tunnel) = match v {
        Verdict::Drop(_) => return Ok(false),
        // The portal gets the IP packet alone, addressed to a portal VIP.
        Verdict::Portal => {
            let to_portal = match out.first().map(|b| b >> 4) {
                Some(4) if out.len() >= 20 => ctx.vips.iter().any(|v| v.portal && v.addr.octets() == &out[16..20]),
                Some(6) if out.len() >= 40 => ctx.vips.iter().any(|v| v.portal && v.addr.octets() == &out[24..40]),
                _ => false,
            };
            return if to_portal {
                Ok(false)
            } else {
                fail("a portal verdict for a packet that is not to a portal VIP")
            };
        }
        Verdict::Node { node, port } => {
            let Some(n) = ctx.nodes.get(node as usize) else { return fail(format!("node {node} out of range")) };
            if ctx.role == Role::Spine {
                let chassis = ctx.topology.nodes[node as usize].chassis;
                match ctx.chassis_links[chassis as usize] {
                    Some((mac, p)) if p == port => (port, mac, None),
                    _ => return fail("spine: no link to the node's chassis on that port"),
                }
            } else if n.port != port {
                return fail(format!("node {node} is on port {}, not {port}", n.port));
            } else {
                (port, n.mac, (n.forward == ForwardMode::Ipip).then_some(n))
            }
        }
        Verdict::Client { port } if port != ctx.client_port => return fail("client verdict off the client port"),
        Verdict::Client { port } => (port, ctx.ports[port as usize].gateway_mac, None),
        Verdict::Reply { port } if port != in_port => return fail("reply out of another port"),
        Verdict::Reply { port } => (port, input[6..12].try_into().expect("6"), None),
    };
    let Some(pc) = ctx.ports.get(port as usize) else { return Err(format!("port {port} out of range")) };
    if out.len() < 14 || out[0..6] != dst_mac || out[6..12] != pc.mac {
        return Err("Ethernet addresses are not the verdict's".into());
    }
    let lo = layout::scan(out);
    let reply = matches!(v, Verdict::Reply { .. });
    if lo.tags > 0 && !reply {
        return Err("forwarded with VLAN tags".into());
    }
    if lo.ethertype == 0x0806 {
        // ARP: only ever an answer, a reply from one of our addresses.
        let a = &out[lo.l3()..];
        let answered =
            a.len() >= 28 && a[6..8] == [0, 2] && answers_for(ctx, port, &Addr::v4(a[14..18].try_into().expect("4")));
        return if reply && answered { Ok(false) } else { Err("ARP out that is no reply of ours".into()) };
    }
    let Some(ip) = lo.ip else { return Err(format!("ethertype {:#06x} out", lo.ethertype)) };
    let fresh = fresh(&lo, out, v, from_node_side);
    if input_ok || fresh {
        verifies(out)
            .map_err(|e| format!("does not verify ({}): {e}", if fresh { "written here" } else { "input did" }))?;
    }
    // The packet sluice forwards: inside its own tunnel header, or right after Ethernet.
    let carried = match tunnel {
        Some(n) => {
            outer_exact(out, &ip, n.ip, n.tunnel_src)?;
            lo.inner.ok_or("tunnel without an inner packet")?
        }
        None => ip,
    };
    let checked = input_ok || fresh;
    // TCP to or from a node's own address on the portal port: a CVM's portal, which clients reach by
    // address when the configuration has a portal.
    let l4 = lo.inner_l4.or(lo.l4);
    let cvm_portal = |dst: bool| {
        let (Some(p), Some((at, _))) = (&ctx.portal, l4) else { return false };
        let port = out.get(at + if dst { 2 } else { 0 }..at + if dst { 4 } else { 2 });
        carried.proto == 6
            && port.is_some_and(|b| u16::from_be_bytes([b[0], b[1]]) == p.port)
            && ctx.nodes.iter().any(|n| n.ip == addr(out, &carried, dst))
    };
    match v {
        Verdict::Node { .. } if !ctx.vips.iter().any(|x| x.addr == addr(out, &carried, true)) && !cvm_portal(true) => {
            fail("to a node, not to a VIP")
        }
        Verdict::Client { .. } if ctx.vip(&addr(out, &carried, false)).is_none() && !cvm_portal(false) => {
            fail("to a client, not from a VIP")
        }
        Verdict::Reply { .. } if !answers_for(ctx, port, &addr(out, &carried, false)) => {
            fail("reply from an address not ours")
        }
        _ if fresh => exact_rst(input, out, v, &lo),
        Verdict::Reply { .. } => Ok(()),
        _ => untouched(input, &out[carried.start..]),
    }
    .map(|()| checked)
}

/// Addresses the appliance answers for on `port` (its own, and the VIPs on client ports).
fn answers_for(ctx: &Context, port: u16, a: &Addr) -> bool {
    ctx.is_own(port, a) || (ctx.ports[port as usize].role == PortRole::Client && ctx.vip(a).is_some())
}

/// A frame sluice wrote rather than forwarded: an exact RST toward a node, a RST closing a health probe's
/// half-open connection, a neighbour advertisement.
fn fresh(lo: &layout::Layout, out: &[u8], v: Verdict, from_node_side: bool) -> bool {
    let l4 = lo.inner_l4.or(lo.l4);
    let proto = lo.inner.or(lo.ip).map_or(0, |i| i.proto);
    match v {
        Verdict::Node { .. } => from_node_side,
        Verdict::Reply { .. } => match (proto, l4) {
            (6, Some((s, _))) => out.get(s + 13) == Some(&0x04),
            (58, Some((s, _))) => out[s] == 136,
            _ => false,
        },
        _ => false,
    }
}

/// A RST sluice wrote: exactly RST, at the acknowledgement number of the segment it answers.
fn exact_rst(input: &[u8], out: &[u8], v: Verdict, lo: &layout::Layout) -> R {
    let li = layout::scan(input);
    let (Some((i, _)), Some((o, _))) = (li.inner_l4.or(li.l4), lo.inner_l4.or(lo.l4)) else {
        return if matches!(v, Verdict::Reply { .. }) { Ok(()) } else { fail("node-bound frame without L4") };
    };
    if matches!(v, Verdict::Reply { .. }) && out[o] == 136 {
        return Ok(());
    }
    if out[o + 13] != 0x04 || input.get(i + 8..i + 12) != Some(&out[o + 4..o + 8]) {
        return fail("a written RST not exactly at the answered segment's acknowledgement number");
    }
    Ok(())
}

/// An IP-in-IP outer header toward node address `dst` from `src`: lengths cover the inner packet exactly.
fn outer_exact(out: &[u8], ip: &Ip, dst: Addr, src: Addr) -> R {
    let inner_len = out.len() - ip.start - if ip.v6 { 40 } else { 20 };
    let want_proto = if out.get(ip.hdr_end).map(|b| b >> 4) == Some(6) { 41 } else { 4 };
    let len_ok = if ip.v6 {
        u16::from_be_bytes([out[ip.start + 4], out[ip.start + 5]]) as usize == inner_len
    } else {
        u16::from_be_bytes([out[ip.start + 2], out[ip.start + 3]]) as usize == inner_len + 20
            && folds_to_ffff(ones_sum(&out[ip.start..ip.start + 20]))
    };
    if !len_ok || ip.proto != want_proto || addr(out, ip, true) != dst || addr(out, ip, false) != src {
        return fail("IP-in-IP outer header inexact");
    }
    Ok(())
}

/// `carried` is the input's IP packet (or the one it tunnelled) unchanged, Ethernet padding aside.
fn untouched(input: &[u8], carried: &[u8]) -> R {
    let li = layout::scan(input);
    let starts = [Some(li.l3()), li.inner.map(|i| i.start)];
    if !carried.is_empty() && starts.iter().flatten().any(|&s| input.get(s..).is_some_and(|x| x.starts_with(carried))) {
        Ok(())
    } else {
        fail("the forwarded packet is not the one that came in")
    }
}
