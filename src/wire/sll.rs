//! Linux cooked capture headers: SLL v1 (linktype 113) and SLL2 (linktype 276).
//!
//! Captures on the Linux `any` device carry one of these instead of an
//! Ethernet header. `protocol()` is an EtherType for the usual ARPHRD types;
//! when it is a VLAN TPID, libpcap has re-inserted the tag after the header and
//! [`super::ethernet::strip_vlan_tags`] walks it.

use std::ops::Range;

use super::{WireError, read_u8, read_u16, read_u32, rest};

/// Direction / addressing of a cooked packet (`packet_type()`).
pub mod packet_type {
    /// Addressed to this host.
    pub const HOST: u16 = 0;
    /// Link-layer broadcast from somebody else.
    pub const BROADCAST: u16 = 1;
    /// Link-layer multicast from somebody else.
    pub const MULTICAST: u16 = 2;
    /// Addressed to another host, seen in promiscuous mode.
    pub const OTHERHOST: u16 = 3;
    /// Sent by this host.
    pub const OUTGOING: u16 = 4;
}

/// At most this many link-layer address bytes are stored in either header.
pub const MAX_ADDR_LEN: usize = 8;

mod v1 {
    use super::Range;
    pub const PACKET_TYPE: Range<usize> = 0..2;
    pub const ARPHRD: Range<usize> = 2..4;
    pub const ADDR_LEN: Range<usize> = 4..6;
    pub const ADDR: usize = 6;
    pub const PROTOCOL: Range<usize> = 14..16;
    pub const HEADER_LEN: usize = 16;
}

mod v2 {
    use super::Range;
    pub const PROTOCOL: Range<usize> = 0..2;
    pub const IF_INDEX: Range<usize> = 4..8;
    pub const ARPHRD: Range<usize> = 8..10;
    pub const PACKET_TYPE: usize = 10;
    pub const ADDR_LEN: usize = 11;
    pub const ADDR: usize = 12;
    pub const HEADER_LEN: usize = 20;
}

/// Length of an SLL v1 header.
pub const SLL_HEADER_LEN: usize = v1::HEADER_LEN;

/// Length of an SLL2 header.
pub const SLL2_HEADER_LEN: usize = v2::HEADER_LEN;

/// The stored address bytes: `len` of them, at most [`MAX_ADDR_LEN`].
fn addr_bytes(buf: &[u8], at: usize, len: usize) -> &[u8] {
    buf.get(at..at + len.min(MAX_ADDR_LEN)).unwrap_or(&[])
}

/// A read-only view of a Linux cooked capture v1 header (16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SllHeader<'a> {
    buf: &'a [u8],
}

impl<'a> SllHeader<'a> {
    /// Checks that the 16-byte header is present.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        if buf.len() < v1::HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(SllHeader { buf })
    }

    /// Packet type (see [`packet_type`]).
    pub fn packet_type(&self) -> u16 {
        read_u16(self.buf, v1::PACKET_TYPE)
    }

    /// ARPHRD_ type of the capturing device (1 = Ethernet, 772 = loopback).
    pub fn arphrd(&self) -> u16 {
        read_u16(self.buf, v1::ARPHRD)
    }

    /// The link-layer address length as stored (may exceed 8).
    pub fn addr_len(&self) -> u16 {
        read_u16(self.buf, v1::ADDR_LEN)
    }

    /// The sender's link-layer address: `addr_len` bytes, at most 8.
    pub fn addr(&self) -> &'a [u8] {
        addr_bytes(self.buf, v1::ADDR, usize::from(self.addr_len()))
    }

    /// Protocol of the payload (an EtherType for Ethernet-like devices).
    pub fn protocol(&self) -> u16 {
        read_u16(self.buf, v1::PROTOCOL)
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buf, v1::HEADER_LEN)
    }
}

/// A read-only view of a Linux cooked capture v2 header (20 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sll2Header<'a> {
    buf: &'a [u8],
}

