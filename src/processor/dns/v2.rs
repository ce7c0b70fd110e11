//! dns v2 (`dns`, per direction `in` / `out` / `unknown`): everything is counted per
//! completed transaction, at its response.
//!
//! The transaction direction is where the query went: a query toward the host (or a
//! response from it) is `in`, the other way `out`, unknown host direction `unknown`.
//! Response-side filters (`only_rcode`, `exclude_noerror`, `answer_count`,
//! `only_dnssec_response`, `only_qtype`) look at responses, query-side ones (`only_qname`,
//! `only_qname_suffix`, `geoloc_notfound`, `asn_notfound`) at queries; the response of a
//! filtered query counts as filtered too. pktvisor's double count is kept: a filtered
//! response that matches an unfiltered query adds 2 to `filtered_packets`. At the end of a
//! recorded stream every still-pending query counts as `timeout_queries`.
//!
//! dnstap messages: the direction comes from the message type (CLIENT/AUTH/UPDATE `in`,
//! STUB/RESOLVER/FORWARDER/TOOL `out`), transactions are keyed by DNS id only (pktvisor's
//! quirk), transports include DNSCrypt and DoQ, `dnstap_msg_type` keeps one family.

use std::net::IpAddr;
use std::sync::Arc;

use super::config::{DnsOptions, V2_CONFIG_DEFS};
use super::qname::{aggregate, public_suffix_size};
use super::v1::ecs_geo;
use super::xact::{DEFAULT_LIMIT, XactTable};
use super::{
    DnsCore, DnsPacket, QuestionCache, TcpSessions, dns_port_set, ecs_address, handle_event,
    has_rrsig_answer, qname_original, qtype_label, rcode_label,
};
use crate::config::hostspec::Direction;
use crate::config::value::ConfigMap;
use crate::decode::L3;
use crate::decode::tcp_stream::PortSet;
use crate::enrich::geo::{GeoLocation, GeoLookup, UNKNOWN};
use crate::event::DnstapEvent;
use crate::event::{DnsTransport, Event};
use crate::metric::TableStat;
use crate::metric::{Desc, MetricSink, Scope, Snapshot, TopEntry};
use crate::processor::groups::{GroupDef, GroupSet, resolve_groups, validate_config};
use crate::processor::net::geo_entries;
use crate::processor::snapshot::{Emit, EmitCtx, snapshot_of};
use crate::processor::{BuildError, Processor, ProcessorContext, Select, time_event};
use crate::sketch::{Cardinality, Distribution, Rate, TopN};
use crate::time::Timespec;
use crate::window::{Bucket, BucketMetrics, PeriodError, Window, WindowSettings};
use crate::wire::dns::rcode;

const G_CARDINALITY: usize = 0;
const G_COUNTERS: usize = 1;
const G_QUANTILES: usize = 2;
const G_TOP_ECS: usize = 3;
const G_TOP_PORTS: usize = 4;
const G_TOP_QNAMES: usize = 5;
const G_TOP_QTYPES: usize = 6;
const G_TOP_RCODES: usize = 7;
const G_TOP_SIZE: usize = 8;
const G_XACT_TIMES: usize = 9;

const fn g(name: &'static str, default_on: bool) -> GroupDef {
    GroupDef { name, default_on }
}

/// Metric groups of dns v2.
pub const GROUPS: [GroupDef; 10] = [
    g("cardinality", true),
    g("counters", true),
    g("quantiles", true),
    g("top_ecs", false),
    g("top_ports", false),
    g("top_qnames", true),
    g("top_qtypes", true),
    g("top_rcodes", true),
    g("top_size", false),
    g("xact_times", false),
];

