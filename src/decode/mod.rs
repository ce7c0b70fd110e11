//! Frame → `PacketInfo`: the only place packets are parsed through `wire/`.
//!
//! Every frame yields a `PacketInfo`, even one that cannot be decoded past some layer:
//! what was parsed is kept (so counters such as net's `other_l4` still see the frame) and
//! the layer that failed is counted by reason in `DecodeStats`. IPv4 and IPv6 fragments
//! are reassembled in a bounded table (`fragments`); the frame that completes a datagram
//! carries the reassembled transport payload. TCP stream reassembly for the processors
//! that need byte streams lives in `tcp_stream`.

pub mod fragments;
pub mod linktype;
pub mod shard;
pub mod tcp_stream;

use std::net::IpAddr;

use crate::config::hostspec::Direction;
use crate::time::Timespec;
use crate::wire::{
    WireError,
    ethernet::{EthernetFrame, ethertype, strip_vlan_tags},
    icmp::{Icmpv4Message, Icmpv6Message},
    ip_protocol,
    ipv4::Ipv4Packet,
    ipv6::{Ipv6Packet, walk_extension_headers},
    null::NullHeader,
    sll::{Sll2Header, SllHeader},
    tcp::TcpSegment,
    udp::UdpDatagram,
};

use fragments::{FragmentKey, FragmentTable, Reassembled};

/// Network layer of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum L3 {
    /// No IP layer (ARP, LLDP, undecodable, …).
    #[default]
    None,
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// Transport layer of a frame, from the IP protocol field (also for non-first fragments).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum L4 {
    /// No transport (not IP, or not decodable).
    #[default]
    None,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP for IPv4.
    Icmp,
    /// ICMP for IPv6.
    Icmpv6,
    /// Any other IP protocol number.
    Other(u8),
}

/// Whether the frame was (part of) an IP fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FragmentState {
    /// Not fragmented.
    #[default]
    Whole,
    /// A fragment that did not complete a datagram: no transport payload.
    Partial,
    /// The fragment that completed a datagram: transport fields come from the reassembly.
    Completed,
}

/// Everything the processors need from one frame.
#[derive(Clone, Debug, Default)]
pub struct PacketInfo<'a> {
    /// Capture timestamp.
    pub ts: Timespec,
    /// Bytes captured of this frame (pktvisor's "payload size").
    pub frame_len: u32,
    /// Bytes the frame had on the wire.
    pub wire_len: u32,
    /// Link-layer source address, when the link has one of six bytes.
    pub src_mac: Option<[u8; 6]>,
    /// Network layer.
    pub l3: L3,
    /// IP source address.
    pub src_ip: Option<IpAddr>,
    /// IP destination address.
    pub dst_ip: Option<IpAddr>,
    /// IPv4 TOS / IPv6 traffic class.
    pub tos: u8,
    /// Transport protocol.
    pub l4: L4,
    /// Transport source port (0 when unknown).
    pub src_port: u16,
    /// Transport destination port (0 when unknown).
    pub dst_port: u16,
    /// TCP flags (0 unless TCP).
    pub tcp_flags: u8,
    /// TCP sequence number.
    pub tcp_seq: u32,
    /// Transport payload; valid only when `has_payload()`.
    pub payload: &'a [u8],
    /// Whether the transport header and payload are available.
    pub transport_ok: bool,
    /// Fragment state.
    pub fragment: FragmentState,
    /// Direction relative to the host spec, set by the receiver.
    pub direction: Direction,
}

impl PacketInfo<'_> {
    /// Whether the transport header was parsed and `payload` holds this datagram's payload.
    pub fn has_payload(&self) -> bool {
        self.transport_ok
    }

    /// Whether the TCP SYN flag is set.
    pub fn is_syn(&self) -> bool {
        self.l4 == L4::Tcp && self.tcp_flags & crate::wire::tcp::flags::SYN != 0
    }
}

/// Why (part of) a frame could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum DropReason {
    /// The capture's link type is not one we decode.
    UnsupportedLinktype,
    /// The link-layer header is truncated or malformed.
    LinkMalformed,
    /// The IPv4 header is truncated.
    Ipv4Truncated,
    /// The IPv4 header is malformed (version, header or total length).
    Ipv4Malformed,
    /// The IPv6 header is truncated.
    Ipv6Truncated,
    /// The IPv6 header or an extension header is malformed.
    Ipv6Malformed,
    /// The TCP header is truncated or malformed.
    TcpMalformed,
    /// The UDP header is truncated or malformed.
    UdpMalformed,
    /// The ICMP/ICMPv6 header is truncated.
    IcmpMalformed,
    /// A fragment overlapped earlier data with different bytes, or was otherwise inconsistent.
    FragmentInvalid,
    /// A fragment's datagram was evicted from the full reassembly table.
    FragmentEvicted,
    /// A fragment's datagram expired before it was complete.
    FragmentTimedOut,
}

