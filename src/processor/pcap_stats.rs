//! pcap (`pcap`): capture-side losses per bucket — TCP reassembly errors and the drops the
//! operating system and the interface report.
//!
//! Receivers send cumulative counters; this processor turns them into per-bucket deltas.

use crate::config::value::ConfigMap;
use crate::event::{CaptureStats, Event};
use crate::metric::{Desc, MetricSink, Scope, Snapshot};
use crate::processor::groups::{GroupSet, validate_config};
use crate::processor::snapshot::{Emit, EmitCtx, snapshot_of};
use crate::processor::{BuildError, Processor, Select, time_event};
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

const TCP_ERRORS: Desc = Desc {
    schema: "pcap",
    path: &["tcp_reassembly_errors"],
    help: "Count of TCP reassembly errors",
};
const OS_DROPS: Desc = Desc {
    schema: "pcap",
    path: &["os_drops"],
    help: "Count of packets dropped by the operating system (if supported)",
};
const IF_DROPS: Desc = Desc {
    schema: "pcap",
    path: &["if_drops"],
    help: "Count of packets dropped by the interface (if supported)",
};

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

impl PcapStats {
    /// Builds from a merged handler config (only `recorded_stream` and window keys apply).
    pub fn new(cfg: &ConfigMap) -> Result<Self, BuildError> {
        validate_config(cfg, &["recorded_stream"]).map_err(BuildError::Config)?;
        let settings =
            WindowSettings::from_config(cfg).map_err(|e| BuildError::Config(e.to_string()))?;
        Ok(PcapStats {
            window: Window::new(settings),
            last: CaptureStats::default(),
        })
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
}
