//! Zero-copy views over the protocol headers the packet decoder reads.
//!
//! Every view borrows the captured buffer (`&'a [u8]`), checks lengths once in
//! `new_checked`, and afterwards never panics: fields are read through the small
//! helpers in this module over named offset constants. Unknown protocol numbers
//! are data, not errors; a view only fails with a [`WireError`], which the
//! decoder counts by reason.
//!
//! Module map:
//!
//! | module        | owns                                                         |
//! |---------------|--------------------------------------------------------------|
//! | [`ethernet`]  | Ethernet II / 802.3 frames, 802.1Q / 802.1ad / QinQ tags      |
//! | [`sll`]       | Linux cooked capture headers, v1 (SLL) and v2 (SLL2)         |
//! | [`null`]      | BSD loopback headers (DLT_NULL, DLT_LOOP)                    |
//! | [`ipv4`]      | IPv4 header, fragments, snaplen truncation, padding          |
//! | [`ipv6`]      | IPv6 header and extension-header walking                     |
//! | [`tcp`]       | TCP header                                                   |
//! | [`udp`]       | UDP header                                                   |
//! | [`icmp`]      | ICMPv4 and ICMPv6 headers                                    |
//! | [`dhcp`]      | DHCPv4 / BOOTP messages and their options                    |
//! | [`dhcpv6`]    | DHCPv6 client/server and relay messages and their options    |
//! | [`bgp`]       | BGP message header and a stream framer for one TCP direction |
//! | [`dns`]       | DNS messages, names, records, EDNS/ECS, DNS-over-TCP framing |
//! | [`flow`]      | the flow record the NetFlow/IPFIX and sFlow views produce    |
//! | [`netflow`]   | NetFlow v1/v5/v7/v9 and IPFIX datagrams, templates, data sets |
//! | [`sflow`]     | sFlow v2/v4/v5 datagrams, samples and flow records           |
//!
//! Shared here: [`WireError`] and the IP protocol numbers in [`ip_protocol`].

use std::fmt;
use std::ops::Range;

pub mod bgp;
pub mod dhcp;
pub mod dhcpv6;
pub mod dns;
pub mod ethernet;
pub mod flow;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod netflow;
pub mod null;
pub mod sflow;
pub mod sll;
pub mod tcp;
pub mod udp;

/// Why a view could not be built; each variant is a reason the decoder counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The buffer is shorter than the header (or than a length field promises where that is fatal).
    Truncated,
    /// A version field holds a value this view does not parse (e.g. IPv4 version != 4).
    BadVersion,
    /// A header-length field is impossible (e.g. IPv4 IHL < 5, TCP data offset < 5).
    BadHeaderLength,
    /// A length field is impossible (e.g. IPv4 total length < header length, UDP length < 8).
    BadLength,
    /// A structure is malformed in another way (e.g. missing DHCP magic cookie, bad BGP marker, option overruns).
    Malformed,
}

impl WireError {
    /// Every variant, in declaration order (handy for registering counters).
    pub const ALL: [WireError; 5] = [
        WireError::Truncated,
        WireError::BadVersion,
        WireError::BadHeaderLength,
        WireError::BadLength,
        WireError::Malformed,
    ];

