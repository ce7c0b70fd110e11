//! The OTLP encoder: a `MetricSink` that turns snapshot walks into one
//! `ExportMetricsServiceRequest`.
//!
//! This file owns the data-point shapes: counters → monotonic Sums, distributions and rates
//! → ExponentialHistograms (explicit-bucket Histograms when configured), cardinalities and
//! top-N lists → Gauges (one point per item). Points of the same OTel name from every
//! handler and policy share one `Metric`; a distribution pktvisor shows twice (quantiles and
//! histogram) becomes one point. Empty distributions produce no point (as pktvisor's JSON).

use std::collections::{HashMap, HashSet};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::naming::{self, Carry, Kind, OtelName};
use crate::metric::{Desc, MetricSink, Scope, Snapshot, TopEntry};
use crate::sketch::{Distribution, Rate};
use crate::time::Timespec;

/// Aggregation temporality of Sums and Histograms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Temporality {
    /// Running totals since a fixed start (the default).
    #[default]
    Cumulative,
    /// One point per completed bucket, start = bucket start.
    Delta,
}

/// How distributions are exported.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HistogramAggregation {
    /// Base-2 exponential histograms, downscaled to at most `max_size` buckets per sign.
    Exponential {
        /// Bucket limit per sign (OTel default 160).
        max_size: usize,
    },
    /// Explicit-bucket histograms with these upper-inclusive bounds.
    Explicit {
        /// Ascending bounds.
        bounds: Vec<f64>,
    },
}

impl Default for HistogramAggregation {
    fn default() -> Self {
        HistogramAggregation::Exponential { max_size: 160 }
    }
}

/// The bounds of explicit histograms when none are configured: 1, 2, 5 per decade from 1
/// to 5e9 (fits microseconds, bytes and per-second rates alike).
pub fn default_explicit_bounds() -> Vec<f64> {
    let mut v = Vec::new();
    let mut decade = 1.0f64;
    for _ in 0..10 {
        for m in [1.0, 2.0, 5.0] {
            v.push(m * decade);
        }
        decade *= 10.0;
    }
    v
}

/// What the encoder needs to know besides the snapshots.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct EncodeOptions {
    /// Temporality of Sums and Histograms.
    pub temporality: Temporality,
    /// Distribution shape.
    pub histograms: HistogramAggregation,
}

/// One encoded export with its size in data points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExportBatch {
    /// The request as sent.
    pub request: ExportMetricsServiceRequest,
    /// Data points it holds.
    pub data_points: u64,
}

/// One snapshot to encode, with the names it is reported under and its time range.
pub struct SnapshotRef<'a> {
    /// Policy name (attribute `policy`).
    pub policy: &'a str,
    /// Tap name (attribute `tap`).
    pub tap: &'a str,
    /// Handler instance name (attribute `handler`).
    pub handler: &'a str,
    /// The values.
    pub snapshot: &'a dyn Snapshot,
    /// Start of the points' time range.
    pub start: Timespec,
    /// End (the points' time).
    pub end: Timespec,
}

fn nanos(t: Timespec) -> u64 {
    u64::try_from(t.as_nanos().max(0)).unwrap_or(u64::MAX)
}

/// A string attribute.
pub fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

/// (metric name, sorted attributes, start time) of one point.
type PointKey = (String, Vec<(String, String)>, u64);

/// Accumulates metrics of any number of snapshots.
pub struct RequestBuilder {
    opts: EncodeOptions,
    metrics: Vec<Metric>,
    index: HashMap<String, usize>,
    seen: HashSet<PointKey>,
    points: u64,
}

impl RequestBuilder {
    /// An empty builder.
    pub fn new(opts: EncodeOptions) -> Self {
        RequestBuilder {
            opts,
            metrics: Vec::new(),
            index: HashMap::new(),
            seen: HashSet::new(),
            points: 0,
        }
    }

    /// Adds every metric of one snapshot.
    pub fn add(&mut self, s: &SnapshotRef<'_>) {
        if !s.snapshot.has_output() {
            return;
        }
        let mut sink = OtlpSink {
            b: self,
            base: [("policy", s.policy), ("handler", s.handler), ("tap", s.tap)]
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            start: nanos(s.start),
            end: nanos(s.end),
        };
        s.snapshot.visit(&mut sink);
    }

    /// Data points so far.
    pub fn data_points(&self) -> u64 {
        self.points
    }