impl DropReason {
    /// Every reason, in index order.
    pub const ALL: [DropReason; 12] = [
        DropReason::UnsupportedLinktype,
        DropReason::LinkMalformed,
        DropReason::Ipv4Truncated,
        DropReason::Ipv4Malformed,
        DropReason::Ipv6Truncated,
        DropReason::Ipv6Malformed,
        DropReason::TcpMalformed,
        DropReason::UdpMalformed,
        DropReason::IcmpMalformed,
        DropReason::FragmentInvalid,
        DropReason::FragmentEvicted,
        DropReason::FragmentTimedOut,
    ];

    /// A stable snake_case name for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            DropReason::UnsupportedLinktype => "unsupported_linktype",
            DropReason::LinkMalformed => "link_malformed",
            DropReason::Ipv4Truncated => "ipv4_truncated",
            DropReason::Ipv4Malformed => "ipv4_malformed",
            DropReason::Ipv6Truncated => "ipv6_truncated",
            DropReason::Ipv6Malformed => "ipv6_malformed",
            DropReason::TcpMalformed => "tcp_malformed",
            DropReason::UdpMalformed => "udp_malformed",
            DropReason::IcmpMalformed => "icmp_malformed",
            DropReason::FragmentInvalid => "fragment_invalid",
            DropReason::FragmentEvicted => "fragment_evicted",
            DropReason::FragmentTimedOut => "fragment_timed_out",
        }
    }
}

/// Counts of frames (or fragments) that could not be decoded, by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    counts: [u64; DropReason::ALL.len()],
    /// Frames decoded.
    pub frames: u64,
    /// Datagrams completed by fragment reassembly.
    pub reassembled: u64,
}

impl DecodeStats {
    /// Counts one occurrence of `reason`.
    pub fn count(&mut self, reason: DropReason) {
        self.counts[reason as usize] += 1;
    }

    /// Adds `n` occurrences of `reason`.
    pub fn add(&mut self, reason: DropReason, n: u64) {
        self.counts[reason as usize] += n;
    }

    /// The count for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts[reason as usize]
    }

    /// Total of all reasons.
    pub fn total_dropped(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Non-zero counts by name.
    pub fn nonzero(&self) -> Vec<(&'static str, u64)> {
        DropReason::ALL
            .iter()
            .filter(|r| self.get(**r) > 0)
            .map(|r| (r.as_str(), self.get(*r)))
            .collect()
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, other: &DecodeStats) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.frames += other.frames;
        self.reassembled += other.reassembled;
    }
}

fn link_reason(_: WireError) -> DropReason {
    DropReason::LinkMalformed
}

/// Decodes frames; owns the fragment table so reassembled payloads can be lent out.
#[derive(Debug)]
pub struct Decoder {
    fragments: FragmentTable,
    stats: DecodeStats,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

/// The network-layer bytes of a frame.
pub(crate) enum Network<'a> {
    /// Not IP.
    None,
    /// An IPv4 packet.
    V4(&'a [u8]),
    /// An IPv6 packet.
    V6(&'a [u8]),
}

impl Decoder {
    /// A decoder with the default fragment table bounds.
    pub fn new() -> Self {
        Decoder {
            fragments: FragmentTable::default(),
            stats: DecodeStats::default(),
        }
    }

    /// A decoder with an explicit fragment table.
    pub fn with_fragment_table(fragments: FragmentTable) -> Self {
        Decoder {
            fragments,
            stats: DecodeStats::default(),
        }
    }

    /// Counts so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// Decodes one frame captured with `linktype` (a LINKTYPE_ value).
    pub fn decode<'a>(
        &'a mut self,
        linktype: u16,
        ts: Timespec,
        data: &'a [u8],
        wire_len: u32,
    ) -> PacketInfo<'a> {
        self.stats.frames += 1;
        let mut info = PacketInfo {
            ts,
            frame_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
            wire_len,
            ..PacketInfo::default()
        };
        let net = match self.link(linktype, data, &mut info) {
            Ok(n) => n,
            Err(reason) => {
                self.stats.count(reason);
                return info;
            }
        };
        // Split borrows: the stats and the fragment table are separate fields.
        let Decoder { fragments, stats } = self;
        match net {
            Network::None => {}
            Network::V4(buf) => decode_ipv4(buf, &mut info, fragments, stats),
            Network::V6(buf) => decode_ipv6(buf, &mut info, fragments, stats),
        }
        info
    }