    /// A stable snake_case name for metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            WireError::Truncated => "truncated",
            WireError::BadVersion => "bad_version",
            WireError::BadHeaderLength => "bad_header_length",
            WireError::BadLength => "bad_length",
            WireError::Malformed => "malformed",
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for WireError {}

/// IP protocol numbers (IPv4 `protocol`, IPv6 `next header`), shared by both versions.
pub mod ip_protocol {
    /// IPv6 Hop-by-Hop Options extension header.
    pub const HOPOPT: u8 = 0;
    /// Internet Control Message Protocol (v4).
    pub const ICMP: u8 = 1;
    /// Internet Group Management Protocol.
    pub const IGMP: u8 = 2;
    /// IPv4-in-IP encapsulation.
    pub const IPV4_ENCAP: u8 = 4;
    /// Transmission Control Protocol.
    pub const TCP: u8 = 6;
    /// User Datagram Protocol.
    pub const UDP: u8 = 17;
    /// IPv6 encapsulation (6in4 and friends).
    pub const IPV6_ENCAP: u8 = 41;
    /// IPv6 Routing extension header.
    pub const IPV6_ROUTE: u8 = 43;
    /// IPv6 Fragment extension header.
    pub const IPV6_FRAG: u8 = 44;
    /// Generic Routing Encapsulation.
    pub const GRE: u8 = 47;
    /// Encapsulating Security Payload.
    pub const ESP: u8 = 50;
    /// Authentication Header.
    pub const AH: u8 = 51;
    /// Internet Control Message Protocol for IPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 "No Next Header".
    pub const IPV6_NONXT: u8 = 59;
    /// IPv6 Destination Options extension header.
    pub const IPV6_OPTS: u8 = 60;
    /// Stream Control Transmission Protocol.
    pub const SCTP: u8 = 132;
    /// IPv6 Mobility extension header.
    pub const MOBILITY: u8 = 135;
    /// Host Identity Protocol extension header.
    pub const HIP: u8 = 139;
    /// Shim6 extension header.
    pub const SHIM6: u8 = 140;
}

/// Reads one byte; 0 when `at` is outside `buf` (cannot happen after `new_checked`).
#[inline]
pub(crate) fn read_u8(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

/// Reads a big-endian `u16` field; 0 when the field is outside `buf`.
#[inline]
pub(crate) fn read_u16(buf: &[u8], field: Range<usize>) -> u16 {
    match buf.get(field) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

/// Reads a big-endian 24-bit field into a `u32`; 0 when the field is outside `buf`.
#[inline]
pub(crate) fn read_u24(buf: &[u8], field: Range<usize>) -> u32 {
    match buf.get(field) {
        Some(&[a, b, c]) => u32::from_be_bytes([0, a, b, c]),
        _ => 0,
    }
}

/// Reads a big-endian `u32` field; 0 when the field is outside `buf`.
#[inline]
pub(crate) fn read_u32(buf: &[u8], field: Range<usize>) -> u32 {
    match buf.get(field) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Reads a fixed-size byte array; all zeros when the field is outside `buf`.
#[inline]
pub(crate) fn read_array<const N: usize>(buf: &[u8], field: Range<usize>) -> [u8; N] {
    buf.get(field)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .unwrap_or([0; N])
}

/// The bytes of `buf` from `start` on; empty when `start` is past the end.
#[inline]
pub(crate) fn rest(buf: &[u8], start: usize) -> &[u8] {
    buf.get(start..).unwrap_or(&[])
}

/// Bytes `start..end` of `buf`, clamped to what `buf` holds.
#[inline]
pub(crate) fn clamped(buf: &[u8], start: usize, end: usize) -> &[u8] {
    let end = end.min(buf.len());
    buf.get(start..end).unwrap_or(&[])
}

/// Helpers shared by the unit tests of every view.
#[cfg(test)]
pub(crate) mod testutil {
    /// Decodes a hex string, ignoring ASCII whitespace.
    pub fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .map(|b| match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => panic!("bad hex digit {b}"),
            })
            .collect();
        assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
        digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect()
    }

    /// A tiny deterministic xorshift generator so tests need no dependencies.
    pub struct Rng(u64);

    impl Rng {
        /// A generator from a non-zero seed.
        pub fn new(seed: u64) -> Self {
            Rng(seed | 1)
        }

        /// The next 64 random bits.
        pub fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        /// A random value in `0..n` (`n` > 0).
        pub fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }

        /// `len` random bytes.
        pub fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next_u64() as u8).collect()
        }
    }

    /// Feeds `f` every prefix of every vector, random buffers, and vectors with
    /// random bytes overwritten: the view under test must return `Ok` or `Err`
    /// (and its accessors must answer) without panicking.
    pub fn no_panic(vectors: &[&[u8]], mut f: impl FnMut(&[u8])) {
        for v in vectors {
            for n in 0..=v.len() {
                f(&v[..n]);
            }
        }
        let mut rng = Rng::new(0x5eed_1234_abcd_0001);
        for _ in 0..2000 {
            let len = rng.below(400);
            f(&rng.bytes(len));
        }
        for v in vectors {
            for _ in 0..300 {
                let mut m = v.to_vec();
                if m.is_empty() {
                    continue;
                }
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(m.len());
                    m[at] = rng.next_u64() as u8;
                }
                let cut = rng.below(m.len() + 1);
                f(&m);
                f(&m[..cut]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_stable() {
        let names: Vec<&str> = WireError::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            names,
            [
                "truncated",
                "bad_version",
                "bad_header_length",
                "bad_length",
                "malformed"
            ]
        );
        assert_eq!(WireError::BadLength.to_string(), "bad_length");
        let boxed: Box<dyn std::error::Error> = Box::new(WireError::Malformed);
        assert_eq!(boxed.to_string(), "malformed");
    }

    #[test]
    fn readers_never_panic_out_of_range() {
        let buf = [1u8, 2, 3];
        assert_eq!(read_u8(&buf, 3), 0);
        assert_eq!(read_u16(&buf, 1..3), 0x0203);
        assert_eq!(read_u16(&buf, 2..4), 0);
        assert_eq!(read_u24(&buf, 0..3), 0x010203);
        assert_eq!(read_u32(&buf, 0..4), 0);
        assert_eq!(read_array::<2>(&buf, 0..2), [1, 2]);
        assert_eq!(read_array::<4>(&buf, 0..4), [0; 4]);
        assert_eq!(rest(&buf, 5), &[] as &[u8]);
        assert_eq!(clamped(&buf, 1, 10), &[2, 3]);
        assert_eq!(clamped(&buf, 4, 10), &[] as &[u8]);
    }
}
