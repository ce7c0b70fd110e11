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

use super::engine::{Dns, Filter, Layout, Live};
use super::metrics::{Deep, Metrics, Record, Timing, Verdict, xact_dir};
use super::schema::v2::*;
use super::schema::{self, CARD_QNAME, named};
use super::{DnsPacket, ecs_address, qtype_label, rcode_label};
use crate::event::DnstapEvent;
use crate::metric::{MetricSink, Scope};
use crate::processor::ProcessorKind;
use crate::processor::net::directions::{DirectionEmit, PerDirection, Root};
use crate::processor::net::family::{Version, kind};
use crate::processor::net::geo_entries;
use crate::processor::snapshot::EmitCtx;
use crate::sketch::Rate;
use crate::window::BucketMetrics;

/// dns v2's layout.
#[derive(Clone, Copy, Debug)]
pub struct V2;

/// `dns` version 2.0.
pub const KIND: ProcessorKind = kind::<Dns<V2>>();

/// Transaction metrics of one direction.
#[derive(Clone, Debug, Default)]
pub struct DirectionMetrics {
    xact_rate: Rate,
    /// Counters (per transaction) and top lists.
    m: Metrics,
    xacts: u64,
    authenticated_data: u64,
    authoritative_answer: u64,
    checking_disabled: u64,
    timeout: u64,
    orphan: u64,
    timing: Timing,
}

impl DirectionMetrics {
    /// The counters in emission order (`COUNTER_DESCS`).
    fn counters(&self) -> [u64; 21] {
        let m = &self.m;
        [
            self.xacts,
            m.udp,
            m.tcp,
            m.dot,
            m.doh,
            m.dnscrypt_udp,
            m.dnscrypt_tcp,
            m.doq,
            m.ipv4,
            m.ipv6,
            m.nxdomain,
            m.refused,
            m.srvfail,
            m.noerror,
            m.nodata,
            m.ecs,
            self.authenticated_data,
            self.authoritative_answer,
            self.checking_disabled,
            self.timeout,
            self.orphan,
        ]
    }
}

impl BucketMetrics for DirectionMetrics {
    fn merge(&mut self, o: &Self) {
        self.xact_rate.merge(&o.xact_rate);
        self.m.merge(&o.m);
        self.xacts += o.xacts;
        self.authenticated_data += o.authenticated_data;
        self.authoritative_answer += o.authoritative_answer;
        self.checking_disabled += o.checking_disabled;
        self.timeout += o.timeout;
        self.orphan += o.orphan;
        self.timing.merge(&o.timing);
    }

    fn tick(&mut self, sec: i64) {
        self.xact_rate.tick(sec);
    }

    fn close(&mut self) {
        self.xact_rate.close();
    }
}

/// One bucket of dns v2.
pub type DnsV2Bucket = PerDirection<DirectionMetrics>;

impl DirectionEmit for DirectionMetrics {
    const ROOT: Root = ROOT;

    /// The metrics of one direction, under its scope.
    fn emit(&self, ctx: &EmitCtx, sink: &mut dyn MetricSink, s: &Scope<'_>) {
        let m = &self.m;
        if ctx.on(G_QUANTILES) {
            sink.rate(&XACT_RATES, s, &self.xact_rate, None);
        }
        if ctx.on(G_COUNTERS) {
            for (k, (desc, v)) in COUNTER_DESCS.iter().zip(self.counters()).enumerate() {
                if k != ECS_COUNTER || ctx.on(G_TOP_ECS) {
                    sink.counter(desc, s, v);
                }
            }
        }
        if ctx.on(G_CARDINALITY) {
            sink.cardinality(&CARD_QNAME, s, m.qnames.estimate_rounded());
        }
        if ctx.on(G_TOP_PORTS) {
            sink.topn(&schema::TOP_PORTS.v2, s, "port", &ctx.top(&m.top_ports));
        }
        if ctx.on(G_TOP_ECS) {
            let geo = geo_entries(ctx, &m.top_geo_ecs);
            sink.topn(&schema::TOP_GEO_ECS.v2, s, "geo_loc", &geo);
            sink.topn(&schema::TOP_ASN_ECS.v2, s, "asn", &ctx.top(&m.top_asn_ecs));
            sink.topn(&TOP_ECS, s, "ecs", &ctx.top(&m.top_ecs));
        }
        if ctx.on(G_TOP_RCODES) {
            for (desc, t) in [
                (&schema::TOP_NXDOMAIN.v2, &m.top_nxdomain),
                (&schema::TOP_REFUSED.v2, &m.top_refused),
                (&schema::TOP_SRVFAIL.v2, &m.top_srvfail),
                (&schema::TOP_NOERROR.v2, &m.top_noerror),
                (&TOP_NODATA, &m.top_nodata),
            ] {
                sink.topn(desc, s, "qname", &ctx.top(t));
            }
            let rcodes = named(ctx, &m.top_rcode, rcode_label);
            sink.topn(&schema::TOP_RCODE.v2, s, "rcode", &rcodes);
        }
        if ctx.on(G_TOP_QNAMES) {
            sink.topn(&schema::TOP_QNAME2.v2, s, "qname", &ctx.top(&m.top_qname2));
            sink.topn(&schema::TOP_QNAME3.v2, s, "qname", &ctx.top(&m.top_qname3));
        }
        if ctx.on(G_TOP_SIZE) {
            let bytes = ctx.top(&m.top_resp_bytes);
            sink.topn(&schema::TOP_RESP_BYTES.v2, s, "qname", &bytes);
            sink.quantiles(&schema::RATIO.v2, s, &m.ratio, false);
        }
        if ctx.on(G_TOP_QTYPES) {
            let qtypes = named(ctx, &m.top_qtype, qtype_label);
            sink.topn(&schema::TOP_QTYPE.v2, s, "qtype", &qtypes);
        }
        if ctx.on(G_XACT_TIMES) {
            sink.quantiles(&XACT_US, s, &self.timing.us, true);
            sink.histogram(&XACT_HIST, s, &self.timing.us, true);
            let slow = ctx.top(&self.timing.slow);
            sink.topn(&schema::TOP_SLOW_IN.v2, s, "qname", &slow);
        }
    }
}

