//! net v2 (`net`): the v1 metrics split per direction (`in`, `out`, `unknown`).
//!
//! Ingress packets record their source address, egress their destination, and packets of
//! unknown direction record both. A direction object appears once a packet was seen in it.

use std::net::IpAddr;

use super::directions::{self, DirectionEmit, PerDirection, Root};
use super::engine::{DnstapIps, Layout, Net, NetMetrics, Record};
use super::family::Version;
use super::family::kind;
use super::geo_entries;
use super::schema;
use super::schema::v2::*;
use crate::config::hostspec::Direction;
use crate::decode::PacketInfo;
use crate::metric::{MetricSink, Scope};
use crate::processor::ProcessorKind;
use crate::processor::snapshot::EmitCtx;
use crate::sketch::{Cardinality, Rate};
use crate::window::BucketMetrics;

/// net v2's layout.
#[derive(Clone, Copy, Debug)]
pub struct V2;

/// `net` version 2.0.
pub const KIND: ProcessorKind = kind::<Net<V2>>();

/// Metrics of one direction.
#[derive(Clone, Debug, Default)]
pub struct DirectionMetrics {
    pps: Rate,
    bps: Rate,
    /// Counters, top lists and payload sizes.
    m: NetMetrics,
    ips: Cardinality,
}

impl BucketMetrics for DirectionMetrics {
    fn merge(&mut self, o: &Self) {
        self.pps.merge(&o.pps);
        self.bps.merge(&o.bps);
        self.m.merge(&o.m);
        self.ips.merge(&o.ips);
    }

    fn tick(&mut self, sec: i64) {
        self.pps.tick(sec);
        self.bps.tick(sec);
    }

    fn close(&mut self) {
        self.pps.close();
        self.bps.close();
    }
}

/// One bucket of net v2.
pub type NetV2Bucket = PerDirection<DirectionMetrics>;

impl DirectionEmit for DirectionMetrics {
    const ROOT: Root = ROOT;

    /// The metrics of one direction, under its scope.
    fn emit(&self, ctx: &EmitCtx, sink: &mut dyn MetricSink, s: &Scope<'_>) {
        let m = &self.m;
        if ctx.on(G_QUANTILES) {
            ctx.rate(sink, &PPS, s, &self.pps);
            ctx.rate(sink, &BPS, s, &self.bps);
        }
        if ctx.on(G_COUNTERS) {
            for (desc, n) in schema::COUNTERS.iter().zip(m.counters()) {
                sink.counter(&desc.v2, s, n);
            }
            sink.counter(&schema::TOTAL.v2, s, m.total);
        }
        if ctx.on(G_CARDINALITY) {
            sink.cardinality(&IPS, s, self.ips.estimate_rounded());
        }
        if ctx.on(G_TOP_IPS) {
            sink.topn(&TOP_IPV4, s, "ipv4", &ctx.top(&m.top_ipv4));
            sink.topn(&TOP_IPV6, s, "ipv6", &ctx.top(&m.top_ipv6));
        }
        if ctx.on(G_TOP_GEO) {
            let geo = geo_entries(ctx, &m.top_geo);
            sink.topn(&schema::TOP_GEO.v2, s, "geo_loc", &geo);
            sink.topn(&schema::TOP_ASN.v2, s, "asn", &ctx.top(&m.top_asn));
        }
        if ctx.on(G_QUANTILES) {
            sink.quantiles(&schema::PAYLOAD_SIZE.v2, s, &m.payload_size, true);
        }
    }
}

impl Layout for V2 {
    type Bucket = NetV2Bucket;
    /// A packet counts into its direction's metrics.
    type Side = DirectionMetrics;
    const VERSION: Version<Record> = VERSION;

    fn side(b: &mut NetV2Bucket, d: Direction) -> &mut DirectionMetrics {
        b.get_mut(directions::index(d))
    }

    fn filtered(b: &mut NetV2Bucket) -> &mut u64 {
        &mut b.filtered
    }

    #[inline]
    fn volume(dm: &mut DirectionMetrics, p: &PacketInfo<'_>, on: &Record) {
        if on.quantiles {
            let len = u64::from(p.frame_len);
            dm.pps.add(p.ts.sec, 1);
            dm.bps.add(p.ts.sec, len);
            dm.m.payload_size.record_u64(len);
        }
    }

    #[inline]
    fn metrics(dm: &mut DirectionMetrics) -> &mut NetMetrics {
        &mut dm.m
    }

    #[inline]
    fn ips(dm: &mut DirectionMetrics, _inbound: bool) -> &mut Cardinality {
        &mut dm.ips
    }

    /// A dnstap message records both its addresses in its direction (pktvisor's dnstap
    /// rule); a packet its remote address, both when the direction is unknown.
    #[inline]
    fn addresses(p: &PacketInfo<'_>, dnstap: Option<DnstapIps>) -> [(Option<IpAddr>, bool); 2] {
        let (a, b) = dnstap.unwrap_or(match p.direction {
            Direction::ToHost => (p.src_ip, None),
            Direction::FromHost => (p.dst_ip, None),
            Direction::Unknown => (p.src_ip, p.dst_ip),
        });
        [(a, true), (b, true)]
    }
}
