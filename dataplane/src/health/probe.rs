//! Health probe frames: TCP SYN to the service port, ICMP echo, ARP request, from the node port's own
//! address. Written on the control lcore, sent by worker 0.

use super::{Kind, Probe, ICMP_ID, PROBE_MAX, SPORT_BASE, SPORT_SPAN};
use crate::pipeline::Context;
use crate::reset::frames::write_tcp_frame;
use crate::wire::ethernet::{self, ethertype};
use crate::wire::parse::{PROTO_ICMP, PROTO_ICMPV6};
use crate::wire::tcp::{self, flags};
use crate::wire::{arp, icmp, ip};

/// The data of an echo probe.
const ECHO_DATA: &[u8; 8] = b"sluice-h";

/// Writes the probe of kind `kind` for node `n` with `token`: from the node port's address of the node's
/// family to the node (TCP to `tcp_port`). None if the port has no such address.
pub fn write_probe(ctx: &Context, n: u16, kind: Kind, tcp_port: u16, token: u32) -> Option<Probe> {
    let node = &ctx.nodes[n as usize];
    let port = &ctx.ports[node.port as usize];
    let src = *port.addresses.iter().find(|a| a.v6 == node.ip.v6)?;
    let mut p = Probe { port: node.port, len: 0, frame: [0; PROBE_MAX] };
    let b = &mut p.frame;
    let len = match kind {
        Kind::Tcp => {
            let sport = SPORT_BASE + (token % SPORT_SPAN as u32) as u16;
            // A window, so the node's stack treats it as an ordinary connection attempt.
            let syn = tcp::Repr { window: 1024, ..tcp::Repr::new(sport, tcp_port, token, 0, flags::SYN) };
            write_tcp_frame(b, node.mac, port.mac, src, node.ip, &syn)?
        }
        Kind::Icmp => {
            let (ident, seq_no, data_len) = (ICMP_ID, token as u16, ECHO_DATA.len());
            let (proto, echo) = if src.v6 {
                (PROTO_ICMPV6, Echo::V6(icmp::v6::Repr::EchoRequest { ident, seq_no, data_len }))
            } else {
                (PROTO_ICMP, Echo::V4(icmp::v4::Repr::EchoRequest { ident, seq_no, data_len }))
            };
            let icmp_len = icmp::HEADER_LEN + data_len;
            let ip = ip::Repr::new(src, node.ip, proto, icmp_len, 64);
            let eth = ethernet::Repr { dst: node.mac, src: port.mac, ethertype: ip.ethertype() };
            let (l2, rest) = b.split_at_mut(eth.buffer_len());
            let (l3, rest) = rest.split_at_mut(ip.header_len());
            let mut m = icmp::Packet::new_unchecked(&mut rest[..icmp_len]);
            m.body_mut().copy_from_slice(ECHO_DATA);
            match echo {
                Echo::V4(r) => r.emit(&mut m),
                Echo::V6(r) => r.emit(&mut m, &src.bytes, &node.ip.bytes),
            }
            ip.emit(l3);
            eth.emit(&mut ethernet::Frame::new_unchecked(l2));
            eth.buffer_len() + ip.buffer_len()
        }
        Kind::Arp => {
            if src.v6 {
                return None;
            }
            let eth = ethernet::Repr { dst: [0xff; 6], src: port.mac, ethertype: ethertype::ARP };
            let request = arp::Repr::request(port.mac, src.v4_bytes(), node.ip.v4_bytes());
            let (l2, l3) = b.split_at_mut(eth.buffer_len());
            eth.emit(&mut ethernet::Frame::new_unchecked(l2));
            request.emit(&mut arp::Packet::new_unchecked(l3));
            eth.buffer_len() + request.buffer_len()
        }
    };
    p.len = len as u16;
    Some(p)
}

/// An echo request of either family.
enum Echo {
    V4(icmp::v4::Repr),
    V6(icmp::v6::Repr),
}