/// Transaction metrics of one direction.
#[derive(Clone, Debug, Default)]
pub struct DirectionMetrics {
    xact_rate: Rate,
    xacts: u64,
    udp: u64,
    tcp: u64,
    dot: u64,
    doh: u64,
    dnscrypt_udp: u64,
    dnscrypt_tcp: u64,
    doq: u64,
    ipv4: u64,
    ipv6: u64,
    nxdomain: u64,
    refused: u64,
    srvfail: u64,
    noerror: u64,
    nodata: u64,
    ecs: u64,
    authenticated_data: u64,
    authoritative_answer: u64,
    checking_disabled: u64,
    timeout: u64,
    orphan: u64,
    qnames: Cardinality,
    top_ports: TopN<u16>,
    top_geo_ecs: TopN<GeoLocation>,
    top_asn_ecs: TopN<Arc<str>>,
    top_ecs: TopN<Arc<str>>,
    top_nxdomain: TopN<Arc<str>>,
    top_refused: TopN<Arc<str>>,
    top_srvfail: TopN<Arc<str>>,
    top_noerror: TopN<Arc<str>>,
    top_nodata: TopN<Arc<str>>,
    top_rcode: TopN<u16>,
    top_qname2: TopN<Arc<str>>,
    top_qname3: TopN<Arc<str>>,
    top_resp_bytes: TopN<Arc<str>>,
    ratio: Distribution,
    top_qtype: TopN<u16>,
    xact_us: Distribution,
    top_slow: TopN<Arc<str>>,
}

impl DirectionMetrics {
    fn counters_mut(&mut self) -> [&mut u64; 21] {
        [
            &mut self.xacts,
            &mut self.udp,
            &mut self.tcp,
            &mut self.dot,
            &mut self.doh,
            &mut self.dnscrypt_udp,
            &mut self.dnscrypt_tcp,
            &mut self.doq,
            &mut self.ipv4,
            &mut self.ipv6,
            &mut self.nxdomain,
            &mut self.refused,
            &mut self.srvfail,
            &mut self.noerror,
            &mut self.nodata,
            &mut self.ecs,
            &mut self.authenticated_data,
            &mut self.authoritative_answer,
            &mut self.checking_disabled,
            &mut self.timeout,
            &mut self.orphan,
        ]
    }

    fn counters(&self) -> [u64; 21] {
        [
            self.xacts,
            self.udp,
            self.tcp,
            self.dot,
            self.doh,
            self.dnscrypt_udp,
            self.dnscrypt_tcp,
            self.doq,
            self.ipv4,
            self.ipv6,
            self.nxdomain,
            self.refused,
            self.srvfail,
            self.noerror,
            self.nodata,
            self.ecs,
            self.authenticated_data,
            self.authoritative_answer,
            self.checking_disabled,
            self.timeout,
            self.orphan,
        ]
    }

    fn merge(&mut self, o: &Self) {
        self.xact_rate.merge(&o.xact_rate);
        for (a, b) in self.counters_mut().into_iter().zip(o.counters()) {
            *a += b;
        }
        self.qnames.merge(&o.qnames);
        self.top_ports.merge(&o.top_ports);
        self.top_geo_ecs.merge(&o.top_geo_ecs);
        self.top_asn_ecs.merge(&o.top_asn_ecs);
        self.top_ecs.merge(&o.top_ecs);
        self.top_nxdomain.merge(&o.top_nxdomain);
        self.top_refused.merge(&o.top_refused);
        self.top_srvfail.merge(&o.top_srvfail);
        self.top_noerror.merge(&o.top_noerror);
        self.top_nodata.merge(&o.top_nodata);
        self.top_rcode.merge(&o.top_rcode);
        self.top_qname2.merge(&o.top_qname2);
        self.top_qname3.merge(&o.top_qname3);
        self.top_resp_bytes.merge(&o.top_resp_bytes);
        self.ratio.merge(&o.ratio);
        self.top_qtype.merge(&o.top_qtype);
        self.xact_us.merge(&o.xact_us);
        self.top_slow.merge(&o.top_slow);
    }
}

/// One bucket of dns v2.
#[derive(Clone, Debug, Default)]
pub struct DnsV2Bucket {
    dirs: [Option<Box<DirectionMetrics>>; 3],
    filtered: u64,
}

impl DnsV2Bucket {
    fn dir(&mut self, i: usize) -> &mut DirectionMetrics {
        self.dirs[i].get_or_insert_with(Box::default)
    }
}

impl BucketMetrics for DnsV2Bucket {
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
            m.xact_rate.tick(sec);
        }
    }

    fn close(&mut self) {
        for m in self.dirs.iter_mut().flatten() {
            m.xact_rate.close();
        }
    }
}

