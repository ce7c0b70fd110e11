//! dhcp (`dhcp`): DHCPv4 and DHCPv6 message counts, top clients and top servers.
//!
//! DHCPv4 is UDP 67/68 and DHCPv6 UDP 546/547 (either side). A client is counted when an
//! ACK with an assigned address answers a REQUEST seen earlier (matched by transaction id
//! within `xact_ttl`), as `"<client mac>/<hostname or Unknown>/<assigned address>"`; a
//! server when it OFFERs (`"<server mac>/<server identifier>"`) or, for DHCPv6, ADVERTISEs or
//! REPLYs with a server identifier (`"<server mac>/<server address>"`). Pending REQUESTs are
//! bounded and expire. Unlike pktvisor, DHCPv6 packets count in `total` and `rates.total`,
//! and the top lists honour `topn_count`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use crate::config::value::ConfigMap;
use crate::decode::{L4, PacketInfo};
use crate::event::Event;
use crate::metric::otel::key::{DHCP_CLIENT, DHCP_MESSAGE_TYPE, DHCP_SERVER};
use crate::metric::otel::{Item, histogram, sum, top};
use crate::metric::{Desc, MetricSink, Otel, Scope, Snapshot};
use crate::processor::groups::{GroupSet, validate_config};
use crate::processor::snapshot::{Emit, EmitCtx, ShardWindow, shard_window_of, snapshot_of};
use crate::processor::{
    BuildError, Processor, ProcessorConfig, ProcessorContext, ProcessorKind, Select, parsed,
    time_event,
};
use crate::sketch::{Rate, TopN};
use crate::time::Timespec;
use crate::window::{Bucket, BucketMetrics, PeriodError, Window, WindowSettings};
use crate::wire::dhcp::{DhcpMessage, format_mac, message_type as v4};
use crate::wire::dhcpv6::{Dhcpv6Message, message_type as v6};

/// Most pending REQUESTs kept for matching ACKs.
const MAX_PENDING: usize = 10_000;

/// One bucket of DHCP metrics.
#[derive(Clone, Debug, Default)]
pub struct DhcpBucket {
    rate_total: Rate,
    discover: u64,
    offer: u64,
    request: u64,
    ack: u64,
    solicit: u64,
    advertise: u64,
    request_v6: u64,
    reply: u64,
    total: u64,
    filtered: u64,
    top_clients: TopN<String>,
    top_servers: TopN<String>,
}

impl BucketMetrics for DhcpBucket {
    fn merge(&mut self, o: &Self) {
        self.rate_total.merge(&o.rate_total);
        self.discover += o.discover;
        self.offer += o.offer;
        self.request += o.request;
        self.ack += o.ack;
        self.solicit += o.solicit;
        self.advertise += o.advertise;
        self.request_v6 += o.request_v6;
        self.reply += o.reply;
        self.total += o.total;
        self.filtered += o.filtered;
        self.top_clients.merge(&o.top_clients);
        self.top_servers.merge(&o.top_servers);
    }

    fn tick(&mut self, sec: i64) {
        self.rate_total.tick(sec);
    }

    fn close(&mut self) {
        self.rate_total.close();
    }
}

const fn d(path: &'static [&'static str], help: &'static str, otel: Otel) -> Desc {
    Desc::new("dhcp", path, help, otel)
}

/// Packets of one message type.
const fn message(t: &'static str) -> Otel {
    const BY_TYPE: Otel = sum("pktvisor.dhcp.packets.by_message_type", "{packet}");
    BY_TYPE.with(match t.as_bytes() {
        b"discover" => &[(DHCP_MESSAGE_TYPE, "discover")],
        b"offer" => &[(DHCP_MESSAGE_TYPE, "offer")],
        b"request" => &[(DHCP_MESSAGE_TYPE, "request")],
        b"ack" => &[(DHCP_MESSAGE_TYPE, "ack")],
        b"solicit" => &[(DHCP_MESSAGE_TYPE, "solicit")],
        b"advertise" => &[(DHCP_MESSAGE_TYPE, "advertise")],
        b"request_v6" => &[(DHCP_MESSAGE_TYPE, "request_v6")],
        b"reply" => &[(DHCP_MESSAGE_TYPE, "reply")],
        _ => panic!("unknown DHCP message type"),
    })
}

