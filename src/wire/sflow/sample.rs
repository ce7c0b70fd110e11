//! sFlow samples and flow records: v5 flow samples (format 1), expanded flow samples
//! (format 3), counter samples (formats 2 and 4, skipped), and the flow records the
//! flow processor uses: raw packet header (1), Ethernet (2), IPv4 (3), IPv6 (4), extended
//! switch (1001) and extended router (1002). v2/v4 flow samples (one packet-data block and
//! extended data without lengths) map onto the same `FlowData`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::super::{WireError, read_array, read_u32};
use super::address;

mod legacy;

/// Interface value of a flow sample (compact form: 2-bit format, 30-bit value).
fn compact_if(v: u32) -> (u32, u32) {
    (v >> 30, v & 0x3fff_ffff)
}

/// Padded XDR opaque length.
fn padded(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// One sample of a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sample<'a> {
    /// A (possibly expanded) flow sample.
    Flow(FlowSample<'a>),
    /// A counter sample (skipped).
    Counter,
    /// A sample of another format (v5, skipped by length).
    Unknown(u32),
}

/// A flow sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowSample<'a> {
    version: u32,
    /// 1-in-N sampling rate.
    pub sampling_rate: u32,
    /// Packets that could have been sampled.
    pub sample_pool: u32,
    /// Samples dropped for lack of resources.
    pub drops: u32,
    /// Input interface format (0 = ifIndex).
    pub input_format: u32,
    /// Input interface value.
    pub input: u32,
    /// Output interface format (0 = ifIndex, 1 = discarded, 2 = multiple).
    pub output_format: u32,
    /// Output interface value.
    pub output: u32,
    records: &'a [u8],
    num_records: u32,
}

impl<'a> FlowSample<'a> {
    /// The flow records of the sample.
    pub fn records(&self) -> FlowRecords<'a> {
        FlowRecords {
            version: self.version,
            rest: self.records,
            left: self.num_records,
            packet_data_done: false,
            failed: false,
        }
    }
}

/// A flow record of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowData<'a> {
    /// The first bytes of the sampled packet.
    RawHeader {
        /// Header protocol (1 Ethernet, 11 IPv4, 12 IPv6, …).
        protocol: u32,
        /// Length of the packet on the wire.
        frame_length: u32,
        /// Bytes removed before sampling (v5).
        stripped: u32,
        /// The header bytes.
        header: &'a [u8],
    },
    /// Ethernet frame data.
    Ethernet {
        /// Frame length.
        length: u32,
        /// EtherType.
        ethertype: u32,
    },
    /// IPv4 or IPv6 data of the sampled packet.
    Ip {
        /// Packet length.
        length: u32,
        /// IP protocol.
        protocol: u32,
        /// Source.
        src: IpAddr,
        /// Destination.
        dst: IpAddr,
        /// Source port.
        src_port: u32,
        /// Destination port.
        dst_port: u32,
        /// TCP flags.
        tcp_flags: u32,
        /// TOS / priority.
        tos: u32,
    },
    /// Extended switch data.
    Switch {
        /// Incoming 802.1Q VLAN.
        src_vlan: u32,
        /// Outgoing 802.1Q VLAN.
        dst_vlan: u32,
    },
    /// Extended router data.
    Router {
        /// Next hop.
        next_hop: Option<IpAddr>,
        /// Source prefix length.
        src_mask: u32,
        /// Destination prefix length.
        dst_mask: u32,
    },
    /// A record of another format (skipped).
    Other(u32),
}

/// Iterates the samples of a datagram.
#[derive(Clone, Debug)]
pub struct Samples<'a> {
    version: u32,
    left: u32,
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Samples<'a> {
    pub(super) fn new(version: u32, count: u32, rest: &'a [u8]) -> Self {
        Samples {
            version,
            left: count,
            rest,
            failed: false,
        }
    }

    fn next_v5(&mut self) -> Result<Sample<'a>, WireError> {
        let b = self.rest;
        if b.len() < 8 {
            return Err(WireError::Truncated);
        }
        let format = read_u32(b, 0..4);
        let len = read_u32(b, 4..8) as usize;
        let body = b
            .get(8..8usize.saturating_add(len))
            .ok_or(WireError::Truncated)?;
        self.rest = &b[8 + len..];
        // enterprise 0 formats only
        match format {
            1 => {
                if body.len() < 32 {
                    return Err(WireError::Truncated);
                }
                let (input_format, input) = compact_if(read_u32(body, 20..24));
                let (output_format, output) = compact_if(read_u32(body, 24..28));
                Ok(Sample::Flow(FlowSample {
                    version: 5,
                    sampling_rate: read_u32(body, 8..12),
                    sample_pool: read_u32(body, 12..16),
                    drops: read_u32(body, 16..20),
                    input_format,
                    input,
                    output_format,
                    output,
                    num_records: read_u32(body, 28..32),
                    records: &body[32..],
                }))
            }
            3 => {
                if body.len() < 44 {
                    return Err(WireError::Truncated);
                }
                Ok(Sample::Flow(FlowSample {
                    version: 5,
                    sampling_rate: read_u32(body, 12..16),
                    sample_pool: read_u32(body, 16..20),
                    drops: read_u32(body, 20..24),
                    input_format: read_u32(body, 24..28),
                    input: read_u32(body, 28..32),
                    output_format: read_u32(body, 32..36),
                    output: read_u32(body, 36..40),
                    num_records: read_u32(body, 40..44),
                    records: &body[44..],
                }))
            }
            2 | 4 => Ok(Sample::Counter),
            other => Ok(Sample::Unknown(other)),
        }
    }
}

