//! dns v1 (`dns`): per-message counters, transactions with in/out latency, QNAME, rcode,
//! qtype, port and ECS top lists.
//!
//! pktvisor behaviour kept on purpose: `only_rcode` and `only_qname` act as predicates on
//! UDP messages (a non-matching UDP message is not seen at all: no event, not counted as
//! filtered; UDP queries never match `only_rcode`); `exclude_noerror` also drops queries
//! (their rcode is 0); filtered messages still count as events; `top_udp_ports` counts the
//! client port of TCP messages too; slow-transaction QNAMEs keep their original case and
//! need a completed bucket to set the p90 threshold. Differences: ECS is found in any
//! EDNS option position; at the end of a recorded stream every still-pending query counts
//! as timed out.
//!
//! dnstap messages: no transactions (as pktvisor); the top port is the initiator's port; a
//! message without a DNS message counts from its dnstap fields only (total, l3, UDP/TCP,
//! query/reply by message type); `dnstap_msg_type` keeps one message family. Differences:
//! the DNS filters apply to dnstap messages too (pktvisor ignores them there), and the rcode
//! counters do not depend on deep sampling.

use std::net::IpAddr;
use std::sync::Arc;

use super::config::{DnsOptions, V1_CONFIG_DEFS};
use super::qname::{aggregate, public_suffix_size};
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
const G_XACT: usize = 2;
const G_HISTOGRAMS: usize = 3;
const G_QUANTILES: usize = 4;
const G_TOP_ECS: usize = 5;
const G_TOP_PORTS: usize = 6;
const G_TOP_QNAMES: usize = 7;
const G_TOP_QNAMES_DETAILS: usize = 8;

const fn g(name: &'static str, default_on: bool) -> GroupDef {
    GroupDef { name, default_on }
}

/// Metric groups of dns v1.
pub const GROUPS: [GroupDef; 9] = [
    g("cardinality", true),
    g("counters", true),
    g("dns_transaction", true),
    g("histograms", false),
    g("quantiles", true),
    g("top_ecs", false),
    g("top_ports", true),
    g("top_qnames", true),
    g("top_qnames_details", false),
];

/// One bucket of dns v1.
#[derive(Clone, Debug, Default)]
pub struct DnsV1Bucket {
    rate_total: Rate,
    queries: u64,
    replies: u64,
    tcp: u64,
    udp: u64,
    ipv4: u64,
    ipv6: u64,
    nxdomain: u64,
    refused: u64,
    srvfail: u64,
    noerror: u64,
    nodata: u64,
    total: u64,
    filtered: u64,
    query_ecs: u64,
    qnames: Cardinality,
    xact_total: u64,
    xact_timed_out: u64,
    xact_in: u64,
    xact_out: u64,
    xact_in_us: Distribution,
    xact_out_us: Distribution,
    xact_ratio: Distribution,
    slow_in: TopN<Arc<str>>,
    slow_out: TopN<Arc<str>>,
    top_ports: TopN<u16>,
    top_geo_ecs: TopN<GeoLocation>,
    top_asn_ecs: TopN<Arc<str>>,
    top_query_ecs: TopN<Arc<str>>,
    top_qname2: TopN<Arc<str>>,
    top_qname3: TopN<Arc<str>>,
    top_nxdomain: TopN<Arc<str>>,
    top_refused: TopN<Arc<str>>,
    top_srvfail: TopN<Arc<str>>,
    top_nodata: TopN<Arc<str>>,
    top_resp_bytes: TopN<Arc<str>>,
    top_noerror: TopN<Arc<str>>,
    top_rcode: TopN<u16>,
    top_qtype: TopN<u16>,
}

