//! sFlow v2 and v4 samples: no length fields, so each sample, packet-data block and
//! extended record is measured by its type (RFC 3176); an unknown type ends the datagram.

use super::super::super::{WireError, read_u32};
use super::super::address;
use super::{
    FlowData, FlowRecords, FlowSample, Sample, Samples, compact_if, ip_record, padded, raw_header,
    router,
};

impl<'a> Samples<'a> {
    pub(super) fn next_v24(&mut self) -> Result<Sample<'a>, WireError> {
        let b = self.rest;
        if b.len() < 4 {
            return Err(WireError::Truncated);
        }
        match read_u32(b, 0..4) {
            1 => {
                // seq, source id, rate, pool, drops, input, output
                if b.len() < 32 {
                    return Err(WireError::Truncated);
                }
                let (input_format, input) = compact_if(read_u32(b, 24..28));
                let (output_format, output) = compact_if(read_u32(b, 28..32));
                let rest = &b[32..];
                let len = v24_flow_len(rest)?;
                self.rest = &rest[len..];
                Ok(Sample::Flow(FlowSample {
                    version: self.version,
                    sampling_rate: read_u32(b, 12..16),
                    sample_pool: read_u32(b, 16..20),
                    drops: read_u32(b, 20..24),
                    input_format,
                    input,
                    output_format,
                    output,
                    num_records: u32::MAX,
                    records: &rest[..len],
                }))
            }
            2 => {
                // seq, source id, sampling interval, counters type, counters
                if b.len() < 20 {
                    return Err(WireError::Truncated);
                }
                let size = match read_u32(b, 16..20) {
                    1 | 4 | 6 => 88,
                    2 => 88 + 52,
                    3 => 88 + 72,
                    5 => 88 + 80,
                    7 => 28,
                    _ => return Err(WireError::Malformed),
                };
                self.rest = b.get(20 + size..).ok_or(WireError::Truncated)?;
                Ok(Sample::Counter)
            }
            _ => Err(WireError::Malformed),
        }
    }
}

/// Bytes of a v2/v4 flow sample's packet data and extended data starting at `b`.
pub(super) fn v24_flow_len(b: &[u8]) -> Result<usize, WireError> {
    let word = |at: usize| -> Result<u32, WireError> {
        if b.len() < at + 4 {
            return Err(WireError::Truncated);
        }
        Ok(read_u32(b, at..at + 4))
    };
    let mut at = 4 + match word(0)? {
        1 => 12 + padded(word(12)? as usize),
        2 => 32,
        3 => 56,
        _ => return Err(WireError::Malformed),
    };
    let n = word(at)?;
    at += 4;
    for _ in 0..n {
        at += 4 + v24_extended_len(word(at)?, b, at + 4)?;
    }
    if b.len() < at {
        return Err(WireError::Truncated);
    }
    Ok(at)
}

/// Length of a v2/v4 extended record's data of `kind` starting at `at`.
pub(super) fn v24_extended_len(kind: u32, b: &[u8], at: usize) -> Result<usize, WireError> {
    let word = |o: usize| -> Result<usize, WireError> {
        if b.len() < at + o + 4 {
            return Err(WireError::Truncated);
        }
        Ok(read_u32(b, at + o..at + o + 4) as usize)
    };
    let string = |o: usize| -> Result<usize, WireError> { Ok(4 + padded(word(o)?)) };
    match kind {
        1 => Ok(16),
        2 => {
            let (_, alen) = address(b, at)?;
            Ok(alen + 8)
        }
        3 => {
            // as, src_as, src_peer_as, segments, [communities, localpref (v4)]
            let mut o = 12;
            let segs = word(o)?;
            o += 4;
            for _ in 0..segs.min(1024) {
                o += 8 + 4 * word(o + 4)?.min(1 << 16);
            }
            Ok(o)
        }
        4 => {
            let a = string(0)?;
            Ok(a + string(a)?)
        }
        5 => Ok(4 + string(4)?),
        _ => Err(WireError::Malformed),
    }
}

impl<'a> FlowRecords<'a> {
    pub(super) fn next_v24(&mut self) -> Result<FlowData<'a>, WireError> {
        let b = self.rest;
        if !self.packet_data_done {
            self.packet_data_done = true;
            if b.len() < 4 {
                return Err(WireError::Truncated);
            }
            let (rec, len) = match read_u32(b, 0..4) {
                1 => {
                    let r = raw_header(&b[4..], false)?;
                    let hl = if let FlowData::RawHeader { header, .. } = r {
                        header.len()
                    } else {
                        0
                    };
                    (r, 4 + 12 + padded(hl))
                }
                2 => (ip_record(&b[4..], false)?, 36),
                3 => (ip_record(&b[4..], true)?, 60),
                _ => return Err(WireError::Malformed),
            };
            self.rest = b.get(len..).ok_or(WireError::Truncated)?;
            // the extended record count follows
            if self.rest.len() < 4 {
                return Err(WireError::Truncated);
            }
            self.left = read_u32(self.rest, 0..4);
            self.rest = &self.rest[4..];
            return Ok(rec);
        }
        if b.len() < 4 {
            return Err(WireError::Truncated);
        }
        let kind = read_u32(b, 0..4);
        let len = v24_extended_len(kind, b, 4)?;
        let body = b.get(4..4 + len).ok_or(WireError::Truncated)?;
        self.rest = &b[4 + len..];
        match kind {
            1 => Ok(FlowData::Switch {
                src_vlan: read_u32(body, 0..4),
                dst_vlan: read_u32(body, 8..12),
            }),
            2 => router(body, 0),
            other => Ok(FlowData::Other(1000 + other)),
        }
    }
}