    fn link<'a>(
        &mut self,
        linktype: u16,
        data: &'a [u8],
        info: &mut PacketInfo<'a>,
    ) -> Result<Network<'a>, DropReason> {
        let (net, mac) = link_layer(linktype, data)?;
        info.src_mac = mac;
        Ok(net)
    }
}

/// The network-layer bytes of a frame and its link-layer source address.
pub(crate) fn link_layer(
    linktype: u16,
    data: &[u8],
) -> Result<(Network<'_>, Option<[u8; 6]>), DropReason> {
    use linktype::*;
    let by_ethertype = |et: u16, payload| match et {
        ethertype::IPV4 => Network::V4(payload),
        ethertype::IPV6 => Network::V6(payload),
        _ => Network::None,
    };
    match linktype {
        ETHERNET => {
            let eth = EthernetFrame::new_checked(data).map_err(link_reason)?;
            Ok((
                by_ethertype(eth.ethertype(), eth.payload()),
                Some(eth.src()),
            ))
        }
        LINUX_SLL => {
            let sll = SllHeader::new_checked(data).map_err(link_reason)?;
            let (et, payload) =
                strip_vlan_tags(sll.protocol(), sll.payload()).map_err(link_reason)?;
            Ok((by_ethertype(et, payload), mac6(sll.addr())))
        }
        LINUX_SLL2 => {
            let sll = Sll2Header::new_checked(data).map_err(link_reason)?;
            let (et, payload) =
                strip_vlan_tags(sll.protocol(), sll.payload()).map_err(link_reason)?;
            Ok((by_ethertype(et, payload), mac6(sll.addr())))
        }
        RAW | RAW_BSD | RAW_OPENBSD => Ok((by_version(data), None)),
        IPV4 => Ok((Network::V4(data), None)),
        IPV6 => Ok((Network::V6(data), None)),
        NULL | LOOP => {
            let h = NullHeader::new_checked(data, linktype == LOOP).map_err(link_reason)?;
            let net = if h.is_ipv4() {
                Network::V4(h.payload())
            } else if h.is_ipv6() {
                Network::V6(h.payload())
            } else {
                Network::None
            };
            Ok((net, None))
        }
        _ => Err(DropReason::UnsupportedLinktype),
    }
}

fn mac6(addr: &[u8]) -> Option<[u8; 6]> {
    <[u8; 6]>::try_from(addr).ok()
}

fn by_version(data: &[u8]) -> Network<'_> {
    match data.first().map(|b| b >> 4) {
        Some(4) => Network::V4(data),
        Some(6) => Network::V6(data),
        _ => Network::None,
    }
}

fn decode_ipv4<'a>(
    buf: &'a [u8],
    info: &mut PacketInfo<'a>,
    fragments: &'a mut FragmentTable,
    stats: &mut DecodeStats,
) {
    let ip = match Ipv4Packet::new_checked(buf) {
        Ok(ip) => ip,
        Err(WireError::Truncated) => return stats.count(DropReason::Ipv4Truncated),
        Err(_) => return stats.count(DropReason::Ipv4Malformed),
    };
    info.l3 = L3::Ipv4;
    info.src_ip = Some(IpAddr::V4(ip.src()));
    info.dst_ip = Some(IpAddr::V4(ip.dst()));
    info.tos = ip.tos();
    let proto = ip.protocol();
    info.l4 = l4_of(proto);
    if ip.is_fragment() {
        let key = FragmentKey::v4(ip.src(), ip.dst(), ip.ident(), proto);
        let outcome = fragments.insert(
            key,
            info.ts,
            usize::from(ip.frag_offset()),
            ip.more_frags(),
            ip.payload(),
        );
        finish_fragment(outcome, proto, info, fragments, stats);
        return;
    }
    decode_transport(proto, ip.payload(), info, stats);
}

