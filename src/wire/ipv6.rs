//! IPv6 header (RFC 8200) and extension-header walking.
//!
//! [`Ipv6Packet`] bounds the payload by the payload-length field and by what
//! was captured (as IPv4 does with its total length). [`Ipv6Packet::upper_layer`]
//! skips the extension headers to reach the upper-layer protocol, stopping
//! after a Fragment header so that every fragment yields its fragmentable part.

use std::net::Ipv6Addr;
use std::ops::Range;

use super::ip_protocol as proto;
use super::{WireError, clamped, read_array, read_u8, read_u16, read_u32, rest};

pub use super::ip_protocol as protocol;

const VER_TC_FLOW: Range<usize> = 0..4;
const PAYLOAD_LEN: Range<usize> = 4..6;
const NEXT_HEADER: usize = 6;
const HOP_LIMIT: usize = 7;
const SRC: Range<usize> = 8..24;
const DST: Range<usize> = 24..40;

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;

/// At most this many extension headers are walked; more is `Malformed`.
pub const MAX_EXTENSION_HEADERS: usize = 16;

// Fields of an extension header, relative to its start.
const EXT_NEXT_HEADER: usize = 0;
const EXT_LEN: usize = 1;
const FRAG_OFFSET_FLAGS: Range<usize> = 2..4;
const FRAG_IDENT: Range<usize> = 4..8;
const FRAG_HEADER_LEN: usize = 8;

/// What a Fragment extension header said.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Fragment {
    /// Fragment offset in bytes.
    pub offset: u16,
    /// More Fragments flag.
    pub more: bool,
    /// Identification shared by all fragments of the packet.
    pub ident: u32,
}

/// The upper layer reached after the extension headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Upper<'a> {
    /// Protocol number of `payload` (e.g. TCP, UDP, ICMPv6, ESP, No Next Header).
    pub protocol: u8,
    /// The bytes after the last extension header walked. After a Fragment
    /// header these are the fragment's data (for offset 0, starting with the
    /// header of `protocol`).
    pub payload: &'a [u8],
    /// The Fragment header, when one was present.
    pub fragment: Option<Ipv6Fragment>,
}

impl Ipv6Upper<'_> {
    /// Whether `payload` starts with a header of `protocol`, i.e. it is not
    /// the data of a fragment at offset > 0.
    pub fn has_upper_header(&self) -> bool {
        self.fragment.is_none_or(|f| f.offset == 0)
    }
}

/// How long the extension header of type `next_header` at the start of `data`
/// is, or `None` when `next_header` is not an extension header this walker skips.
fn extension_len(next_header: u8, data: &[u8]) -> Option<usize> {
    let units = usize::from(read_u8(data, EXT_LEN));
    match next_header {
        proto::HOPOPT
        | proto::IPV6_ROUTE
        | proto::IPV6_OPTS
        | proto::MOBILITY
        | proto::HIP
        | proto::SHIM6 => Some((units + 1) * 8),
        proto::AH => Some((units + 2) * 4),
        proto::IPV6_FRAG => Some(FRAG_HEADER_LEN),
        _ => None,
    }
}

/// A read-only view of an IPv6 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Packet<'a> {
    /// The captured packet, cut to 40 + payload length (unless that is 0).
    buf: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    /// Validates the version and the presence of the 40-byte header.
    ///
    /// Errors: `Truncated` (fewer than 40 bytes), `BadVersion` (version != 6).
    /// A buffer shorter than the payload length promises is accepted (snaplen
    /// truncation); a longer one is cut. A payload length of 0 (jumbogram)
    /// takes the rest of the buffer.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        if buf.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if read_u8(buf, 0) >> 4 != 6 {
            return Err(WireError::BadVersion);
        }
        let payload_len = usize::from(read_u16(buf, PAYLOAD_LEN));
        let buf = if payload_len == 0 {
            buf
        } else {
            clamped(buf, 0, HEADER_LEN + payload_len)
        };
        Ok(Ipv6Packet { buf })
    }

    /// Traffic class (DSCP and ECN).
    pub fn traffic_class(&self) -> u8 {
        ((read_u32(self.buf, VER_TC_FLOW) >> 20) & 0xff) as u8
    }

    /// Differentiated Services Code Point (upper 6 bits of the traffic class).
    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    /// Explicit Congestion Notification (lower 2 bits of the traffic class).
    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 0x03
    }

    /// 20-bit flow label.
    pub fn flow_label(&self) -> u32 {
        read_u32(self.buf, VER_TC_FLOW) & 0x000f_ffff
    }

    /// The payload-length field (0 for jumbograms).
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buf, PAYLOAD_LEN)
    }

    /// Next header after the fixed header (see [`protocol`]).
    pub fn next_header(&self) -> u8 {
        read_u8(self.buf, NEXT_HEADER)
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        read_u8(self.buf, HOP_LIMIT)
    }

    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        Ipv6Addr::from(read_array::<16>(self.buf, SRC))
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        Ipv6Addr::from(read_array::<16>(self.buf, DST))
    }

    /// The header and captured payload, cut to the payload length.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The captured bytes after the fixed header (extension headers included).
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buf, HEADER_LEN)
    }

    /// Whether fewer bytes were captured than the payload length promised.
    pub fn payload_truncated(&self) -> bool {
        self.payload().len() < usize::from(self.payload_len())
    }

    /// Walks the extension headers to the upper-layer protocol.
    ///
    /// See [`walk_extension_headers`]; this starts at the fixed header's next
    /// header with the captured payload.
    pub fn upper_layer(&self) -> Result<Ipv6Upper<'a>, WireError> {
        walk_extension_headers(self.next_header(), self.payload())
    }
}

