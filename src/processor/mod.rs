//! Processors (pktvisor's stream handlers): what they receive, how they are configured,
//! and how their windows become snapshots.
//!
//! A processor owns a `Window` of buckets and applies its own filters and metric groups.
//! It does no I/O and knows no output format: reads return `Snapshot`s that the encoders
//! in `export` walk. `build` is the one list of every processor type.

pub mod bgp;
pub mod dhcp;
pub mod dns;
pub mod flow;
pub mod groups;
pub mod input_resources;
pub mod net;
pub mod pcap_stats;
pub mod snapshot;

use std::sync::Arc;

use crate::config::value::ConfigMap;
use crate::decode::tcp_stream::PortSet;
use crate::enrich::geo::GeoDatabases;
use crate::enrich::services::ServiceRegistry;
use crate::event::Event;
use crate::metric::{Snapshot, TableStat};
use crate::time::Timespec;
use crate::window::{BucketMetrics, PeriodError, Window};

/// Which bucket(s) to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Select {
    /// `bucket/N`: one bucket, 0 = live.
    Bucket(usize),
    /// `window/N`: the newest N buckets merged.
    Window(usize),
}

/// A stream handler.
pub trait Processor: Send {
    /// The handler's JSON schema key.
    fn schema_key(&self) -> &'static str;
    /// Handles one event; returns whether it passed this processor's filters (what a
    /// chained processor after this one receives).
    fn handle(&mut self, ev: &Event<'_>) -> bool;
    /// Handles one event inside a chain: `forward` receives what the next processor sees.
    /// The default forwards the event itself when `handle` says it passed.
    fn handle_chained(&mut self, ev: &Event<'_>, forward: &mut dyn FnMut(&Event<'_>)) -> bool {
        let passed = self.handle(ev);
        if passed {
            forward(ev);
        }
        passed
    }
    /// The bounded tables this processor keeps, for self-telemetry.
    fn tables(&self) -> Vec<TableStat> {
        Vec::new()
    }
    /// TCP ports whose byte streams this processor wants reassembled.
    fn tcp_ports(&self) -> PortSet {
        PortSet::default()
    }
    /// End of a recorded stream: close open rate seconds.
    fn finish(&mut self);
    /// A snapshot of a bucket or merged window; `now` is the wall clock for live lengths.
    fn snapshot(&self, sel: Select, now: Timespec) -> Result<Box<dyn Snapshot>, PeriodError>;
}

/// Applies the time events every processor handles the same way (stream start, heartbeat,
/// stream end) to its window. `None` for other events; `Some(shifted)` otherwise, where
/// `shifted` says a new bucket started (some processors purge state then).
pub fn time_event<B: BucketMetrics>(window: &mut Window<B>, ev: &Event<'_>) -> Option<bool> {
    match ev {
        Event::Start(ts) => {
            window.start_at(*ts);
            Some(false)
        }
        Event::Tick(now) => Some(window.tick(*now)),
        Event::End(ts) => Some(window.observe(*ts)),
        Event::Packet(_)
        | Event::Tcp(_)
        | Event::TcpMessage(_)
        | Event::Dnstap(_)
        | Event::Flow(_)
        | Event::Stats(_)
        | Event::Topology(_) => None,
    }
}

/// Shared read-only services processors may use.
#[derive(Clone, Default)]
pub struct ProcessorContext {
    /// GeoIP City and ASN databases.
    pub geo: GeoDatabases,
    /// Entries per geo lookup cache (0 disables).
    pub geo_cache_size: usize,
    /// IANA service names for port tops.
    pub services: Arc<ServiceRegistry>,
}

impl std::fmt::Debug for ProcessorContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessorContext")
            .field("geo_city", &self.geo.city_enabled())
            .field("geo_asn", &self.geo.asn_enabled())
            .field("geo_cache_size", &self.geo_cache_size)
            .finish()
    }
}

/// Why a processor could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// No processor of this type and version exists.
    #[error("no stream handler type '{0}' version '{1}'")]
    Unavailable(String, String),
    /// The processor rejected its configuration (pktvisor's message).
    #[error("{0}")]
    Config(String),
}

/// Every processor type: (type, version).
pub const AVAILABLE: &[(&str, &str)] = &[
    ("dns", "1.0"),
    ("dns", "2.0"),
    ("net", "1.0"),
    ("net", "2.0"),
    ("pcap", "1.0"),
    ("dhcp", "1.0"),
    ("bgp", "1.0"),
    ("flow", "1.0"),
    ("input_resources", "1.0"),
];

/// Builds a processor of `handler_type` and `version` from its merged config.
pub fn build(
    handler_type: &str,
    version: &str,
    cfg: &ConfigMap,
    ctx: &ProcessorContext,
) -> Result<Box<dyn Processor>, BuildError> {
    match (handler_type, version) {
        ("dns", "1.0") => Ok(Box::new(dns::v1::DnsV1::new(cfg, ctx)?)),
        ("dns", "2.0") => Ok(Box::new(dns::v2::DnsV2::new(cfg, ctx)?)),
        ("net", "1.0") => Ok(Box::new(net::v1::NetV1::new(cfg, ctx)?)),
        ("net", "2.0") => Ok(Box::new(net::v2::NetV2::new(cfg, ctx)?)),
        ("pcap", "1.0") => Ok(Box::new(pcap_stats::PcapStats::new(cfg)?)),
        ("dhcp", "1.0") => Ok(Box::new(dhcp::Dhcp::new(cfg)?)),
        ("bgp", "1.0") => Ok(Box::new(bgp::Bgp::new(cfg)?)),
        ("flow", "1.0") => Ok(Box::new(flow::Flow::new(cfg, ctx)?)),
        ("input_resources", "1.0") => Ok(Box::new(input_resources::InputResources::new(cfg)?)),
        _ => Err(BuildError::Unavailable(
            handler_type.to_string(),
            version.to_string(),
        )),
    }
}

/// Whether a handler type exists in some version.
pub fn type_exists(handler_type: &str) -> bool {
    AVAILABLE.iter().any(|(t, _)| *t == handler_type)
}
