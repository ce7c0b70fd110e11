//! BSD loopback headers: DLT_NULL (linktype 0) and DLT_LOOP (linktype 108).
//!
//! Both are a 4-byte address family before the IP packet. DLT_LOOP stores it
//! big-endian; DLT_NULL stores it in the capturing host's byte order, which the
//! reader may not share, so [`NullHeader`] picks whichever interpretation is a
//! known family. The value of AF_INET6 differs between systems.

use std::ops::Range;

use super::ethernet::ethertype;
use super::{WireError, rest};

/// Address family values seen in loopback headers.
pub mod family {
    /// AF_INET on every system.
    pub const INET: u32 = 2;
    /// AF_INET6 on Linux.
    pub const INET6_LINUX: u32 = 10;
    /// AF_INET6 on NetBSD, OpenBSD and BSD/OS.
    pub const INET6_BSD: u32 = 24;
    /// AF_INET6 on FreeBSD and DragonFly.
    pub const INET6_FREEBSD: u32 = 28;
    /// AF_INET6 on macOS / Darwin.
    pub const INET6_DARWIN: u32 = 30;

    /// Whether `value` is one of the AF_INET6 values above.
    pub fn is_inet6(value: u32) -> bool {
        matches!(
            value,
            INET6_LINUX | INET6_BSD | INET6_FREEBSD | INET6_DARWIN
        )
    }

    /// Whether `value` is any family this module knows.
    pub fn is_known(value: u32) -> bool {
        value == INET || is_inet6(value)
    }
}

/// Length of the loopback header.
pub const HEADER_LEN: usize = 4;

const FAMILY: Range<usize> = 0..4;

/// A read-only view of a DLT_NULL / DLT_LOOP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NullHeader<'a> {
    buf: &'a [u8],
    family: u32,
}

impl<'a> NullHeader<'a> {
    /// Checks that the 4-byte header is present and decodes the family.
    ///
    /// `network_order` is true for DLT_LOOP (big-endian). For DLT_NULL
    /// (`false`) the little-endian reading is used when it is a known family,
    /// else the big-endian one when that is, else the little-endian value.
    /// An unknown family is not an error: `is_ipv4()`/`is_ipv6()` are false.
    pub fn new_checked(buf: &'a [u8], network_order: bool) -> Result<Self, WireError> {
        let raw: [u8; 4] = buf
            .get(FAMILY)
            .and_then(|s| s.try_into().ok())
            .ok_or(WireError::Truncated)?;
        let big = u32::from_be_bytes(raw);
        let family = if network_order {
            big
        } else {
            let little = u32::from_le_bytes(raw);
            if family::is_known(little) || !family::is_known(big) {
                little
            } else {
                big
            }
        };
        Ok(NullHeader { buf, family })
    }

    /// The address family, in the byte order chosen by `new_checked`.
    pub fn family(&self) -> u32 {
        self.family
    }

    /// Whether the payload is IPv4 (AF_INET).
    pub fn is_ipv4(&self) -> bool {
        self.family == family::INET
    }

    /// Whether the payload is IPv6 (AF_INET6 of Linux, the BSDs or macOS).
    pub fn is_ipv6(&self) -> bool {
        family::is_inet6(self.family)
    }