const RATE_TOTAL: Desc = d(
    &["rates", "total"],
    "Rate of all DHCP wire packets (combined ingress and egress) in packets per second",
    histogram("pktvisor.dhcp.packet.rate", "{packet}/s"),
);
const RATE_EVENTS: Desc = d(
    &["rates", "events"],
    "Rate of all DHCP wire packets before filtering per second",
    histogram("pktvisor.dhcp.event.rate", "{event}/s"),
);
const EVENTS: Desc = d(
    &["wire_packets", "events"],
    "Total DHCP wire packets events",
    sum("pktvisor.dhcp.events", "{event}"),
);
const DEEP: Desc = d(
    &["wire_packets", "deep_samples"],
    "Total DHCP wire packets that were sampled for deep inspection",
    sum("pktvisor.dhcp.deep_samples", "{event}"),
);
const DISCOVER: Desc = d(
    &["wire_packets", "discover"],
    "Total DHCP packets with message type DISCOVER",
    message("discover"),
);
const OFFER: Desc = d(
    &["wire_packets", "offer"],
    "Total DHCP packets with message type OFFER",
    message("offer"),
);
const REQUEST: Desc = d(
    &["wire_packets", "request"],
    "Total DHCP packets with message type REQUEST",
    message("request"),
);
const ACK: Desc = d(
    &["wire_packets", "ack"],
    "Total DHCP packets with message type ACK",
    message("ack"),
);
const SOLICIT: Desc = d(
    &["wire_packets", "solicit"],
    "Total DHCPv6 packets with message type SOLICIT",
    message("solicit"),
);
const ADVERTISE: Desc = d(
    &["wire_packets", "advertise"],
    "Total DHCPv6 packets with message type ADVERTISE",
    message("advertise"),
);
const REQUEST_V6: Desc = d(
    &["wire_packets", "request_v6"],
    "Total DHCPv6 packets with message type REQUEST",
    message("request_v6"),
);
const REPLY: Desc = d(
    &["wire_packets", "reply"],
    "Total DHCPv6 packets with message type REPLY",
    message("reply"),
);
const TOTAL: Desc = d(
    &["wire_packets", "total"],
    "Total DHCP/DHCPv6 wire packets matching the configured filter(s)",
    sum("pktvisor.dhcp.packets", "{packet}"),
);
const FILTERED: Desc = d(
    &["wire_packets", "filtered"],
    "Total DHCP/DHCPv6 wire packets seen that did not match the configured filter(s) (if any)",
    sum("pktvisor.dhcp.filtered", "{event}"),
);
const TOP_CLIENTS: Desc = d(
    &["top_clients"],
    "Top DHCP clients",
    top(
        "pktvisor.dhcp.top.clients",
        "{packet}",
        Item::Key(DHCP_CLIENT),
    ),
);
const TOP_SERVERS: Desc = d(
    &["top_servers"],
    "Top DHCP servers",
    top(
        "pktvisor.dhcp.top.servers",
        "{packet}",
        Item::Key(DHCP_SERVER),
    ),
);

impl Emit for DhcpBucket {
    const SCHEMA_KEY: &'static str = "dhcp";

