//! bgp (`bgp`): BGP message counts by type from TCP port 179 streams.
//!
//! The receiver reassembles port-179 connections; each direction's bytes go through a
//! BGP framer, so every message is counted even when several share a segment or one spans
//! segments (pktvisor counts only the first message of each segment). After lost bytes the
//! framer restarts. Framers are bounded in number and dropped when their connection ends.

use std::collections::HashMap;

use crate::config::value::ConfigMap;
use crate::decode::tcp_stream::{PortSet, TcpStreamEvent};
use crate::event::Event;
use crate::metric::otel::key::BGP_MESSAGE_TYPE;
use crate::metric::otel::{histogram, sum};
use crate::metric::{Desc, MetricSink, Otel, Scope, Snapshot};
use crate::processor::groups::{GroupSet, validate_config};
use crate::processor::snapshot::{Emit, EmitCtx, ShardWindow, shard_window_of, snapshot_of};
use crate::processor::{
    BuildError, Processor, ProcessorConfig, ProcessorContext, ProcessorKind, Select, parsed,
    time_event,
};
use crate::sketch::Rate;
use crate::time::Timespec;
use crate::window::{Bucket, BucketMetrics, PeriodError, Window, WindowSettings};
use crate::wire::bgp::{BgpFramer, message_type};

/// The BGP port.
pub const BGP_PORT: u16 = 179;
/// Most connection directions framed at once.
const MAX_FRAMERS: usize = 10_000;

/// One bucket of BGP metrics.
#[derive(Clone, Debug, Default)]
pub struct BgpBucket {
    rate_total: Rate,
    open: u64,
    update: u64,
    notification: u64,
    keepalive: u64,
    routerefresh: u64,
    total: u64,
    filtered: u64,
}

impl BucketMetrics for BgpBucket {
    fn merge(&mut self, o: &Self) {
        self.rate_total.merge(&o.rate_total);
        self.open += o.open;
        self.update += o.update;
        self.notification += o.notification;
        self.keepalive += o.keepalive;
        self.routerefresh += o.routerefresh;
        self.total += o.total;
        self.filtered += o.filtered;
    }

    fn tick(&mut self, sec: i64) {
        self.rate_total.tick(sec);
    }

    fn close(&mut self) {
        self.rate_total.close();
    }
}

const fn d(path: &'static [&'static str], help: &'static str, otel: Otel) -> Desc {
    Desc::new("bgp", path, help, otel)
}

/// Messages of one type (pktvisor says packets; every framed message counts).
const fn message(t: &'static str) -> Otel {
    const BY_TYPE: Otel = sum("pktvisor.bgp.messages.by_type", "{message}");
    BY_TYPE.with(match t.as_bytes() {
        b"open" => &[(BGP_MESSAGE_TYPE, "open")],
        b"update" => &[(BGP_MESSAGE_TYPE, "update")],
        b"notification" => &[(BGP_MESSAGE_TYPE, "notification")],
        b"keepalive" => &[(BGP_MESSAGE_TYPE, "keepalive")],
        b"routerefresh" => &[(BGP_MESSAGE_TYPE, "routerefresh")],
        _ => panic!("unknown BGP message type"),
    })
}

const RATE_TOTAL: Desc = d(
    &["rates", "total"],
    "Rate of all BGP wire packets (combined ingress and egress) in packets per second",
    histogram("pktvisor.bgp.message.rate", "{message}/s"),
);
const RATE_EVENTS: Desc = d(
    &["rates", "events"],
    "Rate of all BGP wire packets before filtering per second",
    histogram("pktvisor.bgp.event.rate", "{event}/s"),
);
const EVENTS: Desc = d(
    &["wire_packets", "events"],
    "Total BGP wire packets events",
    sum("pktvisor.bgp.events", "{event}"),
);
const DEEP: Desc = d(
    &["wire_packets", "deep_samples"],
    "Total BGP wire packets that were sampled for deep inspection",
    sum("pktvisor.bgp.deep_samples", "{event}"),
);
const OPEN: Desc = d(
    &["wire_packets", "open"],
    "Total BGP packets with message type OPEN",
    message("open"),
);
const UPDATE: Desc = d(
    &["wire_packets", "update"],
    "Total BGP packets with message type UPDATE",
    message("update"),
);
const NOTIFICATION: Desc = d(
    &["wire_packets", "notification"],
    "Total BGP packets with message type NOTIFICATION",
    message("notification"),
);
const KEEPALIVE: Desc = d(
    &["wire_packets", "keepalive"],
    "Total BGP packets with message type KEEPALIVE",
    message("keepalive"),
);
const ROUTEREFRESH: Desc = d(
    &["wire_packets", "routerefresh"],
    "Total BGP packets with message type ROUTEREFRESH",
    message("routerefresh"),
);
const TOTAL: Desc = d(
    &["wire_packets", "total"],
    "Total BGP wire packets matching the configured filter(s)",
    sum("pktvisor.bgp.messages", "{message}"),
);
const FILTERED: Desc = d(
    &["wire_packets", "filtered"],
    "Total BGP wire packets seen that did not match the configured filter(s) (if any)",
    sum("pktvisor.bgp.filtered", "{event}"),
);

impl Emit for BgpBucket {
    const SCHEMA_KEY: &'static str = "bgp";

