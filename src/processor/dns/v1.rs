//! dns v1 (`dns`): per-message counters, transactions with in/out latency, QNAME, rcode,
//! qtype, port and ECS top lists, in one flat bucket.
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

use super::config::DnsOptions;
use super::engine::{Dns, Filter, Layout, Live};
use super::metrics::{Deep, Metrics, Record, Timing, Verdict, xact_dir};
use super::schema::v1::*;
use super::schema::{self, CARD_QNAME, named};
use super::xact::XactTable;
use super::{DnsPacket, QuestionCache, ecs_address, qtype_label, rcode_label};
use crate::event::{DnsTransport, DnstapEvent};
use crate::metric::{MetricSink, Scope};
use crate::processor::ProcessorKind;
use crate::processor::net::directions::{IN, OUT, UNKNOWN};
use crate::processor::net::family::{Version, kind};
use crate::processor::net::geo_entries;
use crate::processor::snapshot::{Emit, EmitCtx};
use crate::sketch::Rate;
use crate::window::{Bucket, BucketMetrics};

/// dns v1's layout.
#[derive(Clone, Copy, Debug)]
pub struct V1;

/// `dns` version 1.0.
pub const KIND: ProcessorKind = kind::<Dns<V1>>();

/// One bucket of dns v1.
#[derive(Clone, Debug, Default)]
pub struct DnsV1Bucket {
    rate_total: Rate,
    /// Counters (per message) and top lists.
    m: Metrics,
    queries: u64,
    replies: u64,
    total: u64,
    filtered: u64,
    xact_total: u64,
    xact_timed_out: u64,
    /// Transactions by direction (`IN`, `OUT`).
    xacts: [u64; 2],
    /// Transaction times by direction (`IN`, `OUT`).
    timing: [Timing; 2],
}

impl BucketMetrics for DnsV1Bucket {
    fn merge(&mut self, o: &Self) {
        self.rate_total.merge(&o.rate_total);
        self.m.merge(&o.m);
        for (a, b) in [
            (&mut self.queries, o.queries),
            (&mut self.replies, o.replies),
            (&mut self.total, o.total),
            (&mut self.filtered, o.filtered),
            (&mut self.xact_total, o.xact_total),
            (&mut self.xact_timed_out, o.xact_timed_out),
        ] {
            *a += b;
        }
        for dir in [IN, OUT] {
            self.xacts[dir] += o.xacts[dir];
            self.timing[dir].merge(&o.timing[dir]);
        }
    }

    fn tick(&mut self, sec: i64) {
        self.rate_total.tick(sec);
    }

    fn close(&mut self) {
        self.rate_total.close();
    }
}

impl Emit for DnsV1Bucket {
    const SCHEMA_KEY: &'static str = "dns";

