//! ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) message headers.
//!
//! Both views expose type, code and checksum; echo identifier and sequence
//! number are only meaningful for echo request/reply. `payload()` is what
//! follows the 8-byte header: echo data, or the invoking packet of an error.

use std::ops::Range;

use super::{WireError, read_u8, read_u16, read_u32, rest};

/// ICMPv4 message types.
pub mod icmpv4_type {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Source quench (deprecated).
    pub const SOURCE_QUENCH: u8 = 4;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Router advertisement.
    pub const ROUTER_ADVERT: u8 = 9;
    /// Router solicitation.
    pub const ROUTER_SOLICIT: u8 = 10;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 12;
    /// Timestamp request.
    pub const TIMESTAMP: u8 = 13;
    /// Timestamp reply.
    pub const TIMESTAMP_REPLY: u8 = 14;
}

/// ICMPv6 message types.
pub mod icmpv6_type {
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 1;
    /// Packet too big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 4;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
    /// Multicast listener query.
    pub const MLD_QUERY: u8 = 130;
    /// Multicast listener report (v1).
    pub const MLD_REPORT: u8 = 131;
    /// Multicast listener done.
    pub const MLD_DONE: u8 = 132;
    /// Router solicitation.
    pub const ROUTER_SOLICIT: u8 = 133;
    /// Router advertisement.
    pub const ROUTER_ADVERT: u8 = 134;
    /// Neighbor solicitation.
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbor advertisement.
    pub const NEIGHBOR_ADVERT: u8 = 136;
    /// Redirect.
    pub const REDIRECT: u8 = 137;
    /// Multicast listener report v2.
    pub const MLD2_REPORT: u8 = 143;
}

const TYPE: usize = 0;
const CODE: usize = 1;
const CHECKSUM: Range<usize> = 2..4;
const REST_OF_HEADER: Range<usize> = 4..8;
const ECHO_IDENT: Range<usize> = 4..6;
const ECHO_SEQ: Range<usize> = 6..8;

/// Length of the ICMP header including the 4-byte type-specific word.
pub const HEADER_LEN: usize = 8;

/// Length of the common ICMPv6 header (type, code, checksum).
pub const ICMPV6_MIN_LEN: usize = 4;

/// A read-only view of an ICMPv4 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmpv4Message<'a> {
    buf: &'a [u8],
}

impl<'a> Icmpv4Message<'a> {
    /// Checks that the 8-byte header is present (`Truncated` otherwise).
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        if buf.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Icmpv4Message { buf })
    }

    /// Message type (see [`icmpv4_type`]).
    pub fn msg_type(&self) -> u8 {
        read_u8(self.buf, TYPE)
    }

    /// Message code.
    pub fn code(&self) -> u8 {
        read_u8(self.buf, CODE)
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buf, CHECKSUM)
    }

    /// Whether this is an echo request or reply.
    pub fn is_echo(&self) -> bool {
        matches!(
            self.msg_type(),
            icmpv4_type::ECHO_REQUEST | icmpv4_type::ECHO_REPLY
        )
    }

    /// Echo identifier (bytes 4..6; meaningful for echo request/reply).
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buf, ECHO_IDENT)
    }

    /// Echo sequence number (bytes 6..8; meaningful for echo request/reply).
    pub fn echo_seq(&self) -> u16 {
        read_u16(self.buf, ECHO_SEQ)
    }

    /// The type-specific word at bytes 4..8 (e.g. next-hop MTU, pointer).
    pub fn rest_of_header(&self) -> u32 {
        read_u32(self.buf, REST_OF_HEADER)
    }

    /// The bytes after the 8-byte header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buf, HEADER_LEN)
    }
}

/// A read-only view of an ICMPv6 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmpv6Message<'a> {
    buf: &'a [u8],
}