    /// The request under `resource` (one scope `pktvisor`).
    pub fn finish(self, resource: &Resource) -> ExportBatch {
        let scope = ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: "pktvisor".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..Default::default()
            }),
            metrics: self.metrics,
            schema_url: String::new(),
        };
        ExportBatch {
            request: ExportMetricsServiceRequest {
                resource_metrics: vec![ResourceMetrics {
                    resource: Some(resource.clone()),
                    scope_metrics: vec![scope],
                    schema_url: String::new(),
                }],
            },
            data_points: self.points,
        }
    }

    fn temporality(&self) -> i32 {
        match self.opts.temporality {
            Temporality::Cumulative => AggregationTemporality::Cumulative as i32,
            Temporality::Delta => AggregationTemporality::Delta as i32,
        }
    }

    fn metric(&mut self, name: &OtelName, help: &str, kind: Kind) -> &mut Metric {
        let i = match self.index.get(&name.name) {
            Some(i) => *i,
            None => {
                let t = self.temporality();
                let data = match kind {
                    Kind::Counter => Data::Sum(Sum {
                        data_points: Vec::new(),
                        aggregation_temporality: t,
                        is_monotonic: true,
                    }),
                    Kind::Cardinality | Kind::TopN => Data::Gauge(Gauge::default()),
                    Kind::Distribution | Kind::Rate => match self.opts.histograms {
                        HistogramAggregation::Exponential { .. } => {
                            Data::ExponentialHistogram(ExponentialHistogram {
                                data_points: Vec::new(),
                                aggregation_temporality: t,
                            })
                        }
                        HistogramAggregation::Explicit { .. } => Data::Histogram(Histogram {
                            data_points: Vec::new(),
                            aggregation_temporality: t,
                        }),
                    },
                };
                self.metrics.push(Metric {
                    name: name.name.clone(),
                    description: help.to_string(),
                    unit: name.unit.to_string(),
                    data: Some(data),
                    ..Default::default()
                });
                self.index.insert(name.name.clone(), self.metrics.len() - 1);
                self.metrics.len() - 1
            }
        };
        &mut self.metrics[i]
    }
}

struct OtlpSink<'a> {
    b: &'a mut RequestBuilder,
    base: Vec<(String, String)>,
    start: u64,
    end: u64,
}

impl OtlpSink<'_> {
    /// Attributes of a point: policy/handler/tap, folded name attributes, scope labels.
    fn attrs(&self, name: &OtelName, s: &Scope<'_>) -> Vec<(String, String)> {
        let mut a = self.base.clone();
        for (k, v) in &name.attrs {
            a.push(((*k).to_string(), v.clone()));
        }
        for (k, v) in s.labels {
            a.push((naming::attribute_key(k).to_string(), (*v).to_string()));
        }
        a
    }

    /// False when this (name, attributes, start) already has a point in this request.
    fn first(&mut self, name: &str, attrs: &[(String, String)]) -> bool {
        let mut key = attrs.to_vec();
        key.sort();
        self.b.seen.insert((name.to_string(), key, self.start))
    }

    fn number(&mut self, d: &Desc, s: &Scope<'_>, kind: Kind, value: u64) {
        let name = naming::map(d, kind);
        if name.carry == Carry::InHistogram {
            return;
        }
        let attrs = self.attrs(&name, s);
        if !self.first(&name.name, &attrs) {
            return;
        }
        let p = NumberDataPoint {
            attributes: attrs.iter().map(|(k, v)| kv(k, v)).collect(),
            start_time_unix_nano: self.start,
            time_unix_nano: self.end,
            value: Some(number_data_point::Value::AsInt(
                i64::try_from(value).unwrap_or(i64::MAX),
            )),
            ..Default::default()
        };
        push_number(self.b.metric(&name, d.help, kind), p);
        self.b.points += 1;
    }

    fn distribution(&mut self, d: &Desc, s: &Scope<'_>, kind: Kind, dist: &Distribution) {
        if dist.is_empty() {
            return;
        }
        let name = naming::map(d, kind);
        let attrs = self.attrs(&name, s);
        if !self.first(&name.name, &attrs) {
            return;
        }
        let seconds;
        let dist = if name.carry == Carry::MicrosAsSeconds {
            seconds = dist.scaled(1e-6);
            &seconds
        } else {
            dist
        };
        let attributes: Vec<KeyValue> = attrs.iter().map(|(k, v)| kv(k, v)).collect();
        let (start, end) = (self.start, self.end);
        let histograms = self.b.opts.histograms.clone();
        let m = self.b.metric(&name, d.help, kind);
        match (&mut m.data, histograms) {
            (
                Some(Data::ExponentialHistogram(h)),
                HistogramAggregation::Exponential { max_size },
            ) => h
                .data_points
                .push(exponential_point(dist, max_size, attributes, start, end)),
            (Some(Data::Histogram(h)), HistogramAggregation::Explicit { bounds }) => h
                .data_points
                .push(explicit_point(dist, &bounds, attributes, start, end)),
            _ => return,
        }
        self.b.points += 1;
    }
}