fn decode_ipv6<'a>(
    buf: &'a [u8],
    info: &mut PacketInfo<'a>,
    fragments: &'a mut FragmentTable,
    stats: &mut DecodeStats,
) {
    let ip = match Ipv6Packet::new_checked(buf) {
        Ok(ip) => ip,
        Err(WireError::Truncated) => return stats.count(DropReason::Ipv6Truncated),
        Err(_) => return stats.count(DropReason::Ipv6Malformed),
    };
    info.l3 = L3::Ipv6;
    info.src_ip = Some(IpAddr::V6(ip.src()));
    info.dst_ip = Some(IpAddr::V6(ip.dst()));
    info.tos = ip.traffic_class();
    let upper = match ip.upper_layer() {
        Ok(u) => u,
        Err(_) => {
            info.l4 = L4::None;
            return stats.count(DropReason::Ipv6Malformed);
        }
    };
    info.l4 = l4_of(upper.protocol);
    if let Some(frag) = upper.fragment {
        let key = FragmentKey::v6(ip.src(), ip.dst(), frag.ident, upper.protocol);
        let outcome = fragments.insert(
            key,
            info.ts,
            usize::from(frag.offset),
            frag.more,
            upper.payload,
        );
        finish_fragment(outcome, upper.protocol, info, fragments, stats);
        return;
    }
    decode_transport(upper.protocol, upper.payload, info, stats);
}

fn finish_fragment<'a>(
    outcome: Reassembled,
    proto: u8,
    info: &mut PacketInfo<'a>,
    fragments: &'a FragmentTable,
    stats: &mut DecodeStats,
) {
    if outcome.evicted > 0 {
        stats.add(DropReason::FragmentEvicted, outcome.evicted);
    }
    if outcome.timed_out > 0 {
        stats.add(DropReason::FragmentTimedOut, outcome.timed_out);
    }
    if outcome.invalid {
        stats.count(DropReason::FragmentInvalid);
    }
    if outcome.complete {
        stats.reassembled += 1;
        info.fragment = FragmentState::Completed;
        let data = fragments.completed();
        if info.l3 == L3::Ipv6 {
            // Extension headers may follow the Fragment header inside the datagram.
            match walk_extension_headers(proto, data) {
                Ok(upper) => {
                    info.l4 = l4_of(upper.protocol);
                    decode_transport(upper.protocol, upper.payload, info, stats);
                }
                Err(_) => stats.count(DropReason::Ipv6Malformed),
            }
        } else {
            decode_transport(proto, data, info, stats);
        }
    } else {
        info.fragment = FragmentState::Partial;
    }
}

fn l4_of(proto: u8) -> L4 {
    match proto {
        ip_protocol::TCP => L4::Tcp,
        ip_protocol::UDP => L4::Udp,
        ip_protocol::ICMP => L4::Icmp,
        ip_protocol::ICMPV6 => L4::Icmpv6,
        p => L4::Other(p),
    }
}

fn decode_transport<'a>(
    proto: u8,
    buf: &'a [u8],
    info: &mut PacketInfo<'a>,
    stats: &mut DecodeStats,
) {
    match proto {
        ip_protocol::TCP => match TcpSegment::new_checked(buf) {
            Ok(tcp) => {
                info.src_port = tcp.src_port();
                info.dst_port = tcp.dst_port();
                info.tcp_flags = tcp.flags();
                info.tcp_seq = tcp.seq();
                info.payload = tcp.payload();
                info.transport_ok = true;
            }
            Err(_) => stats.count(DropReason::TcpMalformed),
        },
        ip_protocol::UDP => match UdpDatagram::new_checked(buf) {
            Ok(udp) => {
                info.src_port = udp.src_port();
                info.dst_port = udp.dst_port();
                info.payload = udp.payload();
                info.transport_ok = true;
            }
            Err(_) => stats.count(DropReason::UdpMalformed),
        },
        ip_protocol::ICMP => match Icmpv4Message::new_checked(buf) {
            Ok(m) => {
                info.payload = m.payload();
                info.transport_ok = true;
            }
            Err(_) => stats.count(DropReason::IcmpMalformed),
        },
        ip_protocol::ICMPV6 => match Icmpv6Message::new_checked(buf) {
            Ok(m) => {
                info.payload = m.payload();
                info.transport_ok = true;
            }
            Err(_) => stats.count(DropReason::IcmpMalformed),
        },
        _ => {
            info.payload = buf;
        }
    }
}