impl<'a> Sll2Header<'a> {
    /// Checks that the 20-byte header is present.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        if buf.len() < v2::HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Sll2Header { buf })
    }

    /// Protocol of the payload (an EtherType for Ethernet-like devices).
    pub fn protocol(&self) -> u16 {
        read_u16(self.buf, v2::PROTOCOL)
    }

    /// Interface index of the capturing device.
    pub fn if_index(&self) -> u32 {
        read_u32(self.buf, v2::IF_INDEX)
    }

    /// ARPHRD_ type of the capturing device (1 = Ethernet, 772 = loopback).
    pub fn arphrd(&self) -> u16 {
        read_u16(self.buf, v2::ARPHRD)
    }

    /// Packet type (see [`packet_type`]); one byte on the wire, widened to
    /// match [`SllHeader::packet_type`].
    pub fn packet_type(&self) -> u16 {
        u16::from(read_u8(self.buf, v2::PACKET_TYPE))
    }

    /// The link-layer address length as stored (may exceed 8).
    pub fn addr_len(&self) -> u8 {
        read_u8(self.buf, v2::ADDR_LEN)
    }

    /// The link-layer address: `addr_len` bytes, at most 8.
    pub fn addr(&self) -> &'a [u8] {
        addr_bytes(self.buf, v2::ADDR, usize::from(self.addr_len()))
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buf, v2::HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ethernet::{ethertype, strip_vlan_tags};
    use crate::wire::testutil::{hex, no_panic};

    // `tcpdump -i any -y LINUX_SLL` on the host while running
    // `ping -c1 127.0.0.1`: the echo request on lo (ARPHRD_LOOPBACK, zero address).
    const SLL_LO: &str = "\
        00000304000600000000000000000800450000545d6140004001df457f000001\
        7f00000108008804164200012363086b0000000064170b000000000010111213\
        1415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30313233\
        34353637";

    // `tcpdump -i any -y LINUX_SLL` inside network namespace `wta` during
    // `ping -c1 192.0.2.2` over veth `va`: the outgoing echo request.
    const SLL_VETH: &str = "\
        00040001000686f76319b6e10000080045000054cb3e40004001eb66c0000201\
        c0000202080042c9186200014463086b0000000082320f000000000010111213\
        1415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30313233\
        34353637";

    // `tcpdump -i any -y LINUX_SLL2` on the host during `ping -6 -c1 ::1`:
    // the ICMPv6 echo request on lo (if_index 1).
    const SLL2_LO: &str = "\
        86dd000000000001030400060000000000000000600ef39d00403a4000000000\
        000000000000000000000001000000000000000000000000000000018000f037\
        164500012563086b0000000081640b0000000000101112131415161718191a1b\
        1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";

    // `tcpdump -i any -y LINUX_SLL2` inside namespace `wta` during
    // `ping -c1 192.0.2.2`: the incoming echo reply on veth `va` (if_index 2).
    const SLL2_VETH: &str = "\
        080000000000000200010006c686f44a8453000045000054357100004001c134\
        c0000202c00002010000206119cf00016263086b00000000912d0b0000000000\
        101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f\
        3031323334353637";

    #[test]
    fn sll_v1() {
        let b = hex(SLL_LO);
        let h = SllHeader::new_checked(&b).unwrap();
        assert_eq!(h.packet_type(), packet_type::HOST);
        assert_eq!(h.arphrd(), 772);
        assert_eq!(h.addr(), &[0; 6]);
        assert_eq!(h.protocol(), ethertype::IPV4);
        assert_eq!(h.payload(), &b[16..]);
        assert_eq!(h.payload()[0], 0x45);

        let b = hex(SLL_VETH);
        let h = SllHeader::new_checked(&b).unwrap();
        assert_eq!(h.packet_type(), packet_type::OUTGOING);
        assert_eq!(h.arphrd(), 1);
        assert_eq!(h.addr(), &[0x86, 0xf7, 0x63, 0x19, 0xb6, 0xe1]);
        assert_eq!(h.protocol(), ethertype::IPV4);
        assert_eq!(h.payload().len(), 84);
    }

    #[test]
    fn sll_v2() {
        let b = hex(SLL2_LO);
        let h = Sll2Header::new_checked(&b).unwrap();
        assert_eq!(h.protocol(), ethertype::IPV6);
        assert_eq!(h.if_index(), 1);
        assert_eq!(h.arphrd(), 772);
        // lo reports its looped-back packets as received by this host.
        assert_eq!(h.packet_type(), packet_type::HOST);
        assert_eq!(h.addr(), &[0; 6]);
        assert_eq!(h.payload(), &b[20..]);
        assert_eq!(h.payload()[0] >> 4, 6);

        let b = hex(SLL2_VETH);
        let h = Sll2Header::new_checked(&b).unwrap();
        assert_eq!(h.protocol(), ethertype::IPV4);
        assert_eq!(h.if_index(), 2);
        assert_eq!(h.arphrd(), 1);
        assert_eq!(h.packet_type(), packet_type::HOST);
        assert_eq!(h.addr_len(), 6);
        assert_eq!(h.addr(), &[0xc6, 0x86, 0xf4, 0x4a, 0x84, 0x53]);
        assert_eq!(h.payload().len(), 84);
    }

    #[test]
    fn lying_address_length_is_capped() {
        let mut b = hex(SLL_VETH);
        b[5] = 200;
        let h = SllHeader::new_checked(&b).unwrap();
        assert_eq!(h.addr().len(), 8);
        let mut b = hex(SLL2_VETH);
        b[11] = 255;
        let h = Sll2Header::new_checked(&b).unwrap();
        assert_eq!(h.addr().len(), 8);
    }

    #[test]
    fn vlan_after_cooked_header() {
        // libpcap re-inserts a VLAN tag after the cooked header (protocol 0x8100).
        // Crafted: SLL_VETH with a tag for VLAN 100 spliced in.
        let b = hex(SLL_VETH);
        let mut t = b[..14].to_vec();
        t.extend_from_slice(&[0x81, 0x00, 0x00, 0x64, 0x08, 0x00]);
        t.extend_from_slice(&b[16..]);
        let h = SllHeader::new_checked(&t).unwrap();
        assert_eq!(h.protocol(), ethertype::VLAN);
        let (ty, payload) = strip_vlan_tags(h.protocol(), h.payload()).unwrap();
        assert_eq!(ty, ethertype::IPV4);
        assert_eq!(payload, &b[16..]);
    }

    #[test]
    fn truncated() {
        let b = hex(SLL2_VETH);
        assert_eq!(SllHeader::new_checked(&b[..15]), Err(WireError::Truncated));
        assert_eq!(Sll2Header::new_checked(&b[..19]), Err(WireError::Truncated));
        assert!(
            SllHeader::new_checked(&b[..16])
                .unwrap()
                .payload()
                .is_empty()
        );
        assert!(
            Sll2Header::new_checked(&b[..20])
                .unwrap()
                .payload()
                .is_empty()
        );
    }

    #[test]
    fn never_panics() {
        let vectors: Vec<Vec<u8>> = [SLL_LO, SLL_VETH, SLL2_LO, SLL2_VETH]
            .iter()
            .map(|s| hex(s))
            .collect();
        let refs: Vec<&[u8]> = vectors.iter().map(|v| v.as_slice()).collect();
        no_panic(&refs, |buf| {
            if let Ok(h) = SllHeader::new_checked(buf) {
                let _ = (h.packet_type(), h.arphrd(), h.addr_len(), h.protocol());
                assert!(h.addr().len() <= MAX_ADDR_LEN);
                assert_eq!(h.payload().len(), buf.len() - SLL_HEADER_LEN);
            }
            if let Ok(h) = Sll2Header::new_checked(buf) {
                let _ = (h.packet_type(), h.arphrd(), h.addr_len(), h.protocol());
                let _ = h.if_index();
                assert!(h.addr().len() <= MAX_ADDR_LEN);
                assert_eq!(h.payload().len(), buf.len() - SLL2_HEADER_LEN);
            }
        });
    }
}
