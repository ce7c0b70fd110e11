//! net v1 (`packets`): per-packet counters, rates, sizes, IP cardinality and top lists, in
//! one bucket; rates and sizes are always kept, ingress and egress have their own rates
//! and address cardinality.

use std::net::IpAddr;

use super::engine::{DnstapIps, Layout, Net, NetMetrics, Record};
use super::family::Version;
use super::family::kind;
use super::geo_entries;
use super::schema;
use super::schema::v1::*;
use crate::config::hostspec::Direction;
use crate::decode::PacketInfo;
use crate::metric::{MetricSink, Scope};
use crate::processor::ProcessorKind;
use crate::processor::snapshot::{Emit, EmitCtx};
use crate::sketch::{Cardinality, Rate};
use crate::window::{Bucket, BucketMetrics};

/// net v1's layout.
#[derive(Clone, Copy, Debug)]
pub struct V1;

/// `net` version 1.0.
pub const KIND: ProcessorKind = kind::<Net<V1>>();

/// One bucket of net v1.
#[derive(Clone, Debug, Default)]
pub struct NetV1Bucket {
    pps_in: Rate,
    pps_out: Rate,
    pps_total: Rate,
    bytes_in: Rate,
    bytes_out: Rate,
    bytes_total: Rate,
    /// Counters, top lists and payload sizes.
    m: NetMetrics,
    in_: u64,
    out: u64,
    unknown_dir: u64,
    filtered: u64,
    src_ips_in: Cardinality,
    dst_ips_out: Cardinality,
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
        let theirs = [
            &o.pps_in,
            &o.pps_out,
            &o.pps_total,
            &o.bytes_in,
            &o.bytes_out,
            &o.bytes_total,
        ];
        for (r, t) in self.rates_mut().into_iter().zip(theirs) {
            r.merge(t);
        }
        self.m.merge(&o.m);
        self.in_ += o.in_;
        self.out += o.out;
        self.unknown_dir += o.unknown_dir;
        self.filtered += o.filtered;
        self.src_ips_in.merge(&o.src_ips_in);
        self.dst_ips_out.merge(&o.dst_ips_out);
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

impl Emit for NetV1Bucket {
    const SCHEMA_KEY: &'static str = "packets";

    fn emit(b: &Bucket<Self>, ctx: &EmitCtx, sink: &mut dyn MetricSink) {
        let (v, m) = (&b.metrics, &b.metrics.m);
        let r = Scope::ROOT;
        for (desc, rate) in [
            (&PPS_IN, &v.pps_in),
            (&PPS_OUT, &v.pps_out),
            (&PPS_TOTAL, &v.pps_total),
            (&BYTES_IN, &v.bytes_in),
            (&BYTES_OUT, &v.bytes_out),
            (&BYTES_TOTAL, &v.bytes_total),
            (&PPS_EVENTS, &b.base.event_rate),
        ] {
            ctx.rate(sink, desc, &r, rate);
        }
        sink.counter(&schema::EVENTS.v1, &r, b.base.events);
        sink.counter(&schema::DEEP.v1, &r, b.base.deep_samples);
        if ctx.on(G_COUNTERS) {
            for (desc, n) in schema::COUNTERS.iter().zip(m.counters()) {
                sink.counter(&desc.v1, &r, n);
            }
            for (desc, n) in [
                (&IN, v.in_),
                (&OUT, v.out),
                (&UNKNOWN_DIR, v.unknown_dir),
                (&schema::TOTAL.v1, m.total),
                (&FILTERED, v.filtered),
            ] {
                sink.counter(desc, &r, n);
            }
        }
        if ctx.on(G_CARDINALITY) {
            sink.cardinality(&SRC_IPS_IN, &r, v.src_ips_in.estimate_rounded());
            sink.cardinality(&DST_IPS_OUT, &r, v.dst_ips_out.estimate_rounded());
        }
        if ctx.on(G_TOP_IPS) {
            sink.topn(&TOP_IPV4, &r, "ipv4", &ctx.top(&m.top_ipv4));
            sink.topn(&TOP_IPV6, &r, "ipv6", &ctx.top(&m.top_ipv6));
        }
        if ctx.on(G_TOP_GEO) {
            let geo = geo_entries(ctx, &m.top_geo);
            sink.topn(&schema::TOP_GEO.v1, &r, "geo_loc", &geo);
            sink.topn(&schema::TOP_ASN.v1, &r, "asn", &ctx.top(&m.top_asn));
        }
        sink.quantiles(&schema::PAYLOAD_SIZE.v1, &r, &m.payload_size, true);
    }
}

impl Layout for V1 {
    type Bucket = NetV1Bucket;
    /// Every packet counts into the whole bucket.
    type Side = NetV1Bucket;
    const VERSION: Version<Record> = VERSION;

    fn side(b: &mut NetV1Bucket, _d: Direction) -> &mut NetV1Bucket {
        b
    }

    fn filtered(b: &mut NetV1Bucket) -> &mut u64 {
        &mut b.filtered
    }

    #[inline]
    fn volume(b: &mut NetV1Bucket, p: &PacketInfo<'_>, on: &Record) {
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
        b.m.payload_size.record_u64(len);
        if on.counters {
            match p.direction {
                Direction::ToHost => b.in_ += 1,
                Direction::FromHost => b.out += 1,
                Direction::Unknown => b.unknown_dir += 1,
            }
        }
    }

    #[inline]
    fn metrics(b: &mut NetV1Bucket) -> &mut NetMetrics {
        &mut b.m
    }

    #[inline]
    fn ips(b: &mut NetV1Bucket, inbound: bool) -> &mut Cardinality {
        if inbound {
            &mut b.src_ips_in
        } else {
            &mut b.dst_ips_out
        }
    }

    /// A dnstap message's query address counts as ingress and its response address as
    /// egress, whatever the direction (pktvisor's dnstap rule); a packet records its
    /// remote address on its side.
    #[inline]
    fn addresses(p: &PacketInfo<'_>, dnstap: Option<DnstapIps>) -> [(Option<IpAddr>, bool); 2] {
        let (ip_in, ip_out) = dnstap.unwrap_or(match p.direction {
            Direction::ToHost => (p.src_ip, None),
            Direction::FromHost => (None, p.dst_ip),
            Direction::Unknown => (None, None),
        });
        [(ip_in, true), (ip_out, false)]
    }
}
