//! UDP header (RFC 768).
//!
//! The payload is bounded by the length field and by what was captured; a
//! length field of 0 (IPv6 jumbogram, RFC 2675) means "the rest of the buffer".

use std::ops::Range;

use super::{WireError, clamped, read_u16};

const SRC_PORT: Range<usize> = 0..2;
const DST_PORT: Range<usize> = 2..4;
const LENGTH: Range<usize> = 4..6;
const CHECKSUM: Range<usize> = 6..8;

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

/// A read-only view of a UDP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    /// The captured datagram, cut to the length field (unless that is 0).
    buf: &'a [u8],
}

impl<'a> UdpDatagram<'a> {
    /// Validates the header and the length field.
    ///
    /// Errors: `Truncated` (fewer than 8 bytes), `BadLength` (length field 1..=7).
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        if buf.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let length = usize::from(read_u16(buf, LENGTH));
        let buf = match length {
            0 => buf,
            1..HEADER_LEN => return Err(WireError::BadLength),
            _ => clamped(buf, 0, length),
        };
        Ok(UdpDatagram { buf })
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        read_u16(self.buf, SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buf, DST_PORT)
    }

    /// The length field (header plus payload; 0 for jumbograms).
    pub fn length(&self) -> u16 {
        read_u16(self.buf, LENGTH)
    }

    /// Checksum as stored (0 = none, IPv4 only).
    pub fn checksum(&self) -> u16 {
        read_u16(self.buf, CHECKSUM)
    }

    /// The captured payload, bounded by the length field.
    pub fn payload(&self) -> &'a [u8] {
        clamped(self.buf, HEADER_LEN, self.buf.len())
    }

    /// Whether fewer bytes were captured than the length field promised.
    pub fn payload_truncated(&self) -> bool {
        self.buf.len() < usize::from(self.length())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{hex, no_panic};

    // pktvisor fixture dns_ipv4_udp.pcap packet 1: DNS query 38352 -> 53000.
    const UDP_DNS_V4: &str = "\
        95d0cf080044fe57c6d6010000010000000000010875746164776e4d4508504f\
        4a774f633952044b74664f047465737403636f6d00001c000100002904d00000\
        00000000";

    // pktvisor fixture dns_ipv6_udp.pcap packet 1: DNS query 51811 -> 53000.
    const UDP_DNS_V6: &str = "\
        ca63cf08005400672c2701000001000000000001074c4f4a35507132095f456d\
        704c754150520650504c496f70073146384a32523105654d5671350474657374\
        03636f6d00001c000100002904d0000000000000";

    // pktvisor fixture nf9.pcap packet 1, everything after the IPv4 header:
    // a NetFlow v9 datagram of length 120 followed by 4 bytes of frame trailer.
    const UDP_NF9_TRAILER: &str = "\
        8144080700781f0300090001243cbaa059e8822100000424000000080000005c\
        01a8001500080004000c0004000500010004000100070002000b000200200002\
        000a0004001000040011000400120004000e0004000100040002000400160004\
        00150004000f000400090001000d000100060001003c000174be47c0";

    // `tcpdump -i va` in namespace `wta` while a python socket sent 40 bytes of
    // 'x' to [2001:db8::2]:9 (the datagram behind IPv6 extension headers).
    const UDP_V6_EXT: &str = "\
        943c00090030a66a787878787878787878787878787878787878787878787878\
        78787878787878787878787878787878";

    const ALL: [&str; 4] = [UDP_DNS_V4, UDP_DNS_V6, UDP_NF9_TRAILER, UDP_V6_EXT];

    #[test]
    fn dns_queries() {
        let b = hex(UDP_DNS_V4);
        let u = UdpDatagram::new_checked(&b).unwrap();
        assert_eq!(u.src_port(), 38352);
        assert_eq!(u.dst_port(), 53000);
        assert_eq!(u.length(), 68);
        assert_eq!(u.checksum(), 0xfe57);
        assert_eq!(u.payload(), &b[8..]);
        assert_eq!(u.payload().len(), 60);
        assert!(!u.payload_truncated());

        let b = hex(UDP_DNS_V6);
        let u = UdpDatagram::new_checked(&b).unwrap();
        assert_eq!((u.src_port(), u.dst_port(), u.length()), (51811, 53000, 84));
        assert_eq!(u.payload().len(), 76);
    }

    #[test]
    fn length_field_bounds_payload() {
        let b = hex(UDP_NF9_TRAILER);
        let u = UdpDatagram::new_checked(&b).unwrap();
        assert_eq!(u.length(), 120);
        assert_eq!(u.dst_port(), 2055);
        assert_eq!(u.payload().len(), 112);
        assert_eq!(&u.payload()[..2], &[0x00, 0x09]); // NetFlow version 9
        assert!(!u.payload_truncated());

        let b = hex(UDP_V6_EXT);
        let u = UdpDatagram::new_checked(&b[..20]).unwrap();
        assert_eq!(u.dst_port(), 9);
        assert!(u.payload_truncated());
        assert_eq!(u.payload(), &b[8..20]);
    }

    #[test]
    fn jumbo_and_bad_lengths() {
        let mut b = hex(UDP_V6_EXT);
        b[4..6].copy_from_slice(&[0, 0]);
        let u = UdpDatagram::new_checked(&b).unwrap();
        assert_eq!(u.payload().len(), 40);
        assert!(!u.payload_truncated());
        b[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(UdpDatagram::new_checked(&b), Err(WireError::BadLength));
        b[4..6].copy_from_slice(&8u16.to_be_bytes());
        assert!(UdpDatagram::new_checked(&b).unwrap().payload().is_empty());
        b[4..6].copy_from_slice(&0xffffu16.to_be_bytes());
        let u = UdpDatagram::new_checked(&b).unwrap();
        assert_eq!(u.payload().len(), 40);
        assert!(u.payload_truncated());
        assert_eq!(UdpDatagram::new_checked(&b[..7]), Err(WireError::Truncated));
    }

    #[test]
    fn never_panics() {
        let vectors: Vec<Vec<u8>> = ALL.iter().map(|s| hex(s)).collect();
        let refs: Vec<&[u8]> = vectors.iter().map(|v| v.as_slice()).collect();
        no_panic(&refs, |buf| {
            if let Ok(u) = UdpDatagram::new_checked(buf) {
                let _ = (u.src_port(), u.dst_port(), u.length(), u.checksum());
                let _ = u.payload_truncated();
                assert!(u.payload().len() + HEADER_LEN <= buf.len());
            }
        });
    }
}
