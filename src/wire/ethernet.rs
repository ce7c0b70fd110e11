//! Ethernet II / IEEE 802.3 frames and their VLAN tags (802.1Q, 802.1ad, QinQ).
//!
//! [`EthernetFrame`] strips up to [`MAX_VLAN_TAGS`] tags whose TPID is 0x8100,
//! 0x88a8 or 0x9100 and reports the EtherType behind them. A type field below
//! 0x0600 is an 802.3 length; it is reported as is and the decoder treats the
//! frame as non-IP. [`strip_vlan_tags`] does the same tag walk for link layers
//! (Linux cooked captures) that hand over an EtherType and the bytes after it.

use std::ops::Range;

use super::{WireError, read_array, read_u16, rest};

/// EtherType values the decoder cares about.
pub mod ethertype {
    /// Internet Protocol version 4.
    pub const IPV4: u16 = 0x0800;
    /// Address Resolution Protocol.
    pub const ARP: u16 = 0x0806;
    /// IEEE 802.1Q VLAN tag (customer tag).
    pub const VLAN: u16 = 0x8100;
    /// Internet Protocol version 6.
    pub const IPV6: u16 = 0x86DD;
    /// IEEE 802.1ad service tag (QinQ outer tag).
    pub const QINQ: u16 = 0x88a8;
    /// Pre-standard QinQ outer tag.
    pub const QINQ_OLD: u16 = 0x9100;
    /// Type-field values below this are IEEE 802.3 lengths, not EtherTypes.
    pub const MIN_ETHERTYPE: u16 = 0x0600;

    /// Whether `value` is a VLAN tag protocol identifier this module strips.
    pub fn is_vlan_tpid(value: u16) -> bool {
        matches!(value, VLAN | QINQ | QINQ_OLD)
    }
}

/// How many VLAN tags are stripped at most; a further tag is reported as the EtherType.
pub const MAX_VLAN_TAGS: usize = 4;

/// Length of an untagged Ethernet header.
pub const HEADER_LEN: usize = 14;

/// Length of one VLAN tag (TPID + TCI).
pub const VLAN_TAG_LEN: usize = 4;

const DST: Range<usize> = 0..6;
const SRC: Range<usize> = 6..12;
/// The first type field (TPID of the outer tag, or the EtherType).
const TYPE_START: usize = 12;

/// Walks VLAN tags in `buf`, whose type field starts at `type_at`.
///
/// Strips at most `max` tags; returns how many were stripped and the EtherType
/// behind them (a further TPID when the limit was reached).
fn walk_tags(buf: &[u8], type_at: usize, max: usize) -> Result<(usize, u16), WireError> {
    let mut tags = 0;
    loop {
        let at = type_at + tags * VLAN_TAG_LEN;
        if buf.len() < at + 2 {
            return Err(WireError::Truncated);
        }
        let ty = read_u16(buf, at..at + 2);
        if tags == max || !ethertype::is_vlan_tpid(ty) {
            return Ok((tags, ty));
        }
        // A tag is the TPID plus a 2-byte TCI; the next type field follows it.
        tags += 1;
    }
}

/// Strips up to [`MAX_VLAN_TAGS`] VLAN tags from a link layer that has already
/// yielded `ethertype`, with `payload` starting right after that type field
/// (i.e. at the TCI when `ethertype` is a TPID).
///
/// Returns the inner EtherType and the bytes after the last tag. Without a TPID
/// the inputs are returned unchanged.
pub fn strip_vlan_tags(ethertype: u16, payload: &[u8]) -> Result<(u16, &[u8]), WireError> {
    if !ethertype::is_vlan_tpid(ethertype) {
        return Ok((ethertype, payload));
    }
    // The first TCI is at 0, so the next type field sits at 2.
    let (more, ty) = walk_tags(payload, 2, MAX_VLAN_TAGS - 1)?;
    Ok((ty, rest(payload, 2 + more * VLAN_TAG_LEN + 2)))
}

/// A read-only view of an Ethernet frame (with up to four VLAN tags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetFrame<'a> {
    buf: &'a [u8],
    tags: usize,
    ethertype: u16,
}