    fn emit(b: &Bucket<Self>, ctx: &EmitCtx, sink: &mut dyn MetricSink) {
        let m = &b.metrics;
        let r = Scope::ROOT;
        ctx.rate(sink, &RATE_TOTAL, &r, &m.rate_total);
        ctx.rate(sink, &RATE_EVENTS, &r, &b.base.event_rate);
        sink.counter(&EVENTS, &r, b.base.events);
        sink.counter(&DEEP, &r, b.base.deep_samples);
        for (desc, v) in [
            (&DISCOVER, m.discover),
            (&OFFER, m.offer),
            (&REQUEST, m.request),
            (&ACK, m.ack),
            (&SOLICIT, m.solicit),
            (&ADVERTISE, m.advertise),
            (&REQUEST_V6, m.request_v6),
            (&REPLY, m.reply),
            (&TOTAL, m.total),
            (&FILTERED, m.filtered),
        ] {
            sink.counter(desc, &r, v);
        }
        sink.topn(&TOP_CLIENTS, &r, "client", &ctx.top(&m.top_clients));
        sink.topn(&TOP_SERVERS, &r, "server", &ctx.top(&m.top_servers));
    }
}

#[derive(Debug)]
struct PendingRequest {
    seen: Timespec,
    hostname: Option<String>,
}

/// The DHCP processor.
pub struct Dhcp {
    window: Window<DhcpBucket>,
    ttl_ms: i64,
    pending: HashMap<u32, PendingRequest>,
    evicted_requests: u64,
}

fn is_v4_port(p: u16) -> bool {
    p == 67 || p == 68
}

fn is_v6_port(p: u16) -> bool {
    p == 546 || p == 547
}

/// The dhcp handler's configuration: window keys and the transaction timeout.
#[derive(Clone, Debug)]
pub struct DhcpConfig {
    settings: WindowSettings,
    ttl_ms: i64,
}

impl DhcpConfig {
    /// Parses a merged handler config.
    pub fn parse(cfg: &ConfigMap) -> Result<Self, String> {
        validate_config(cfg, &["recorded_stream", "xact_ttl_secs", "xact_ttl_ms"])?;
        let settings = WindowSettings::from_config(cfg).map_err(|e| e.to_string())?;
        let cfg_err = |e: crate::config::value::ConfigError| e.to_string();
        let ttl_ms = match cfg.get_u64("xact_ttl_ms").map_err(cfg_err)? {
            Some(ms) => ms,
            None => cfg
                .get_u64("xact_ttl_secs")
                .map_err(cfg_err)?
                .unwrap_or(5)
                .saturating_mul(1000),
        };
        Ok(DhcpConfig {
            settings,
            ttl_ms: i64::try_from(ttl_ms).unwrap_or(i64::MAX),
        })
    }
}

impl ProcessorConfig for DhcpConfig {
    fn build(&self, _ctx: &ProcessorContext) -> Box<dyn Processor> {
        Box::new(Dhcp::with_config(self))
    }
}

/// `dhcp` version 1.0.
pub const KIND: ProcessorKind = ProcessorKind {
    handler_type: "dhcp",
    version: "1.0",
    parse: |c| parsed(DhcpConfig::parse(c)),
};

impl Dhcp {
    /// Builds from a merged handler config.
    pub fn new(cfg: &ConfigMap) -> Result<Self, BuildError> {
        Ok(Dhcp::with_config(
            &DhcpConfig::parse(cfg).map_err(BuildError::Config)?,
        ))
    }

    /// Builds from a parsed config.
    pub fn with_config(cfg: &DhcpConfig) -> Self {
        Dhcp {
            window: Window::new(cfg.settings.clone()),
            ttl_ms: cfg.ttl_ms,
            pending: HashMap::new(),
            evicted_requests: 0,
        }
    }

    /// Pending REQUESTs dropped because the table was full.
    pub fn evicted_requests(&self) -> u64 {
        self.evicted_requests
    }

    fn process(&mut self, p: &PacketInfo<'_>) -> bool {
        if p.l4 != L4::Udp || !p.has_payload() {
            self.window.observe(p.ts);
            return false;
        }
        if is_v4_port(p.src_port) || is_v4_port(p.dst_port) {
            let deep = self.window.new_event(p.ts, true);
            self.v4(p, deep);
            true
        } else if is_v6_port(p.src_port) || is_v6_port(p.dst_port) {
            let deep = self.window.new_event(p.ts, true);
            self.v6(p, deep);
            true
        } else {
            self.window.observe(p.ts);
            false
        }
    }

