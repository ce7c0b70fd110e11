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
pub mod netprobe;
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
    /// A copy of the window, to merge with the other workers of a sharded stream.
    fn shard_window(&self) -> Box<dyn snapshot::ShardWindow>;
    /// The window itself, for a finished stream's merge (no copy where the processor
    /// can give it up).
    fn into_shard_window(self: Box<Self>) -> Box<dyn snapshot::ShardWindow> {
        self.shard_window()
    }
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
        Event::End(ts) | Event::Clock(ts) => Some(window.observe(*ts)),
        Event::Packet(_)
        | Event::Tcp(_)
        | Event::TcpMessage(_)
        | Event::Dnstap(_)
        | Event::Flow(_)
        | Event::Probe(_)
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

/// A handler's configuration, parsed and checked once without I/O (every pktvisor error
/// text comes from parsing); building a processor from it cannot fail.
pub trait ProcessorConfig: Send + Sync + std::fmt::Debug {
    /// A processor with this configuration and the shared services.
    fn build(&self, ctx: &ProcessorContext) -> Box<dyn Processor>;
}

/// Parses a merged handler config into its typed form (pktvisor's message on error).
pub type ParseFn = fn(&ConfigMap) -> Result<Box<dyn ProcessorConfig>, String>;

/// One processor type and version: its names and how its config is parsed.
#[derive(Clone, Copy)]
pub struct ProcessorKind {
    /// The handler `type` (`dns`, `net`, …).
    pub handler_type: &'static str,
    /// The `require_version` it answers (`1.0`, `2.0`).
    pub version: &'static str,
    /// Parses a merged handler config.
    pub parse: ParseFn,
}

impl std::fmt::Debug for ProcessorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.handler_type, self.version)
    }
}

/// Boxes a parsed config (the usual body of a `ParseFn`).
pub fn parsed<C: ProcessorConfig + 'static>(
    c: Result<C, String>,
) -> Result<Box<dyn ProcessorConfig>, String> {
    c.map(|c| Box::new(c) as Box<dyn ProcessorConfig>)
}

/// Every processor: the one table that maps handler names to components. A new processor
/// is its own module plus one line here.
pub const KINDS: &[ProcessorKind] = &[
    dns::v1::KIND,
    dns::v2::KIND,
    net::v1::KIND,
    net::v2::KIND,
    pcap_stats::KIND,
    dhcp::KIND,
    bgp::KIND,
    flow::KIND,
    netprobe::KIND,
    input_resources::KIND,
];

/// The processor of `handler_type` and `version`.
pub fn kind(handler_type: &str, version: &str) -> Option<&'static ProcessorKind> {
    KINDS
        .iter()
        .find(|k| k.handler_type == handler_type && k.version == version)
}

/// Parses the merged config of a handler of `handler_type` and `version`.
pub fn configure(
    handler_type: &str,
    version: &str,
    cfg: &ConfigMap,
) -> Result<Box<dyn ProcessorConfig>, BuildError> {
    let k = kind(handler_type, version)
        .ok_or_else(|| BuildError::Unavailable(handler_type.to_string(), version.to_string()))?;
    (k.parse)(cfg).map_err(BuildError::Config)
}

/// Parses a handler's merged config and builds the processor.
pub fn build(
    handler_type: &str,
    version: &str,
    cfg: &ConfigMap,
    ctx: &ProcessorContext,
) -> Result<Box<dyn Processor>, BuildError> {
    Ok(configure(handler_type, version, cfg)?.build(ctx))
}

/// Whether a handler type exists in some version.
pub fn type_exists(handler_type: &str) -> bool {
    KINDS.iter().any(|k| k.handler_type == handler_type)
}