const fn d(path: &'static [&'static str], help: &'static str) -> Desc {
    Desc {
        schema: "dns",
        path,
        help,
    }
}

const OBSERVED_PPS: Desc = d(
    &["rates", "observed_pps"],
    "Rate of all DNS wire packets before filtering per second",
);
const OBSERVED: Desc = d(&["observed_packets"], "Total DNS wire packets events");
const DEEP: Desc = d(
    &["deep_sampled_packets"],
    "Total DNS wire packets that were sampled for deep inspection",
);
const FILTERED: Desc = d(
    &["filtered_packets"],
    "Total DNS wire packets seen that did not match the configured filter(s) (if any)",
);
const XACT_RATES: Desc = d(
    &["xact_rates"],
    "Rate of all DNS transaction (reply/query) per second",
);
const COUNTER_DESCS: [Desc; 21] = [
    d(&["xacts"], "Total DNS transactions (query/reply pairs)"),
    d(
        &["udp_xacts"],
        "Total DNS transactions (query/reply pairs) received over UDP",
    ),
    d(
        &["tcp_xacts"],
        "Total DNS transactions (query/reply pairs) received over TCP",
    ),
    d(
        &["dot_xacts"],
        "Total DNS transactions (query/reply pairs) received over DNS over TLS",
    ),
    d(
        &["doh_xacts"],
        "Total DNS transactions (query/reply pairs) received over DNS over HTTPS",
    ),
    d(
        &["dnscrypt_udp_xacts"],
        "Total DNS transactions (query/reply pairs) received over DNSCrypt over UDP",
    ),
    d(
        &["dnscrypt_tcp_xacts"],
        "Total DNS transactions (query/reply pairs) received over DNSCrypt over TCP",
    ),
    d(
        &["doq_xacts"],
        "Total DNS transactions (query/reply pairs) received over DNS over QUIC",
    ),
    d(
        &["ipv4_xacts"],
        "Total DNS transactions (query/reply pairs) received over IPv4",
    ),
    d(
        &["ipv6_xacts"],
        "Total DNS transactions (query/reply pairs) received over IPv6",
    ),
    d(
        &["nxdomain_xacts"],
        "Total DNS transactions (query/reply pairs) flagged as reply with response code NXDOMAIN",
    ),
    d(
        &["refused_xacts"],
        "Total DNS transactions (query/reply pairs) flagged as reply with response code REFUSED",
    ),
    d(
        &["srvfail_xacts"],
        "Total DNS transactions (query/reply pairs) flagged as reply with response code SRVFAIL",
    ),
    d(
        &["noerror_xacts"],
        "Total DNS transactions (query/reply pairs) flagged as reply with response code NOERROR",
    ),
    d(
        &["nodata_xacts"],
        "Total DNS transactions (query/reply pairs) flagged as reply with response code NOERROR but with an empty answers section",
    ),
    d(
        &["ecs_xacts"],
        "Total DNS transactions (query/reply pairs) with the EDNS Client Subnet option set",
    ),
    d(
        &["authenticated_data_xacts"],
        "Total DNS transactions (query/reply pairs) with the AD flag set in the response",
    ),
    d(
        &["authoritative_answer_xacts"],
        "Total DNS transactions (query/reply pairs) with the AA flag set in the response",
    ),
    d(
        &["checking_disabled_xacts"],
        "Total DNS transactions (query/reply pairs) with the CD flag set in the query",
    ),
    d(
        &["timeout_queries"],
        "Total number of DNS queries that timed out",
    ),
    d(
        &["orphan_responses"],
        "Total number of DNS responses that do not have a corresponding query",
    ),
];
/// Index of `ecs_xacts` in `COUNTER_DESCS` (also needs the top_ecs group).
const ECS_COUNTER: usize = 15;
const CARD_QNAME: Desc = d(
    &["cardinality", "qname"],
    "Cardinality of unique QNAMES, both ingress and egress",
);
const TOP_PORTS: Desc = d(
    &["top_udp_ports_xacts"],
    "Top UDP source port on the query side of a transaction",
);
const TOP_GEO_ECS: Desc = d(&["top_geo_loc_ecs_xacts"], "Top GeoIP ECS locations");
const TOP_ASN_ECS: Desc = d(&["top_asn_ecs_xacts"], "Top ASNs by ECS");
const TOP_ECS: Desc = d(
    &["top_ecs_xacts"],
    "Top EDNS Client Subnet (ECS) observed in DNS transaction",
);
const TOP_NXDOMAIN: Desc = d(
    &["top_nxdomain_xacts"],
    "Top QNAMES with result code NXDOMAIN",
);
const TOP_REFUSED: Desc = d(
    &["top_refused_xacts"],
    "Top QNAMES with result code REFUSED",
);
const TOP_SRVFAIL: Desc = d(
    &["top_srvfail_xacts"],
    "Top QNAMES with result code SRVFAIL",
);
const TOP_NOERROR: Desc = d(
    &["top_noerror_xacts"],
    "Top QNAMES with result code NOERROR",
);
const TOP_NODATA: Desc = d(
    &["top_nodata_xacts"],
    "Top QNAMES with result code NOERROR and empty answer section",
);
const TOP_RCODE: Desc = d(&["top_rcode_xacts"], "Top result codes");
const TOP_QNAME2: Desc = d(
    &["top_qname2_xacts"],
    "Top QNAMES, aggregated at a depth of two labels",
);
const TOP_QNAME3: Desc = d(
    &["top_qname3_xacts"],
    "Top QNAMES, aggregated at a depth of three labels",
);
const TOP_RESP_BYTES: Desc = d(
    &["top_response_bytes"],
    "Top QNAMES by response volume in bytes",
);
const RATIO: Desc = d(
    &["response_query_size_ratio"],
    "Quantiles of ratio of packet sizes in a DNS transaction (reply/query)",
);
const TOP_QTYPE: Desc = d(&["top_qtype_xacts"], "Top query types");
const XACT_US: Desc = d(
    &["xact_time_us"],
    "Quantiles of transaction timing (query/reply pairs) in microseconds",
);
const XACT_HIST: Desc = d(
    &["xact_histogram_us"],
    "Histogram of transaction timing (query/reply pairs) in microseconds",
);
const TOP_SLOW: Desc = d(
    &["top_slow_xacts"],
    "Top QNAMES in transactions where host is the server and transaction speed is slower than p90",
);

