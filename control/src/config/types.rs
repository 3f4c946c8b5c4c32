//! Small value types the configuration is made of, each parsed from a string with a precise error.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An Ethernet MAC address, written `02:00:00:00:00:01`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(format!("malformed MAC address {s:?}: expected six hex bytes like 02:00:00:00:00:01"));
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(&parts) {
            if p.len() != 2 {
                return Err(format!("malformed MAC address {s:?}: byte {p:?} is not two hex digits"));
            }
            *o =
                u8::from_str_radix(p, 16).map_err(|_| format!("malformed MAC address {s:?}: byte {p:?} is not hex"))?;
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl MacAddr {
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
}

/// Implements serde for a type through its `FromStr` and `Display`.
macro_rules! serde_via_str {
    ($t:ty) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}
serde_via_str!(MacAddr);
serde_via_str!(HashKey);
serde_via_str!(LcoreList);
serde_via_str!(CpuList);

/// DPDK's `RTE_MAX_LCORE`: lcore ids are below it.
pub const MAX_LCORE: u32 = 128;
/// CPU ids `eal.cpus` may name are below this.
pub const MAX_CPU: u32 = 4096;

/// CPUs for `eal.cpus`: a comma list where repeats are allowed (`0,1,1`), one per lcore (so at most
/// [`MAX_LCORE`]), each below [`MAX_CPU`]. Bounds are checked entry by entry, before anything grows.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CpuList(pub Vec<u32>);

impl FromStr for CpuList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for p in s.split(',') {
            if out.len() == MAX_LCORE as usize {
                return Err(format!(
                    "cpu list: more than {MAX_LCORE} CPUs (one per lcore, at most {MAX_LCORE} lcores)"
                ));
            }
            let cpu: u32 =
                p.trim().parse().map_err(|_| format!("cpu list {}: {} is not a CPU number", shown(s), shown(p)))?;
            if cpu >= MAX_CPU {
                return Err(format!(
                    "cpu list {}: CPU {cpu} is beyond the largest supported ({})",
                    shown(s),
                    MAX_CPU - 1
                ));
            }
            out.push(cpu);
        }
        Ok(CpuList(out))
    }
}

/// `s` quoted for an error message, cut short when long.
pub(crate) fn shown(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{:?}…", &s[..i]),
        None => format!("{s:?}"),
    }
}

impl fmt::Display for CpuList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: Vec<String> = self.0.iter().map(u32::to_string).collect();
        f.write_str(&v.join(","))
    }
}

/// The Toeplitz key: `"microsoft"` (the RSS verification key, also most NICs' default), `"symmetric"`
/// (0x6d5a repeated: both directions of a flow hash alike), or 40 or 52 bytes in hex.
#[derive(Clone, PartialEq, Eq)]
pub struct HashKey {
    pub name: Option<&'static str>,
    pub bytes: Vec<u8>,
}

/// Microsoft's RSS verification key.
pub const MICROSOFT_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b,
    0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac,
    0x01, 0xfa,
];

impl Default for HashKey {
    fn default() -> Self {
        HashKey { name: Some("microsoft"), bytes: MICROSOFT_KEY.to_vec() }
    }
}

impl FromStr for HashKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "microsoft" => return Ok(HashKey::default()),
            "symmetric" => return Ok(HashKey { name: Some("symmetric"), bytes: [0x6d, 0x5a].repeat(26) }),
            _ => {}
        }
        let hex: String = s.chars().filter(|c| !c.is_whitespace() && *c != ':').collect();
        if !hex.len().is_multiple_of(2) || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("hash key {s:?} is neither \"microsoft\", \"symmetric\" nor hex bytes"));
        }
        let bytes: Vec<u8> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("checked hex")).collect();
        if bytes.len() != 40 && bytes.len() != 52 {
            return Err(format!("hash key has {} bytes; Toeplitz keys here are 40 or 52 bytes", bytes.len()));
        }
        Ok(HashKey { name: None, bytes })
    }
}

impl fmt::Display for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name {
            Some(n) => f.write_str(n),
            None => self.bytes.iter().try_for_each(|b| write!(f, "{b:02x}")),
        }
    }
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A set of lcore ids written as DPDK's `-l` takes them: `0-3`, `0,2,4`, `1,4-6`. The first is the main
/// (control) lcore; the rest run workers.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LcoreList(pub Vec<u32>);

