//! pcap (`pcap`): capture-side losses per bucket — TCP reassembly errors and the drops the
//! operating system and the interface report.
//!
//! Receivers send cumulative counters; this processor turns them into per-bucket deltas.

use crate::config::value::ConfigMap;
use crate::event::{CaptureStats, Event};
use crate::metric::otel::sum;
use crate::metric::{Desc, MetricSink, Scope, Snapshot};
use crate::processor::groups::{GroupSet, validate_config};
use crate::processor::snapshot::{Emit, EmitCtx, ShardWindow, shard_window_of, snapshot_of};
use crate::processor::{
    BuildError, Processor, ProcessorConfig, ProcessorContext, ProcessorKind, Select, parsed,
    time_event,
};
use crate::time::Timespec;
use crate::window::{Bucket, BucketMetrics, PeriodError, Window, WindowSettings};

/// One bucket of capture losses.
#[derive(Clone, Debug, Default)]
pub struct PcapBucket {
    tcp_reassembly_errors: u64,
    os_drops: u64,
    if_drops: u64,
}

impl BucketMetrics for PcapBucket {
    fn merge(&mut self, o: &Self) {
        self.tcp_reassembly_errors += o.tcp_reassembly_errors;
        self.os_drops += o.os_drops;
        self.if_drops += o.if_drops;
    }
}

const TCP_ERRORS: Desc = Desc::new(
    "pcap",
    &["tcp_reassembly_errors"],
    "Count of TCP reassembly errors",
    sum("pktvisor.pcap.tcp_reassembly_errors", "{error}"),
);
const OS_DROPS: Desc = Desc::new(
    "pcap",
    &["os_drops"],
    "Count of packets dropped by the operating system (if supported)",
    sum("pktvisor.pcap.os_drops", "{packet}"),
);
const IF_DROPS: Desc = Desc::new(
    "pcap",
    &["if_drops"],
    "Count of packets dropped by the interface (if supported)",
    sum("pktvisor.pcap.if_drops", "{packet}"),
);

impl Emit for PcapBucket {
    const SCHEMA_KEY: &'static str = "pcap";

    fn emit(b: &Bucket<Self>, _ctx: &EmitCtx, sink: &mut dyn MetricSink) {
        let m = &b.metrics;
        sink.counter(&TCP_ERRORS, &Scope::ROOT, m.tcp_reassembly_errors);
        sink.counter(&OS_DROPS, &Scope::ROOT, m.os_drops);
        sink.counter(&IF_DROPS, &Scope::ROOT, m.if_drops);
    }
}

/// The pcap statistics processor.
pub struct PcapStats {
    window: Window<PcapBucket>,
    last: CaptureStats,
}

/// The pcap handler's configuration (only `recorded_stream` and window keys apply).
#[derive(Clone, Debug)]
pub struct PcapStatsConfig {
    settings: WindowSettings,
}

impl PcapStatsConfig {
    /// Parses a merged handler config.
    pub fn parse(cfg: &ConfigMap) -> Result<Self, String> {
        validate_config(cfg, &["recorded_stream"])?;
        let settings = WindowSettings::from_config(cfg).map_err(|e| e.to_string())?;
        Ok(PcapStatsConfig { settings })
    }
}

impl ProcessorConfig for PcapStatsConfig {
    fn build(&self, _ctx: &ProcessorContext) -> Box<dyn Processor> {
        Box::new(PcapStats::with_config(self))
    }
}

/// `pcap` version 1.0.
pub const KIND: ProcessorKind = ProcessorKind {
    handler_type: "pcap",
    version: "1.0",
    parse: |c| parsed(PcapStatsConfig::parse(c)),
};

impl PcapStats {
    /// Builds from a merged handler config.
    pub fn new(cfg: &ConfigMap) -> Result<Self, BuildError> {
        Ok(PcapStats::with_config(
            &PcapStatsConfig::parse(cfg).map_err(BuildError::Config)?,
        ))
    }

    /// Builds from a parsed config.
    pub fn with_config(cfg: &PcapStatsConfig) -> Self {
        PcapStats {
            window: Window::new(cfg.settings.clone()),
            last: CaptureStats::default(),
        }
    }

    fn stats(&mut self, s: &CaptureStats) {
        let b = self.window.live_mut();
        b.tcp_reassembly_errors += s
            .tcp_reassembly_errors
            .saturating_sub(self.last.tcp_reassembly_errors);
        b.os_drops += s.os_drops.saturating_sub(self.last.os_drops);
        b.if_drops += s.if_drops.saturating_sub(self.last.if_drops);
        self.last = *s;
    }
}

impl Processor for PcapStats {
    fn schema_key(&self) -> &'static str {
        PcapBucket::SCHEMA_KEY
    }

    fn handle(&mut self, ev: &Event<'_>) -> bool {
        if time_event(&mut self.window, ev).is_some() {
            return false;
        }
        match ev {
            Event::Packet(p) => {
                self.window.observe(p.ts);
            }
            Event::Stats(s) => self.stats(s),
            _ => {}
        }
        false
    }

    fn finish(&mut self) {
        self.window.finish();
    }

    fn snapshot(&self, sel: Select, now: Timespec) -> Result<Box<dyn Snapshot>, PeriodError> {
        let ctx = EmitCtx::new(self.window.settings(), GroupSet::ALL, 0);
        snapshot_of(&self.window, sel, now, ctx)
    }

    fn shard_window(&self) -> Box<dyn ShardWindow> {
        let ctx = EmitCtx::new(self.window.settings(), GroupSet::ALL, 0);
        shard_window_of(&self.window, ctx)
    }
}