const DIR_NAMES: [&str; 3] = ["in", "out", "unknown"];

fn named(ctx: &EmitCtx, t: &TopN<u16>, label: fn(u16) -> String) -> Vec<TopEntry> {
    t.top(ctx.topn_count, ctx.topn_threshold)
        .into_iter()
        .map(|e| TopEntry {
            name: label(*e.item),
            estimate: e.estimate,
            lat_lon: None,
        })
        .collect()
}

impl Emit for DnsV2Bucket {
    const SCHEMA_KEY: &'static str = "dns";

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
            let json = [DIR_NAMES[i]];
            let labels = [("direction", DIR_NAMES[i])];
            let s = Scope {
                json: &json,
                labels: &labels,
            };
            if ctx.on(G_QUANTILES) {
                sink.rate(&XACT_RATES, &s, &m.xact_rate, None);
            }
            if ctx.on(G_COUNTERS) {
                for (k, (desc, v)) in COUNTER_DESCS.iter().zip(m.counters()).enumerate() {
                    if k != ECS_COUNTER || ctx.on(G_TOP_ECS) {
                        sink.counter(desc, &s, v);
                    }
                }
            }
            if ctx.on(G_CARDINALITY) {
                sink.cardinality(&CARD_QNAME, &s, m.qnames.estimate_rounded());
            }
            if ctx.on(G_TOP_PORTS) {
                sink.topn(&TOP_PORTS, &s, "port", &ctx.top(&m.top_ports));
            }
            if ctx.on(G_TOP_ECS) {
                sink.topn(
                    &TOP_GEO_ECS,
                    &s,
                    "geo_loc",
                    &geo_entries(ctx, &m.top_geo_ecs),
                );
                sink.topn(&TOP_ASN_ECS, &s, "asn", &ctx.top(&m.top_asn_ecs));
                sink.topn(&TOP_ECS, &s, "ecs", &ctx.top(&m.top_ecs));
            }
            if ctx.on(G_TOP_RCODES) {
                for (desc, t) in [
                    (&TOP_NXDOMAIN, &m.top_nxdomain),
                    (&TOP_REFUSED, &m.top_refused),
                    (&TOP_SRVFAIL, &m.top_srvfail),
                    (&TOP_NOERROR, &m.top_noerror),
                    (&TOP_NODATA, &m.top_nodata),
                ] {
                    sink.topn(desc, &s, "qname", &ctx.top(t));
                }
                sink.topn(
                    &TOP_RCODE,
                    &s,
                    "rcode",
                    &named(ctx, &m.top_rcode, rcode_label),
                );
            }
            if ctx.on(G_TOP_QNAMES) {
                sink.topn(&TOP_QNAME2, &s, "qname", &ctx.top(&m.top_qname2));
                sink.topn(&TOP_QNAME3, &s, "qname", &ctx.top(&m.top_qname3));
            }
            if ctx.on(G_TOP_SIZE) {
                sink.topn(&TOP_RESP_BYTES, &s, "qname", &ctx.top(&m.top_resp_bytes));
                sink.quantiles(&RATIO, &s, &m.ratio, false);
            }
            if ctx.on(G_TOP_QTYPES) {
                sink.topn(
                    &TOP_QTYPE,
                    &s,
                    "qtype",
                    &named(ctx, &m.top_qtype, qtype_label),
                );
            }
            if ctx.on(G_XACT_TIMES) {
                sink.quantiles(&XACT_US, &s, &m.xact_us, true);
                sink.histogram(&XACT_HIST, &s, &m.xact_us, true);
                sink.topn(&TOP_SLOW, &s, "qname", &ctx.top(&m.top_slow));
            }
        }
    }
}

