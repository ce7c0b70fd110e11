//! net v2 (`net`): the v1 metrics split per direction (`in`, `out`, `unknown`).
//!
//! Ingress packets record their source address, egress their destination, and packets of
//! unknown direction record both. A direction object appears once a packet was seen in it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{CONFIG_DEFS, NetFilter, geo_entries, update_geo};
use crate::config::hostspec::Direction;
use crate::config::value::ConfigMap;
use crate::decode::{L3, L4, PacketInfo};
use crate::enrich::geo::{GeoLocation, GeoLookup};
use crate::event::Event;
use crate::metric::{Desc, MetricSink, Scope, Snapshot};
use crate::processor::groups::{GroupDef, GroupSet, resolve_groups, validate_config};
use crate::processor::snapshot::{Emit, EmitCtx, snapshot_of};
use crate::processor::{BuildError, Processor, ProcessorContext, Select, time_event};
use crate::sketch::{Cardinality, Distribution, Rate, TopN};
use crate::time::Timespec;
use crate::window::{Bucket, BucketMetrics, PeriodError, Window, WindowSettings};

const G_CARDINALITY: usize = 0;
const G_COUNTERS: usize = 1;
const G_QUANTILES: usize = 2;
const G_TOP_GEO: usize = 3;
const G_TOP_IPS: usize = 4;

/// Metric groups of net v2 (all on by default).
pub const GROUPS: [GroupDef; 5] = [
    GroupDef {
        name: "cardinality",
        default_on: true,
    },
    GroupDef {
        name: "counters",
        default_on: true,
    },
    GroupDef {
        name: "quantiles",
        default_on: true,
    },
    GroupDef {
        name: "top_geo",
        default_on: true,
    },
    GroupDef {
        name: "top_ips",
        default_on: true,
    },
];

/// Metrics of one direction.
#[derive(Clone, Debug, Default)]
pub struct DirectionMetrics {
    pps: Rate,
    bps: Rate,
    udp: u64,
    tcp: u64,
    other_l4: u64,
    ipv4: u64,
    ipv6: u64,
    syn: u64,
    total: u64,
    ips: Cardinality,
    top_ipv4: TopN<Ipv4Addr>,
    top_ipv6: TopN<Ipv6Addr>,
    top_geo: TopN<GeoLocation>,
    top_asn: TopN<String>,
    payload_size: Distribution,
}

impl DirectionMetrics {
    fn merge(&mut self, o: &Self) {
        self.pps.merge(&o.pps);
        self.bps.merge(&o.bps);
        self.udp += o.udp;
        self.tcp += o.tcp;
        self.other_l4 += o.other_l4;
        self.ipv4 += o.ipv4;
        self.ipv6 += o.ipv6;
        self.syn += o.syn;
        self.total += o.total;
        self.ips.merge(&o.ips);
        self.top_ipv4.merge(&o.top_ipv4);
        self.top_ipv6.merge(&o.top_ipv6);
        self.top_geo.merge(&o.top_geo);
        self.top_asn.merge(&o.top_asn);
        self.payload_size.merge(&o.payload_size);
    }
}

/// One bucket of net v2.
#[derive(Clone, Debug, Default)]
pub struct NetV2Bucket {
    /// Indexed in, out, unknown.
    dirs: [Option<Box<DirectionMetrics>>; 3],
    filtered: u64,
}

fn dir_index(d: Direction) -> usize {
    match d {
        Direction::ToHost => 0,
        Direction::FromHost => 1,
        Direction::Unknown => 2,
    }
}

const DIR_NAMES: [&str; 3] = ["in", "out", "unknown"];

impl BucketMetrics for NetV2Bucket {
    fn merge(&mut self, o: &Self) {
        for (mine, theirs) in self.dirs.iter_mut().zip(o.dirs.iter()) {
            if let Some(t) = theirs {
                mine.get_or_insert_with(Box::default).merge(t);
            }
        }
        self.filtered += o.filtered;
    }

    fn tick(&mut self, sec: i64) {
        for m in self.dirs.iter_mut().flatten() {
            m.pps.tick(sec);
            m.bps.tick(sec);
        }
    }

    fn close(&mut self) {
        for m in self.dirs.iter_mut().flatten() {
            m.pps.close();
            m.bps.close();
        }
    }
}

const fn d(path: &'static [&'static str], help: &'static str) -> Desc {
    Desc {
        schema: "net",
        path,
        help,
    }
}

