//! Health probe frames: TCP SYN to the service port, ICMP echo, ARP request, from the node port's own
//! address. Written on the control lcore, sent by worker 0.

use super::{Kind, Probe, ICMP_ID, PROBE_MAX, SPORT_BASE, SPORT_SPAN};
use crate::pipeline::Context;
use crate::reset::{write_segment, Conn};
use crate::wire::ethernet::{self, ethertype};
use crate::wire::parse::{PROTO_ICMP, PROTO_ICMPV6};
use crate::wire::tcp::flags;
use crate::wire::{arp, checksum, icmp, ipv4, ipv6};

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
            let conn = Conn {
                client: src,
                vip: node.ip,
                cport: SPORT_BASE + (token % SPORT_SPAN as u32) as u16,
                vport: tcp_port,
            };
            let len = write_segment(b, &conn, token, 0, flags::SYN)?;
            // A window, so the node's stack treats it as an ordinary connection attempt.
            let l4 = len - 20;
            b[l4 + 14..l4 + 16].copy_from_slice(&1024u16.to_be_bytes());
            let c = u16::from_be_bytes([b[l4 + 16], b[l4 + 17]]);
            let c = checksum::update16(c, 0, 1024);
            b[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
            ethernet::emit(b, node.mac, port.mac, if src.v6 { ethertype::IPV6 } else { ethertype::IPV4 });
            len
        }
        Kind::Icmp => {
            const BODY: usize = icmp::HEADER_LEN + 8;
            let ip_len = if src.v6 { ipv6::HEADER_LEN } else { ipv4::MIN_HEADER_LEN };
            let l4 = ethernet::HEADER_LEN + ip_len;
            ethernet::emit(b, node.mac, port.mac, if src.v6 { ethertype::IPV6 } else { ethertype::IPV4 });
            let (proto, ty) = if src.v6 {
                ipv6::emit(&mut b[ethernet::HEADER_LEN..], src.bytes, node.ip.bytes, PROTO_ICMPV6, BODY, 64, 0);
                (PROTO_ICMPV6, icmp::v6::ECHO_REQUEST)
            } else {
                ipv4::emit(&mut b[ethernet::HEADER_LEN..], src.v4_bytes(), node.ip.v4_bytes(), PROTO_ICMP, BODY, 64, 0);
                (PROTO_ICMP, icmp::v4::ECHO_REQUEST)
            };
            let m = &mut b[l4..l4 + BODY];
            m[0] = ty;
            m[1] = 0;
            m[2..4].fill(0);
            m[4..6].copy_from_slice(&ICMP_ID.to_be_bytes());
            m[6..8].copy_from_slice(&(token as u16).to_be_bytes());
            m[8..16].copy_from_slice(b"sluice-h");
            let start =
                if src.v6 { checksum::pseudo_header(&src.bytes, &node.ip.bytes, proto, BODY as u32) } else { 0 };
            let c = checksum::finish(checksum::sum(start, m));
            m[2..4].copy_from_slice(&c.to_be_bytes());
            l4 + BODY
        }
        Kind::Arp => {
            if src.v6 {
                return None;
            }
            ethernet::emit(b, [0xff; 6], port.mac, ethertype::ARP);
            let a = &mut b[ethernet::HEADER_LEN..ethernet::HEADER_LEN + arp::PACKET_LEN];
            a[0..8].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, arp::OP_REQUEST as u8]);
            a[arp::field::SHA].copy_from_slice(&port.mac);
            a[arp::field::SPA].copy_from_slice(&src.v4_bytes());
            a[arp::field::THA].fill(0);
            a[arp::field::TPA].copy_from_slice(&node.ip.v4_bytes());
            ethernet::HEADER_LEN + arp::PACKET_LEN
        }
    };
    p.len = len as u16;
    Some(p)
}
