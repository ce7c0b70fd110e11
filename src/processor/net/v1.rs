//! net v1 (`packets`): per-packet counters, rates, sizes, IP cardinality and top lists.

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
const G_TOP_GEO: usize = 2;
const G_TOP_IPS: usize = 3;

/// Metric groups of net v1 (all on by default).
pub const GROUPS: [GroupDef; 4] = [
    GroupDef {
        name: "cardinality",
        default_on: true,
    },
    GroupDef {
        name: "counters",
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

/// One bucket of net v1.
#[derive(Clone, Debug, Default)]
pub struct NetV1Bucket {
    pps_in: Rate,
    pps_out: Rate,
    pps_total: Rate,
    bytes_in: Rate,
    bytes_out: Rate,
    bytes_total: Rate,
    udp: u64,
    tcp: u64,
    other_l4: u64,
    ipv4: u64,
    ipv6: u64,
    tcp_syn: u64,
    in_: u64,
    out: u64,
    unknown_dir: u64,
    total: u64,
    filtered: u64,
    src_ips_in: Cardinality,
    dst_ips_out: Cardinality,
    top_ipv4: TopN<Ipv4Addr>,
    top_ipv6: TopN<Ipv6Addr>,
    top_geo: TopN<GeoLocation>,
    top_asn: TopN<String>,
    payload_size: Distribution,
}

impl NetV1Bucket {
    fn rates_mut(&mut self) -> [&mut Rate; 6] {
        [
            &mut self.pps_in,
            &mut self.pps_out,
            &mut self.pps_total,
            &mut self.bytes_in,
            &mut self.bytes_out,
            &mut self.bytes_total,
        ]
    }
}

impl BucketMetrics for NetV1Bucket {
    fn merge(&mut self, o: &Self) {
        self.pps_in.merge(&o.pps_in);
        self.pps_out.merge(&o.pps_out);
        self.pps_total.merge(&o.pps_total);
        self.bytes_in.merge(&o.bytes_in);
        self.bytes_out.merge(&o.bytes_out);
        self.bytes_total.merge(&o.bytes_total);
        self.udp += o.udp;
        self.tcp += o.tcp;
        self.other_l4 += o.other_l4;
        self.ipv4 += o.ipv4;
        self.ipv6 += o.ipv6;
        self.tcp_syn += o.tcp_syn;
        self.in_ += o.in_;
        self.out += o.out;
        self.unknown_dir += o.unknown_dir;
        self.total += o.total;
        self.filtered += o.filtered;
        self.src_ips_in.merge(&o.src_ips_in);
        self.dst_ips_out.merge(&o.dst_ips_out);
        self.top_ipv4.merge(&o.top_ipv4);
        self.top_ipv6.merge(&o.top_ipv6);
        self.top_geo.merge(&o.top_geo);
        self.top_asn.merge(&o.top_asn);
        self.payload_size.merge(&o.payload_size);
    }

    fn tick(&mut self, sec: i64) {
        for r in self.rates_mut() {
            r.tick(sec);
        }
    }

    fn close(&mut self) {
        for r in self.rates_mut() {
            r.close();
        }
    }
}

const fn d(schema: &'static str, path: &'static [&'static str], help: &'static str) -> Desc {
    Desc { schema, path, help }
}

const PPS_IN: Desc = d(
    "packets",
    &["rates", "pps_in"],
    "Rate of ingress in packets per second",
);
const PPS_OUT: Desc = d(
    "packets",
    &["rates", "pps_out"],
    "Rate of egress in packets per second",
);
const PPS_TOTAL: Desc = d(
    "packets",
    &["rates", "pps_total"],
    "Rate of all packets (combined ingress and egress) in packets per second",
);
const BYTES_IN: Desc = d(
    "payload",
    &["rates", "bytes_in"],
    "Data rate of ingress packets in bytes per second",
);
const BYTES_OUT: Desc = d(
    "payload",
    &["rates", "bytes_out"],
    "Data rate of egress packets in bytes per second",
);
const BYTES_TOTAL: Desc = d(
    "payload",
    &["rates", "bytes_total"],
    "Data rate of all packets (combined ingress and egress) in bytes per second",
);
const PPS_EVENTS: Desc = d(
    "packets",
    &["rates", "pps_events"],
    "Rate of all packets before filtering in packets per second",
);
const EVENTS: Desc = d("packets", &["events"], "Total packets events generated");
const DEEP: Desc = d(
    "packets",
    &["deep_samples"],
    "Total packets that were sampled for deep inspection",
);
const UDP: Desc = d("packets", &["udp"], "Count of UDP packets");
const TCP: Desc = d("packets", &["tcp"], "Count of TCP packets");
const OTHER_L4: Desc = d(
    "packets",
    &["other_l4"],
    "Count of packets which are not UDP or TCP",
);
const IPV4: Desc = d("packets", &["ipv4"], "Count of IPv4 packets");
const IPV6: Desc = d("packets", &["ipv6"], "Count of IPv6 packets");
const SYN: Desc = d(
    "packets",
    &["protocol", "tcp", "syn"],
    "Count of TCP SYN packets",
);
const IN: Desc = d("packets", &["in"], "Count of total ingress packets");
const OUT: Desc = d("packets", &["out"], "Count of total egress packets");
const UNKNOWN_DIR: Desc = d(
    "packets",
    &["unknown_dir"],
    "Count of total unknown direction packets",
);
const TOTAL: Desc = d(
    "packets",
    &["total"],
    "Count of total packets matching the configured filter(s)",
);
const FILTERED: Desc = d(
    "packets",
    &["filtered"],
    "Count of total packets that did not match the configured filter(s) (if any)",
);
const SRC_IPS_IN: Desc = d(
    "packets",
    &["cardinality", "src_ips_in"],
    "Source IP cardinality",
);
const DST_IPS_OUT: Desc = d(
    "packets",
    &["cardinality", "dst_ips_out"],
    "Destination IP cardinality",
);
const TOP_IPV4: Desc = d("packets", &["top_ipv4"], "Top IPv4 IP addresses");
const TOP_IPV6: Desc = d("packets", &["top_ipv6"], "Top IPv6 IP addresses");
const TOP_GEO: Desc = d("packets", &["top_geoLoc"], "Top GeoIP locations");
const TOP_ASN: Desc = d("packets", &["top_ASN"], "Top ASNs by IP");
const PAYLOAD_SIZE: Desc = d(
    "packets",
    &["payload_size"],
    "Quantiles of payload sizes, in bytes",
);

impl Emit for NetV1Bucket {
    const SCHEMA_KEY: &'static str = "packets";

    fn emit(b: &Bucket<Self>, ctx: &EmitCtx, sink: &mut dyn MetricSink) {
        let m = &b.metrics;
        let r = Scope::ROOT;
        for (desc, rate) in [
            (&PPS_IN, &m.pps_in),
            (&PPS_OUT, &m.pps_out),
            (&PPS_TOTAL, &m.pps_total),
            (&BYTES_IN, &m.bytes_in),
            (&BYTES_OUT, &m.bytes_out),
            (&BYTES_TOTAL, &m.bytes_total),
            (&PPS_EVENTS, &b.base.event_rate),
        ] {
            ctx.rate(sink, desc, &r, rate);
        }
        sink.counter(&EVENTS, &r, b.base.events);
        sink.counter(&DEEP, &r, b.base.deep_samples);
        if ctx.on(G_COUNTERS) {
            for (desc, v) in [
                (&UDP, m.udp),
                (&TCP, m.tcp),
                (&OTHER_L4, m.other_l4),
                (&IPV4, m.ipv4),
                (&IPV6, m.ipv6),
                (&SYN, m.tcp_syn),
                (&IN, m.in_),
                (&OUT, m.out),
                (&UNKNOWN_DIR, m.unknown_dir),
                (&TOTAL, m.total),
                (&FILTERED, m.filtered),
            ] {
                sink.counter(desc, &r, v);
            }
        }
        if ctx.on(G_CARDINALITY) {
            sink.cardinality(&SRC_IPS_IN, &r, m.src_ips_in.estimate_rounded());
            sink.cardinality(&DST_IPS_OUT, &r, m.dst_ips_out.estimate_rounded());
        }
        if ctx.on(G_TOP_IPS) {
            sink.topn(&TOP_IPV4, &r, "ipv4", &ctx.top(&m.top_ipv4));
            sink.topn(&TOP_IPV6, &r, "ipv6", &ctx.top(&m.top_ipv6));
        }
        if ctx.on(G_TOP_GEO) {
            sink.topn(&TOP_GEO, &r, "geo_loc", &geo_entries(ctx, &m.top_geo));
            sink.topn(&TOP_ASN, &r, "asn", &ctx.top(&m.top_asn));
        }
        sink.quantiles(&PAYLOAD_SIZE, &r, &m.payload_size, true);
    }
}

/// The net v1 processor.
pub struct NetV1 {
    window: Window<NetV1Bucket>,
    groups: GroupSet,
    filter: NetFilter,
    geo: GeoLookup,
}

/// The handler's merged config, checked by building once (interim, until the typed config).
#[derive(Clone, Debug)]
pub struct NetV1Config(ConfigMap);

impl crate::processor::ProcessorConfig for NetV1Config {
    fn build(&self, ctx: &ProcessorContext) -> Box<dyn Processor> {
        match NetV1::new(&self.0, ctx) {
            Ok(p) => Box::new(p),
            Err(_) => unreachable!("checked when parsed"),
        }
    }
}

/// `net` version 1.0.
pub const KIND: crate::processor::ProcessorKind = crate::processor::ProcessorKind {
    handler_type: "net",
    version: "1.0",
    parse: |c| {
        NetV1::new(c, &ProcessorContext::default()).map_err(|e| e.to_string())?;
        Ok(Box::new(NetV1Config(c.clone())))
    },
};

impl NetV1 {
    /// Builds from a merged handler config.
    pub fn new(cfg: &ConfigMap, ctx: &ProcessorContext) -> Result<Self, BuildError> {
        validate_config(cfg, &CONFIG_DEFS).map_err(BuildError::Config)?;
        let settings =
            WindowSettings::from_config(cfg).map_err(|e| BuildError::Config(e.to_string()))?;
        let groups = resolve_groups(&GROUPS, cfg).map_err(BuildError::Config)?;
        let filter = NetFilter::from_config(cfg).map_err(BuildError::Config)?;
        Ok(NetV1 {
            window: Window::new(settings),
            groups,
            filter,
            geo: ctx.geo.lookup(ctx.geo_cache_size),
        })
    }

    fn process(&mut self, p: &PacketInfo<'_>) -> bool {
        self.process_ips(p, None)
    }

    /// `dnstap_ips`: a dnstap message's (query_address, response_address), recorded as the
    /// ingress and egress address whatever the direction (pktvisor's dnstap rule).
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
        let sec = p.ts.sec;
        let len = u64::from(p.frame_len);
        b.pps_total.add(sec, 1);
        b.bytes_total.add(sec, len);
        match p.direction {
            Direction::ToHost => {
                b.pps_in.add(sec, 1);
                b.bytes_in.add(sec, len);
            }
            Direction::FromHost => {
                b.pps_out.add(sec, 1);
                b.bytes_out.add(sec, len);
            }
            Direction::Unknown => {}
        }
        b.payload_size.record_u64(len);
        if groups.has(G_COUNTERS) {
            match p.l3 {
                L3::Ipv4 => b.ipv4 += 1,
                L3::Ipv6 => b.ipv6 += 1,
                L3::None => {}
            }
            match p.l4 {
                L4::Udp => b.udp += 1,
                L4::Tcp => b.tcp += 1,
                _ => b.other_l4 += 1,
            }
            if p.is_syn() {
                b.tcp_syn += 1;
            }
            match p.direction {
                Direction::ToHost => b.in_ += 1,
                Direction::FromHost => b.out += 1,
                Direction::Unknown => b.unknown_dir += 1,
            }
            b.total += 1;
        }
        if deep {
            let (ip_in, ip_out) = dnstap_ips.unwrap_or(match p.direction {
                Direction::ToHost => (p.src_ip, None),
                Direction::FromHost => (None, p.dst_ip),
                Direction::Unknown => (None, None),
            });
            for (ip, inbound) in [(ip_in, true), (ip_out, false)] {
                let Some(ip) = ip else { continue };
                if groups.has(G_CARDINALITY) {
                    if inbound {
                        b.src_ips_in.insert(&ip);
                    } else {
                        b.dst_ips_out.insert(&ip);
                    }
                }
                if groups.has(G_TOP_IPS) {
                    match ip {
                        IpAddr::V4(a) => b.top_ipv4.update(a),
                        IpAddr::V6(a) => b.top_ipv6.update(a),
                    }
                }
                if groups.has(G_TOP_GEO) {
                    update_geo(ip, &mut self.geo, &mut b.top_geo, &mut b.top_asn);
                }
            }
        }
        true
    }

    fn ctx(&self) -> EmitCtx {
        EmitCtx::new(self.window.settings(), self.groups, GROUPS.len())
    }
}

impl Processor for NetV1 {
    fn schema_key(&self) -> &'static str {
        NetV1Bucket::SCHEMA_KEY
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