/// What is remembered of a query until its response.
#[derive(Clone, Copy, Debug)]
struct PendingQuery {
    filtered: bool,
    dir: usize,
    size: u32,
    checking_disabled: bool,
    ecs: Option<IpAddr>,
    suffix: u16,
    client_port: u16,
}

fn dir_index(d: Direction, response: bool) -> usize {
    match (d, response) {
        (Direction::ToHost, false) | (Direction::FromHost, true) => 0,
        (Direction::FromHost, false) | (Direction::ToHost, true) => 1,
        (Direction::Unknown, _) => 2,
    }
}

fn passes_response(o: &DnsOptions, pkt: &DnsPacket<'_>, q: &mut QuestionCache) -> bool {
    let m = &pkt.msg;
    if o.exclude_noerror {
        if m.rcode() == rcode::NOERROR {
            return false;
        }
    } else if let Some(set) = &o.only_rcode
        && !set.contains(&u16::from(m.rcode()))
    {
        return false;
    }
    if let Some(n) = o.answer_count
        && u64::from(m.ancount()) != n
    {
        return false;
    }
    if o.only_dnssec_response && !has_rrsig_answer(m) {
        return false;
    }
    if let Some(set) = &o.only_qtype
        && !q.qtype(m).is_some_and(|t| set.contains(&t))
    {
        return false;
    }
    true
}

fn passes_query(
    o: &DnsOptions,
    pkt: &DnsPacket<'_>,
    q: &mut QuestionCache,
    geo: &mut GeoLookup,
    suffix: &mut usize,
) -> bool {
    let m = &pkt.msg;
    if let Some(names) = &o.only_qname {
        q.qtype(m);
        if !names.iter().any(|n| n == q.name()) {
            return false;
        }
    }
    if o.only_qname_suffix.is_some() {
        q.qtype(m);
        match o.suffix_match(q.name()) {
            Some(len) => *suffix = len,
            None => return false,
        }
    }
    if o.geoloc_notfound || o.asn_notfound {
        let Some(ecs) = ecs_address(m) else {
            return false;
        };
        if o.geoloc_notfound && !(geo.city_enabled() && geo.location(ecs).location == UNKNOWN) {
            return false;
        }
        if o.asn_notfound && !(geo.asn_enabled() && &*geo.asn(ecs) == UNKNOWN) {
            return false;
        }
    }
    true
}

/// The dns v2 processor.
pub struct DnsV2 {
    window: Window<DnsV2Bucket>,
    groups: GroupSet,
    opts: DnsOptions,
    geo: GeoLookup,
    xacts: XactTable<PendingQuery>,
    tcp: TcpSessions,
    q: QuestionCache,
    slow_us: [u64; 3],
}

