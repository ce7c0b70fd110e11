//! TCP header (RFC 9293): ports, sequence numbers, flags, options, payload.
//!
//! The payload is whatever follows the header in the buffer; the IP layer has
//! already bounded that buffer by its length field.

use std::ops::Range;

use super::{WireError, clamped, read_u8, read_u16, read_u32, rest};

/// TCP flag bits as found in [`TcpSegment::flags`].
pub mod flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field is significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field is significant.
    pub const URG: u8 = 0x20;
    /// ECN-Echo.
    pub const ECE: u8 = 0x40;
    /// Congestion Window Reduced.
    pub const CWR: u8 = 0x80;
}

const SRC_PORT: Range<usize> = 0..2;
const DST_PORT: Range<usize> = 2..4;
const SEQ: Range<usize> = 4..8;
const ACK: Range<usize> = 8..12;
const DATA_OFFSET: usize = 12;
const FLAGS: usize = 13;
const WINDOW: Range<usize> = 14..16;
const CHECKSUM: Range<usize> = 16..18;
const URGENT: Range<usize> = 18..20;

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;

/// A read-only view of a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    buf: &'a [u8],
    header_len: usize,
}

impl<'a> TcpSegment<'a> {
    /// Validates the header length.
    ///
    /// Errors: `Truncated` (fewer than 20 bytes, or fewer than the data offset
    /// promises), `BadHeaderLength` (data offset < 5).
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        if buf.len() < MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = usize::from(read_u8(buf, DATA_OFFSET) >> 4) * 4;
        if header_len < MIN_HEADER_LEN {
            return Err(WireError::BadHeaderLength);
        }
        if buf.len() < header_len {
            return Err(WireError::Truncated);
        }
        Ok(TcpSegment { buf, header_len })
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        read_u16(self.buf, SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buf, DST_PORT)
    }

    /// Sequence number.
    pub fn seq(&self) -> u32 {
        read_u32(self.buf, SEQ)
    }

    /// Acknowledgment number (meaningful when [`Self::ack_flag`] is set).
    pub fn ack(&self) -> u32 {
        read_u32(self.buf, ACK)
    }

    /// Header length in bytes (data offset * 4, 20..=60).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The flag byte (see [`flags`]).
    pub fn flags(&self) -> u8 {
        read_u8(self.buf, FLAGS)
    }

    /// FIN flag.
    pub fn fin(&self) -> bool {
        self.flags() & flags::FIN != 0
    }

    /// SYN flag.
    pub fn syn(&self) -> bool {
        self.flags() & flags::SYN != 0
    }

    /// RST flag.
    pub fn rst(&self) -> bool {
        self.flags() & flags::RST != 0
    }

    /// PSH flag.
    pub fn psh(&self) -> bool {
        self.flags() & flags::PSH != 0
    }

    /// ACK flag.
    pub fn ack_flag(&self) -> bool {
        self.flags() & flags::ACK != 0
    }

    /// URG flag.
    pub fn urg(&self) -> bool {
        self.flags() & flags::URG != 0
    }

    /// Receive window (unscaled).
    pub fn window(&self) -> u16 {
        read_u16(self.buf, WINDOW)
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buf, CHECKSUM)
    }

    /// Urgent pointer.
    pub fn urgent_ptr(&self) -> u16 {
        read_u16(self.buf, URGENT)
    }

    /// The option bytes between the fixed header and the payload.
    pub fn options(&self) -> &'a [u8] {
        clamped(self.buf, MIN_HEADER_LEN, self.header_len)
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buf, self.header_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{hex, no_panic};

    // All vectors are TCP headers (+payload) cut out of pktvisor fixtures.

    // dns_ipv4_tcp.pcap packet 1: SYN 42033 -> 53000 with MSS/SACK/TS/WS options.
    const TCP_SYN_V4: &str = "\
        a431cf08d0de125f00000000a002aaaafe3000000204ffd70402080a341bc607\
        000000000103030b";

    // dns_ipv4_tcp.pcap packet 91: PSH/ACK carrying a length-prefixed DNS query.
    const TCP_DNS_QUERY: &str = "\
        a431cf08d0de1260029aa05a80180016fe6400000101080a341bc6cf341bc607\
        003a4c22010000010000000000010268780733467351526836096f6c6c616837\
        304e61047465737403636f6d00001c000100002904d0000000000000";

    // dns_ipv4_tcp.pcap packet 211: FIN/ACK.
    const TCP_FIN: &str = "\
        a431cf08d0de129c029aa08b80110016fe2800000101080a341bcad7341bc6cf";

    // dns_ipv6_tcp.pcap packet 1: SYN 40027 -> 53000 over IPv6.
    const TCP_SYN_V6: &str = "\
        9c5bcf080b1b336d00000000a002aaaa003000000204ffc40402080a9ef4a034\
        000000000103030b";

    // bgp.pcap packet 2: RST/ACK from port 179, no options.
    const TCP_RST_ACK: &str = "\
        00b3a2a200000000af3b939050140000b3aa0000";

    const ALL: [&str; 5] = [TCP_SYN_V4, TCP_DNS_QUERY, TCP_FIN, TCP_SYN_V6, TCP_RST_ACK];

    #[test]
    fn syn_with_options() {
        let b = hex(TCP_SYN_V4);
        let t = TcpSegment::new_checked(&b).unwrap();
        assert_eq!(t.src_port(), 42033);
        assert_eq!(t.dst_port(), 53000);
        assert_eq!(t.seq(), 0xd0de125f);
        assert_eq!(t.ack(), 0);
        assert_eq!(t.header_len(), 40);
        assert_eq!(t.flags(), flags::SYN);
        assert!(t.syn() && !t.ack_flag() && !t.fin() && !t.rst() && !t.psh() && !t.urg());
        assert_eq!(t.window(), 43690);
        assert_eq!(t.options().len(), 20);
        assert_eq!(&t.options()[..4], &[0x02, 0x04, 0xff, 0xd7]); // MSS 65495
        assert!(t.payload().is_empty());

        let b = hex(TCP_SYN_V6);
        let t = TcpSegment::new_checked(&b).unwrap();
        assert_eq!((t.src_port(), t.dst_port()), (40027, 53000));
        assert!(t.syn());
        assert_eq!(t.header_len(), 40);
    }

    #[test]
    fn data_segment() {
        let b = hex(TCP_DNS_QUERY);
        let t = TcpSegment::new_checked(&b).unwrap();
        assert_eq!(t.header_len(), 32);
        assert!(t.psh() && t.ack_flag() && !t.syn());
        assert_eq!(t.flags(), flags::PSH | flags::ACK);
        assert_eq!(t.seq(), 0xd0de1260);
        assert_eq!(t.ack(), 0x029aa05a);
        assert_eq!(t.payload().len(), 60);
        assert_eq!(&t.payload()[..2], &[0x00, 0x3a]); // DNS length prefix 58
    }

    #[test]
    fn fin_and_rst() {
        let b = hex(TCP_FIN);
        let t = TcpSegment::new_checked(&b).unwrap();
        assert!(t.fin() && t.ack_flag() && !t.syn());
        let b = hex(TCP_RST_ACK);
        let t = TcpSegment::new_checked(&b).unwrap();
        assert_eq!(t.src_port(), 179);
        assert!(t.rst() && t.ack_flag());
        assert_eq!(t.window(), 0);
        assert_eq!(t.header_len(), 20);
        assert!(t.options().is_empty() && t.payload().is_empty());
        let mut urg = b.clone();
        urg[13] |= flags::URG;
        urg[18..20].copy_from_slice(&7u16.to_be_bytes());
        let t = TcpSegment::new_checked(&urg).unwrap();
        assert!(t.urg());
        assert_eq!(t.urgent_ptr(), 7);
    }

    #[test]
    fn errors() {
        let b = hex(TCP_SYN_V4);
        assert_eq!(TcpSegment::new_checked(&b[..19]), Err(WireError::Truncated));
        // Data offset 10 but only 30 bytes.
        assert_eq!(TcpSegment::new_checked(&b[..30]), Err(WireError::Truncated));
        let mut bad = b.clone();
        bad[12] = 0x40;
        assert_eq!(
            TcpSegment::new_checked(&bad),
            Err(WireError::BadHeaderLength)
        );
    }

    #[test]
    fn never_panics() {
        let vectors: Vec<Vec<u8>> = ALL.iter().map(|s| hex(s)).collect();
        let refs: Vec<&[u8]> = vectors.iter().map(|v| v.as_slice()).collect();
        no_panic(&refs, |buf| {
            if let Ok(t) = TcpSegment::new_checked(buf) {
                let _ = (t.src_port(), t.dst_port(), t.seq(), t.ack(), t.flags());
                let _ = (t.fin(), t.syn(), t.rst(), t.psh(), t.ack_flag(), t.urg());
                let _ = (t.window(), t.checksum(), t.urgent_ptr(), t.options());
                assert_eq!(t.header_len() + t.payload().len(), buf.len());
            }
        });
    }
}
