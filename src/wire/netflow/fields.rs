//! IANA information element ids (NetFlow v9 field types share them below 128) that the
//! decoder reads, and how each one lands in a flow record.

/// octetDeltaCount (v9 IN_BYTES).
pub const OCTET_DELTA: u16 = 1;
/// packetDeltaCount (v9 IN_PKTS).
pub const PACKET_DELTA: u16 = 2;
/// protocolIdentifier.
pub const PROTOCOL: u16 = 4;
/// ipClassOfService (v9 SRC_TOS).
pub const TOS: u16 = 5;
/// sourceTransportPort.
pub const SRC_PORT: u16 = 7;
/// sourceIPv4Address.
pub const SRC_IPV4: u16 = 8;
/// ingressInterface (v9 INPUT_SNMP).
pub const IN_IF: u16 = 10;
/// destinationTransportPort.
pub const DST_PORT: u16 = 11;
/// destinationIPv4Address.
pub const DST_IPV4: u16 = 12;
/// egressInterface (v9 OUTPUT_SNMP).
pub const OUT_IF: u16 = 14;
/// postOctetDeltaCount (v9 OUT_BYTES).
pub const POST_OCTET_DELTA: u16 = 23;
/// postPacketDeltaCount (v9 OUT_PKTS).
pub const POST_PACKET_DELTA: u16 = 24;
/// sourceIPv6Address.
pub const SRC_IPV6: u16 = 27;
/// destinationIPv6Address.
pub const DST_IPV6: u16 = 28;
/// samplingInterval (v9 SAMPLING_INTERVAL).
pub const SAMPLING_INTERVAL: u16 = 34;
/// samplerRandomInterval (v9 FLOW_SAMPLER_RANDOM_INTERVAL).
pub const SAMPLER_RANDOM_INTERVAL: u16 = 50;
/// ipVersion.
pub const IP_VERSION: u16 = 60;
/// octetTotalCount.
pub const OCTET_TOTAL: u16 = 85;
/// packetTotalCount.
pub const PACKET_TOTAL: u16 = 86;
/// samplingPacketInterval.
pub const SAMPLING_PACKET_INTERVAL: u16 = 305;
/// samplingPacketSpace.
pub const SAMPLING_PACKET_SPACE: u16 = 306;

/// Where a field's value goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// Not used (unknown or enterprise-specific): skipped.
    Skip,
    /// Byte count (delta).
    Octets,
    /// Packet count (delta).
    Packets,
    /// Byte count (total), used when no delta is present.
    OctetsTotal,
    /// Packet count (total), used when no delta is present.
    PacketsTotal,
    /// Egress byte count, used when nothing else is present.
    PostOctets,
    /// Egress packet count, used when nothing else is present.
    PostPackets,
    /// IP protocol.
    Protocol,
    /// TOS / traffic class.
    Tos,
    /// Source port.
    SrcPort,
    /// Destination port.
    DstPort,
    /// Source IPv4 address.
    SrcV4,
    /// Destination IPv4 address.
    DstV4,
    /// Source IPv6 address.
    SrcV6,
    /// Destination IPv6 address.
    DstV6,
    /// Input ifIndex.
    InIf,
    /// Output ifIndex.
    OutIf,
    /// IP version.
    IpVersion,
    /// 1-in-N sampling interval.
    Sampling,
    /// samplingPacketInterval (N packets selected …).
    PacketInterval,
    /// … out of N + samplingPacketSpace.
    PacketSpace,
}

/// The kind of IANA element `id` (enterprise elements are always `Skip`).
pub fn kind_of(id: u16, enterprise: u32) -> FieldKind {
    if enterprise != 0 {
        return FieldKind::Skip;
    }
    match id {
        OCTET_DELTA => FieldKind::Octets,
        PACKET_DELTA => FieldKind::Packets,
        OCTET_TOTAL => FieldKind::OctetsTotal,
        PACKET_TOTAL => FieldKind::PacketsTotal,
        POST_OCTET_DELTA => FieldKind::PostOctets,
        POST_PACKET_DELTA => FieldKind::PostPackets,
        PROTOCOL => FieldKind::Protocol,
        TOS => FieldKind::Tos,
        SRC_PORT => FieldKind::SrcPort,
        DST_PORT => FieldKind::DstPort,
        SRC_IPV4 => FieldKind::SrcV4,
        DST_IPV4 => FieldKind::DstV4,
        SRC_IPV6 => FieldKind::SrcV6,
        DST_IPV6 => FieldKind::DstV6,
        IN_IF => FieldKind::InIf,
        OUT_IF => FieldKind::OutIf,
        IP_VERSION => FieldKind::IpVersion,
        SAMPLING_INTERVAL | SAMPLER_RANDOM_INTERVAL => FieldKind::Sampling,
        SAMPLING_PACKET_INTERVAL => FieldKind::PacketInterval,
        SAMPLING_PACKET_SPACE => FieldKind::PacketSpace,
        _ => FieldKind::Skip,
    }
}
