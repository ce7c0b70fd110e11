//! What a flow receiver saw per exporter: datagrams, records, and datagrams or sets it
//! could not decode, counted by reason. The table is bounded (the exporter seen longest ago
//! goes first, and is counted).

use std::collections::HashMap;
use std::net::IpAddr;

use foldhash::fast::FixedState;

use crate::wire::WireError;

/// Why (part of) a datagram could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum FlowDropReason {
    /// Shorter than a header, set, sample or record says.
    Truncated,
    /// A version this input does not decode (or the other protocol than configured).
    BadVersion,
    /// An impossible length field.
    BadLength,
    /// Malformed in another way (bad template, unknown address type, …).
    Malformed,
    /// A data set whose template is unknown or timed out (its records are lost).
    NoTemplate,
    /// A sampled packet header that is not Ethernet/IPv4/IPv6 or does not decode.
    SampledHeader,
}

impl FlowDropReason {
    /// Every reason, in declaration order.
    pub const ALL: [FlowDropReason; 6] = [
        FlowDropReason::Truncated,
        FlowDropReason::BadVersion,
        FlowDropReason::BadLength,
        FlowDropReason::Malformed,
        FlowDropReason::NoTemplate,
        FlowDropReason::SampledHeader,
    ];

    /// A stable snake_case name for metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            FlowDropReason::Truncated => "truncated",
            FlowDropReason::BadVersion => "bad_version",
            FlowDropReason::BadLength => "bad_length",
            FlowDropReason::Malformed => "malformed",
            FlowDropReason::NoTemplate => "no_template",
            FlowDropReason::SampledHeader => "sampled_header",
        }
    }
}

impl From<WireError> for FlowDropReason {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Truncated => FlowDropReason::Truncated,
            WireError::BadVersion => FlowDropReason::BadVersion,
            WireError::BadLength | WireError::BadHeaderLength => FlowDropReason::BadLength,
            WireError::Malformed => FlowDropReason::Malformed,
        }
    }
}

/// Counters of one exporter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExporterStats {
    /// Datagrams received.
    pub datagrams: u64,
    /// Datagrams dropped whole (header not decodable).
    pub dropped: u64,
    /// Flow records decoded.
    pub records: u64,
    /// sFlow counter samples skipped.
    pub counter_samples: u64,
    /// NetFlow/IPFIX options data records read (sampling).
    pub options_records: u64,
    /// Failures by reason (`FlowDropReason as usize`).
    pub errors: [u64; 6],
    last_seen: i64,
}

impl ExporterStats {
    /// Failures of one reason.
    pub fn error(&self, r: FlowDropReason) -> u64 {
        self.errors[r as usize]
    }

    /// Every failure.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum()
    }
}

/// The per-exporter table.
#[derive(Clone, Debug)]
pub struct FlowStats {
    limit: usize,
    exporters: HashMap<IpAddr, ExporterStats, FixedState>,
    evicted: u64,
}

impl Default for FlowStats {
    fn default() -> Self {
        FlowStats::new(4096)
    }
}

impl FlowStats {
    /// A table of at most `limit` exporters.
    pub fn new(limit: usize) -> Self {
        FlowStats {
            limit: limit.max(1),
            exporters: HashMap::with_hasher(FixedState::default()),
            evicted: 0,
        }
    }

    /// The counters of `exporter`, created when new (evicting the oldest when full).
    pub fn exporter(&mut self, exporter: IpAddr, now: i64) -> &mut ExporterStats {
        if !self.exporters.contains_key(&exporter)
            && self.exporters.len() >= self.limit
            && let Some(old) = self
                .exporters
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| *k)
        {
            self.exporters.remove(&old);
            self.evicted += 1;
        }
        let s = self.exporters.entry(exporter).or_default();
        s.last_seen = now;
        s
    }

    /// Counts one failure of `exporter`.
    pub fn fail(&mut self, exporter: IpAddr, now: i64, r: FlowDropReason) {
        self.exporter(exporter, now).errors[r as usize] += 1;
    }

    /// Every exporter's counters.
    pub fn iter(&self) -> impl Iterator<Item = (&IpAddr, &ExporterStats)> {
        self.exporters.iter()
    }

    /// One exporter's counters.
    pub fn get(&self, exporter: &IpAddr) -> Option<&ExporterStats> {
        self.exporters.get(exporter)
    }

    /// Exporters held.
    pub fn len(&self) -> usize {
        self.exporters.len()
    }

    /// Whether no exporter is held.
    pub fn is_empty(&self) -> bool {
        self.exporters.is_empty()
    }

    /// The bound.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Exporters dropped because the table was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Sum of every exporter's failures (pktvisor's `packet_errors`).
    pub fn total_errors(&self) -> u64 {
        self.exporters.values().map(|s| s.total_errors()).sum()
    }
}
