//! IPv4 header (RFC 791): addresses, fragments, options, snaplen truncation
//! and link-layer padding.
//!
//! [`Ipv4Packet`] bounds the packet by the total-length field: bytes past it
//! (Ethernet padding, trailers) are cut off, and a capture shorter than it
//! (snaplen) is accepted with [`Ipv4Packet::payload_truncated`] set.

use std::net::Ipv4Addr;
use std::ops::Range;

use super::{WireError, clamped, read_array, read_u8, read_u16};

pub use super::ip_protocol as protocol;

const VER_IHL: usize = 0;
const TOS: usize = 1;
const TOTAL_LEN: Range<usize> = 2..4;
const IDENT: Range<usize> = 4..6;
const FLAGS_FRAG: Range<usize> = 6..8;
const TTL: usize = 8;
const PROTOCOL: usize = 9;
const CHECKSUM: Range<usize> = 10..12;
const SRC: Range<usize> = 12..16;
const DST: Range<usize> = 16..20;

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A read-only view of an IPv4 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<'a> {
    /// The captured packet, cut to the total length.
    buf: &'a [u8],
    header_len: usize,
}

impl<'a> Ipv4Packet<'a> {
    /// Validates version, header length and total length.
    ///
    /// Errors: `Truncated` (fewer than 20 bytes, or fewer than IHL promises),
    /// `BadVersion` (version != 4), `BadHeaderLength` (IHL < 5), `BadLength`
    /// (total length < header length). A buffer shorter than the total length
    /// is accepted (snaplen truncation); a longer one is cut to it.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        if buf.len() < MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let ver_ihl = read_u8(buf, VER_IHL);
        if ver_ihl >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        let header_len = usize::from(ver_ihl & 0x0f) * 4;
        if header_len < MIN_HEADER_LEN {
            return Err(WireError::BadHeaderLength);
        }
        if buf.len() < header_len {
            return Err(WireError::Truncated);
        }
        let total_len = usize::from(read_u16(buf, TOTAL_LEN));
        if total_len < header_len {
            return Err(WireError::BadLength);
        }
        let buf = clamped(buf, 0, total_len);
        Ok(Ipv4Packet { buf, header_len })
    }

    /// Header length in bytes (IHL * 4, 20..=60).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The type-of-service byte (DSCP and ECN).
    pub fn tos(&self) -> u8 {
        read_u8(self.buf, TOS)
    }

    /// Differentiated Services Code Point (upper 6 bits of TOS).
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    /// Explicit Congestion Notification (lower 2 bits of TOS).
    pub fn ecn(&self) -> u8 {
        self.tos() & 0x03
    }

    /// The total-length field (header plus payload as sent).
    pub fn total_len(&self) -> u16 {
        read_u16(self.buf, TOTAL_LEN)
    }

    /// Identification field.
    pub fn ident(&self) -> u16 {
        read_u16(self.buf, IDENT)
    }

    /// Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        read_u16(self.buf, FLAGS_FRAG) & FLAG_DF != 0
    }

    /// More Fragments flag.
    pub fn more_frags(&self) -> bool {
        read_u16(self.buf, FLAGS_FRAG) & FLAG_MF != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (read_u16(self.buf, FLAGS_FRAG) & FRAG_OFFSET_MASK) << 3
    }

    /// Whether this is a fragment (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() > 0
    }

    /// Whether this fragment carries the upper-layer header (offset 0).
    pub fn is_first_fragment(&self) -> bool {
        self.frag_offset() == 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        read_u8(self.buf, TTL)
    }

    /// Protocol of the payload (see [`protocol`]).
    pub fn protocol(&self) -> u8 {
        read_u8(self.buf, PROTOCOL)
    }

    /// Header checksum as stored.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buf, CHECKSUM)
    }

    /// Whether the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        let header = clamped(self.buf, 0, self.header_len);
        let mut sum: u32 = header
            .chunks(2)
            .map(|c| {
                let hi = c.first().copied().unwrap_or(0);
                let lo = c.get(1).copied().unwrap_or(0);
                u32::from(u16::from_be_bytes([hi, lo]))
            })
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum == 0xffff
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array::<4>(self.buf, SRC))
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array::<4>(self.buf, DST))
    }

    /// The options bytes between the fixed header and the payload.
    pub fn options(&self) -> &'a [u8] {
        clamped(self.buf, MIN_HEADER_LEN, self.header_len)
    }

    /// The header and captured payload, cut to the total length.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The captured payload, without link-layer padding.
    pub fn payload(&self) -> &'a [u8] {
        clamped(self.buf, self.header_len, self.buf.len())
    }

    /// Whether fewer bytes were captured than the total length promised.
    pub fn payload_truncated(&self) -> bool {
        self.buf.len() < usize::from(self.total_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{hex, no_panic};

    // `tcpdump -i lo` during `ping -c1 127.0.0.1` (Ethernet header removed):
    // the echo request (DF set) ...
    const IPV4_ECHO: &str = "\
        450000545b8240004001e1247f0000017f0000010800d9b0163c00012063086b\
        0000000016710a0000000000101112131415161718191a1b1c1d1e1f20212223\
        2425262728292a2b2c2d2e2f3031323334353637";

    // ... and the echo reply (DF clear).
    const IPV4_REPLY: &str = "\
        450000545b830000400121247f0000017f0000010000e1b0163c00012063086b\
        0000000016710a0000000000101112131415161718191a1b1c1d1e1f20212223\
        2425262728292a2b2c2d2e2f3031323334353637";

    // `tcpdump -i lo` during `ping -c1 -R -Q 0xb9 -s 8 127.0.0.1`: record-route
    // option (IHL 15), DSCP EF (46), ECN ECT(1).
    const IPV4_RR: &str = "\
        4fb9004c9a9140004001f0537f0000017f000001010727087f00000100000000\
        000000000000000000000000000000000000000000000000000000000800c425\
        27c900010001020304050607";

    // `tcpdump -s 128 -i va` in namespace `wta` (veth mtu 1280) during
    // `ping -c1 -s 1300 192.0.2.2`: first fragment (MF, offset 0), total length
    // 1276 but only 114 bytes captured (snaplen).
    const IPV4_FRAG_FIRST: &str = "\
        450004fcd1292000400100d4c0000201c00002020800059f195d00015663086b\
        0000000092d1040000000000101112131415161718191a1b1c1d1e1f20212223\
        2425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40414243\
        4445464748494a4b4c4d4e4f505152535455";

    // Same capture: the last fragment (offset 1256, MF clear), complete.
    const IPV4_FRAG_LAST: &str = "\
        45000048d129009d400124ebc0000201c0000202e0e1e2e3e4e5e6e7e8e9eaeb\
        ecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b\
        0c0d0e0f10111213";

    // pktvisor fixture nf9.pcap, packet 1: total length 140 followed by four
    // extra bytes of Ethernet trailer in the frame.
    const IPV4_NF9: &str = "\
        4500008c000040003f11a752c0a864010a6465018144080700781f0300090001\
        243cbaa059e8822100000424000000080000005c01a8001500080004000c0004\
        000500010004000100070002000b000200200002000a00040010000400110004\
        00120004000e000400010004000200040016000400150004000f000400090001\
        000d000100060001003c000174be47c0";

    // pktvisor fixture bgp.pcap, packet 1: TCP SYN to port 179, TTL 255.
    const IPV4_BGP_SYN: &str = "\
        4500003c9a9a4000ff06cb1c0a0101010a010102a2a200b3af3b938f00000000\
        a0027210c9410000020405b40402080a077209150000000001030309";

    const ALL: [&str; 7] = [
        IPV4_ECHO,
        IPV4_REPLY,
        IPV4_RR,
        IPV4_FRAG_FIRST,
        IPV4_FRAG_LAST,
        IPV4_NF9,
        IPV4_BGP_SYN,
    ];

    #[test]
    fn echo_request() {
        let b = hex(IPV4_ECHO);
        let p = Ipv4Packet::new_checked(&b).unwrap();
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.tos(), 0);
        assert_eq!(p.total_len(), 84);
        assert_eq!(p.ident(), 0x5b82);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), protocol::ICMP);
        assert_eq!(p.checksum(), 0xe124);
        assert!(p.verify_checksum());
        assert_eq!(p.src(), Ipv4Addr::LOCALHOST);
        assert_eq!(p.dst(), Ipv4Addr::LOCALHOST);
        assert_eq!(p.payload(), &b[20..]);
        assert_eq!(p.payload()[0], 8);
        assert!(!p.payload_truncated());
        assert!(p.options().is_empty());

        let b = hex(IPV4_REPLY);
        let p = Ipv4Packet::new_checked(&b).unwrap();
        assert!(!p.dont_frag());
        assert!(p.verify_checksum());
    }

    #[test]
    fn options_dscp_ecn() {
        let b = hex(IPV4_RR);
        let p = Ipv4Packet::new_checked(&b).unwrap();
        assert_eq!(p.header_len(), 60);
        assert_eq!(p.tos(), 0xb9);
        assert_eq!(p.dscp(), 46);
        assert_eq!(p.ecn(), 1);
        assert_eq!(p.options().len(), 40);
        assert_eq!(&p.options()[..3], &[0x01, 0x07, 0x27]); // NOP, RR, len 39
        assert_eq!(p.payload().len(), 16);
        assert_eq!(p.payload()[0], 8);
        assert!(p.verify_checksum());
    }

    #[test]
    fn fragments() {
        let b = hex(IPV4_FRAG_FIRST);
        let p = Ipv4Packet::new_checked(&b).unwrap();
        assert_eq!(p.ident(), 0xd129);
        assert!(p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert!(p.is_fragment() && p.is_first_fragment());
        assert_eq!(p.total_len(), 1276);
        assert!(p.payload_truncated());
        assert_eq!(p.payload().len(), b.len() - 20);
        assert_eq!(p.src(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(p.dst(), Ipv4Addr::new(192, 0, 2, 2));

        let b = hex(IPV4_FRAG_LAST);
        let p = Ipv4Packet::new_checked(&b).unwrap();
        assert_eq!(p.ident(), 0xd129);
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 1256);
        assert!(p.is_fragment() && !p.is_first_fragment());
        assert!(!p.payload_truncated());
        assert_eq!(p.payload().len(), 52);
        assert_eq!(p.payload()[0], 0xe0);
    }

    #[test]
    fn trailing_bytes_are_cut() {
        let b = hex(IPV4_NF9);
        assert_eq!(b.len(), 144);
        let p = Ipv4Packet::new_checked(&b).unwrap();
        assert_eq!(p.total_len(), 140);
        assert_eq!(p.as_bytes().len(), 140);
        assert_eq!(p.payload(), &b[20..140]);
        assert!(!p.payload_truncated());
        assert_eq!(p.protocol(), protocol::UDP);
        assert_eq!(p.ttl(), 63);
    }

    #[test]
    fn tcp_syn() {
        let b = hex(IPV4_BGP_SYN);
        let p = Ipv4Packet::new_checked(&b).unwrap();
        assert_eq!(p.protocol(), protocol::TCP);
        assert_eq!(p.ttl(), 255);
        assert_eq!(p.src(), Ipv4Addr::new(10, 1, 1, 1));
        assert_eq!(p.payload().len(), 40);
    }

    #[test]
    fn errors() {
        let b = hex(IPV4_RR);
        assert_eq!(Ipv4Packet::new_checked(&[]), Err(WireError::Truncated));
        assert_eq!(Ipv4Packet::new_checked(&b[..19]), Err(WireError::Truncated));
        // IHL 15 but only 40 bytes captured.
        assert_eq!(Ipv4Packet::new_checked(&b[..40]), Err(WireError::Truncated));
        let mut v6 = hex(IPV4_ECHO);
        v6[0] = 0x65;
        assert_eq!(Ipv4Packet::new_checked(&v6), Err(WireError::BadVersion));
        let mut ihl = hex(IPV4_ECHO);
        ihl[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&ihl),
            Err(WireError::BadHeaderLength)
        );
        let mut tl = hex(IPV4_RR);
        tl[2..4].copy_from_slice(&59u16.to_be_bytes());
        assert_eq!(Ipv4Packet::new_checked(&tl), Err(WireError::BadLength));
        // Total length exactly the header: empty payload.
        tl[2..4].copy_from_slice(&60u16.to_be_bytes());
        let p = Ipv4Packet::new_checked(&tl).unwrap();
        assert!(p.payload().is_empty() && !p.payload_truncated());
        // A lying total length just means a snaplen-truncated packet.
        tl[2..4].copy_from_slice(&0xffffu16.to_be_bytes());
        let p = Ipv4Packet::new_checked(&tl).unwrap();
        assert!(p.payload_truncated());
        assert_eq!(p.payload().len(), 16);
    }

    #[test]
    fn never_panics() {
        let vectors: Vec<Vec<u8>> = ALL.iter().map(|s| hex(s)).collect();
        let refs: Vec<&[u8]> = vectors.iter().map(|v| v.as_slice()).collect();
        no_panic(&refs, |buf| {
            if let Ok(p) = Ipv4Packet::new_checked(buf) {
                let _ = (p.tos(), p.dscp(), p.ecn(), p.total_len(), p.ident());
                let _ = (
                    p.dont_frag(),
                    p.more_frags(),
                    p.frag_offset(),
                    p.is_fragment(),
                );
                let _ = (p.ttl(), p.protocol(), p.checksum(), p.verify_checksum());
                let _ = (p.src(), p.dst(), p.options(), p.is_first_fragment());
                assert!(p.header_len() + p.payload().len() <= buf.len());
                assert!(p.payload().len() + p.header_len() <= usize::from(p.total_len()));
                let _ = p.payload_truncated();
            }
        });
    }
}
