//! NetFlow v1, v5 and v7: a fixed header and fixed 48/48/52-byte IPv4 records.
//!
//! The header's count says how many records follow; a datagram cut short keeps the
//! records that fit and reports `truncated()`. v5's sampling field (2 bits mode, 14 bits
//! interval) is the only sampling information these versions carry.

use std::net::{IpAddr, Ipv4Addr};

use super::super::{WireError, read_array, read_u8, read_u16, read_u32};
use crate::wire::flow::FlowRecord;

/// A v1, v5 or v7 datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedDatagram<'a> {
    version: u16,
    buf: &'a [u8],
    header_len: usize,
    record_len: usize,
}

impl<'a> FixedDatagram<'a> {
    /// Validates the header of a v1/v5/v7 datagram.
    ///
    /// Errors: `Truncated` (short header), `BadVersion` (another version).
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        let version = super::version(buf)?;
        let (header_len, record_len) = match version {
            1 => (16, 48),
            5 => (24, 48),
            7 => (24, 52),
            _ => return Err(WireError::BadVersion),
        };
        if buf.len() < header_len {
            return Err(WireError::Truncated);
        }
        Ok(FixedDatagram {
            version,
            buf,
            header_len,
            record_len,
        })
    }

    /// 1, 5 or 7.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Records announced by the header.
    pub fn count(&self) -> u16 {
        read_u16(self.buf, 2..4)
    }

    /// Milliseconds since the exporter booted.
    pub fn sys_uptime(&self) -> u32 {
        read_u32(self.buf, 4..8)
    }

    /// Export time, seconds since the epoch.
    pub fn unix_secs(&self) -> u32 {
        read_u32(self.buf, 8..12)
    }

    /// Export time, residual nanoseconds.
    pub fn unix_nsecs(&self) -> u32 {
        read_u32(self.buf, 12..16)
    }

    /// v5/v7 flow sequence number (0 for v1).
    pub fn sequence(&self) -> u32 {
        if self.version == 1 {
            0
        } else {
            read_u32(self.buf, 16..20)
        }
    }

    /// v5's 1-in-N sampling interval (the low 14 bits of its sampling field; 0 = none).
    pub fn sampling_interval(&self) -> u32 {
        if self.version == 5 {
            u32::from(read_u16(self.buf, 22..24) & 0x3fff)
        } else {
            0
        }
    }

    /// Whether fewer records are present than the header announces.
    pub fn truncated(&self) -> bool {
        self.records_present() < usize::from(self.count())
    }

    fn records_present(&self) -> usize {
        (self.buf.len() - self.header_len) / self.record_len
    }

    /// The records present (at most `count()`).
    pub fn records(&self) -> impl Iterator<Item = FlowRecord> + '_ {
        let n = self.records_present().min(usize::from(self.count()));
        let sampling = self.sampling_interval();
        (0..n).map(move |i| {
            let at = self.header_len + i * self.record_len;
            let r = &self.buf[at..at + self.record_len];
            record(self.version, r, sampling)
        })
    }
}

fn v4(r: &[u8], at: usize) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::from(read_array::<4>(r, at..at + 4))))
}

fn record(version: u16, r: &[u8], sampling: u32) -> FlowRecord {
    // v1 keeps protocol and tos at 38/39 like v5/v7; tcp flags sit at 40 in v1, 37 after.
    FlowRecord {
        src_ip: v4(r, 0),
        dst_ip: v4(r, 4),
        in_if: u32::from(read_u16(r, 12..14)),
        out_if: u32::from(read_u16(r, 14..16)),
        packets: u64::from(read_u32(r, 16..20)),
        bytes: u64::from(read_u32(r, 20..24)),
        src_port: read_u16(r, 32..34),
        dst_port: read_u16(r, 34..36),
        protocol: read_u8(r, 38),
        tos: read_u8(r, 39),
        ipv6: false,
        sampling: if version == 5 { sampling } else { 0 },
    }
}