/// Walks IPv6 extension headers, the first of type `next_header` at the start
/// of `data`, to the upper-layer protocol.
///
/// Skips Hop-by-Hop, Routing, Destination Options, Authentication, Mobility,
/// HIP and Shim6 headers and stops at anything else (including ESP and No Next
/// Header). A Fragment header is parsed and the walk stops right after it,
/// whatever its offset: `payload` is then the fragmentable part exactly as
/// reassembly needs it, and `protocol` is the Fragment header's next header
/// (the same in every fragment). After reassembly, call this again with that
/// protocol and the reassembled bytes to skip any extension headers that were
/// inside the fragmentable part.
///
/// Errors: `Truncated` when an extension header runs past `data`, `Malformed`
/// after more than 16 extension headers.
pub fn walk_extension_headers(next_header: u8, data: &[u8]) -> Result<Ipv6Upper<'_>, WireError> {
    let mut next_header = next_header;
    let mut data = data;
    let mut fragment = None;
    let mut walked = 0;
    while let Some(len) = extension_len(next_header, data) {
        if walked == MAX_EXTENSION_HEADERS {
            return Err(WireError::Malformed);
        }
        walked += 1;
        if data.len() < 2 || data.len() < len {
            return Err(WireError::Truncated);
        }
        let this = next_header;
        next_header = read_u8(data, EXT_NEXT_HEADER);
        if this == proto::IPV6_FRAG {
            let field = read_u16(data, FRAG_OFFSET_FLAGS);
            fragment = Some(Ipv6Fragment {
                offset: field & 0xfff8,
                more: field & 0x0001 != 0,
                ident: read_u32(data, FRAG_IDENT),
            });
            data = rest(data, len);
            break;
        }
        data = rest(data, len);
    }
    Ok(Ipv6Upper {
        protocol: next_header,
        payload: data,
        fragment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{hex, no_panic};

    // pktvisor fixture dns_ipv6_udp.pcap, packet 1: DNS query ::1 -> ::1,
    // flow label 0xfc00c (Ethernet header removed, as for all vectors here).
    const IPV6_DNS_UDP: &str = "\
        600fc00c00541140000000000000000000000000000000010000000000000000\
        0000000000000001ca63cf08005400672c2701000001000000000001074c4f4a\
        35507132095f456d704c754150520650504c496f70073146384a32523105654d\
        567135047465737403636f6d00001c000100002904d0000000000000";

    // `tcpdump -i lo` during `ping -6 -c1 -Q 0xb8 -s 8 ::1`: traffic class 0xb8.
    const IPV6_TC: &str = "\
        6b8ef39d00103a40000000000000000000000000000000010000000000000000\
        0000000000000001800046342d6e00010001020304050607";

    // pktvisor fixture dhcpv6.pcap, packet 1: MLDv2 report behind a Hop-by-Hop
    // header (router alert).
    const IPV6_MLD_HBH: &str = "\
        6000000000380001fe800000000000000a0027fffed410bbff02000000000000\
        00000000000000163a000502000001008f002b5a0000000204000000ff050000\
        00000000000000000001000304000000ff020000000000000000000000010002";

    // `tcpdump -i va` in namespace `wta` while a python UDP socket with
    // IPV6_HOPOPTS and IPV6_DSTOPTS set (PadN options) sent 40 bytes to
    // [2001:db8::2]:9: Hop-by-Hop -> Destination Options -> UDP.
    const IPV6_EXT_UDP: &str = "\
        6004e36f0040004020010db800000000000000000000000120010db800000000\
        00000000000000023c000104000000001100010400000000943c00090030a66a\
        7878787878787878787878787878787878787878787878787878787878787878\
        7878787878787878";

    // Same socket sending 1300 bytes over the 1280-mtu veth, `tcpdump -s 160`:
    // Hop-by-Hop -> Destination Options -> Fragment (offset 0, M) -> UDP,
    // payload length 1240 but snaplen-truncated.
    const IPV6_EXTFRAG_FIRST: &str = "\
        6005465004d8004020010db800000000000000000000000120010db800000000\
        00000000000000023c000104000000002c0001040000000011000001e3ff559f\
        91980009051c26be787878787878787878787878787878787878787878787878\
        7878787878787878787878787878787878787878787878787878787878787878\
        787878787878787878787878787878787878";

    // Same capture: the second fragment (offset 1216, no M), cut to 146 of 156 bytes.
    const IPV6_EXTFRAG_LAST: &str = "\
        600546500074004020010db800000000000000000000000120010db800000000\
        00000000000000023c000104000000002c00010400000000110004c0e3ff559f\
        7878787878787878787878787878787878787878787878787878787878787878\
        7878787878787878787878787878787878787878787878787878787878787878\
        787878787878787878787878787878787878";

    // `tcpdump -s 160 -i va` in namespace `wta` during
    // `ping -6 -c1 -s 1300 2001:db8::2`: first fragment (snaplen-truncated) ...
    const IPV6_FRAG_FIRST: &str = "\
        6006d8b304d82c4020010db800000000000000000000000120010db800000000\
        00000000000000023a0000019592599180003aff197300015963086b00000000\
        808f050000000000101112131415161718191a1b1c1d1e1f2021222324252627\
        28292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f4041424344454647\
        48494a4b4c4d4e4f50515253545556575859";

    // ... and the complete last fragment (offset 1232).
    const IPV6_FRAG_LAST: &str = "\
        6006d8b300542c4020010db800000000000000000000000120010db800000000\
        00000000000000023a0004d095925991c8c9cacbcccdcecfd0d1d2d3d4d5d6d7\
        d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7\
        f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f10111213";

    const ALL: [&str; 8] = [
        IPV6_DNS_UDP,
        IPV6_TC,
        IPV6_MLD_HBH,
        IPV6_EXT_UDP,
        IPV6_EXTFRAG_FIRST,
        IPV6_EXTFRAG_LAST,
        IPV6_FRAG_FIRST,
        IPV6_FRAG_LAST,
    ];

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// Crafted: the header of IPV6_EXT_UDP with its chain replaced by `chain`
    /// (starting with `first`), followed by the real UDP datagram.
    fn with_chain(first: u8, chain: &[u8]) -> Vec<u8> {
        let real = hex(IPV6_EXT_UDP);
        let udp = &real[56..];
        let mut v = real[..40].to_vec();
        v[6] = first;
        let len = (chain.len() + udp.len()) as u16;
        v[4..6].copy_from_slice(&len.to_be_bytes());
        v.extend_from_slice(chain);
        v.extend_from_slice(udp);
        v
    }

    #[test]
    fn plain_udp() {
        let b = hex(IPV6_DNS_UDP);
        let p = Ipv6Packet::new_checked(&b).unwrap();
        assert_eq!(p.traffic_class(), 0);
        assert_eq!(p.flow_label(), 0xfc00c);
        assert_eq!(p.payload_len(), 84);
        assert_eq!(p.next_header(), protocol::UDP);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src(), Ipv6Addr::LOCALHOST);
        assert_eq!(p.dst(), Ipv6Addr::LOCALHOST);
        assert_eq!(p.payload(), &b[40..]);
        assert!(!p.payload_truncated());
        let up = p.upper_layer().unwrap();
        assert_eq!(up.protocol, protocol::UDP);
        assert_eq!(up.payload, &b[40..]);
        assert_eq!(up.fragment, None);
        assert!(up.has_upper_header());
    }

    #[test]
    fn traffic_class() {
        let b = hex(IPV6_TC);
        let p = Ipv6Packet::new_checked(&b).unwrap();
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.dscp(), 46);
        assert_eq!(p.ecn(), 0);
        assert_eq!(p.flow_label(), 0xef39d);
        assert_eq!(p.next_header(), protocol::ICMPV6);
        assert_eq!(p.payload().len(), 16);
    }

    #[test]
    fn hop_by_hop() {
        let b = hex(IPV6_MLD_HBH);
        let p = Ipv6Packet::new_checked(&b).unwrap();
        assert_eq!(p.next_header(), protocol::HOPOPT);
        assert_eq!(p.hop_limit(), 1);
        assert_eq!(p.src(), addr("fe80::a00:27ff:fed4:10bb"));
        assert_eq!(p.dst(), addr("ff02::16"));
        let up = p.upper_layer().unwrap();
        assert_eq!(up.protocol, protocol::ICMPV6);
        assert_eq!(up.payload[0], 143); // MLDv2 report
        assert_eq!(up.payload.len(), 56 - 8);
    }

    #[test]
    fn hop_by_hop_and_destination_options() {
        let b = hex(IPV6_EXT_UDP);
        let p = Ipv6Packet::new_checked(&b).unwrap();
        assert_eq!(p.next_header(), protocol::HOPOPT);
        let up = p.upper_layer().unwrap();
        assert_eq!(up.protocol, protocol::UDP);
        assert_eq!(up.payload, &b[56..]);
        assert_eq!(&up.payload[2..4], &[0x00, 0x09]); // destination port 9
        assert_eq!(up.fragment, None);
    }

    #[test]
    fn fragment_behind_options() {
        let b = hex(IPV6_EXTFRAG_FIRST);
        let p = Ipv6Packet::new_checked(&b).unwrap();
        assert_eq!(p.payload_len(), 1240);
        assert!(p.payload_truncated());
        let up = p.upper_layer().unwrap();
        assert_eq!(up.protocol, protocol::UDP);
        assert_eq!(
            up.fragment,
            Some(Ipv6Fragment {
                offset: 0,
                more: true,
                ident: 0xe3ff559f
            })
        );
        assert!(up.has_upper_header());
        assert_eq!(up.payload, &b[64..]);
        assert_eq!(&up.payload[2..4], &[0x00, 0x09]);

        let b = hex(IPV6_EXTFRAG_LAST);
        let p = Ipv6Packet::new_checked(&b).unwrap();
        let up = p.upper_layer().unwrap();
        assert_eq!(up.protocol, protocol::UDP);
        assert_eq!(
            up.fragment,
            Some(Ipv6Fragment {
                offset: 1216,
                more: false,
                ident: 0xe3ff559f
            })
        );
        assert!(!up.has_upper_header());
        assert_eq!(up.payload, &b[64..]);
    }

    #[test]
    fn plain_fragments() {
        let b = hex(IPV6_FRAG_FIRST);
        let p = Ipv6Packet::new_checked(&b).unwrap();
        assert_eq!(p.next_header(), protocol::IPV6_FRAG);
        let up = p.upper_layer().unwrap();
        assert_eq!(up.protocol, protocol::ICMPV6);
        assert_eq!(up.fragment.unwrap().offset, 0);
        assert!(up.fragment.unwrap().more);
        assert_eq!(up.fragment.unwrap().ident, 0x95925991);
        assert_eq!(up.payload[0], 128); // echo request

        let b = hex(IPV6_FRAG_LAST);
        let p = Ipv6Packet::new_checked(&b).unwrap();
        assert!(!p.payload_truncated());
        let up = p.upper_layer().unwrap();
        assert_eq!(
            up.fragment,
            Some(Ipv6Fragment {
                offset: 1232,
                more: false,
                ident: 0x95925991
            })
        );
        assert_eq!(up.protocol, protocol::ICMPV6);
        assert_eq!(up.payload.len(), 84 - 8);
        assert_eq!(up.payload[0], 0xc8);
    }

    #[test]
    fn crafted_routing_ah_mobility() {
        // Routing (type 2, 24 bytes) -> AH (len 4 => 24 bytes) -> Mobility (8) -> UDP.
        let mut chain = vec![51, 2, 2, 1, 0, 0, 0, 0];
        chain.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        chain.extend_from_slice(&[0; 12]);
        chain.extend_from_slice(&[135, 4, 0, 0, 0, 0, 0, 1]);
        chain.extend_from_slice(&[0; 16]);
        chain.extend_from_slice(&[17, 0, 0, 0, 0, 0, 0, 0]);
        let b = with_chain(43, &chain);
        let p = Ipv6Packet::new_checked(&b).unwrap();
        let up = p.upper_layer().unwrap();
        assert_eq!(up.protocol, protocol::UDP);
        assert_eq!(up.payload, &b[40 + chain.len()..]);
        assert_eq!(&up.payload[2..4], &[0x00, 0x09]);
    }

    #[test]
    fn stops_after_fragment_header() {
        // Crafted: Fragment (offset 0, M) -> Destination Options -> UDP: the
        // options are in the fragmentable part, so the walk stops before them.
        let mut chain = vec![60, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
        chain.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        let b = with_chain(protocol::IPV6_FRAG, &chain);
        let p = Ipv6Packet::new_checked(&b).unwrap();
        let up = p.upper_layer().unwrap();
        assert_eq!(up.protocol, protocol::IPV6_OPTS);
        assert_eq!(up.payload, &b[48..]);
        assert_eq!(
            up.fragment,
            Some(Ipv6Fragment {
                offset: 0,
                more: true,
                ident: 0xdeadbeef
            })
        );
        // What the decoder does with the reassembled fragmentable part.
        let inner = walk_extension_headers(up.protocol, up.payload).unwrap();
        assert_eq!(inner.protocol, protocol::UDP);
        assert_eq!(inner.payload, &b[56..]);
        assert_eq!(inner.fragment, None);
    }

    #[test]
    fn stops_at_esp_and_no_next_header() {
        let b = with_chain(protocol::IPV6_OPTS, &[50, 0, 1, 4, 0, 0, 0, 0]);
        let up = Ipv6Packet::new_checked(&b).unwrap().upper_layer().unwrap();
        assert_eq!(up.protocol, protocol::ESP);
        assert_eq!(up.payload, &b[48..]);
        let b = with_chain(protocol::IPV6_NONXT, &[]);
        let up = Ipv6Packet::new_checked(&b).unwrap().upper_layer().unwrap();
        assert_eq!(up.protocol, protocol::IPV6_NONXT);
        assert_eq!(up.payload, &b[40..]);
    }

    #[test]
    fn extension_header_limit() {
        let mut chain = Vec::new();
        for _ in 0..MAX_EXTENSION_HEADERS - 1 {
            chain.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        }
        chain.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        let b = with_chain(60, &chain);
        let up = Ipv6Packet::new_checked(&b).unwrap().upper_layer().unwrap();
        assert_eq!(up.protocol, protocol::UDP);

        let mut chain = Vec::new();
        for _ in 0..MAX_EXTENSION_HEADERS {
            chain.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        }
        chain.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        let b = with_chain(60, &chain);
        let p = Ipv6Packet::new_checked(&b).unwrap();
        assert_eq!(p.upper_layer(), Err(WireError::Malformed));
    }

    #[test]
    fn lengths_and_errors() {
        let b = hex(IPV6_EXT_UDP);
        assert_eq!(Ipv6Packet::new_checked(&b[..39]), Err(WireError::Truncated));
        let mut v4 = b.clone();
        v4[0] = 0x45;
        assert_eq!(Ipv6Packet::new_checked(&v4), Err(WireError::BadVersion));
        // Cut inside the Destination Options header.
        let p = Ipv6Packet::new_checked(&b[..52]).unwrap();
        assert!(p.payload_truncated());
        assert_eq!(p.upper_layer(), Err(WireError::Truncated));
        // Padding after the packet is cut off.
        let mut padded = b.clone();
        padded.extend_from_slice(&[0; 6]);
        let p = Ipv6Packet::new_checked(&padded).unwrap();
        assert_eq!(p.as_bytes(), b.as_slice());
        // Payload length 0 (jumbogram): the rest of the buffer.
        let mut jumbo = b.clone();
        jumbo[4..6].copy_from_slice(&[0, 0]);
        let p = Ipv6Packet::new_checked(&jumbo).unwrap();
        assert_eq!(p.payload().len(), b.len() - 40);
        assert!(!p.payload_truncated());
        // A lying extension length runs past the capture.
        let mut lying = b.clone();
        lying[41] = 200;
        let p = Ipv6Packet::new_checked(&lying).unwrap();
        assert_eq!(p.upper_layer(), Err(WireError::Truncated));
    }

    #[test]
    fn never_panics() {
        let vectors: Vec<Vec<u8>> = ALL.iter().map(|s| hex(s)).collect();
        let refs: Vec<&[u8]> = vectors.iter().map(|v| v.as_slice()).collect();
        no_panic(&refs, |buf| {
            if let Ok(p) = Ipv6Packet::new_checked(buf) {
                let _ = (p.traffic_class(), p.dscp(), p.ecn(), p.flow_label());
                let _ = (p.payload_len(), p.next_header(), p.hop_limit());
                let _ = (p.src(), p.dst(), p.payload_truncated());
                assert!(p.payload().len() + HEADER_LEN <= buf.len());
                if let Ok(up) = p.upper_layer() {
                    assert!(up.payload.len() <= p.payload().len());
                    let _ = up.has_upper_header();
                }
            }
        });
    }
}
