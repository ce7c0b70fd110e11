//! sFlow datagrams, versions 2, 4 and 5: the datagram header and its samples (`sample`).
//!
//! All sFlow data is XDR: big-endian 32-bit words, opaque data padded to 4 bytes. v5
//! samples and records carry their length, so unknown ones are skipped; v2/v4 samples do
//! not, so a v2/v4 sample or extended record of unknown type ends the datagram (its earlier
//! samples are kept). Counter samples are recognised and skipped by the caller.

pub mod sample;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{WireError, read_array, read_u32};

pub use sample::{FlowData, FlowSample, Sample, Samples};

/// Reads an XDR address (type word, then 4 or 16 bytes) at `at`; returns it and the length
/// consumed. Type 0 (unknown) has no address bytes.
pub(crate) fn address(buf: &[u8], at: usize) -> Result<(Option<IpAddr>, usize), WireError> {
    if buf.len() < at + 4 {
        return Err(WireError::Truncated);
    }
    match read_u32(buf, at..at + 4) {
        0 => Ok((None, 4)),
        1 => {
            if buf.len() < at + 8 {
                return Err(WireError::Truncated);
            }
            let a = Ipv4Addr::from(read_array::<4>(buf, at + 4..at + 8));
            Ok((Some(IpAddr::V4(a)), 8))
        }
        2 => {
            if buf.len() < at + 20 {
                return Err(WireError::Truncated);
            }
            let a = Ipv6Addr::from(read_array::<16>(buf, at + 4..at + 20));
            Ok((Some(IpAddr::V6(a)), 20))
        }
        _ => Err(WireError::Malformed),
    }
}

/// A checked sFlow datagram header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SflowDatagram<'a> {
    version: u32,
    agent: Option<IpAddr>,
    sub_agent: u32,
    sequence: u32,
    uptime: u32,
    num_samples: u32,
    samples: &'a [u8],
}

impl<'a> SflowDatagram<'a> {
    /// Validates the header of a v2, v4 or v5 datagram.
    ///
    /// Errors: `Truncated`, `BadVersion` (another version; see `version_of`),
    /// `Malformed` (unknown agent address type).
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        let version = version_of(buf)?;
        if !matches!(version, 2 | 4 | 5) {
            return Err(WireError::BadVersion);
        }
        let (agent, alen) = address(buf, 4)?;
        let mut at = 4 + alen;
        let sub_agent = if version == 5 {
            at += 4;
            read_u32(buf, at - 4..at)
        } else {
            0
        };
        if buf.len() < at + 12 {
            return Err(WireError::Truncated);
        }
        Ok(SflowDatagram {
            version,
            agent,
            sub_agent,
            sequence: read_u32(buf, at..at + 4),
            uptime: read_u32(buf, at + 4..at + 8),
            num_samples: read_u32(buf, at + 8..at + 12),
            samples: &buf[at + 12..],
        })
    }

    /// 2, 4 or 5.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The agent address (the device), `None` when its type is "unknown".
    pub fn agent(&self) -> Option<IpAddr> {
        self.agent
    }

    /// v5 sub-agent id (0 before v5).
    pub fn sub_agent(&self) -> u32 {
        self.sub_agent
    }

    /// Datagram sequence number.
    pub fn sequence(&self) -> u32 {
        self.sequence
    }

    /// Milliseconds since the agent booted.
    pub fn uptime(&self) -> u32 {
        self.uptime
    }

    /// Samples announced.
    pub fn num_samples(&self) -> u32 {
        self.num_samples
    }

    /// The samples.
    pub fn samples(&self) -> Samples<'a> {
        Samples::new(self.version, self.num_samples, self.samples)
    }
}

/// The version word of a datagram (for error messages about unsupported versions).
pub fn version_of(buf: &[u8]) -> Result<u32, WireError> {
    if buf.len() < 4 {
        return Err(WireError::Truncated);
    }
    Ok(read_u32(buf, 0..4))
}