    fn emit(b: &Bucket<Self>, ctx: &EmitCtx, sink: &mut dyn MetricSink) {
        let (v, m) = (&b.metrics, &b.metrics.m);
        let r = Scope::ROOT;
        ctx.rate(sink, &RATE_TOTAL, &r, &v.rate_total);
        ctx.rate(sink, &schema::EVENT_RATE.v1, &r, &b.base.event_rate);
        sink.counter(&schema::EVENTS.v1, &r, b.base.events);
        sink.counter(&schema::DEEP.v1, &r, b.base.deep_samples);
        if ctx.on(G_COUNTERS) {
            for (desc, n) in [
                (&QUERIES, v.queries),
                (&REPLIES, v.replies),
                (&TCP, m.tcp),
                (&UDP, m.udp),
                (&IPV4, m.ipv4),
                (&IPV6, m.ipv6),
                (&NXDOMAIN, m.nxdomain),
                (&REFUSED, m.refused),
                (&SRVFAIL, m.srvfail),
                (&NOERROR, m.noerror),
                (&NODATA, m.nodata),
                (&TOTAL, v.total),
                (&schema::FILTERED.v1, v.filtered),
            ] {
                sink.counter(desc, &r, n);
            }
            if ctx.on(G_TOP_ECS) {
                sink.counter(&QUERY_ECS, &r, m.ecs);
            }
        }
        if ctx.on(G_CARDINALITY) {
            sink.cardinality(&CARD_QNAME, &r, m.qnames.estimate_rounded());
        }
        if ctx.on(G_XACT) {
            emit_xact(v, ctx, sink);
        }
        if ctx.on(G_TOP_PORTS) {
            sink.topn(&schema::TOP_PORTS.v1, &r, "port", &ctx.top(&m.top_ports));
        }
        if ctx.on(G_TOP_ECS) {
            let geo = geo_entries(ctx, &m.top_geo_ecs);
            sink.topn(&schema::TOP_GEO_ECS.v1, &r, "geo_loc", &geo);
            sink.topn(&schema::TOP_ASN_ECS.v1, &r, "asn", &ctx.top(&m.top_asn_ecs));
            sink.topn(&TOP_QUERY_ECS, &r, "ecs", &ctx.top(&m.top_ecs));
        }
        if ctx.on(G_TOP_QNAMES) {
            sink.topn(&schema::TOP_QNAME2.v1, &r, "qname", &ctx.top(&m.top_qname2));
            sink.topn(&schema::TOP_QNAME3.v1, &r, "qname", &ctx.top(&m.top_qname3));
            for (desc, t) in [
                (&schema::TOP_NXDOMAIN.v1, &m.top_nxdomain),
                (&schema::TOP_REFUSED.v1, &m.top_refused),
                (&schema::TOP_SRVFAIL.v1, &m.top_srvfail),
                (&TOP_NODATA, &m.top_nodata),
            ] {
                sink.topn(desc, &r, "qname", &ctx.top(t));
            }
            if ctx.on(G_TOP_QNAMES_DETAILS) {
                let bytes = ctx.top(&m.top_resp_bytes);
                sink.topn(&schema::TOP_RESP_BYTES.v1, &r, "qname", &bytes);
                sink.topn(
                    &schema::TOP_NOERROR.v1,
                    &r,
                    "qname",
                    &ctx.top(&m.top_noerror),
                );
            }
        }
        let rcodes = named(ctx, &m.top_rcode, rcode_label);
        sink.topn(&schema::TOP_RCODE.v1, &r, "rcode", &rcodes);
        let qtypes = named(ctx, &m.top_qtype, qtype_label);
        sink.topn(&schema::TOP_QTYPE.v1, &r, "qtype", &qtypes);
    }
}

/// The `xact` object: counts, then per direction totals, slow QNAMEs and timing.
fn emit_xact(v: &DnsV1Bucket, ctx: &EmitCtx, sink: &mut dyn MetricSink) {
    let r = Scope::ROOT;
    let [t_in, t_out] = &v.timing;
    sink.counter(&XACT_TOTAL, &r, v.xact_total);
    sink.counter(&XACT_TIMED_OUT, &r, v.xact_timed_out);
    sink.counter(&XACT_IN_TOTAL, &r, v.xacts[IN]);
    sink.topn(&schema::TOP_SLOW_IN.v1, &r, "qname", &ctx.top(&t_in.slow));
    if ctx.on(G_QUANTILES) {
        sink.quantiles(&XACT_OUT_Q, &r, &t_out.us, true);
        sink.quantiles(&XACT_IN_Q, &r, &t_in.us, true);
        sink.quantiles(&schema::RATIO.v1, &r, &v.m.ratio, false);
    }
    if ctx.on(G_HISTOGRAMS) {
        sink.histogram(&XACT_IN_H, &r, &t_in.us, true);
        sink.histogram(&XACT_OUT_H, &r, &t_out.us, true);
    }
    sink.counter(&XACT_OUT_TOTAL, &r, v.xacts[OUT]);
    sink.topn(&XACT_OUT_SLOW, &r, "qname", &ctx.top(&t_out.slow));
}

impl Layout for V1 {
    type Bucket = DnsV1Bucket;
    /// The query's size.
    type Pending = u32;
    const VERSION: Version<Record> = VERSION;
    const FILTER: Filter = |f, pkt| f.every_message(pkt);