fn push_number(m: &mut Metric, p: NumberDataPoint) {
    match &mut m.data {
        Some(Data::Sum(s)) => s.data_points.push(p),
        Some(Data::Gauge(g)) => g.data_points.push(p),
        _ => {}
    }
}

/// An ExponentialHistogram point of `dist`, downscaled to `max_size` buckets per sign.
pub fn exponential_point(
    dist: &Distribution,
    max_size: usize,
    attributes: Vec<KeyValue>,
    start: u64,
    end: u64,
) -> ExponentialHistogramDataPoint {
    let ds = dist.downscaled(max_size);
    let buckets = |offset: i32, counts: Vec<u64>| {
        (!counts.is_empty()).then_some(Buckets {
            offset,
            bucket_counts: counts,
        })
    };
    ExponentialHistogramDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: end,
        count: dist.count(),
        sum: Some(dist.sum()),
        scale: ds.scale,
        zero_count: dist.zero_count(),
        positive: buckets(ds.positive_offset, ds.positive),
        negative: buckets(ds.negative_offset, ds.negative),
        min: dist.min(),
        max: dist.max(),
        ..Default::default()
    }
}

/// An explicit-bucket Histogram point of `dist`: each exponential bucket's count goes to the
/// first bound at or above its representative value (exact to the distribution's 0.55%
/// bucket resolution).
pub fn explicit_point(
    dist: &Distribution,
    bounds: &[f64],
    attributes: Vec<KeyValue>,
    start: u64,
    end: u64,
) -> HistogramDataPoint {
    let mut counts = vec![0u64; bounds.len() + 1];
    for (value, count) in dist.weighted_values() {
        let i = bounds.partition_point(|b| *b < value);
        if let Some(c) = counts.get_mut(i) {
            *c += count;
        }
    }
    HistogramDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: end,
        count: dist.count(),
        sum: Some(dist.sum()),
        bucket_counts: counts,
        explicit_bounds: bounds.to_vec(),
        min: dist.min(),
        max: dist.max(),
        ..Default::default()
    }
}

impl MetricSink for OtlpSink<'_> {
    fn counter(&mut self, d: &Desc, s: &Scope<'_>, value: u64) {
        self.number(d, s, Kind::Counter, value);
    }

    fn cardinality(&mut self, d: &Desc, s: &Scope<'_>, value: u64) {
        self.number(d, s, Kind::Cardinality, value);
    }

    fn quantiles(&mut self, d: &Desc, s: &Scope<'_>, dist: &Distribution, _integer: bool) {
        self.distribution(d, s, Kind::Distribution, dist);
    }

    fn rate(&mut self, d: &Desc, s: &Scope<'_>, rate: &Rate, _live: Option<u64>) {
        self.distribution(d, s, Kind::Rate, rate.samples());
    }

    fn histogram(&mut self, d: &Desc, s: &Scope<'_>, dist: &Distribution, _integer: bool) {
        self.distribution(d, s, Kind::Distribution, dist);
    }

    fn topn(&mut self, d: &Desc, s: &Scope<'_>, item_label: &str, items: &[TopEntry]) {
        let name = naming::map(d, Kind::TopN);
        let base = self.attrs(&name, s);
        let item_key = naming::attribute_key(item_label).to_string();
        for e in items {
            if e.name.is_empty() {
                continue;
            }
            let mut attrs = base.clone();
            attrs.push((item_key.clone(), e.name.clone()));
            if let Some((lat, lon)) = &e.lat_lon {
                attrs.push(("lat".into(), lat.clone()));
                attrs.push(("lon".into(), lon.clone()));
            }
            if !self.first(&name.name, &attrs) {
                continue;
            }
            let p = NumberDataPoint {
                attributes: attrs.iter().map(|(k, v)| kv(k, v)).collect(),
                start_time_unix_nano: self.start,
                time_unix_nano: self.end,
                value: Some(number_data_point::Value::AsInt(
                    i64::try_from(e.estimate).unwrap_or(i64::MAX),
                )),
                ..Default::default()
            };
            push_number(self.b.metric(&name, d.help, Kind::TopN), p);
            self.b.points += 1;
        }
    }
}

/// Encodes snapshots into one request (stateless: each snapshot's points cover
/// `start..end` as given).
pub fn encode_snapshots(
    opts: &EncodeOptions,
    resource: &Resource,
    items: &[SnapshotRef<'_>],
) -> ExportBatch {
    let mut b = RequestBuilder::new(opts.clone());
    for s in items {
        b.add(s);
    }
    b.finish(resource)
}
