//! Why a packet was dropped. Every drop is counted under exactly one reason.

use crate::counters::named_counters;
use crate::wire::{self, ErrorKind, Layer};

named_counters! {
    /// A drop reason. Every drop is counted under exactly one.
    DropReason {
    MalformedL2 => "malformed_l2": "Ethernet header or VLAN tags truncated, or more than two tags",
    UnknownEthertype => "unknown_ethertype": "neither ARP, IPv4 nor IPv6",
    MalformedArp => "malformed_arp": "ARP truncated or not Ethernet/IPv4",
    MalformedIpv4 => "malformed_ipv4": "IPv4 truncated, bad version, IHL or total length",
    MalformedIpv6 => "malformed_ipv6": "IPv6 truncated, bad payload length or extension header",
    Ipv6ExtLimit => "ipv6_ext_limit": "more IPv6 extension headers than sluice walks (8)",
    MalformedL4 => "malformed_l4": "TCP, UDP or ICMP header truncated or with bad lengths",
    MultiSegment => "multi_segment": "frame in several mbufs (larger than the mbuf data room)",
    NotForVip => "not_for_vip": "client-side packet to an address that is neither a VIP nor the appliance's",
    VipUnserved => "vip_unserved": "to a VIP, but a protocol or port it does not serve",
    IcmpUnhandled => "icmp_unhandled": "ICMP to a VIP that is neither echo nor an error about a VIP flow",
    ArpIgnored => "arp_ignored": "ARP that is not a request for a VIP or the appliance's own address",
    NdIgnored => "nd_ignored": "neighbour discovery that is not a valid solicitation for our addresses",
    ToAppliance => "to_appliance": "addressed to the appliance itself, not something it answers",
    UnknownSource => "unknown_source": "node-side packet that is not from a VIP (nor tunnelled from one)",
    NoNode => "no_node": "no node can take traffic (all down, draining or weight 0)",
    EncapTooBig => "encap_too_big": "the encapsulated packet would exceed the node port's MTU",
    NoHeadroom => "no_headroom": "not enough mbuf headroom for the encapsulation header",
    TxFull => "tx_full": "the driver's transmit queue did not take the packet",
    ResetSwallowed => "reset_swallowed": "a node's answer to a reset probe, or a duplicate RST, kept from the client",
    FanoutReceived => "fanout_received": "a spine's fan-out frame, consumed here (the probes it causes count as generated)",
    HealthAnswer => "health_answer": "a node's answer to a health probe, consumed by the appliance (a SYN-ACK is answered with a RST, counted as a reply)",
    FanoutForged => "fanout_forged": "a fan-out frame where none is accepted (a chassis's spine-side port takes a spine's, a node port a peer's), or malformed",
    FanoutUnknownSender => "fanout_unknown_sender": "a fan-out frame from a MAC that is not the spine's (the spine-side port's gateway_mac) or a configured peer's on that port",
    UnknownSender => "unknown_sender": "a node-side RST or tunnelled packet from a sender that is no configured node (a spine: no chassis appliance)",
    PortalIn => "portal_in": "a TCP segment to a portal VIP's portal port, handed to the portal's TCP stack (its answers count as generated)",
    PortalQueueFull => "portal_queue_full": "a segment for the portal while its queue from the workers was full",
    PortalUnfit => "portal_unfit": "a fragment, or a packet larger than the portal's MTU, to a portal VIP's portal port",
    HealthForged => "health_forged": "a health answer not from the probed node on its port, or an ARP answer while the check is not arp",
}
}

impl From<wire::Error> for DropReason {
    fn from(e: wire::Error) -> DropReason {
        match e.layer {
            Layer::Ethernet | Layer::Vlan => DropReason::MalformedL2,
            Layer::Arp => DropReason::MalformedArp,
            Layer::Ipv4 => DropReason::MalformedIpv4,
            Layer::Ipv6Extension if e.kind == ErrorKind::TooManyHeaders => DropReason::Ipv6ExtLimit,
            Layer::Ipv6 | Layer::Ipv6Extension => DropReason::MalformedIpv6,
            Layer::Tcp | Layer::Udp | Layer::Icmp => DropReason::MalformedL4,
        }
    }
}