    /// pktvisor's UDP predicates: `only_rcode` (queries never match) and `only_qname`.
    #[inline]
    fn seen(o: &DnsOptions, q: &mut QuestionCache, pkt: &DnsPacket<'_>) -> bool {
        if (o.only_rcode.is_none() && o.only_qname.is_none())
            || pkt.transport != DnsTransport::Udp
            || pkt.dnstap.is_some()
        {
            return true;
        }
        let m = &pkt.msg;
        if let Some(set) = &o.only_rcode {
            let key = if m.is_response() {
                u16::from(m.rcode())
            } else {
                255
            };
            if !set.contains(&key) {
                return false;
            }
        }
        if let Some(names) = &o.only_qname {
            q.qtype(m);
            if !names.iter().any(|n| n == q.name()) {
                return false;
            }
        }
        true
    }

    fn filtered(b: &mut DnsV1Bucket) -> &mut u64 {
        &mut b.filtered
    }

    fn slow_p90(b: &DnsV1Bucket, dir: usize) -> u64 {
        b.timing.get(dir).map_or(0, Timing::p90)
    }

    fn timed_out(b: &mut DnsV1Bucket, _on: &Record, _query_size: u32) {
        b.xact_timed_out += 1;
    }

    #[inline]
    fn count(mut live: Live<'_, V1>, pkt: &DnsPacket<'_>, v: Verdict) -> bool {
        if !v.passed {
            live.count_filtered(1);
            return false;
        }
        let Live {
            b,
            groups,
            on,
            xacts,
            slow_us,
            mut deep,
        } = live;
        let m = pkt.msg;
        let response = m.is_response();
        b.rate_total.add(pkt.ts.sec, 1);
        if on.counters {
            b.total += 1;
            if response {
                b.replies += 1;
            } else {
                b.queries += 1;
            }
            b.m.count(pkt, response);
        }
        if v.deep {
            let port = pkt.client_port();
            let ecs = if on.top_ecs && !response {
                ecs_address(&m)
            } else {
                None
            };
            deep.record(
                &mut b.m,
                &Deep {
                    msg: m,
                    response,
                    size: pkt.size,
                    suffix: v.suffix,
                    port: (port != 0 || pkt.dnstap.is_none()).then_some(port),
                    ecs,
                },
            );
        }
        // pktvisor computes no v1 transactions from dnstap
        if groups.has(G_XACT) && pkt.dnstap.is_none() {
            transaction(b, xacts, slow_us, pkt, v.deep);
        }
        true
    }

    fn count_bare(b: &mut DnsV1Bucket, on: &Record, ev: &DnstapEvent<'_>) {
        b.rate_total.add(ev.ts.sec, 1);
        if on.counters {
            b.total += 1;
            b.m.count_transport(ev.transport);
            b.m.count_l3(ev.l3);
            if ev.msg_type.response {
                b.replies += 1;
            } else {
                b.queries += 1;
            }
        }
    }
}

/// Matches a response to its query (same flow and DNS id); the response's direction says
/// who asked: toward the host, the host (`out`).
#[inline]
fn transaction(
    b: &mut DnsV1Bucket,
    xacts: &mut XactTable<u32>,
    slow_us: [u64; 3],
    pkt: &DnsPacket<'_>,
    deep: bool,
) {
    let key = (pkt.flow_hash(), pkt.msg.id());
    let response = pkt.msg.is_response();
    if !response {
        xacts.insert(key, pkt.ts, u32::try_from(pkt.size).unwrap_or(u32::MAX));
        return;
    }
    let Some((qts, query_size)) = xacts.take(&key) else {
        return;
    };
    let Some(us) = xacts.elapsed_us(qts, pkt.ts) else {
        b.xact_timed_out += 1;
        return;
    };
    b.xact_total += 1;
    let dir = xact_dir(pkt.direction, response);
    if dir == UNKNOWN {
        return;
    }
    b.xacts[dir] += 1;
    if deep {
        b.timing[dir].record(us, slow_us[dir], &pkt.msg);
        if query_size > 0 {
            b.m.ratio.record(pkt.size as f64 / f64::from(query_size));
        }
    }
}