/// The handler's merged config, checked by building once (interim, until the typed config).
#[derive(Clone, Debug)]
pub struct DnsV2Config(ConfigMap);

impl crate::processor::ProcessorConfig for DnsV2Config {
    fn build(&self, ctx: &ProcessorContext) -> Box<dyn Processor> {
        match DnsV2::new(&self.0, ctx) {
            Ok(p) => Box::new(p),
            Err(_) => unreachable!("checked when parsed"),
        }
    }
}

/// `dns` version 2.0.
pub const KIND: crate::processor::ProcessorKind = crate::processor::ProcessorKind {
    handler_type: "dns",
    version: "2.0",
    parse: |c| {
        DnsV2::new(c, &ProcessorContext::default()).map_err(|e| e.to_string())?;
        Ok(Box::new(DnsV2Config(c.clone())))
    },
};

impl DnsV2 {
    /// Builds from a merged handler config.
    pub fn new(cfg: &ConfigMap, ctx: &ProcessorContext) -> Result<Self, BuildError> {
        validate_config(cfg, &V2_CONFIG_DEFS).map_err(BuildError::Config)?;
        let settings =
            WindowSettings::from_config(cfg).map_err(|e| BuildError::Config(e.to_string()))?;
        let groups = resolve_groups(&GROUPS, cfg).map_err(BuildError::Config)?;
        let opts = DnsOptions::from_config(cfg).map_err(BuildError::Config)?;
        Ok(DnsV2 {
            window: Window::new(settings),
            groups,
            xacts: XactTable::new(opts.ttl_ms, DEFAULT_LIMIT),
            opts,
            geo: ctx.geo.lookup(ctx.geo_cache_size),
            tcp: TcpSessions::default(),
            q: QuestionCache::default(),
            slow_us: [0; 3],
        })
    }

    fn timed_out(&mut self, expired: Vec<PendingQuery>) {
        if !self.groups.has(G_COUNTERS) {
            return;
        }
        let b = self.window.live_mut();
        for p in expired.into_iter().filter(|p| !p.filtered) {
            b.dir(p.dir).timeout += 1;
        }
    }

    fn on_shift(&mut self, now: Timespec) {
        let mut expired = Vec::new();
        self.xacts.purge_expired(now, |_, p| expired.push(p));
        self.timed_out(expired);
        if let Ok(prev) = self.window.bucket(1) {
            for (i, slot) in self.slow_us.iter_mut().enumerate() {
                *slot = prev.metrics.dirs[i]
                    .as_ref()
                    .and_then(|m| m.xact_us.quantile_u64(0.9))
                    .unwrap_or(0);
            }
        }
    }