impl BucketMetrics for DnsV1Bucket {
    fn merge(&mut self, o: &Self) {
        self.rate_total.merge(&o.rate_total);
        for (a, b) in [
            (&mut self.queries, o.queries),
            (&mut self.replies, o.replies),
            (&mut self.tcp, o.tcp),
            (&mut self.udp, o.udp),
            (&mut self.ipv4, o.ipv4),
            (&mut self.ipv6, o.ipv6),
            (&mut self.nxdomain, o.nxdomain),
            (&mut self.refused, o.refused),
            (&mut self.srvfail, o.srvfail),
            (&mut self.noerror, o.noerror),
            (&mut self.nodata, o.nodata),
            (&mut self.total, o.total),
            (&mut self.filtered, o.filtered),
            (&mut self.query_ecs, o.query_ecs),
            (&mut self.xact_total, o.xact_total),
            (&mut self.xact_timed_out, o.xact_timed_out),
            (&mut self.xact_in, o.xact_in),
            (&mut self.xact_out, o.xact_out),
        ] {
            *a += b;
        }
        self.qnames.merge(&o.qnames);
        self.xact_in_us.merge(&o.xact_in_us);
        self.xact_out_us.merge(&o.xact_out_us);
        self.xact_ratio.merge(&o.xact_ratio);
        self.slow_in.merge(&o.slow_in);
        self.slow_out.merge(&o.slow_out);
        self.top_ports.merge(&o.top_ports);
        self.top_geo_ecs.merge(&o.top_geo_ecs);
        self.top_asn_ecs.merge(&o.top_asn_ecs);
        self.top_query_ecs.merge(&o.top_query_ecs);
        self.top_qname2.merge(&o.top_qname2);
        self.top_qname3.merge(&o.top_qname3);
        self.top_nxdomain.merge(&o.top_nxdomain);
        self.top_refused.merge(&o.top_refused);
        self.top_srvfail.merge(&o.top_srvfail);
        self.top_nodata.merge(&o.top_nodata);
        self.top_resp_bytes.merge(&o.top_resp_bytes);
        self.top_noerror.merge(&o.top_noerror);
        self.top_rcode.merge(&o.top_rcode);
        self.top_qtype.merge(&o.top_qtype);
    }

    fn tick(&mut self, sec: i64) {
        self.rate_total.tick(sec);
    }

    fn close(&mut self) {
        self.rate_total.close();
    }
}

const fn d(path: &'static [&'static str], help: &'static str) -> Desc {
    Desc {
        schema: "dns",
        path,
        help,
    }
}

