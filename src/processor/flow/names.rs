//! How flow top-list items are keyed while counting and named when output: ports as ids
//! of their IANA service name (so ports sharing a name, like a `dynamic-client` range, are
//! one item, as in pktvisor), addresses or their summary, DSCP and ECN names.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::enrich::services::{ServiceRegistry, Transport};

/// The name `fold_dynamic_ports` gives every port of 49152–65535.
pub const DYNAMIC: &str = "dynamic";

/// First port of the dynamic range (RFC 6335).
pub const DYNAMIC_START: u16 = 49152;

/// A port as counted: a service-name id (high bit set) or the port number itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortKey(u32);

const NAMED: u32 = 1 << 31;

impl PortKey {
    /// The key as a compact 17-bit code (port number, or bit 16 | name id) when the name id
    /// fits in 16 bits (the top tables store it in a 64-bit slot key).
    #[inline]
    pub(super) fn code17(self) -> Option<u32> {
        if self.0 & NAMED == 0 {
            // ports are u16 numbers
            return Some(self.0 & 0xffff);
        }
        let id = self.0 & !NAMED;
        (id < 1 << 16).then_some((1 << 16) | id)
    }

    /// The key as its raw bits (side codes of the top tables keep them).
    #[inline]
    pub(super) fn raw(self) -> u32 {
        self.0
    }

    /// The key back from `raw`.
    #[inline]
    pub(super) fn from_raw(bits: u32) -> PortKey {
        PortKey(bits)
    }

    /// The key back from `code17`.
    #[inline]
    pub(super) fn from_code17(c: u32) -> PortKey {
        if c & (1 << 16) != 0 {
            PortKey(NAMED | (c & 0xffff))
        } else {
            PortKey(c & 0xffff)
        }
    }
}

/// Port → name table for TCP and UDP, built once from the registry.
#[derive(Debug, Default)]
pub struct PortNames {
    /// Per transport (0 TCP, 1 UDP): key of each port; empty when no registry is loaded
    /// and nothing is folded.
    keys: [Vec<PortKey>; 2],
    names: Vec<Arc<str>>,
    /// Fold without a table (empty registry): dynamic ports are name 0.
    fold: bool,
}

impl PortNames {
    /// The table for `registry` (folding dynamic ports into one `dynamic` item when asked).
    pub fn new(registry: &ServiceRegistry, fold_dynamic: bool) -> PortNames {
        if registry.is_empty() {
            // no table needed: ports are numbers, or the one folded name
            return PortNames {
                keys: [Vec::new(), Vec::new()],
                names: vec![Arc::from(DYNAMIC)],
                fold: fold_dynamic,
            };
        }
        let mut names: Vec<Arc<str>> = Vec::new();
        let mut ids: HashMap<Arc<str>, u32> = HashMap::new();
        let mut intern = |n: &str| -> PortKey {
            if let Some(&i) = ids.get(n) {
                return PortKey(NAMED | i);
            }
            let i = names.len() as u32;
            let a: Arc<str> = Arc::from(n);
            names.push(Arc::clone(&a));
            ids.insert(a, i);
            PortKey(NAMED | i)
        };
        let mut keys = [Vec::with_capacity(65536), Vec::with_capacity(65536)];
        for (t, transport) in [Transport::Tcp, Transport::Udp].into_iter().enumerate() {
            for port in 0..=u16::MAX {
                let key = if fold_dynamic && port >= DYNAMIC_START {
                    intern(DYNAMIC)
                } else if registry.is_empty() {
                    PortKey(u32::from(port))
                } else {
                    match registry.name(port, transport) {
                        // the registry's own entry (a port without one comes back as its number)
                        std::borrow::Cow::Borrowed(n) => intern(n),
                        std::borrow::Cow::Owned(_) => PortKey(u32::from(port)),
                    }
                };
                keys[t].push(key);
            }
        }
        PortNames {
            keys,
            names,
            fold: fold_dynamic,
        }
    }

    /// The key of `port` for a record of IP protocol `protocol` (UDP names for UDP,
    /// TCP names for everything else, as pktvisor does).
    #[inline]
    pub fn key(&self, port: u16, protocol: u8) -> PortKey {
        let t = usize::from(protocol == 17);
        match self.keys[t].get(usize::from(port)) {
            Some(k) => *k,
            None if self.fold && port >= DYNAMIC_START => PortKey(NAMED),
            None => PortKey(u32::from(port)),
        }
    }

    /// The output name of a key.
    pub fn name(&self, k: PortKey) -> String {
        if k.0 & NAMED != 0 {
            self.names
                .get((k.0 & !NAMED) as usize)
                .map_or_else(|| "?".to_string(), |n| n.to_string())
        } else {
            k.0.to_string()
        }
    }
}

/// An address as counted in top lists: itself, or its summary (ASN or subnet string).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// The address.
    Ip(IpAddr),
    /// Its summary.
    Name(Arc<str>),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Ip(ip) => write!(f, "{ip}"),
            Endpoint::Name(n) => f.write_str(n),
        }
    }
}

/// pktvisor's DSCP names (code point = tos >> 2), else the number.
pub fn dscp_name(code: u8) -> String {
    let n = match code {
        0 => "CS0",
        8 => "CS1",
        16 => "CS2",
        24 => "CS3",
        32 => "CS4",
        40 => "CS5",
        48 => "CS6",
        56 => "CS7",
        10 => "AF11",
        12 => "AF12",
        14 => "AF13",
        18 => "AF21",
        20 => "AF22",
        22 => "AF23",
        26 => "AF31",
        28 => "AF32",
        30 => "AF33",
        34 => "AF41",
        36 => "AF42",
        38 => "AF43",
        46 => "EF",
        43 => "VOICE-ADMIT",
        other => return other.to_string(),
    };
    n.to_string()
}

/// pktvisor's ECN names (tos & 3).
pub fn ecn_name(code: u8) -> &'static str {
    match code & 3 {
        0 => "Not-ECT",
        1 => "ECT(1)",
        2 => "ECT(0)",
        _ => "CE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_keys_share_service_names() {
        let csv = "Service Name,Port Number,Transport Protocol\nhttp,80,tcp\ndomain,53,udp\ndynamic-client,49152-65535,tcp\n";
        let reg = ServiceRegistry::from_reader(csv.as_bytes()).unwrap();
        let p = PortNames::new(&reg, false);
        assert_eq!(p.name(p.key(80, 6)), "http");
        assert_eq!(p.name(p.key(80, 17)), "80");
        assert_eq!(p.name(p.key(53, 17)), "domain");
        assert_eq!(p.key(50000, 6), p.key(60000, 6));
        assert_eq!(p.name(p.key(50000, 6)), "dynamic-client");
        assert_ne!(p.key(50000, 17), p.key(60000, 17));
        let f = PortNames::new(&ServiceRegistry::default(), true);
        assert_eq!(f.name(f.key(50000, 17)), DYNAMIC);
        assert_eq!(f.name(f.key(443, 6)), "443");
        let none = PortNames::new(&ServiceRegistry::default(), false);
        assert_eq!(none.name(none.key(65535, 6)), "65535");
        assert_eq!(
            (dscp_name(48), dscp_name(46), dscp_name(1)),
            ("CS6".into(), "EF".into(), "1".into())
        );
        assert_eq!((ecn_name(0), ecn_name(3)), ("Not-ECT", "CE"));
    }
}