    fn emit(b: &Bucket<Self>, ctx: &EmitCtx, sink: &mut dyn MetricSink) {
        let m = &b.metrics;
        let r = Scope::ROOT;
        ctx.rate(sink, &RATE_TOTAL, &r, &m.rate_total);
        ctx.rate(sink, &RATE_EVENTS, &r, &b.base.event_rate);
        sink.counter(&EVENTS, &r, b.base.events);
        sink.counter(&DEEP, &r, b.base.deep_samples);
        for (desc, v) in [
            (&OPEN, m.open),
            (&UPDATE, m.update),
            (&NOTIFICATION, m.notification),
            (&KEEPALIVE, m.keepalive),
            (&ROUTEREFRESH, m.routerefresh),
            (&TOTAL, m.total),
            (&FILTERED, m.filtered),
        ] {
            sink.counter(desc, &r, v);
        }
    }
}

/// The BGP processor.
pub struct Bgp {
    window: Window<BgpBucket>,
    framers: HashMap<(u64, u16), BgpFramer>,
    framing_errors: u64,
    dropped_framers: u64,
}

/// The bgp handler's configuration (window keys and `recorded_stream` only).
#[derive(Clone, Debug)]
pub struct BgpConfig {
    settings: WindowSettings,
}

impl BgpConfig {
    /// Parses a merged handler config.
    pub fn parse(cfg: &ConfigMap) -> Result<Self, String> {
        validate_config(cfg, &["recorded_stream"])?;
        let settings = WindowSettings::from_config(cfg).map_err(|e| e.to_string())?;
        Ok(BgpConfig { settings })
    }
}

impl ProcessorConfig for BgpConfig {
    fn build(&self, _ctx: &ProcessorContext) -> Box<dyn Processor> {
        Box::new(Bgp::with_config(self))
    }
}

/// `bgp` version 1.0.
pub const KIND: ProcessorKind = ProcessorKind {
    handler_type: "bgp",
    version: "1.0",
    parse: |c| parsed(BgpConfig::parse(c)),
};

impl Bgp {
    /// Builds from a merged handler config.
    pub fn new(cfg: &ConfigMap) -> Result<Self, BuildError> {
        Ok(Bgp::with_config(
            &BgpConfig::parse(cfg).map_err(BuildError::Config)?,
        ))
    }

    /// Builds from a parsed config.
    pub fn with_config(cfg: &BgpConfig) -> Self {
        Bgp {
            window: Window::new(cfg.settings.clone()),
            framers: HashMap::new(),
            framing_errors: 0,
            dropped_framers: 0,
        }
    }

    /// Bytes the framers could not frame (bad marker or length).
    pub fn framing_errors(&self) -> u64 {
        self.framing_errors + self.framers.values().map(|f| f.errors()).sum::<u64>()
    }

    /// Connection directions dropped because too many were framed at once.
    pub fn dropped_framers(&self) -> u64 {
        self.dropped_framers
    }

    fn tcp(&mut self, ev: &TcpStreamEvent<'_>) {
        match ev {
            TcpStreamEvent::Start { .. } => {}
            TcpStreamEvent::End { flow, .. } => {
                for port in [flow.src_port, flow.dst_port] {
                    if let Some(f) = self.framers.remove(&(flow.conn_id, port)) {
                        self.framing_errors += f.errors();
                    }
                }
            }
            TcpStreamEvent::Data {
                flow,
                ts,
                data,
                after_gap,
            } => {
                if flow.src_port != BGP_PORT && flow.dst_port != BGP_PORT {
                    return;
                }
                let key = (flow.conn_id, flow.src_port);
                if *after_gap && let Some(f) = self.framers.remove(&key) {
                    self.framing_errors += f.errors();
                }
                if !self.framers.contains_key(&key) && self.framers.len() >= MAX_FRAMERS {
                    self.dropped_framers += 1;
                    return;
                }
                let framer = self.framers.entry(key).or_default();
                let mut types = Vec::new();
                framer.push(data, &mut |t: u8, _msg: &[u8]| types.push(t));
                for t in types {
                    self.message(*ts, t);
                }
            }
        }
    }

    fn message(&mut self, ts: Timespec, t: u8) {
        self.window.new_event(ts, true);
        let b = self.window.live_mut();
        b.total += 1;
        b.rate_total.add(ts.sec, 1);
        match t {
            message_type::OPEN => b.open += 1,
            message_type::UPDATE => b.update += 1,
            message_type::NOTIFICATION => b.notification += 1,
            message_type::KEEPALIVE => b.keepalive += 1,
            message_type::ROUTE_REFRESH => b.routerefresh += 1,
            _ => {}
        }
    }
}

impl Processor for Bgp {
    fn schema_key(&self) -> &'static str {
        BgpBucket::SCHEMA_KEY
    }

    fn handle(&mut self, ev: &Event<'_>) -> bool {
        if time_event(&mut self.window, ev).is_some() {
            return false;
        }
        match ev {
            Event::Packet(p) => {
                self.window.observe(p.ts);
            }
            Event::Tcp(t) => self.tcp(t),
            _ => {}
        }
        false
    }

    fn tcp_ports(&self) -> PortSet {
        let mut p = PortSet::default();
        p.insert(BGP_PORT);
        p
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