impl<'a> Iterator for Samples<'a> {
    type Item = Result<Sample<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.left == 0 || self.rest.is_empty() {
            return None;
        }
        self.left -= 1;
        let r = if self.version == 5 {
            self.next_v5()
        } else {
            self.next_v24()
        };
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

/// Iterates the flow records of one flow sample.
#[derive(Clone, Debug)]
pub struct FlowRecords<'a> {
    version: u32,
    rest: &'a [u8],
    left: u32,
    packet_data_done: bool,
    failed: bool,
}

fn ip_record(b: &[u8], v6: bool) -> Result<FlowData<'_>, WireError> {
    let need = if v6 { 56 } else { 32 };
    if b.len() < need {
        return Err(WireError::Truncated);
    }
    let (src, dst, at) = if v6 {
        (
            IpAddr::V6(Ipv6Addr::from(read_array::<16>(b, 8..24))),
            IpAddr::V6(Ipv6Addr::from(read_array::<16>(b, 24..40))),
            40,
        )
    } else {
        (
            IpAddr::V4(Ipv4Addr::from(read_array::<4>(b, 8..12))),
            IpAddr::V4(Ipv4Addr::from(read_array::<4>(b, 12..16))),
            16,
        )
    };
    Ok(FlowData::Ip {
        length: read_u32(b, 0..4),
        protocol: read_u32(b, 4..8),
        src,
        dst,
        src_port: read_u32(b, at..at + 4),
        dst_port: read_u32(b, at + 4..at + 8),
        tcp_flags: read_u32(b, at + 8..at + 12),
        tos: read_u32(b, at + 12..at + 16),
    })
}

fn raw_header(b: &[u8], stripped_field: bool) -> Result<FlowData<'_>, WireError> {
    let hl_at = if stripped_field { 12 } else { 8 };
    if b.len() < hl_at + 4 {
        return Err(WireError::Truncated);
    }
    let len = read_u32(b, hl_at..hl_at + 4) as usize;
    let header = b
        .get(hl_at + 4..(hl_at + 4).saturating_add(len))
        .ok_or(WireError::Truncated)?;
    Ok(FlowData::RawHeader {
        protocol: read_u32(b, 0..4),
        frame_length: read_u32(b, 4..8),
        stripped: if stripped_field {
            read_u32(b, 8..12)
        } else {
            0
        },
        header,
    })
}

fn v5_record(format: u32, body: &[u8]) -> Result<FlowData<'_>, WireError> {
    match format {
        1 => raw_header(body, true),
        2 => {
            if body.len() < 24 {
                return Err(WireError::Truncated);
            }
            Ok(FlowData::Ethernet {
                length: read_u32(body, 0..4),
                ethertype: read_u32(body, 20..24),
            })
        }
        3 => ip_record(body, false),
        4 => ip_record(body, true),
        1001 => {
            if body.len() < 16 {
                return Err(WireError::Truncated);
            }
            Ok(FlowData::Switch {
                src_vlan: read_u32(body, 0..4),
                dst_vlan: read_u32(body, 8..12),
            })
        }
        1002 => router(body, 0),
        other => Ok(FlowData::Other(other)),
    }
}

fn router(b: &[u8], at: usize) -> Result<FlowData<'_>, WireError> {
    let (next_hop, alen) = address(b, at)?;
    let o = at + alen;
    if b.len() < o + 8 {
        return Err(WireError::Truncated);
    }
    Ok(FlowData::Router {
        next_hop,
        src_mask: read_u32(b, o..o + 4),
        dst_mask: read_u32(b, o + 4..o + 8),
    })
}

impl<'a> FlowRecords<'a> {
    fn next_v5(&mut self) -> Result<FlowData<'a>, WireError> {
        let b = self.rest;
        if b.len() < 8 {
            return Err(WireError::Truncated);
        }
        let format = read_u32(b, 0..4);
        let len = read_u32(b, 4..8) as usize;
        let body = b
            .get(8..8usize.saturating_add(len))
            .ok_or(WireError::Truncated)?;
        self.rest = &b[8 + len..];
        v5_record(format, body)
    }
}

impl<'a> Iterator for FlowRecords<'a> {
    type Item = Result<FlowData<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let r = if self.version == 5 {
            if self.left == 0 || self.rest.is_empty() {
                return None;
            }
            self.left -= 1;
            self.next_v5()
        } else {
            if self.packet_data_done {
                if self.left == 0 {
                    return None;
                }
                self.left -= 1;
            }
            self.next_v24()
        };
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}