const RATE_TOTAL: Desc = d(
    &["rates", "total"],
    "Rate of all DNS wire packets (combined ingress and egress) in packets per second",
);
const RATE_EVENTS: Desc = d(
    &["rates", "events"],
    "Rate of all DNS wire packets before filtering per second",
);
const EVENTS: Desc = d(&["wire_packets", "events"], "Total DNS wire packets events");
const DEEP: Desc = d(
    &["wire_packets", "deep_samples"],
    "Total DNS wire packets that were sampled for deep inspection",
);
const QUERIES: Desc = d(
    &["wire_packets", "queries"],
    "Total DNS wire packets flagged as query (ingress and egress)",
);
const REPLIES: Desc = d(
    &["wire_packets", "replies"],
    "Total DNS wire packets flagged as reply (ingress and egress)",
);
const TCP: Desc = d(
    &["wire_packets", "tcp"],
    "Total DNS wire packets received over TCP (ingress and egress)",
);
const UDP: Desc = d(
    &["wire_packets", "udp"],
    "Total DNS wire packets received over UDP (ingress and egress)",
);
const IPV4: Desc = d(
    &["wire_packets", "ipv4"],
    "Total DNS wire packets received over IPv4 (ingress and egress)",
);
const IPV6: Desc = d(
    &["wire_packets", "ipv6"],
    "Total DNS wire packets received over IPv6 (ingress and egress)",
);
const NXDOMAIN: Desc = d(
    &["wire_packets", "nxdomain"],
    "Total DNS wire packets flagged as reply with response code NXDOMAIN (ingress and egress)",
);
const REFUSED: Desc = d(
    &["wire_packets", "refused"],
    "Total DNS wire packets flagged as reply with response code REFUSED (ingress and egress)",
);
const SRVFAIL: Desc = d(
    &["wire_packets", "srvfail"],
    "Total DNS wire packets flagged as reply with response code SRVFAIL (ingress and egress)",
);
const NOERROR: Desc = d(
    &["wire_packets", "noerror"],
    "Total DNS wire packets flagged as reply with response code NOERROR (ingress and egress)",
);
const NODATA: Desc = d(
    &["wire_packets", "nodata"],
    "Total DNS wire packets flagged as reply with response code NOERROR and no answer section data (ingress and egress)",
);
const TOTAL: Desc = d(
    &["wire_packets", "total"],
    "Total DNS wire packets matching the configured filter(s)",
);
const FILTERED: Desc = d(
    &["wire_packets", "filtered"],
    "Total DNS wire packets seen that did not match the configured filter(s) (if any)",
);
const QUERY_ECS: Desc = d(
    &["wire_packets", "query_ecs"],
    "Total queries that have EDNS Client Subnet (ECS) field set",
);
const CARD_QNAME: Desc = d(
    &["cardinality", "qname"],
    "Cardinality of unique QNAMES, both ingress and egress",
);
const XACT_TOTAL: Desc = d(
    &["xact", "counts", "total"],
    "Total DNS transactions (query/reply pairs)",
);
const XACT_TIMED_OUT: Desc = d(
    &["xact", "counts", "timed_out"],
    "Total number of DNS transactions that timed out",
);
const XACT_IN_TOTAL: Desc = d(
    &["xact", "in", "total"],
    "Total ingress DNS transactions (host is server)",
);
const XACT_IN_SLOW: Desc = d(
    &["xact", "in", "top_slow"],
    "Top QNAMES in transactions where host is the server and transaction speed is slower than p90",
);
const XACT_OUT_Q: Desc = d(
    &["xact", "out", "quantiles_us"],
    "Quantiles of transaction timing (query/reply pairs) when host is client, in microseconds",
);
const XACT_IN_Q: Desc = d(
    &["xact", "in", "quantiles_us"],
    "Quantiles of transaction timing (query/reply pairs) when host is server, in microseconds",
);
const XACT_RATIO: Desc = d(
    &["xact", "ratio", "quantiles"],
    "Quantiles of ratio of packet sizes in a DNS transaction (reply/query)",
);
const XACT_IN_H: Desc = d(
    &["xact", "in", "histogram_us"],
    "Histogram of transaction timing (query/reply pairs) when host is server, in microseconds",
);
const XACT_OUT_H: Desc = d(
    &["xact", "out", "histogram_us"],
    "Histogram of transaction timing (query/reply pairs) when host is client, in microseconds",
);
const XACT_OUT_TOTAL: Desc = d(
    &["xact", "out", "total"],
    "Total egress DNS transactions (host is client)",
);
const XACT_OUT_SLOW: Desc = d(
    &["xact", "out", "top_slow"],
    "Top QNAMES in transactions where host is the client and transaction speed is slower than p90",
);
const TOP_PORTS: Desc = d(
    &["top_udp_ports"],
    "Top UDP source port on the query side of a transaction",
);
const TOP_GEO_ECS: Desc = d(&["top_geoLoc_ecs"], "Top GeoIP ECS locations");
const TOP_ASN_ECS: Desc = d(&["top_asn_ecs"], "Top ASNs by ECS");
const TOP_QUERY_ECS: Desc = d(
    &["top_query_ecs"],
    "Top EDNS Client Subnet (ECS) observed in DNS queries",
);
const TOP_QNAME2: Desc = d(
    &["top_qname2"],
    "Top QNAMES, aggregated at a depth of two labels",
);
const TOP_QNAME3: Desc = d(
    &["top_qname3"],
    "Top QNAMES, aggregated at a depth of three labels",
);
const TOP_NXDOMAIN: Desc = d(&["top_nxdomain"], "Top QNAMES with result code NXDOMAIN");
const TOP_REFUSED: Desc = d(&["top_refused"], "Top QNAMES with result code REFUSED");
const TOP_SRVFAIL: Desc = d(&["top_srvfail"], "Top QNAMES with result code SRVFAIL");
const TOP_NODATA: Desc = d(
    &["top_nodata"],
    "Top QNAMES with result code NOERROR and no answer section",
);
const TOP_RESP_BYTES: Desc = d(
    &["top_qname_by_resp_bytes"],
    "Top QNAMES by response volume in bytes",
);
const TOP_NOERROR: Desc = d(&["top_noerror"], "Top QNAMES with result code NOERROR");
const TOP_RCODE: Desc = d(&["top_rcode"], "Top result codes");
const TOP_QTYPE: Desc = d(&["top_qtype"], "Top query types");

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

impl Emit for DnsV1Bucket {
    const SCHEMA_KEY: &'static str = "dns";

