//! The flow receiver (pktvisor's `flow` input): sFlow, NetFlow and IPFIX datagrams turned
//! into flow records, per exporter.
//!
//! `FlowDecoder::decode` takes one UDP datagram (exporter address, bytes, receive time)
//! and yields a `FlowDatagram` event carrying its records; it keeps the NetFlow v9/IPFIX
//! template caches (`templates`, per exporter and observation domain, bounded, with
//! timeouts) and counts what it could not decode by reason per exporter (`stats`).
//! `file` reads the UDP datagrams of a capture (the input's `pcap_file` mode); `udp` is the
//! live listener (`bind`, `port`: socket, receive loop, batches, drop counters) whose
//! batches the agent decodes. `config` holds the input's keys and texts.
//!
//! Events: one per sFlow datagram (pktvisor's sFlow signal, even when it carries only
//! counter samples), one per NetFlow/IPFIX datagram that carried at least one flow record
//! (template-only and options-only datagrams produce none, as in pktvisor).

pub mod config;
mod decode_netflow;
mod decode_sflow;
pub mod file;
pub mod receiver;
pub mod stats;
pub mod templates;
pub mod udp;

use std::net::IpAddr;

use crate::decode::Decoder;
use crate::event::FlowDatagram;
use crate::metric::TableStat;
use crate::time::Timespec;
use crate::wire::flow::FlowRecord;

pub use config::{FlowInput, FlowSource, FlowType};
pub use receiver::INPUT;
pub use stats::{ExporterStats, FlowDropReason, FlowStats};
pub use templates::{TemplateCache, TemplateLimits, TemplateStats};

/// Decodes datagrams of one flow input.
#[derive(Debug)]
pub struct FlowDecoder {
    flow_type: FlowType,
    templates: TemplateCache,
    stats: FlowStats,
    headers: Decoder,
    records: Vec<FlowRecord>,
}

impl FlowDecoder {
    /// A decoder for `flow_type` with default bounds.
    pub fn new(flow_type: FlowType) -> Self {
        FlowDecoder::with_limits(flow_type, TemplateLimits::default(), 4096)
    }

    /// One of `shares` decoders of a stream (one per worker): each gets its share of the
    /// default bounds, so the stream's templates stay within them in all.
    pub fn shard(flow_type: FlowType, shares: usize) -> Self {
        let n = shares.max(1);
        FlowDecoder::with_limits(flow_type, TemplateLimits::default().share(n), 4096 / n)
    }

    /// A decoder with explicit template bounds and a bound on exporters tracked.
    pub fn with_limits(flow_type: FlowType, limits: TemplateLimits, exporters: usize) -> Self {
        FlowDecoder {
            flow_type,
            templates: TemplateCache::new(limits),
            stats: FlowStats::new(exporters),
            headers: Decoder::new(),
            records: Vec::with_capacity(64),
        }
    }

    /// The protocol decoded.
    pub fn flow_type(&self) -> FlowType {
        self.flow_type
    }

    /// Per-exporter counters.
    pub fn stats(&self) -> &FlowStats {
        &self.stats
    }

    /// The template cache.
    pub fn templates(&self) -> &TemplateCache {
        &self.templates
    }

    /// The decoder's bounded tables: template bytes (refusals and budget evictions as its
    /// losses), template domains, and exporters counted.
    pub fn tables(&self) -> Vec<TableStat> {
        let t = &self.templates;
        let ts = t.stats();
        let limits = t.limits();
        vec![
            TableStat {
                name: "flow_template_bytes",
                len: t.bytes(),
                limit: limits.max_total_bytes,
                evicted: ts.refused + ts.budget_evicted,
            },
            TableStat {
                name: "flow_template_domains",
                len: t.domains(),
                limit: limits.max_domains,
                evicted: ts.domains_evicted,
            },
            TableStat {
                name: "flow_exporters",
                len: self.stats.len(),
                limit: self.stats.limit(),
                evicted: self.stats.evicted(),
            },
        ]
    }

    /// Decodes one datagram from `exporter` received at `ts`. `None`: nothing to report
    /// (templates only, or undecodable: counted in `stats`).
    pub fn decode(
        &mut self,
        exporter: IpAddr,
        data: &[u8],
        ts: Timespec,
    ) -> Option<FlowDatagram<'_>> {
        self.records.clear();
        self.stats.exporter(exporter, ts.sec).datagrams += 1;
        let (device, protocol, export_time) = match self.flow_type {
            FlowType::Sflow => decode_sflow::decode(self, exporter, data, ts)?,
            FlowType::Netflow => {
                let r = decode_netflow::decode(self, exporter, data, ts)?;
                if self.records.is_empty() {
                    return None;
                }
                r
            }
        };
        let n = self.records.len() as u64;
        self.stats.exporter(exporter, ts.sec).records += n;
        Some(FlowDatagram {
            device,
            exporter,
            ts,
            export_time,
            protocol,
            records: &self.records,
        })
    }

    fn fail(&mut self, exporter: IpAddr, ts: Timespec, r: FlowDropReason) {
        self.stats.fail(exporter, ts.sec, r);
    }

    fn drop_datagram(&mut self, exporter: IpAddr, ts: Timespec, r: FlowDropReason) {
        let s = self.stats.exporter(exporter, ts.sec);
        s.dropped += 1;
        s.errors[r as usize] += 1;
    }
}

#[cfg(test)]
mod tests;