    /// The equivalent EtherType, for a decoder that dispatches on EtherTypes.
    pub fn ethertype(&self) -> Option<u16> {
        if self.is_ipv4() {
            Some(ethertype::IPV4)
        } else if self.is_ipv6() {
            Some(ethertype::IPV6)
        } else {
            None
        }
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buf, HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{hex, no_panic};

    // Linux cannot produce DLT_NULL/DLT_LOOP captures, so these vectors are a
    // crafted 4-byte header in front of real IP packets captured with
    // `tcpdump -i lo` during `ping -c1 127.0.0.1` / `ping -6 -c1 ::1`
    // (Ethernet header removed).
    const IPV4_ECHO: &str = "\
        450000545b8240004001e1247f0000017f0000010800d9b0163c00012063086b\
        0000000016710a0000000000101112131415161718191a1b1c1d1e1f20212223\
        2425262728292a2b2c2d2e2f3031323334353637";

    const IPV6_ECHO: &str = "\
        600ef39d00403a40000000000000000000000000000000010000000000000000\
        00000000000000018000fad9163f00012163086b000000007bc80a0000000000\
        101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f\
        3031323334353637";

    fn with_header(header: [u8; 4], packet: &str) -> Vec<u8> {
        let mut v = header.to_vec();
        v.extend_from_slice(&hex(packet));
        v
    }

    #[test]
    fn null_little_endian_host() {
        // A macOS (little-endian) capture of lo0: AF_INET = 2, AF_INET6 = 30.
        let b = with_header([2, 0, 0, 0], IPV4_ECHO);
        let h = NullHeader::new_checked(&b, false).unwrap();
        assert_eq!(h.family(), family::INET);
        assert!(h.is_ipv4() && !h.is_ipv6());
        assert_eq!(h.ethertype(), Some(ethertype::IPV4));
        assert_eq!(h.payload(), hex(IPV4_ECHO).as_slice());

        let b = with_header([30, 0, 0, 0], IPV6_ECHO);
        let h = NullHeader::new_checked(&b, false).unwrap();
        assert_eq!(h.family(), family::INET6_DARWIN);
        assert!(h.is_ipv6() && !h.is_ipv4());
        assert_eq!(h.ethertype(), Some(ethertype::IPV6));
        assert_eq!(h.payload()[0] >> 4, 6);
    }

    #[test]
    fn null_big_endian_host() {
        // A big-endian host's DLT_NULL capture read on a little-endian one.
        let b = with_header([0, 0, 0, 2], IPV4_ECHO);
        let h = NullHeader::new_checked(&b, false).unwrap();
        assert_eq!(h.family(), 2);
        assert!(h.is_ipv4());
        for af in [10u32, 24, 28, 30] {
            let b = with_header(af.to_be_bytes(), IPV6_ECHO);
            let h = NullHeader::new_checked(&b, false).unwrap();
            assert_eq!(h.family(), af);
            assert!(h.is_ipv6());
        }
    }

    #[test]
    fn loop_is_network_order() {
        let b = with_header([0, 0, 0, 24], IPV6_ECHO);
        let h = NullHeader::new_checked(&b, true).unwrap();
        assert_eq!(h.family(), family::INET6_BSD);
        assert!(h.is_ipv6());
        // DLT_LOOP never flips: a little-endian value is just an unknown family.
        let b = with_header([2, 0, 0, 0], IPV4_ECHO);
        let h = NullHeader::new_checked(&b, true).unwrap();
        assert_eq!(h.family(), 0x0200_0000);
        assert!(!h.is_ipv4() && !h.is_ipv6());
        assert_eq!(h.ethertype(), None);
    }

    #[test]
    fn unknown_family_is_data() {
        let b = with_header([7, 0, 0, 0], IPV4_ECHO);
        let h = NullHeader::new_checked(&b, false).unwrap();
        assert_eq!(h.family(), 7);
        assert_eq!(h.ethertype(), None);
        assert_eq!(h.payload().len(), 84);
    }

    #[test]
    fn never_panics() {
        let vectors = [
            with_header([2, 0, 0, 0], IPV4_ECHO),
            with_header([0, 0, 0, 30], IPV6_ECHO),
        ];
        let refs: Vec<&[u8]> = vectors.iter().map(|v| v.as_slice()).collect();
        no_panic(&refs, |buf| {
            for order in [false, true] {
                match NullHeader::new_checked(buf, order) {
                    Ok(h) => {
                        let _ = (h.family(), h.is_ipv4(), h.is_ipv6(), h.ethertype());
                        assert_eq!(h.payload().len(), buf.len() - HEADER_LEN);
                    }
                    Err(e) => assert!(buf.len() < HEADER_LEN && e == WireError::Truncated),
                }
            }
        });
    }
}