    /// Handles one DNS message; returns whether it passed its own filters.
    fn process(&mut self, pkt: &DnsPacket<'_>) -> bool {
        self.q.reset();
        let response = pkt.msg.is_response();
        let mut suffix = 0usize;
        let passed = self.opts.dnstap_type_ok(pkt.dnstap.map(|d| d.family))
            && if response {
                passes_response(&self.opts, pkt, &mut self.q)
            } else {
                passes_query(&self.opts, pkt, &mut self.q, &mut self.geo, &mut suffix)
            };
        if self.window.observe(pkt.ts) {
            self.on_shift(pkt.ts);
        }
        let deep = self.window.new_event(pkt.ts, passed);
        let counters = self.groups.has(G_COUNTERS);
        // pktvisor keeps one table per direction: a response whose direction maps elsewhere
        // than its query's (both ends inside the host spec) is an orphan.
        let dir = dir_index(pkt.direction, response);
        // dnstap transactions are keyed by the DNS ID only (pktvisor's (id, 2) key)
        let flow = if pkt.dnstap.is_some() {
            2
        } else {
            pkt.flow_hash()
        };
        let key = (
            flow ^ (dir as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            pkt.msg.id(),
        );
        if !response {
            let pending = PendingQuery {
                filtered: !passed,
                dir,
                size: u32::try_from(pkt.size).unwrap_or(u32::MAX),
                checking_disabled: pkt.msg.cd(),
                ecs: if passed && self.groups.has(G_TOP_ECS) {
                    ecs_address(&pkt.msg)
                } else {
                    None
                },
                suffix: u16::try_from(suffix).unwrap_or(0),
                client_port: pkt.src_port,
            };
            self.xacts.insert(key, pkt.ts, pending);
            if !passed && counters {
                self.window.live_mut().filtered += 1;
            }
            return passed;
        }
        match self.xacts.take(&key) {
            None => {
                if counters {
                    let b = self.window.live_mut();
                    if passed {
                        b.dir(dir).orphan += 1;
                    } else {
                        b.filtered += 1;
                    }
                }
            }
            Some((_, query)) if query.filtered => {
                if counters {
                    self.window.live_mut().filtered += 1;
                }
            }
            Some((qts, query)) => {
                if !passed {
                    if counters {
                        self.window.live_mut().filtered += 2;
                    }
                } else if pkt.ts.micros_since(qts) > self.xacts.ttl_us() {
                    if counters {
                        self.window.live_mut().dir(query.dir).timeout += 1;
                    }
                } else {
                    self.transaction(pkt, qts, &query, deep);
                }
            }
        }
        passed
    }

    fn transaction(
        &mut self,
        pkt: &DnsPacket<'_>,
        qts: Timespec,
        query: &PendingQuery,
        deep: bool,
    ) {
        let groups = self.groups;
        let m = pkt.msg;
        let rc = m.rcode();
        let us = pkt.ts.micros_since(qts).max(0) as u64;
        let qtype = if deep { self.q.qtype(&m) } else { None };
        let slow = self.slow_us[query.dir];
        let public_suffix = self.opts.public_suffix_list;
        let b = self.window.live_mut();
        let d = b.dir(query.dir);
        if groups.has(G_QUANTILES) {
            d.xact_rate.add(pkt.ts.sec, 1);
        }
        if groups.has(G_COUNTERS) {
            d.xacts += 1;
            match pkt.transport {
                _ if !pkt.transport_known() => {}
                DnsTransport::Udp => d.udp += 1,
                DnsTransport::Tcp => d.tcp += 1,
                DnsTransport::Dot => d.dot += 1,
                DnsTransport::Doh => d.doh += 1,
                DnsTransport::DnscryptUdp => d.dnscrypt_udp += 1,
                DnsTransport::DnscryptTcp => d.dnscrypt_tcp += 1,
                DnsTransport::Doq => d.doq += 1,
            }
            match pkt.l3 {
                L3::Ipv4 => d.ipv4 += 1,
                L3::Ipv6 => d.ipv6 += 1,
                L3::None => {}
            }
            match rc {
                rcode::NOERROR => {
                    d.noerror += 1;
                    if m.ancount() == 0 {
                        d.nodata += 1;
                    }
                }
                rcode::NXDOMAIN => d.nxdomain += 1,
                rcode::REFUSED => d.refused += 1,
                rcode::SERVFAIL => d.srvfail += 1,
                _ => {}
            }
            if m.ad() {
                d.authenticated_data += 1;
            }
            if m.aa() {
                d.authoritative_answer += 1;
            }
            if query.checking_disabled {
                d.checking_disabled += 1;
            }
        }
        if !deep {
            return;
        }
        d.top_rcode.update(u16::from(rc));
        if groups.has(G_TOP_ECS)
            && let Some(ecs) = query.ecs
        {
            if groups.has(G_COUNTERS) {
                d.ecs += 1;
            }
            d.top_ecs.update(ecs.to_string().into());
            ecs_geo(ecs, &mut self.geo, &mut d.top_geo_ecs, &mut d.top_asn_ecs);
        }
        if groups.has(G_TOP_PORTS) {
            d.top_ports.update(query.client_port);
        }
        if groups.has(G_TOP_SIZE) && query.size > 0 {
            d.ratio.record(pkt.size as f64 / f64::from(query.size));
        }
        if groups.has(G_XACT_TIMES) {
            d.xact_us.record_u64(us);
            if slow > 0
                && us >= slow
                && let Some(name) = qname_original(&m)
            {
                d.top_slow.update(name.into());
            }
        }
        let Some(t) = qtype else {
            return;
        };
        let name = self.q.name();
        if groups.has(G_TOP_QTYPES) {
            d.top_qtype.update(t);
        }
        if groups.has(G_CARDINALITY) {
            d.qnames.insert_bytes(name.as_bytes());
        }
        if groups.has(G_TOP_RCODES) {
            match rc {
                rcode::NXDOMAIN => d.top_nxdomain.update_ref(name, 1),
                rcode::REFUSED => d.top_refused.update_ref(name, 1),
                rcode::SERVFAIL => d.top_srvfail.update_ref(name, 1),
                rcode::NOERROR => {
                    d.top_noerror.update_ref(name, 1);
                    if m.ancount() == 0 {
                        d.top_nodata.update_ref(name, 1);
                    }
                }
                _ => {}
            }
        }
        if groups.has(G_TOP_QNAMES) {
            let size = if query.suffix > 0 {
                usize::from(query.suffix)
            } else if public_suffix {
                public_suffix_size(name)
            } else {
                0
            };
            let (q2, q3) = aggregate(name, size);
            if !q2.is_empty() {
                d.top_qname2.update_ref(q2, 1);
            }
            if !q3.is_empty() {
                d.top_qname3.update_ref(q3, 1);
            }
        }
        if groups.has(G_TOP_SIZE) {
            d.top_resp_bytes.update_ref(name, pkt.size as u64);
        }
    }

    fn ctx(&self) -> EmitCtx {
        EmitCtx::new(self.window.settings(), self.groups, GROUPS.len())
    }
}

impl DnsCore for DnsV2 {
    fn process(&mut self, pkt: &DnsPacket<'_>) -> bool {
        DnsV2::process(self, pkt)
    }