impl<'a> Icmpv6Message<'a> {
    /// Checks that the 4-byte common header is present (`Truncated` otherwise).
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        if buf.len() < ICMPV6_MIN_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Icmpv6Message { buf })
    }

    /// Message type (see [`icmpv6_type`]).
    pub fn msg_type(&self) -> u8 {
        read_u8(self.buf, TYPE)
    }

    /// Message code.
    pub fn code(&self) -> u8 {
        read_u8(self.buf, CODE)
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buf, CHECKSUM)
    }

    /// Whether this is an error message (types 0..=127).
    pub fn is_error(&self) -> bool {
        self.msg_type() < 128
    }

    /// Whether this is an echo request or reply.
    pub fn is_echo(&self) -> bool {
        matches!(
            self.msg_type(),
            icmpv6_type::ECHO_REQUEST | icmpv6_type::ECHO_REPLY
        )
    }

    /// Echo identifier, for an echo request/reply with its full 8-byte header.
    pub fn echo_ident(&self) -> Option<u16> {
        self.echo_field(ECHO_IDENT)
    }

    /// Echo sequence number, for an echo request/reply with its full 8-byte header.
    pub fn echo_seq(&self) -> Option<u16> {
        self.echo_field(ECHO_SEQ)
    }

    fn echo_field(&self, field: Range<usize>) -> Option<u16> {
        (self.is_echo() && self.buf.len() >= HEADER_LEN).then(|| read_u16(self.buf, field))
    }

    /// The type-specific word at bytes 4..8 (e.g. MTU of Packet Too Big),
    /// when present.
    pub fn rest_of_header(&self) -> Option<u32> {
        (self.buf.len() >= HEADER_LEN).then(|| read_u32(self.buf, REST_OF_HEADER))
    }

    /// Everything after type, code and checksum.
    pub fn body(&self) -> &'a [u8] {
        rest(self.buf, ICMPV6_MIN_LEN)
    }

    /// The bytes after the first 8 (echo data, the invoking packet of an
    /// error, the target of a neighbor message); empty when shorter.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buf, HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{hex, no_panic};

    // `tcpdump -i lo` during `ping -c1 127.0.0.1`: echo request and reply
    // (ICMP part only).
    const ICMP4_ECHO_REQ: &str = "\
        0800d9b0163c00012063086b0000000016710a00000000001011121314151617\
        18191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";
    const ICMP4_ECHO_REP: &str = "\
        0000e1b0163c00012063086b0000000016710a00000000001011121314151617\
        18191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";

    // `tcpdump -i lo` while python sent b"hello" to 127.0.0.1:9 (closed):
    // port unreachable quoting the UDP datagram.
    const ICMP4_UNREACH: &str = "\
        0303de1e0000000045000021f3ed4000401148dc7f0000017f000001dcd40009\
        000dfe2068656c6c6f";

    // `tcpdump -i lo` during `ping -6 -c1 ::1`: echo request and reply.
    const ICMP6_ECHO_REQ: &str = "\
        8000fad9163f00012163086b000000007bc80a00000000001011121314151617\
        18191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";
    const ICMP6_ECHO_REP: &str = "\
        8100f9d9163f00012163086b000000007bc80a00000000001011121314151617\
        18191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";

    // `tcpdump -i va` in namespace `wta`: port unreachable from 2001:db8::2 for a
    // UDP datagram (with Hop-by-Hop and Destination Options) sent to port 9.
    const ICMP6_UNREACH: &str = "\
        01041021000000006004e36f0040004020010db8000000000000000000000001\
        20010db80000000000000000000000023c000104000000001100010400000000\
        943c00090030a66a787878787878787878787878787878787878787878787878\
        78787878787878787878787878787878";

    // pktvisor fixture dhcpv6.pcap packet 3: neighbor solicitation.
    const ICMP6_NS: &str = "\
        8700a95700000000fe800000000000000a0027fffefe8f950101080027d410bb";

    const ALL: [&str; 7] = [
        ICMP4_ECHO_REQ,
        ICMP4_ECHO_REP,
        ICMP4_UNREACH,
        ICMP6_ECHO_REQ,
        ICMP6_ECHO_REP,
        ICMP6_UNREACH,
        ICMP6_NS,
    ];

    #[test]
    fn icmpv4_echo() {
        let b = hex(ICMP4_ECHO_REQ);
        let m = Icmpv4Message::new_checked(&b).unwrap();
        assert_eq!(m.msg_type(), icmpv4_type::ECHO_REQUEST);
        assert_eq!(m.code(), 0);
        assert_eq!(m.checksum(), 0xd9b0);
        assert!(m.is_echo());
        assert_eq!(m.echo_ident(), 0x163c);
        assert_eq!(m.echo_seq(), 1);
        assert_eq!(m.payload().len(), 56);

        let b = hex(ICMP4_ECHO_REP);
        let m = Icmpv4Message::new_checked(&b).unwrap();
        assert_eq!(m.msg_type(), icmpv4_type::ECHO_REPLY);
        assert_eq!((m.echo_ident(), m.echo_seq()), (0x163c, 1));
    }

    #[test]
    fn icmpv4_unreachable() {
        let b = hex(ICMP4_UNREACH);
        let m = Icmpv4Message::new_checked(&b).unwrap();
        assert_eq!(m.msg_type(), icmpv4_type::DEST_UNREACHABLE);
        assert_eq!(m.code(), 3); // port unreachable
        assert!(!m.is_echo());
        assert_eq!(m.rest_of_header(), 0);
        assert_eq!(m.payload()[0], 0x45);
        assert_eq!(&m.payload()[m.payload().len() - 5..], b"hello");
        assert_eq!(
            Icmpv4Message::new_checked(&b[..7]),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn icmpv6_echo() {
        let b = hex(ICMP6_ECHO_REQ);
        let m = Icmpv6Message::new_checked(&b).unwrap();
        assert_eq!(m.msg_type(), icmpv6_type::ECHO_REQUEST);
        assert_eq!(m.echo_ident(), Some(0x163f));
        assert_eq!(m.echo_seq(), Some(1));
        assert!(!m.is_error());
        assert_eq!(m.payload().len(), 56);
        assert_eq!(m.body().len(), 60);

        let b = hex(ICMP6_ECHO_REP);
        let m = Icmpv6Message::new_checked(&b).unwrap();
        assert_eq!(m.msg_type(), icmpv6_type::ECHO_REPLY);
        assert_eq!(m.echo_seq(), Some(1));
        // An echo cut to its common header has no identifier.
        let m = Icmpv6Message::new_checked(&b[..6]).unwrap();
        assert_eq!(m.echo_ident(), None);
        assert_eq!(m.rest_of_header(), None);
        assert!(m.payload().is_empty());
        assert_eq!(
            Icmpv6Message::new_checked(&b[..3]),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn icmpv6_error_and_neighbor() {
        let b = hex(ICMP6_UNREACH);
        let m = Icmpv6Message::new_checked(&b).unwrap();
        assert_eq!(m.msg_type(), icmpv6_type::DEST_UNREACHABLE);
        assert_eq!(m.code(), 4); // port unreachable
        assert!(m.is_error() && !m.is_echo());
        assert_eq!(m.echo_ident(), None);
        assert_eq!(m.rest_of_header(), Some(0));
        assert_eq!(m.payload()[0] >> 4, 6);

        let b = hex(ICMP6_NS);
        let m = Icmpv6Message::new_checked(&b).unwrap();
        assert_eq!(m.msg_type(), icmpv6_type::NEIGHBOR_SOLICIT);
        assert_eq!(&m.payload()[..2], &[0xfe, 0x80]);
    }

    #[test]
    fn never_panics() {
        let vectors: Vec<Vec<u8>> = ALL.iter().map(|s| hex(s)).collect();
        let refs: Vec<&[u8]> = vectors.iter().map(|v| v.as_slice()).collect();
        no_panic(&refs, |buf| {
            if let Ok(m) = Icmpv4Message::new_checked(buf) {
                let _ = (m.msg_type(), m.code(), m.checksum(), m.is_echo());
                let _ = (m.echo_ident(), m.echo_seq(), m.rest_of_header());
                assert_eq!(m.payload().len() + HEADER_LEN, buf.len());
            }
            if let Ok(m) = Icmpv6Message::new_checked(buf) {
                let _ = (m.msg_type(), m.code(), m.checksum(), m.is_echo());
                let _ = (
                    m.echo_ident(),
                    m.echo_seq(),
                    m.rest_of_header(),
                    m.is_error(),
                );
                assert_eq!(m.body().len() + ICMPV6_MIN_LEN, buf.len());
                let _ = m.payload();
            }
        });
    }
}