    fn emit(b: &Bucket<Self>, ctx: &EmitCtx, sink: &mut dyn MetricSink) {
        let m = &b.metrics;
        let r = Scope::ROOT;
        ctx.rate(sink, &RATE_TOTAL, &r, &m.rate_total);
        ctx.rate(sink, &RATE_EVENTS, &r, &b.base.event_rate);
        sink.counter(&EVENTS, &r, b.base.events);
        sink.counter(&DEEP, &r, b.base.deep_samples);
        if ctx.on(G_COUNTERS) {
            for (desc, v) in [
                (&QUERIES, m.queries),
                (&REPLIES, m.replies),
                (&TCP, m.tcp),
                (&UDP, m.udp),
                (&IPV4, m.ipv4),
                (&IPV6, m.ipv6),
                (&NXDOMAIN, m.nxdomain),
                (&REFUSED, m.refused),
                (&SRVFAIL, m.srvfail),
                (&NOERROR, m.noerror),
                (&NODATA, m.nodata),
                (&TOTAL, m.total),
                (&FILTERED, m.filtered),
            ] {
                sink.counter(desc, &r, v);
            }
            if ctx.on(G_TOP_ECS) {
                sink.counter(&QUERY_ECS, &r, m.query_ecs);
            }
        }
        if ctx.on(G_CARDINALITY) {
            sink.cardinality(&CARD_QNAME, &r, m.qnames.estimate_rounded());
        }
        if ctx.on(G_XACT) {
            sink.counter(&XACT_TOTAL, &r, m.xact_total);
            sink.counter(&XACT_TIMED_OUT, &r, m.xact_timed_out);
            sink.counter(&XACT_IN_TOTAL, &r, m.xact_in);
            sink.topn(&XACT_IN_SLOW, &r, "qname", &ctx.top(&m.slow_in));
            if ctx.on(G_QUANTILES) {
                sink.quantiles(&XACT_OUT_Q, &r, &m.xact_out_us, true);
                sink.quantiles(&XACT_IN_Q, &r, &m.xact_in_us, true);
                sink.quantiles(&XACT_RATIO, &r, &m.xact_ratio, false);
            }
            if ctx.on(G_HISTOGRAMS) {
                sink.histogram(&XACT_IN_H, &r, &m.xact_in_us, true);
                sink.histogram(&XACT_OUT_H, &r, &m.xact_out_us, true);
            }
            sink.counter(&XACT_OUT_TOTAL, &r, m.xact_out);
            sink.topn(&XACT_OUT_SLOW, &r, "qname", &ctx.top(&m.slow_out));
        }
        if ctx.on(G_TOP_PORTS) {
            sink.topn(&TOP_PORTS, &r, "port", &ctx.top(&m.top_ports));
        }
        if ctx.on(G_TOP_ECS) {
            sink.topn(
                &TOP_GEO_ECS,
                &r,
                "geo_loc",
                &geo_entries(ctx, &m.top_geo_ecs),
            );
            sink.topn(&TOP_ASN_ECS, &r, "asn", &ctx.top(&m.top_asn_ecs));
            sink.topn(&TOP_QUERY_ECS, &r, "ecs", &ctx.top(&m.top_query_ecs));
        }
        if ctx.on(G_TOP_QNAMES) {
            for (desc, t) in [
                (&TOP_QNAME2, &m.top_qname2),
                (&TOP_QNAME3, &m.top_qname3),
                (&TOP_NXDOMAIN, &m.top_nxdomain),
                (&TOP_REFUSED, &m.top_refused),
                (&TOP_SRVFAIL, &m.top_srvfail),
                (&TOP_NODATA, &m.top_nodata),
            ] {
                sink.topn(desc, &r, "qname", &ctx.top(t));
            }
            if ctx.on(G_TOP_QNAMES_DETAILS) {
                sink.topn(&TOP_RESP_BYTES, &r, "qname", &ctx.top(&m.top_resp_bytes));
                sink.topn(&TOP_NOERROR, &r, "qname", &ctx.top(&m.top_noerror));
            }
        }
        sink.topn(
            &TOP_RCODE,
            &r,
            "rcode",
            &named(ctx, &m.top_rcode, rcode_label),
        );
        sink.topn(
            &TOP_QTYPE,
            &r,
            "qtype",
            &named(ctx, &m.top_qtype, qtype_label),
        );
    }
}

