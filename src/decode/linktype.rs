//! LINKTYPE_ values (the link-layer header types of pcap and pcapng files) we decode.

/// BSD loopback: 4-byte address family in the capturing host's byte order.
pub const NULL: u16 = 0;
/// Ethernet II (with optional 802.1Q / QinQ tags).
pub const ETHERNET: u16 = 1;
/// Raw IP, DLT_RAW on most BSDs.
pub const RAW_BSD: u16 = 12;
/// Raw IP, DLT_RAW on OpenBSD.
pub const RAW_OPENBSD: u16 = 14;
/// Raw IP (IPv4 or IPv6 by version nibble).
pub const RAW: u16 = 101;
/// OpenBSD loopback: 4-byte address family in network byte order.
pub const LOOP: u16 = 108;
/// Linux cooked capture v1.
pub const LINUX_SLL: u16 = 113;
/// Raw IPv4.
pub const IPV4: u16 = 228;
/// Raw IPv6.
pub const IPV6: u16 = 229;
/// Linux cooked capture v2.
pub const LINUX_SLL2: u16 = 276;

/// Whether frames of this link type can be decoded.
pub fn is_supported(linktype: u16) -> bool {
    matches!(
        linktype,
        NULL | ETHERNET | RAW_BSD | RAW_OPENBSD | RAW | LOOP | LINUX_SLL | IPV4 | IPV6 | LINUX_SLL2
    )
}