const OBSERVED_PPS: Desc = d(
    &["rates", "observed_pps"],
    "Rate of all packets before filtering per second",
);
const OBSERVED: Desc = d(&["observed_packets"], "Total packets events generated");
const DEEP: Desc = d(
    &["deep_sampled_packets"],
    "Total packets that were sampled for deep inspection",
);
const FILTERED: Desc = d(
    &["filtered_packets"],
    "Total packets seen that did not match the configured filter(s) (if any)",
);
const PPS: Desc = d(&["rates", "pps"], "Rate of packets per second");
const BPS: Desc = d(&["rates", "bps"], "Data rate of bits per second");
const UDP: Desc = d(&["udp_packets"], "Count of UDP packets");
const TCP: Desc = d(&["tcp_packets"], "Count of TCP packets");
const OTHER_L4: Desc = d(
    &["other_l4_packets"],
    "Count of packets which are not UDP or TCP",
);
const IPV4: Desc = d(&["ipv4_packets"], "Count of IPv4 packets");
const IPV6: Desc = d(&["ipv6_packets"], "Count of IPv6 packets");
const SYN: Desc = d(&["tcp", "syn_packets"], "Count of TCP SYN packets");
const TOTAL: Desc = d(
    &["total_packets"],
    "Count of total packets matching the configured filter(s)",
);
const IPS: Desc = d(&["cardinality", "ips"], "IP cardinality");
const TOP_IPV4: Desc = d(&["top_ipv4_packets"], "Top IPv4 addresses");
const TOP_IPV6: Desc = d(&["top_ipv6_packets"], "Top IPv6 addresses");
const TOP_GEO: Desc = d(&["top_geo_loc_packets"], "Top GeoIP locations");
const TOP_ASN: Desc = d(&["top_asn_packets"], "Top ASNs by IP");
const PAYLOAD_SIZE: Desc = d(
    &["payload_size_bytes"],
    "Quantiles of payload sizes, in bytes",
);

impl Emit for NetV2Bucket {
    const SCHEMA_KEY: &'static str = "net";

    fn emit(b: &Bucket<Self>, ctx: &EmitCtx, sink: &mut dyn MetricSink) {
        let r = Scope::ROOT;
        ctx.rate(sink, &OBSERVED_PPS, &r, &b.base.event_rate);
        sink.counter(&OBSERVED, &r, b.base.events);
        sink.counter(&DEEP, &r, b.base.deep_samples);
        if ctx.on(G_COUNTERS) {
            sink.counter(&FILTERED, &r, b.metrics.filtered);
        }
        for (i, m) in b.metrics.dirs.iter().enumerate() {
            let Some(m) = m else { continue };
            let name = DIR_NAMES[i];
            let json = [name];
            let labels = [("direction", name)];
            let s = Scope {
                json: &json,
                labels: &labels,
            };
            if ctx.on(G_QUANTILES) {
                ctx.rate(sink, &PPS, &s, &m.pps);
                ctx.rate(sink, &BPS, &s, &m.bps);
            }
            if ctx.on(G_COUNTERS) {
                for (desc, v) in [
                    (&UDP, m.udp),
                    (&TCP, m.tcp),
                    (&OTHER_L4, m.other_l4),
                    (&IPV4, m.ipv4),
                    (&IPV6, m.ipv6),
                    (&SYN, m.syn),
                    (&TOTAL, m.total),
                ] {
                    sink.counter(desc, &s, v);
                }
            }
            if ctx.on(G_CARDINALITY) {
                sink.cardinality(&IPS, &s, m.ips.estimate_rounded());
            }
            if ctx.on(G_TOP_IPS) {
                sink.topn(&TOP_IPV4, &s, "ipv4", &ctx.top(&m.top_ipv4));
                sink.topn(&TOP_IPV6, &s, "ipv6", &ctx.top(&m.top_ipv6));
            }
            if ctx.on(G_TOP_GEO) {
                sink.topn(&TOP_GEO, &s, "geo_loc", &geo_entries(ctx, &m.top_geo));
                sink.topn(&TOP_ASN, &s, "asn", &ctx.top(&m.top_asn));
            }
            if ctx.on(G_QUANTILES) {
                sink.quantiles(&PAYLOAD_SIZE, &s, &m.payload_size, true);
            }
        }
    }
}

/// The net v2 processor.
pub struct NetV2 {
    window: Window<NetV2Bucket>,
    groups: GroupSet,
    filter: NetFilter,
    geo: GeoLookup,
}

/// The handler's merged config, checked by building once (interim, until the typed config).
#[derive(Clone, Debug)]
pub struct NetV2Config(ConfigMap);

impl crate::processor::ProcessorConfig for NetV2Config {
    fn build(&self, ctx: &ProcessorContext) -> Box<dyn Processor> {
        match NetV2::new(&self.0, ctx) {
            Ok(p) => Box::new(p),
            Err(_) => unreachable!("checked when parsed"),
        }
    }
}