impl<'a> EthernetFrame<'a> {
    /// Validates the header and any VLAN tags.
    ///
    /// Fails with `Truncated` when the buffer ends inside the header or a tag.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        if buf.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let (tags, ethertype) = walk_tags(buf, TYPE_START, MAX_VLAN_TAGS)?;
        Ok(EthernetFrame {
            buf,
            tags,
            ethertype,
        })
    }

    /// Destination MAC address.
    pub fn dst(&self) -> [u8; 6] {
        read_array(self.buf, DST)
    }

    /// Source MAC address.
    pub fn src(&self) -> [u8; 6] {
        read_array(self.buf, SRC)
    }

    /// The EtherType after the VLAN tags (an 802.3 length when below 0x0600).
    pub fn ethertype(&self) -> u16 {
        self.ethertype
    }

    /// Whether the type field is an IEEE 802.3 length rather than an EtherType.
    pub fn is_ieee8023(&self) -> bool {
        self.ethertype < ethertype::MIN_ETHERTYPE
    }

    /// Number of VLAN tags stripped (0..=4).
    pub fn vlan_count(&self) -> usize {
        self.tags
    }

    /// The 16-bit TCI (PCP, DEI, VLAN ID) of tag `i`, outermost first.
    pub fn vlan_tci(&self, i: usize) -> Option<u16> {
        if i >= self.tags {
            return None;
        }
        let at = TYPE_START + i * VLAN_TAG_LEN + 2;
        Some(read_u16(self.buf, at..at + 2))
    }

    /// The 12-bit VLAN ID of tag `i`, outermost first.
    pub fn vlan_id(&self, i: usize) -> Option<u16> {
        self.vlan_tci(i).map(|tci| tci & 0x0fff)
    }

    /// The TPID of tag `i` (0x8100, 0x88a8 or 0x9100), outermost first.
    pub fn vlan_tpid(&self, i: usize) -> Option<u16> {
        if i >= self.tags {
            return None;
        }
        let at = TYPE_START + i * VLAN_TAG_LEN;
        Some(read_u16(self.buf, at..at + 2))
    }

    /// The VLAN IDs of all stripped tags, outermost first.
    pub fn vlan_ids(&self) -> impl Iterator<Item = u16> + 'a {
        let frame = *self;
        (0..frame.tags).filter_map(move |i| frame.vlan_id(i))
    }

    /// Length of the header including VLAN tags.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.tags * VLAN_TAG_LEN
    }

    /// The bytes after the header and tags (may include trailing padding or FCS).
    pub fn payload(&self) -> &'a [u8] {
        rest(self.buf, self.header_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{hex, no_panic};

    // Captured with `tcpdump -i va` inside a network namespace `wta` whose veth
    // `va` (mtu 1280) peers with `vb` in namespace `wtb`, during
    // `ping -c1 -s 1300 192.0.2.2`: the second (last) IPv4 fragment of the echo
    // request, from 86:f7:63:19:b6:e1 to c6:86:f4:4a:84:53.
    const ETH_IPV4_VETH: &str = "\
        c686f44a845386f76319b6e1080045000048d129009d400124ebc0000201c000\
        0202e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfd\
        feff000102030405060708090a0b0c0d0e0f10111213";

    // The kernel here has no 8021q module nor tc vlan action, so the tagged
    // frames below are ETH_IPV4_VETH with tags inserted after the source MAC
    // (crafted with python): one 802.1Q tag, VLAN 100.
    const ETH_DOT1Q: &str = "\
        c686f44a845386f76319b6e181000064080045000048d129009d400124ebc000\
        0201c0000202e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9\
        fafbfcfdfeff000102030405060708090a0b0c0d0e0f10111213";

    // Crafted: 802.1ad S-tag VLAN 300 then 802.1Q C-tag VLAN 200.
    const ETH_QINQ: &str = "\
        c686f44a845386f76319b6e188a8012c810000c8080045000048d129009d4001\
        24ebc0000201c0000202e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5\
        f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f10111213";

    // Crafted: pre-standard 0x9100 tag, TCI 0xa00a (PCP 5, VLAN 10).
    const ETH_QINQ_OLD: &str = "\
        c686f44a845386f76319b6e19100a00a080045000048d129009d400124ebc000\
        0201c0000202e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9\
        fafbfcfdfeff000102030405060708090a0b0c0d0e0f10111213";

    // Crafted: five tags (VLANs 1..=5); only four are stripped.
    const ETH_FIVE_TAGS: &str = "\
        c686f44a845386f76319b6e188a8000191000002810000038100000481000005\
        080045000048d129009d400124ebc0000201c0000202e0e1e2e3e4e5e6e7e8e9\
        eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff00010203040506070809\
        0a0b0c0d0e0f10111213";

    // pktvisor fixture dns_ipv4_udp.pcap, packet 1: loopback capture, zero MACs.
    const ETH_DNS_LO: &str = "\
        00000000000000000000000008004500005859ae40004011e2e47f0000017f00\
        000195d0cf080044fe57c6d6010000010000000000010875746164776e4d4508\
        504f4a774f633952044b74664f047465737403636f6d00001c000100002904d0\
        000000000000";

    // pktvisor fixture dhcpv6.pcap, packet 2: DHCPv6 SOLICIT to 33:33:00:01:00:02.
    const ETH_DHCPV6_SOLICIT: &str = "\
        333300010002080027fe8f9586dd60000000003c1101fe800000000000000a00\
        27fffefe8f95ff02000000000000000000000001000202220223003cad080110\
        08740001000e000100011c39cf88080027fe8f95000600040017001800080002\
        00000019000c27fe8f9500000e1000001518";

    // Crafted: an 802.3 frame (length 0x0026) carrying an LLC/STP header.
    const ETH_8023: &str = "\
        0180c200000086f76319b6e10026424203000000000000000000000000000000\
        000000000000000000000000000000000000000000000000";

    fn all() -> Vec<Vec<u8>> {
        [
            ETH_IPV4_VETH,
            ETH_DOT1Q,
            ETH_QINQ,
            ETH_QINQ_OLD,
            ETH_FIVE_TAGS,
            ETH_DNS_LO,
            ETH_DHCPV6_SOLICIT,
            ETH_8023,
        ]
        .iter()
        .map(|s| hex(s))
        .collect()
    }

    #[test]
    fn untagged_ipv4() {
        let b = hex(ETH_IPV4_VETH);
        let f = EthernetFrame::new_checked(&b).unwrap();
        assert_eq!(f.dst(), [0xc6, 0x86, 0xf4, 0x4a, 0x84, 0x53]);
        assert_eq!(f.src(), [0x86, 0xf7, 0x63, 0x19, 0xb6, 0xe1]);
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.vlan_count(), 0);
        assert_eq!(f.vlan_ids().count(), 0);
        assert_eq!(f.vlan_id(0), None);
        assert_eq!(f.header_len(), 14);
        assert_eq!(f.payload(), &b[14..]);
        assert!(!f.is_ieee8023());
    }

    #[test]
    fn loopback_and_ipv6() {
        let b = hex(ETH_DNS_LO);
        let f = EthernetFrame::new_checked(&b).unwrap();
        assert_eq!(f.dst(), [0; 6]);
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.payload().len(), 102 - 14);

        let b = hex(ETH_DHCPV6_SOLICIT);
        let f = EthernetFrame::new_checked(&b).unwrap();
        assert_eq!(f.dst(), [0x33, 0x33, 0, 1, 0, 2]);
        assert_eq!(f.src(), [0x08, 0x00, 0x27, 0xfe, 0x8f, 0x95]);
        assert_eq!(f.ethertype(), ethertype::IPV6);
        assert_eq!(f.payload()[0] >> 4, 6);
    }

    #[test]
    fn single_and_double_tags() {
        let inner = hex(ETH_IPV4_VETH);
        let b = hex(ETH_DOT1Q);
        let f = EthernetFrame::new_checked(&b).unwrap();
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.vlan_ids().collect::<Vec<_>>(), [100]);
        assert_eq!(f.vlan_tpid(0), Some(ethertype::VLAN));
        assert_eq!(f.header_len(), 18);
        assert_eq!(f.payload(), &inner[14..]);

        let b = hex(ETH_QINQ);
        let f = EthernetFrame::new_checked(&b).unwrap();
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.vlan_count(), 2);
        assert_eq!(f.vlan_ids().collect::<Vec<_>>(), [300, 200]);
        assert_eq!(f.vlan_tpid(0), Some(ethertype::QINQ));
        assert_eq!(f.vlan_tpid(1), Some(ethertype::VLAN));
        assert_eq!(f.payload(), &inner[14..]);

        let b = hex(ETH_QINQ_OLD);
        let f = EthernetFrame::new_checked(&b).unwrap();
        assert_eq!(f.vlan_tci(0), Some(0xa00a));
        assert_eq!(f.vlan_id(0), Some(10));
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.payload(), &inner[14..]);
    }

    #[test]
    fn at_most_four_tags_are_stripped() {
        let b = hex(ETH_FIVE_TAGS);
        let f = EthernetFrame::new_checked(&b).unwrap();
        assert_eq!(f.vlan_count(), 4);
        assert_eq!(f.vlan_ids().collect::<Vec<_>>(), [1, 2, 3, 4]);
        // The fifth TPID is reported as the EtherType: not IP.
        assert_eq!(f.ethertype(), ethertype::VLAN);
        assert_eq!(&f.payload()[..2], &[0x00, 0x05]);
    }

    #[test]
    fn ieee8023_length_is_reported() {
        let b = hex(ETH_8023);
        let f = EthernetFrame::new_checked(&b).unwrap();
        assert!(f.is_ieee8023());
        assert_eq!(f.ethertype(), 0x0026);
        assert_eq!(&f.payload()[..3], &[0x42, 0x42, 0x03]);
    }

    #[test]
    fn truncated_inside_header_or_tag() {
        let b = hex(ETH_QINQ);
        assert_eq!(EthernetFrame::new_checked(&[]), Err(WireError::Truncated));
        assert_eq!(
            EthernetFrame::new_checked(&b[..13]),
            Err(WireError::Truncated)
        );
        // Outer tag complete, inner TPID present, but its TCI/type cut off.
        assert_eq!(
            EthernetFrame::new_checked(&b[..19]),
            Err(WireError::Truncated)
        );
        assert!(EthernetFrame::new_checked(&b[..22]).is_ok());
        let f = EthernetFrame::new_checked(&b[..22]).unwrap();
        assert_eq!(f.payload(), &[] as &[u8]);
    }

    #[test]
    fn strip_tags_after_cooked_header() {
        let b = hex(ETH_QINQ);
        // As a cooked capture would hand it over: TPID as protocol, then TCI...
        let (ty, payload) = strip_vlan_tags(ethertype::QINQ, &b[14..]).unwrap();
        assert_eq!(ty, ethertype::IPV4);
        assert_eq!(payload, &b[22..]);
        let (ty, payload) = strip_vlan_tags(ethertype::IPV6, &b[14..]).unwrap();
        assert_eq!((ty, payload), (ethertype::IPV6, &b[14..]));
        assert_eq!(
            strip_vlan_tags(ethertype::VLAN, &b[14..16]),
            Err(WireError::Truncated)
        );
        // Five tags: the first is the cooked protocol, three more are stripped,
        // and the fifth TPID is reported, as for an Ethernet frame.
        let b = hex(ETH_FIVE_TAGS);
        let (ty, payload) = strip_vlan_tags(ethertype::QINQ, &b[14..]).unwrap();
        assert_eq!(ty, ethertype::VLAN);
        assert_eq!(payload, &b[30..]);
    }

    #[test]
    fn never_panics() {
        let vectors = all();
        let refs: Vec<&[u8]> = vectors.iter().map(|v| v.as_slice()).collect();
        no_panic(&refs, |buf| {
            if let Ok(f) = EthernetFrame::new_checked(buf) {
                let _ = (f.dst(), f.src(), f.ethertype(), f.is_ieee8023());
                let _ = f.vlan_ids().count();
                for i in 0..6 {
                    let _ = (f.vlan_tci(i), f.vlan_id(i), f.vlan_tpid(i));
                }
                assert!(f.header_len() + f.payload().len() <= buf.len());
            }
            if buf.len() >= 2 {
                let _ = strip_vlan_tags(u16::from_be_bytes([buf[0], buf[1]]), &buf[2..]);
            }
        });
    }
}
