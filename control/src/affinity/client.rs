//! Client VM identities: an IP address or a MAC, how operators write them, and the client prefixes the
//! affinity table caps learning by.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use crate::config::{ClientIdKind, ConfigError, MacAddr};

/// A client VM's identity: an IP address (IPv4 as v4-mapped IPv6) or a MAC in the low 48 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u128);

impl ClientId {
    pub fn from_ip(ip: IpAddr) -> ClientId {
        ClientId(match ip {
            IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
            IpAddr::V6(a) => u128::from(a),
        })
    }
    pub fn from_mac(mac: [u8; 6]) -> ClientId {
        ClientId(mac.iter().fold(0u128, |acc, b| acc << 8 | *b as u128))
    }

    /// Parses an operator's spelling for `kind`; the error says what was expected.
    pub fn parse(kind: ClientIdKind, s: &str) -> Result<ClientId, ConfigError> {
        match kind {
            ClientIdKind::Ip => s.trim().parse::<IpAddr>().map(ClientId::from_ip).map_err(|_| {
                ConfigError::new("client", format!("{s:?} is not an IP address (affinity.client_id = \"ip\")"))
            }),
            ClientIdKind::Mac => s
                .parse::<MacAddr>()
                .map(|m| ClientId::from_mac(m.0))
                .map_err(|e| ConfigError::new("client", format!("{e} (affinity.client_id = \"mac\")"))),
        }
    }

    pub fn display(self, kind: ClientIdKind) -> ClientDisplay {
        ClientDisplay(self, kind)
    }
}

/// A [`ClientId`] written as an address of its kind.
pub struct ClientDisplay(ClientId, ClientIdKind);

impl fmt::Display for ClientDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0 .0;
        match self.1 {
            ClientIdKind::Ip => {
                let a = std::net::Ipv6Addr::from(v);
                match a.to_ipv4_mapped() {
                    Some(v4) => write!(f, "{v4}"),
                    None => write!(f, "{a}"),
                }
            }
            ClientIdKind::Mac => {
                let b = v.to_be_bytes();
                let mut m = [0u8; 6];
                m.copy_from_slice(&b[10..]);
                write!(f, "{}", MacAddr(m))
            }
        }
    }
}

/// The prefix a client's learned entries are counted under: its /24 for IPv4, its /64 for IPv6, none for a
/// MAC (client VMs of one hypervisor platform share an OUI, so a per-OUI cap would cap honest clusters).
pub(super) fn prefix(kind: ClientIdKind, c: ClientId) -> Option<u128> {
    match kind {
        ClientIdKind::Mac => None,
        // ::ffff:a.b.c.d
        ClientIdKind::Ip if c.0 >> 32 == 0xffff => Some(c.0 & !0xff),
        ClientIdKind::Ip => Some(c.0 & !(u64::MAX as u128)),
    }
}

/// Learned entries per client prefix (see [`prefix`]).
#[derive(Debug, Clone)]
pub(super) struct PrefixCounts {
    kind: ClientIdKind,
    counts: HashMap<u128, u32>,
}

impl PrefixCounts {
    pub(super) fn new(kind: ClientIdKind) -> PrefixCounts {
        PrefixCounts { kind, counts: HashMap::new() }
    }

    /// Learned entries in `c`'s prefix (0 where client ids have no prefix).
    pub(super) fn of(&self, c: ClientId) -> u32 {
        prefix(self.kind, c).and_then(|p| self.counts.get(&p).copied()).unwrap_or(0)
    }

    pub(super) fn add(&mut self, c: ClientId) {
        if let Some(p) = prefix(self.kind, c) {
            *self.counts.entry(p).or_default() += 1;
        }
    }

    pub(super) fn remove(&mut self, c: ClientId) {
        let Some(p) = prefix(self.kind, c) else { return };
        if let Some(n) = self.counts.get_mut(&p) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(&p);
            }
        }
    }

    /// The most learned entries any one prefix holds.
    pub(super) fn max(&self) -> u32 {
        self.counts.values().copied().max().unwrap_or(0)
    }

    /// How many prefixes hold learned entries.
    pub(super) fn len(&self) -> usize {
        self.counts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> ClientId {
        ClientId::parse(ClientIdKind::Ip, s).unwrap()
    }

    #[test]
    fn prefixes_are_a_v4_slash_24_a_v6_slash_64_and_no_mac_prefix() {
        let p = |s| prefix(ClientIdKind::Ip, ip(s));
        assert_eq!(p("10.1.2.3"), p("10.1.2.250"));
        assert_ne!(p("10.1.2.3"), p("10.1.3.3"));
        assert_eq!(p("10.1.2.0"), Some(ip("10.1.2.0").0));
        assert_eq!(p("2001:db8:0:1::7"), p("2001:db8:0:1:ffff:ffff:ffff:ffff"));
        assert_ne!(p("2001:db8:0:1::7"), p("2001:db8:0:2::7"));
        assert_eq!(p("2001:db8:0:1::7"), Some(ip("2001:db8:0:1::").0));
        assert_eq!(prefix(ClientIdKind::Mac, ClientId::from_mac([0x52, 0x54, 0, 0, 0, 1])), None);
        let mut c = PrefixCounts::new(ClientIdKind::Ip);
        c.add(ip("10.1.2.3"));
        c.add(ip("10.1.2.4"));
        c.add(ip("10.1.3.4"));
        assert_eq!((c.of(ip("10.1.2.99")), c.max(), c.len()), (2, 2, 2));
        c.remove(ip("10.1.3.4"));
        c.remove(ip("10.1.2.3"));
        assert_eq!((c.of(ip("10.1.2.99")), c.len()), (1, 1));
    }
}
