//! NetFlow and IPFIX export datagrams: v1, v5 and v7 (fixed record layouts, `fixed`) and
//! v9 / IPFIX (v10) (templates, options templates and data sets, `template` and `data`).
//!
//! Views here are stateless: they check lengths, iterate sets and decode one data record
//! against a template the caller supplies. Keeping templates per exporter and observation
//! domain (with bounds and timeouts) is the receiver's job (`receiver::flow`).

pub mod data;
pub mod fields;
pub mod fixed;
pub mod template;

#[cfg(test)]
mod tests;

use std::ops::Range;

use super::{WireError, read_u16, read_u32};

const VERSION: Range<usize> = 0..2;

/// The export protocol version of a datagram (its first two bytes).
pub fn version(buf: &[u8]) -> Result<u16, WireError> {
    if buf.len() < 2 {
        return Err(WireError::Truncated);
    }
    Ok(read_u16(buf, VERSION))
}

/// Header of a v9 or IPFIX datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V9Header {
    /// 9 or 10.
    pub version: u16,
    /// v9: record count in the header; IPFIX: the message length.
    pub count_or_length: u16,
    /// Export time, seconds since the epoch.
    pub export_secs: u32,
    /// Sequence number.
    pub sequence: u32,
    /// v9 source id / IPFIX observation domain id.
    pub domain: u32,
    /// Length of the header (20 for v9, 16 for IPFIX).
    pub header_len: usize,
}

/// Reads a v9 (20-byte) or IPFIX (16-byte) header and returns it with the set area.
///
/// Errors: `Truncated` (short header), `BadVersion` (not 9 or 10), `BadLength` (an IPFIX
/// message length below 16 or beyond the datagram).
pub fn v9_header(buf: &[u8]) -> Result<(V9Header, &[u8]), WireError> {
    let version = version(buf)?;
    match version {
        9 => {
            if buf.len() < 20 {
                return Err(WireError::Truncated);
            }
            let h = V9Header {
                version,
                count_or_length: read_u16(buf, 2..4),
                export_secs: read_u32(buf, 8..12),
                sequence: read_u32(buf, 12..16),
                domain: read_u32(buf, 16..20),
                header_len: 20,
            };
            Ok((h, &buf[20..]))
        }
        10 => {
            if buf.len() < 16 {
                return Err(WireError::Truncated);
            }
            let len = usize::from(read_u16(buf, 2..4));
            if len < 16 {
                return Err(WireError::BadLength);
            }
            if len > buf.len() {
                return Err(WireError::Truncated);
            }
            let h = V9Header {
                version,
                count_or_length: read_u16(buf, 2..4),
                export_secs: read_u32(buf, 4..8),
                sequence: read_u32(buf, 8..12),
                domain: read_u32(buf, 12..16),
                header_len: 16,
            };
            Ok((h, &buf[16..len]))
        }
        _ => Err(WireError::BadVersion),
    }
}

/// What a set carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetKind {
    /// Template definitions (v9 id 0, IPFIX id 2).
    Template,
    /// Options template definitions (v9 id 1, IPFIX id 3).
    OptionsTemplate,
    /// Data records of template `id` (id ≥ 256).
    Data(u16),
    /// A reserved set id (v9 2–255, IPFIX 0, 1, 4–255): skipped.
    Reserved(u16),
}

/// One set (v9: flowset) of a v9/IPFIX datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Set<'a> {
    /// What it carries.
    pub kind: SetKind,
    /// Its content after the 4-byte set header (padding included).
    pub body: &'a [u8],
}

/// Iterates the sets of a v9/IPFIX datagram's set area. A set whose length is below 4 or
/// runs past the datagram ends the iteration with `Some(Err(..))` once.
#[derive(Clone, Debug)]
pub struct Sets<'a> {
    rest: &'a [u8],
    ipfix: bool,
    failed: bool,
}

/// The sets of `area` (the bytes after the header) of a `version` 9 or 10 datagram.
pub fn sets(area: &[u8], version: u16) -> Sets<'_> {
    Sets {
        rest: area,
        ipfix: version == 10,
        failed: false,
    }
}

impl<'a> Iterator for Sets<'a> {
    type Item = Result<Set<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        // v9 exporters may pad the datagram after the last flowset.
        if self.rest.len() < 4 {
            return None;
        }
        let id = read_u16(self.rest, 0..2);
        let len = usize::from(read_u16(self.rest, 2..4));
        if len < 4 {
            self.failed = true;
            return Some(Err(WireError::BadLength));
        }
        let Some(body) = self.rest.get(4..len) else {
            self.failed = true;
            return Some(Err(WireError::Truncated));
        };
        self.rest = self.rest.get(len..).unwrap_or(&[]);
        let kind = match (self.ipfix, id) {
            (_, 256..) => SetKind::Data(id),
            (false, 0) | (true, 2) => SetKind::Template,
            (false, 1) | (true, 3) => SetKind::OptionsTemplate,
            (_, other) => SetKind::Reserved(other),
        };
        Some(Ok(Set { kind, body }))
    }
}