/// What is remembered of a query until its response.
#[derive(Clone, Copy, Debug)]
pub struct PendingQuery {
    filtered: bool,
    dir: usize,
    size: u32,
    checking_disabled: bool,
    ecs: Option<IpAddr>,
    suffix: u16,
    client_port: u16,
}

impl Layout for V2 {
    type Bucket = DnsV2Bucket;
    type Pending = PendingQuery;
    const VERSION: Version<Record> = VERSION;
    const FILTER: Filter = |f, pkt| f.by_role(pkt);

    fn filtered(b: &mut DnsV2Bucket) -> &mut u64 {
        &mut b.filtered
    }

    fn slow_p90(b: &DnsV2Bucket, dir: usize) -> u64 {
        b.get(dir).map_or(0, |m| m.timing.p90())
    }

    fn timed_out(b: &mut DnsV2Bucket, on: &Record, query: PendingQuery) {
        if on.counters && !query.filtered {
            b.get_mut(query.dir).timeout += 1;
        }
    }

    #[inline]
    fn count(mut live: Live<'_, V2>, pkt: &DnsPacket<'_>, v: Verdict) -> bool {
        let response = pkt.msg.is_response();
        // pktvisor keeps one table per direction: a response whose direction maps elsewhere
        // than its query's (both ends inside the host spec) is an orphan.
        let dir = xact_dir(pkt.direction, response);
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
                filtered: !v.passed,
                dir,
                size: u32::try_from(pkt.size).unwrap_or(u32::MAX),
                checking_disabled: pkt.msg.cd(),
                ecs: if v.passed && live.on.top_ecs {
                    ecs_address(&pkt.msg)
                } else {
                    None
                },
                suffix: u16::try_from(v.suffix).unwrap_or(0),
                client_port: pkt.src_port,
            };
            live.xacts.insert(key, pkt.ts, pending);
            if !v.passed {
                live.count_filtered(1);
            }
            return v.passed;
        }
        match live.xacts.take(&key) {
            None if v.passed => {
                if live.on.counters {
                    live.b.get_mut(dir).orphan += 1;
                }
            }
            None => live.count_filtered(1),
            Some((_, query)) if query.filtered => live.count_filtered(1),
            Some(_) if !v.passed => live.count_filtered(2),
            Some((qts, query)) => match live.xacts.elapsed_us(qts, pkt.ts) {
                None => Self::timed_out(live.b, &live.on, query),
                Some(us) => transaction(live, pkt, us, &query, v.deep),
            },
        }
        v.passed
    }

    fn count_bare(_b: &mut DnsV2Bucket, _on: &Record, _ev: &DnstapEvent<'_>) {
        // no DNS id, so no transaction: only the observed event
    }
}

/// A completed transaction `us` long, counted at its response in the query's direction.
#[inline]
fn transaction(live: Live<'_, V2>, pkt: &DnsPacket<'_>, us: u64, query: &PendingQuery, deep: bool) {
    let Live {
        b,
        groups,
        on,
        slow_us,
        deep: mut deep_ctx,
        ..
    } = live;
    let m = pkt.msg;
    let slow = slow_us[query.dir];
    let d = b.get_mut(query.dir);
    if groups.has(G_QUANTILES) {
        d.xact_rate.add(pkt.ts.sec, 1);
    }
    if on.counters {
        d.xacts += 1;
        d.m.count(pkt, true);
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
    if groups.has(G_TOP_SIZE) && query.size > 0 {
        d.m.ratio.record(pkt.size as f64 / f64::from(query.size));
    }
    if groups.has(G_XACT_TIMES) {
        d.timing.record(us, slow, &m);
    }
    deep_ctx.record(
        &mut d.m,
        &Deep {
            msg: m,
            response: true,
            size: pkt.size,
            suffix: usize::from(query.suffix),
            port: Some(query.client_port),
            ecs: query.ecs,
        },
    );
}
