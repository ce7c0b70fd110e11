//! The flow record every flow export view produces: one NetFlow/IPFIX data record or one
//! sFlow flow sample, reduced to what the flow processor accounts.
//!
//! Counts are what the exporter reported: a NetFlow record's packets and octets, an sFlow
//! sample's one packet of `bytes` (the sampled packet's length). `sampling` is the 1-in-N
//! rate the exporter announced for the record (0 when it announced none); applying it is
//! the processor's decision (`sample_rate_scaling`).

use std::net::IpAddr;

/// One flow record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowRecord {
    /// Source address (`None` when the record has none, e.g. a non-IP sFlow sample).
    pub src_ip: Option<IpAddr>,
    /// Destination address.
    pub dst_ip: Option<IpAddr>,
    /// Transport source port (0 when absent).
    pub src_port: u16,
    /// Transport destination port (0 when absent; NetFlow puts ICMP type/code here).
    pub dst_port: u16,
    /// IP protocol number (0 when absent).
    pub protocol: u8,
    /// IPv4 TOS / IPv6 traffic class.
    pub tos: u8,
    /// Whether the flow is IPv6.
    pub ipv6: bool,
    /// Packets reported.
    pub packets: u64,
    /// Bytes (octets) reported.
    pub bytes: u64,
    /// Input interface (ifIndex, 0 when absent).
    pub in_if: u32,
    /// Output interface (ifIndex, 0 when absent).
    pub out_if: u32,
    /// The exporter's 1-in-N sampling rate for this record, 0 when not announced.
    pub sampling: u32,
}
