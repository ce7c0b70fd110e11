//! Data records of a v9/IPFIX data set, decoded against their template into flow records.
//!
//! Integer elements may use reduced-size encoding (1 to 8 bytes, big-endian); addresses
//! are used only at their natural length; variable-length IPFIX fields carry a 1-byte
//! length, or 255 and a 2-byte length. Bytes at the end of a set shorter than the
//! template's smallest record are padding. Byte and packet counts prefer the delta
//! elements, then the totals, then the egress ("post") counts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::super::{WireError, read_array, read_u16};
use super::fields::FieldKind;
use super::template::{Template, VARIABLE};
use crate::wire::flow::FlowRecord;

/// One decoded data record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataRecord {
    /// The flow fields.
    pub flow: FlowRecord,
    /// Whether the record carried any flow field (address, port, protocol or count).
    pub has_flow_fields: bool,
    /// The 1-in-N sampling rate the record announces (0 when none).
    pub sampling: u32,
}

/// Iterates the data records of one data set body.
#[derive(Clone, Debug)]
pub struct DataRecords<'a, 't> {
    rest: &'a [u8],
    template: &'t Template,
    failed: bool,
}

/// The records of data set `body` laid out by `template`.
pub fn records<'a, 't>(body: &'a [u8], template: &'t Template) -> DataRecords<'a, 't> {
    DataRecords {
        rest: body,
        template,
        failed: false,
    }
}

fn uint(v: &[u8]) -> u64 {
    if v.len() > 8 {
        return 0;
    }
    v.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

#[derive(Default)]
struct Counts {
    octets: [Option<u64>; 3],
    packets: [Option<u64>; 3],
    sampling: u32,
    interval: u64,
    space: u64,
    version: u8,
}

fn apply(kind: FieldKind, v: &[u8], r: &mut DataRecord, c: &mut Counts) {
    let f = &mut r.flow;
    match kind {
        FieldKind::Skip => return,
        FieldKind::Octets => c.octets[0] = Some(uint(v)),
        FieldKind::OctetsTotal => c.octets[1] = Some(uint(v)),
        FieldKind::PostOctets => c.octets[2] = Some(uint(v)),
        FieldKind::Packets => c.packets[0] = Some(uint(v)),
        FieldKind::PacketsTotal => c.packets[1] = Some(uint(v)),
        FieldKind::PostPackets => c.packets[2] = Some(uint(v)),
        FieldKind::Protocol => f.protocol = uint(v) as u8,
        FieldKind::Tos => f.tos = uint(v) as u8,
        FieldKind::SrcPort => f.src_port = uint(v) as u16,
        FieldKind::DstPort => f.dst_port = uint(v) as u16,
        FieldKind::InIf => f.in_if = uint(v) as u32,
        FieldKind::OutIf => f.out_if = uint(v) as u32,
        FieldKind::SrcV4 if v.len() == 4 => {
            f.src_ip = Some(IpAddr::V4(Ipv4Addr::from(read_array::<4>(v, 0..4))))
        }
        FieldKind::DstV4 if v.len() == 4 => {
            f.dst_ip = Some(IpAddr::V4(Ipv4Addr::from(read_array::<4>(v, 0..4))))
        }
        FieldKind::SrcV6 if v.len() == 16 => {
            f.src_ip = Some(IpAddr::V6(Ipv6Addr::from(read_array::<16>(v, 0..16))))
        }
        FieldKind::DstV6 if v.len() == 16 => {
            f.dst_ip = Some(IpAddr::V6(Ipv6Addr::from(read_array::<16>(v, 0..16))))
        }
        FieldKind::IpVersion => c.version = uint(v) as u8,
        FieldKind::Sampling => c.sampling = u32::try_from(uint(v)).unwrap_or(u32::MAX),
        FieldKind::PacketInterval => c.interval = uint(v),
        FieldKind::PacketSpace => c.space = uint(v),
        FieldKind::SrcV4 | FieldKind::DstV4 | FieldKind::SrcV6 | FieldKind::DstV6 => return,
    }
    if !matches!(
        kind,
        FieldKind::Sampling | FieldKind::PacketInterval | FieldKind::PacketSpace
    ) {
        r.has_flow_fields = true;
    }
}

impl DataRecords<'_, '_> {
    fn parse_one(&mut self) -> Result<DataRecord, WireError> {
        let b = self.rest;
        let mut at = 0usize;
        let mut r = DataRecord::default();
        let mut c = Counts::default();
        for f in &self.template.fields {
            let len = if f.len == VARIABLE {
                let first = b.get(at).copied().ok_or(WireError::Truncated)?;
                at += 1;
                if first == 255 {
                    if b.len() < at + 2 {
                        return Err(WireError::Truncated);
                    }
                    let l = read_u16(b, at..at + 2);
                    at += 2;
                    usize::from(l)
                } else {
                    usize::from(first)
                }
            } else {
                usize::from(f.len)
            };
            let v = b.get(at..at + len).ok_or(WireError::Truncated)?;
            at += len;
            apply(f.kind, v, &mut r, &mut c);
        }
        self.rest = b.get(at..).unwrap_or(&[]);
        let fl = &mut r.flow;
        fl.bytes = c.octets.iter().flatten().next().copied().unwrap_or(0);
        fl.packets = c.packets.iter().flatten().next().copied().unwrap_or(0);
        fl.ipv6 = match c.version {
            6 => true,
            4 => false,
            _ => {
                matches!(fl.src_ip, Some(IpAddr::V6(_))) || matches!(fl.dst_ip, Some(IpAddr::V6(_)))
            }
        };
        r.sampling = if c.sampling > 0 {
            c.sampling
        } else {
            c.interval
                .saturating_add(c.space)
                .checked_div(c.interval)
                .map_or(0, |r| u32::try_from(r).unwrap_or(u32::MAX))
        };
        fl.sampling = r.sampling;
        Ok(r)
    }
}

impl Iterator for DataRecords<'_, '_> {
    type Item = Result<DataRecord, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() || self.rest.len() < self.template.min_len.max(1) {
            return None;
        }
        let before = self.rest.len();
        match self.parse_one() {
            Ok(r) => {
                if self.rest.len() == before {
                    // a template of zero-length records cannot advance
                    self.failed = true;
                }
                Some(Ok(r))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