/// Whether a message passes dns v1's filters (in pktvisor's order); `suffix` receives the
/// matched `only_qname_suffix` length.
pub(super) fn passes_v1(
    o: &DnsOptions,
    pkt: &DnsPacket<'_>,
    q: &mut QuestionCache,
    geo: &mut GeoLookup,
    suffix: &mut usize,
) -> bool {
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
    if (o.only_queries && m.is_response()) || (o.only_responses && !m.is_response()) {
        return false;
    }
    if o.only_dnssec_response && (!m.is_response() || !has_rrsig_answer(m)) {
        return false;
    }
    if let Some(set) = &o.only_qtype
        && !q.qtype(m).is_some_and(|t| set.contains(&t))
    {
        return false;
    }
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
        if m.is_response() {
            return false;
        }
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

/// The dns v1 processor.
pub struct DnsV1 {
    window: Window<DnsV1Bucket>,
    groups: GroupSet,
    opts: DnsOptions,
    geo: GeoLookup,
    xacts: XactTable<u32>,
    tcp: TcpSessions,
    q: QuestionCache,
    slow_in_us: u64,
    slow_out_us: u64,
}

/// The handler's merged config, checked by building once (interim, until the typed config).
#[derive(Clone, Debug)]
pub struct DnsV1Config(ConfigMap);

impl crate::processor::ProcessorConfig for DnsV1Config {
    fn build(&self, ctx: &ProcessorContext) -> Box<dyn Processor> {
        match DnsV1::new(&self.0, ctx) {
            Ok(p) => Box::new(p),
            Err(_) => unreachable!("checked when parsed"),
        }
    }
}

/// `dns` version 1.0.
pub const KIND: crate::processor::ProcessorKind = crate::processor::ProcessorKind {
    handler_type: "dns",
    version: "1.0",
    parse: |c| {
        DnsV1::new(c, &ProcessorContext::default()).map_err(|e| e.to_string())?;
        Ok(Box::new(DnsV1Config(c.clone())))
    },
};

impl DnsV1 {
    /// Builds from a merged handler config.
    pub fn new(cfg: &ConfigMap, ctx: &ProcessorContext) -> Result<Self, BuildError> {
        validate_config(cfg, &V1_CONFIG_DEFS).map_err(BuildError::Config)?;
        let settings =
            WindowSettings::from_config(cfg).map_err(|e| BuildError::Config(e.to_string()))?;
        let groups = resolve_groups(&GROUPS, cfg).map_err(BuildError::Config)?;
        let opts = DnsOptions::from_config(cfg).map_err(BuildError::Config)?;
        Ok(DnsV1 {
            window: Window::new(settings),
            groups,
            xacts: XactTable::new(opts.ttl_ms, DEFAULT_LIMIT),
            opts,
            geo: ctx.geo.lookup(ctx.geo_cache_size),
            tcp: TcpSessions::default(),
            q: QuestionCache::default(),
            slow_in_us: 0,
            slow_out_us: 0,
        })
    }

    /// pktvisor's UDP predicates: `only_rcode` (queries never match) and `only_qname`.
    fn predicate_matches(&mut self, pkt: &DnsPacket<'_>) -> bool {
        let m = &pkt.msg;
        if let Some(set) = &self.opts.only_rcode {
            let key = if m.is_response() {
                u16::from(m.rcode())
            } else {
                255
            };
            if !set.contains(&key) {
                return false;
            }
        }
        if let Some(names) = &self.opts.only_qname {
            self.q.qtype(m);
            if !names.iter().any(|n| n == self.q.name()) {
                return false;
            }
        }
        true
    }

    fn on_shift(&mut self, now: Timespec) {
        let mut timed_out = 0;
        self.xacts.purge_expired(now, |_, _| timed_out += 1);
        if let Ok(prev) = self.window.bucket(1) {
            self.slow_in_us = prev.metrics.xact_in_us.quantile_u64(0.9).unwrap_or(0);
            self.slow_out_us = prev.metrics.xact_out_us.quantile_u64(0.9).unwrap_or(0);
        }
        self.window.live_mut().xact_timed_out += timed_out;
    }

    /// Handles one DNS message; returns whether it passed the filters.
    fn process(&mut self, pkt: &DnsPacket<'_>) -> bool {
        self.q.reset();
        let udp = pkt.transport == DnsTransport::Udp;
        if udp
            && pkt.dnstap.is_none()
            && (self.opts.only_rcode.is_some() || self.opts.only_qname.is_some())
            && !self.predicate_matches(pkt)
        {
            return false;
        }
        let mut suffix = 0usize;
        let passed = self.opts.dnstap_type_ok(pkt.dnstap.map(|d| d.family))
            && passes_v1(&self.opts, pkt, &mut self.q, &mut self.geo, &mut suffix);
        if self.window.observe(pkt.ts) {
            self.on_shift(pkt.ts);
        }
        let deep = self.window.new_event(pkt.ts, passed);
        let groups = self.groups;
        if !passed {
            if groups.has(G_COUNTERS) {
                self.window.live_mut().filtered += 1;
            }
            return false;
        }
        let m = pkt.msg;
        let response = m.is_response();
        let rc = m.rcode();
        let b = self.window.live_mut();
        b.rate_total.add(pkt.ts.sec, 1);
        if groups.has(G_COUNTERS) {
            b.total += 1;
            if pkt.transport_known() {
                match pkt.transport {
                    DnsTransport::Udp => b.udp += 1,
                    DnsTransport::Tcp => b.tcp += 1,
                    // DoT/DoH/DNSCrypt/DoQ (dnstap only) have no v1 counter
                    _ => {}
                }
            }
            match pkt.l3 {
                L3::Ipv4 => b.ipv4 += 1,
                L3::Ipv6 => b.ipv6 += 1,
                L3::None => {}
            }
            if response {
                b.replies += 1;
                match rc {
                    rcode::NOERROR => {
                        b.noerror += 1;
                        if m.ancount() == 0 {
                            b.nodata += 1;
                        }
                    }
                    rcode::NXDOMAIN => b.nxdomain += 1,
                    rcode::REFUSED => b.refused += 1,
                    rcode::SERVFAIL => b.srvfail += 1,
                    _ => {}
                }
            } else {
                b.queries += 1;
            }
        }
        if deep {
            self.deep(pkt, suffix);
        }
        // pktvisor computes no v1 transactions from dnstap
        if groups.has(G_XACT) && pkt.dnstap.is_none() {
            self.transaction(pkt, deep);
        }
        true
    }

    /// A dnstap message without a DNS message: counters from the dnstap fields only.
    fn process_dnstap_bare(&mut self, ev: &DnstapEvent<'_>) -> bool {
        let passed =
            self.opts.dnstap_type_ok(Some(ev.msg_type.family)) && !self.opts.has_message_filters();
        if self.window.observe(ev.ts) {
            self.on_shift(ev.ts);
        }
        self.window.new_event(ev.ts, passed);
        let groups = self.groups;
        let b = self.window.live_mut();
        if !passed {
            if groups.has(G_COUNTERS) {
                b.filtered += 1;
            }
            return false;
        }
        b.rate_total.add(ev.ts.sec, 1);
        if groups.has(G_COUNTERS) {
            b.total += 1;
            match ev.transport {
                Some(DnsTransport::Udp) => b.udp += 1,
                Some(DnsTransport::Tcp) => b.tcp += 1,
                _ => {}
            }
            match ev.l3 {
                L3::Ipv4 => b.ipv4 += 1,
                L3::Ipv6 => b.ipv6 += 1,
                L3::None => {}
            }
            if ev.msg_type.response {
                b.replies += 1;
            } else {
                b.queries += 1;
            }
        }
        true
    }

    fn deep(&mut self, pkt: &DnsPacket<'_>, suffix: usize) {
        let groups = self.groups;
        let m = pkt.msg;
        let response = m.is_response();
        let rc = m.rcode();
        let qtype = self.q.qtype(&m);
        let b = self.window.live_mut();
        let port = pkt.client_port();
        if groups.has(G_TOP_PORTS) && (port != 0 || pkt.dnstap.is_none()) {
            b.top_ports.update(port);
        }
        if response {
            b.top_rcode.update(u16::from(rc));
        }
        if let Some(t) = qtype {
            b.top_qtype.update(t);
            let name = self.q.name();
            if groups.has(G_CARDINALITY) {
                b.qnames.insert_bytes(name.as_bytes());
            }
            if groups.has(G_TOP_QNAMES) {
                let size = if suffix > 0 {
                    suffix
                } else if self.opts.public_suffix_list {
                    public_suffix_size(name)
                } else {
                    0
                };
                let (q2, q3) = aggregate(name, size);
                if !q2.is_empty() {
                    b.top_qname2.update_ref(q2, 1);
                }
                if !q3.is_empty() {
                    b.top_qname3.update_ref(q3, 1);
                }
                if response {
                    match rc {
                        rcode::NXDOMAIN => b.top_nxdomain.update_ref(name, 1),
                        rcode::REFUSED => b.top_refused.update_ref(name, 1),
                        rcode::SERVFAIL => b.top_srvfail.update_ref(name, 1),
                        rcode::NOERROR if m.ancount() == 0 => b.top_nodata.update_ref(name, 1),
                        _ => {}
                    }
                    if groups.has(G_TOP_QNAMES_DETAILS) {
                        b.top_resp_bytes.update_ref(name, pkt.size as u64);
                        if rc == rcode::NOERROR {
                            b.top_noerror.update_ref(name, 1);
                        }
                    }
                }
            }
        }
        if groups.has(G_TOP_ECS)
            && !response
            && let Some(ecs) = ecs_address(&m)
        {
            if groups.has(G_COUNTERS) {
                b.query_ecs += 1;
            }
            b.top_query_ecs.update(ecs.to_string().into());
            ecs_geo(ecs, &mut self.geo, &mut b.top_geo_ecs, &mut b.top_asn_ecs);
        }
    }

    fn transaction(&mut self, pkt: &DnsPacket<'_>, deep: bool) {
        let key = (pkt.flow_hash(), pkt.msg.id());
        if !pkt.msg.is_response() {
            self.xacts
                .insert(key, pkt.ts, u32::try_from(pkt.size).unwrap_or(u32::MAX));
            return;
        }
        let Some((qts, query_size)) = self.xacts.take(&key) else {
            return;
        };
        let elapsed = pkt.ts.micros_since(qts).max(0);
        let ttl = self.xacts.ttl_us();
        let (slow_in, slow_out) = (self.slow_in_us, self.slow_out_us);
        let b = self.window.live_mut();
        if elapsed > ttl {
            b.xact_timed_out += 1;
            return;
        }
        b.xact_total += 1;
        let us = elapsed as u64;
        // The response's direction: toward the host means the host asked (client).
        let (slow, threshold) = match pkt.direction {
            Direction::ToHost => {
                b.xact_out += 1;
                if deep {
                    b.xact_out_us.record_u64(us);
                }
                (&mut b.slow_out, slow_out)
            }
            Direction::FromHost => {
                b.xact_in += 1;
                if deep {
                    b.xact_in_us.record_u64(us);
                }
                (&mut b.slow_in, slow_in)
            }
            Direction::Unknown => return,
        };
        if deep {
            if threshold > 0
                && us >= threshold
                && let Some(name) = qname_original(&pkt.msg)
            {
                slow.update(name.into());
            }
            if query_size > 0 {
                b.xact_ratio.record(pkt.size as f64 / f64::from(query_size));
            }
        }
    }

    fn ctx(&self) -> EmitCtx {
        EmitCtx::new(self.window.settings(), self.groups, GROUPS.len())
    }
}

/// Records an ECS address's location and ASN.
pub(super) fn ecs_geo(
    ip: IpAddr,
    geo: &mut GeoLookup,
    locs: &mut TopN<GeoLocation>,
    asns: &mut TopN<Arc<str>>,
) {
    if geo.city_enabled() {
        let l = geo.location(ip);
        locs.update_ref(&*l, 1);
    }
    if geo.asn_enabled() {
        let a = geo.asn(ip);
        asns.update_ref(&*a, 1);
    }
}

impl DnsCore for DnsV1 {
    fn process(&mut self, pkt: &DnsPacket<'_>) -> bool {
        DnsV1::process(self, pkt)
    }

    fn process_dnstap_bare(&mut self, ev: &DnstapEvent<'_>) -> bool {
        DnsV1::process_dnstap_bare(self, ev)
    }

    fn time(&mut self, ev: &Event<'_>) -> Option<bool> {
        time_event(&mut self.window, ev)
    }

    fn on_shift(&mut self, now: Timespec) {
        DnsV1::on_shift(self, now);
    }

    fn observe(&mut self, ts: Timespec) {
        self.window.observe(ts);
    }

    fn sessions(&mut self) -> &mut TcpSessions {
        &mut self.tcp
    }
}

impl Processor for DnsV1 {
    fn schema_key(&self) -> &'static str {
        DnsV1Bucket::SCHEMA_KEY
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
        let mut pending = 0;
        self.xacts.drain(|_, _| pending += 1);
        if self.groups.has(G_XACT) {
            self.window.live_mut().xact_timed_out += pending;
        }
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