/// `net` version 2.0.
pub const KIND: crate::processor::ProcessorKind = crate::processor::ProcessorKind {
    handler_type: "net",
    version: "2.0",
    parse: |c| {
        NetV2::new(c, &ProcessorContext::default()).map_err(|e| e.to_string())?;
        Ok(Box::new(NetV2Config(c.clone())))
    },
};

impl NetV2 {
    /// Builds from a merged handler config.
    pub fn new(cfg: &ConfigMap, ctx: &ProcessorContext) -> Result<Self, BuildError> {
        validate_config(cfg, &CONFIG_DEFS).map_err(BuildError::Config)?;
        let settings =
            WindowSettings::from_config(cfg).map_err(|e| BuildError::Config(e.to_string()))?;
        let groups = resolve_groups(&GROUPS, cfg).map_err(BuildError::Config)?;
        let filter = NetFilter::from_config(cfg).map_err(BuildError::Config)?;
        Ok(NetV2 {
            window: Window::new(settings),
            groups,
            filter,
            geo: ctx.geo.lookup(ctx.geo_cache_size),
        })
    }

    fn process(&mut self, p: &PacketInfo<'_>) -> bool {
        self.process_ips(p, None)
    }

    /// `dnstap_ips`: a dnstap message's (query_address, response_address), both recorded in
    /// the message's direction (pktvisor's dnstap rule).
    fn process_ips(
        &mut self,
        p: &PacketInfo<'_>,
        dnstap_ips: Option<(Option<IpAddr>, Option<IpAddr>)>,
    ) -> bool {
        let filtered = self.filter.active() && !self.filter.keep(p, &mut self.geo);
        let deep = self.window.new_event(p.ts, !filtered);
        let groups = self.groups;
        let b = self.window.live_mut();
        if filtered {
            if groups.has(G_COUNTERS) {
                b.filtered += 1;
            }
            return false;
        }
        let m = b.dirs[dir_index(p.direction)].get_or_insert_with(Box::default);
        let sec = p.ts.sec;
        let len = u64::from(p.frame_len);
        if groups.has(G_QUANTILES) {
            m.pps.add(sec, 1);
            m.bps.add(sec, len);
            m.payload_size.record_u64(len);
        }
        if groups.has(G_COUNTERS) {
            match p.l3 {
                L3::Ipv4 => m.ipv4 += 1,
                L3::Ipv6 => m.ipv6 += 1,
                L3::None => {}
            }
            match p.l4 {
                L4::Udp => m.udp += 1,
                L4::Tcp => m.tcp += 1,
                _ => m.other_l4 += 1,
            }
            if p.is_syn() {
                m.syn += 1;
            }
            m.total += 1;
        }
        if deep {
            let (a, b2) = dnstap_ips.unwrap_or(match p.direction {
                Direction::ToHost => (p.src_ip, None),
                Direction::FromHost => (p.dst_ip, None),
                Direction::Unknown => (p.src_ip, p.dst_ip),
            });
            for ip in [a, b2].into_iter().flatten() {
                if groups.has(G_CARDINALITY) {
                    m.ips.insert(&ip);
                }
                if groups.has(G_TOP_IPS) {
                    match ip {
                        IpAddr::V4(x) => m.top_ipv4.update(x),
                        IpAddr::V6(x) => m.top_ipv6.update(x),
                    }
                }
                if groups.has(G_TOP_GEO) {
                    update_geo(ip, &mut self.geo, &mut m.top_geo, &mut m.top_asn);
                }
            }
        }
        true
    }

    fn ctx(&self) -> EmitCtx {
        EmitCtx::new(self.window.settings(), self.groups, GROUPS.len())
    }
}

impl Processor for NetV2 {
    fn schema_key(&self) -> &'static str {
        NetV2Bucket::SCHEMA_KEY
    }

    fn handle(&mut self, ev: &Event<'_>) -> bool {
        if time_event(&mut self.window, ev).is_some() {
            return true;
        }
        match ev {
            Event::Packet(p) => self.process(p),
            Event::TcpMessage(m) => self.process(&super::message_packet(m)),
            Event::Dnstap(d) => self.process_ips(
                &super::dnstap_packet(d),
                Some((d.query_address, d.response_address)),
            ),
            _ => true,
        }
    }

    fn finish(&mut self) {
        self.window.finish();
    }

    fn snapshot(&self, sel: Select, now: Timespec) -> Result<Box<dyn Snapshot>, PeriodError> {
        snapshot_of(&self.window, sel, now, self.ctx())
    }

    fn shard_window(&self) -> Box<dyn crate::processor::snapshot::ShardWindow> {
        crate::processor::snapshot::shard_window_of(&self.window, self.ctx())
    }
}