impl FromStr for LcoreList {
    type Err = String;
    /// Every id is checked against [`MAX_LCORE`] before a range is expanded, so the list never holds
    /// more than [`MAX_LCORE`] entries.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        let mut seen = [false; MAX_LCORE as usize];
        for part in s.split(',').map(str::trim) {
            let bad = || format!("lcore list {}: {} is not a number or a range like 2-5", shown(s), shown(part));
            let id = |x: &str| -> Result<u32, String> {
                let id: u32 = x.trim().parse().map_err(|_| bad())?;
                match id < MAX_LCORE {
                    true => Ok(id),
                    false => {
                        Err(format!("lcore list {}: lcore {id} is beyond DPDK's RTE_MAX_LCORE ({MAX_LCORE})", shown(s)))
                    }
                }
            };
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (id(a)?, id(b)?),
                None => (id(part)?, id(part)?),
            };
            if a > b {
                return Err(format!("lcore list {}: range {} runs backwards", shown(s), shown(part)));
            }
            for l in a..=b {
                if std::mem::replace(&mut seen[l as usize], true) {
                    return Err(format!("lcore list {}: lcore {l} appears twice", shown(s)));
                }
                out.push(l);
            }
        }
        Ok(LcoreList(out))
    }
}

impl fmt::Display for LcoreList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: Vec<String> = self.0.iter().map(u32::to_string).collect();
        f.write_str(&v.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parses_and_rejects() {
        assert_eq!("02:00:00:0a:0B:ff".parse::<MacAddr>().unwrap().0, [2, 0, 0, 10, 11, 255]);
        for bad in ["", "02:00:00:00:00", "02:00:00:00:00:0g", "002:00:00:00:00:01", "02:00:00:00:00:01:02"] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn hash_keys() {
        assert_eq!("microsoft".parse::<HashKey>().unwrap().bytes.len(), 40);
        assert_eq!("symmetric".parse::<HashKey>().unwrap().bytes.len(), 52);
        assert_eq!("00".repeat(40).parse::<HashKey>().unwrap().bytes.len(), 40);
        assert!("00".repeat(41).parse::<HashKey>().unwrap_err().contains("41 bytes"));
        assert!("zz".parse::<HashKey>().is_err());
    }

    #[test]
    fn lcore_lists() {
        assert_eq!("0-2,5".parse::<LcoreList>().unwrap().0, vec![0, 1, 2, 5]);
        assert!("3-1".parse::<LcoreList>().is_err());
        assert!("1,1".parse::<LcoreList>().unwrap_err().contains("twice"));
        assert!("x".parse::<LcoreList>().is_err());
        assert_eq!("0-127".parse::<LcoreList>().unwrap().0.len(), 128);
        for huge in ["0-4294967295", "0-128", "128", "4294967296", "5-4294967295"] {
            let e = huge.parse::<LcoreList>().unwrap_err();
            assert!(e.contains("RTE_MAX_LCORE") || e.contains("not a number"), "{huge}: {e}");
        }
    }

    #[test]
    fn cpu_lists() {
        assert_eq!("0, 1,1".parse::<CpuList>().unwrap().0, vec![0, 1, 1]);
        assert_eq!("4095".parse::<CpuList>().unwrap().0, vec![4095]);
        assert!("4096".parse::<CpuList>().unwrap_err().contains("beyond"));
        assert!("4294967295".parse::<CpuList>().unwrap_err().contains("beyond"));
        assert!("0,".repeat(128).trim_end_matches(',').parse::<CpuList>().is_ok());
        assert!("0,".repeat(100_000).parse::<CpuList>().unwrap_err().contains("more than 128"));
        assert!("".parse::<CpuList>().is_err() && "1-3".parse::<CpuList>().is_err());
    }

    #[test]
    fn long_input_is_cut_short_in_errors() {
        let e = format!("{},x", "1".repeat(10_000)).parse::<LcoreList>().unwrap_err();
        assert!(e.len() < 300, "{e}");
    }
}
