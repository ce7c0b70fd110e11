//! Host specifications: sets of CIDR prefixes that say which addresses are "the host".
//!
//! pktvisor's `host_spec` is a comma-separated list of CIDRs; a packet whose destination is
//! in the set goes *to* the host (ingress), else one whose source is in the set comes *from*
//! the host (egress), else its direction is unknown. Bare addresses are rejected with
//! pktvisor's messages. An explicit host spec is used as written: nothing here widens it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One IPv4 or IPv6 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpNet {
    /// An IPv4 prefix: network address (already masked) and length.
    V4(u32, u8),
    /// An IPv6 prefix: network address (already masked) and length.
    V6(u128, u8),
}

/// A host-spec parse error, with pktvisor's texts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostSpecError {
    /// No `/` in the entry.
    #[error("invalid CIDR: {0}")]
    InvalidCidr(String),
    /// The address part of an IPv4-looking entry does not parse.
    #[error("invalid IPv4 address: {0}")]
    InvalidIpv4(String),
    /// The address part of an IPv6-looking entry does not parse.
    #[error("invalid IPv6 address: {0}")]
    InvalidIpv6(String),
}

fn mask_v4(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

fn mask_v6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

impl IpNet {
    /// Parses `ADDR/LEN`, rejecting bare addresses like pktvisor does.
    pub fn parse(text: &str) -> Result<IpNet, HostSpecError> {
        let text = text.trim();
        let Some((addr, len)) = text.split_once('/') else {
            return Err(HostSpecError::InvalidCidr(text.to_string()));
        };
        if addr.contains(':') {
            let a: Ipv6Addr = addr
                .parse()
                .map_err(|_| HostSpecError::InvalidIpv6(text.to_string()))?;
            let len: u8 = len
                .parse()
                .ok()
                .filter(|l| *l <= 128)
                .ok_or_else(|| HostSpecError::InvalidCidr(text.to_string()))?;
            Ok(IpNet::V6(u128::from(a) & mask_v6(len), len))
        } else {
            let a: Ipv4Addr = addr
                .parse()
                .map_err(|_| HostSpecError::InvalidIpv4(text.to_string()))?;
            let len: u8 = len
                .parse()
                .ok()
                .filter(|l| *l <= 32)
                .ok_or_else(|| HostSpecError::InvalidCidr(text.to_string()))?;
            Ok(IpNet::V4(u32::from(a) & mask_v4(len), len))
        }
    }

    /// Whether `ip` is inside this prefix.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self, ip) {
            (IpNet::V4(net, len), IpAddr::V4(a)) => u32::from(*a) & mask_v4(*len) == *net,
            (IpNet::V6(net, len), IpAddr::V6(a)) => u128::from(*a) & mask_v6(*len) == *net,
            _ => false,
        }
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        match self {
            IpNet::V4(_, l) | IpNet::V6(_, l) => *l,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpNet::V4(n, l) => write!(f, "{}/{}", Ipv4Addr::from(*n), l),
            IpNet::V6(n, l) => write!(f, "{}/{}", Ipv6Addr::from(*n), l),
        }
    }
}

/// The packet direction relative to the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Destination is the host: ingress, pktvisor's `toHost`, JSON `in`.
    ToHost,
    /// Source is the host: egress, pktvisor's `fromHost`, JSON `out`.
    FromHost,
    /// Neither address is the host (or there is no host spec).
    #[default]
    Unknown,
}

impl Direction {
    /// The v2 JSON/label name: `in`, `out` or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Direction::ToHost => "in",
            Direction::FromHost => "out",
            Direction::Unknown => "unknown",
        }
    }
}

/// A set of prefixes defining the host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostSpec {
    nets: Vec<IpNet>,
    /// The IPv4 prefixes as (network, mask), and the IPv6 ones: a packet's address is
    /// compared with its own family's only.
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl HostSpec {
    /// Parses a comma-separated list; an empty string gives an empty spec.
    pub fn parse(text: &str) -> Result<HostSpec, HostSpecError> {
        let mut nets = Vec::new();
        for part in text.split(',') {
            if part.trim().is_empty() {
                continue;
            }
            nets.push(IpNet::parse(part)?);
        }
        Ok(HostSpec::from_nets(nets))
    }

    /// Builds a spec from already-parsed prefixes.
    pub fn from_nets(nets: Vec<IpNet>) -> HostSpec {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for n in &nets {
            match *n {
                IpNet::V4(net, len) => v4.push((net, mask_v4(len))),
                IpNet::V6(net, len) => v6.push((net, mask_v6(len))),
            }
        }
        HostSpec { nets, v4, v6 }
    }

    /// Whether the spec has no prefixes (every direction is unknown).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// The prefixes.
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }

    /// Whether `ip` belongs to the host.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(*a);
                self.v4.iter().any(|&(net, mask)| a & mask == net)
            }
            IpAddr::V6(a) => {
                let a = u128::from(*a);
                self.v6.iter().any(|&(net, mask)| a & mask == net)
            }
        }
    }

    /// The direction of a packet from `src` to `dst`.
    pub fn direction(&self, src: &IpAddr, dst: &IpAddr) -> Direction {
        if self.nets.is_empty() {
            Direction::Unknown
        } else if self.contains(dst) {
            Direction::ToHost
        } else if self.contains(src) {
            Direction::FromHost
        } else {
            Direction::Unknown
        }
    }

    /// The IPv4 prefixes as strings (pktvisor's `host_ips.ipv4` info list).
    pub fn ipv4_strings(&self) -> Vec<String> {
        self.nets
            .iter()
            .filter(|n| matches!(n, IpNet::V4(..)))
            .map(|n| n.to_string())
            .collect()
    }

    /// The IPv6 prefixes as strings.
    pub fn ipv6_strings(&self) -> Vec<String> {
        self.nets
            .iter()
            .filter(|n| matches!(n, IpNet::V6(..)))
            .map(|n| n.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_decides_direction() {
        let h = HostSpec::parse("192.168.0.0/24, fe80::/10").unwrap();
        let host: IpAddr = "192.168.0.54".parse().unwrap();
        let remote: IpAddr = "8.8.8.8".parse().unwrap();
        assert_eq!(h.direction(&remote, &host), Direction::ToHost);
        assert_eq!(h.direction(&host, &remote), Direction::FromHost);
        assert_eq!(h.direction(&remote, &remote), Direction::Unknown);
        assert!(h.contains(&"fe80::1".parse().unwrap()));
        assert_eq!(h.ipv4_strings(), vec!["192.168.0.0/24"]);
        assert_eq!(h.ipv6_strings(), vec!["fe80::/10"]);
    }

    #[test]
    fn rejects_bare_and_bad_addresses_with_pktvisor_texts() {
        assert_eq!(
            HostSpec::parse("10.0.0.1").unwrap_err().to_string(),
            "invalid CIDR: 10.0.0.1"
        );
        assert_eq!(
            HostSpec::parse("10.0.0.300/8").unwrap_err().to_string(),
            "invalid IPv4 address: 10.0.0.300/8"
        );
        assert_eq!(
            HostSpec::parse("fe80::zz/10").unwrap_err().to_string(),
            "invalid IPv6 address: fe80::zz/10"
        );
        assert!(HostSpec::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn host_bits_are_masked_and_zero_length_matches_all() {
        let n = IpNet::parse("10.1.2.3/8").unwrap();
        assert_eq!(n.to_string(), "10.0.0.0/8");
        let all = IpNet::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(&"1.2.3.4".parse().unwrap()));
        assert!(!all.contains(&"::1".parse().unwrap()));
    }
}