    fn process_dnstap_bare(&mut self, ev: &DnstapEvent<'_>) -> bool {
        // No DNS ID, so no transaction: an observed event, filtered or not.
        let passed =
            self.opts.dnstap_type_ok(Some(ev.msg_type.family)) && !self.opts.has_message_filters();
        if self.window.observe(ev.ts) {
            self.on_shift(ev.ts);
        }
        self.window.new_event(ev.ts, passed);
        if !passed && self.groups.has(G_COUNTERS) {
            self.window.live_mut().filtered += 1;
        }
        passed
    }

    fn time(&mut self, ev: &Event<'_>) -> Option<bool> {
        time_event(&mut self.window, ev)
    }

    fn on_shift(&mut self, now: Timespec) {
        DnsV2::on_shift(self, now);
    }

    fn observe(&mut self, ts: Timespec) {
        self.window.observe(ts);
    }

    fn sessions(&mut self) -> &mut TcpSessions {
        &mut self.tcp
    }
}

impl Processor for DnsV2 {
    fn schema_key(&self) -> &'static str {
        DnsV2Bucket::SCHEMA_KEY
    }

    fn handle(&mut self, ev: &Event<'_>) -> bool {
        self.handle_chained(ev, &mut |_| {})
    }

    fn handle_chained(&mut self, ev: &Event<'_>, forward: &mut dyn FnMut(&Event<'_>)) -> bool {
        handle_event(self, ev, forward)
    }

    fn tcp_ports(&self) -> PortSet {
        dns_port_set()
    }

    fn finish(&mut self) {
        let mut expired = Vec::new();
        self.xacts.drain(|_, p| expired.push(p));
        self.timed_out(expired);
        self.window.finish();
    }

    fn snapshot(&self, sel: Select, now: Timespec) -> Result<Box<dyn Snapshot>, PeriodError> {
        snapshot_of(&self.window, sel, now, self.ctx())
    }

    fn shard_window(&self) -> Box<dyn crate::processor::snapshot::ShardWindow> {
        crate::processor::snapshot::shard_window_of(&self.window, self.ctx())
    }

    fn tables(&self) -> Vec<TableStat> {
        vec![
            TableStat {
                name: "dns_pending_queries",
                len: self.xacts.len(),
                limit: self.xacts.limit(),
                evicted: self.xacts.evicted(),
            },
            TableStat {
                name: "dns_tcp_sessions",
                len: self.tcp.len(),
                limit: super::MAX_TCP_SESSIONS,
                evicted: self.tcp.dropped(),
            },
        ]
    }
}