    fn expire(&mut self, now: Timespec) {
        let ttl = self.ttl_ms;
        self.pending
            .retain(|_, r| now.micros_since(r.seen) / 1000 <= ttl);
    }

    fn v4(&mut self, p: &PacketInfo<'_>, deep: bool) {
        let Ok(msg) = DhcpMessage::new_checked(p.payload) else {
            return;
        };
        let ts = p.ts;
        let b = self.window.live_mut();
        b.total += 1;
        b.rate_total.add(ts.sec, 1);
        match msg.message_type() {
            Some(v4::DISCOVER) => b.discover += 1,
            Some(v4::OFFER) => {
                b.offer += 1;
                if deep && let (Some(mac), Some(server)) = (p.src_mac, msg.server_id()) {
                    b.top_servers
                        .update(format!("{}/{}", format_mac(&mac), server));
                }
            }
            Some(v4::REQUEST) => {
                b.request += 1;
                let hostname = msg
                    .hostname()
                    .map(|h| String::from_utf8_lossy(h).into_owned());
                if self.pending.len() >= MAX_PENDING && !self.pending.contains_key(&msg.xid()) {
                    self.expire(ts);
                    if self.pending.len() >= MAX_PENDING
                        && let Some(oldest) = self
                            .pending
                            .iter()
                            .min_by_key(|(_, r)| r.seen)
                            .map(|(k, _)| *k)
                    {
                        self.pending.remove(&oldest);
                        self.evicted_requests += 1;
                    }
                }
                self.pending
                    .insert(msg.xid(), PendingRequest { seen: ts, hostname });
            }
            Some(v4::ACK) => {
                b.ack += 1;
                let yiaddr = msg.yiaddr();
                if let Some(req) = self.pending.remove(&msg.xid()) {
                    let fresh = ts.micros_since(req.seen) / 1000 <= self.ttl_ms;
                    if deep && fresh && yiaddr != Ipv4Addr::UNSPECIFIED {
                        let host = req.hostname.as_deref().unwrap_or("Unknown");
                        let name = format!("{}/{}/{}", format_mac(msg.chaddr()), host, yiaddr);
                        self.window.live_mut().top_clients.update(name);
                    }
                }
            }
            _ => {}
        }
    }

    fn v6(&mut self, p: &PacketInfo<'_>, deep: bool) {
        let Ok(msg) = Dhcpv6Message::new_checked(p.payload) else {
            return;
        };
        let b = self.window.live_mut();
        b.total += 1;
        b.rate_total.add(p.ts.sec, 1);
        let t = msg.msg_type();
        match t {
            v6::SOLICIT => b.solicit += 1,
            v6::ADVERTISE => b.advertise += 1,
            v6::REQUEST => b.request_v6 += 1,
            v6::REPLY => b.reply += 1,
            _ => {}
        }
        if deep
            && (t == v6::ADVERTISE || t == v6::REPLY)
            && msg.server_id().is_some()
            && let (Some(mac), Some(IpAddr::V6(src))) = (p.src_mac, p.src_ip)
        {
            b.top_servers
                .update(format!("{}/{}", format_mac(&mac), src));
        }
    }
}

impl Processor for Dhcp {
    fn schema_key(&self) -> &'static str {
        DhcpBucket::SCHEMA_KEY
    }

    fn handle(&mut self, ev: &Event<'_>) -> bool {
        match time_event(&mut self.window, ev) {
            Some(true) => {
                if let Event::Tick(now) = ev {
                    self.expire(*now);
                }
            }
            Some(false) => {}
            None => {
                if let Event::Packet(p) = ev {
                    self.process(p);
                }
            }
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
