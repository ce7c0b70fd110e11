//! The OTLP encoder: a `MetricSink` that turns snapshot walks into one
//! `ExportMetricsServiceRequest`.
//!
//! This file owns the data-point shapes. Each metric's name, instrument, unit and fixed
//! attributes come from the OTel identity its `Desc` declares (`metric::otel`): Sums are
//! monotonic, Gauges carry cardinalities, top-N items (a point per item) and current counts,
//! histograms are ExponentialHistograms (explicit-bucket Histograms when configured), with
//! values converted as declared (microseconds to seconds, percent to ratio). Every point
//! carries `pktvisor.policy`, `pktvisor.handler`, `pktvisor.tap` and its scope's attributes.
//! Points of the same OTel name from every handler and policy share one `Metric`; a
//! distribution pktvisor shows twice (quantiles and histogram) becomes one point. Empty
//! distributions produce no point (as pktvisor's JSON). Per-second rate histograms are left
//! out unless `EncodeOptions::rate_histograms` is on: backends derive rates from the Sums.

use std::collections::{HashMap, HashSet};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::metric::otel::{Instrument, Otel, ValueType, key, value_type};
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

/// The bounds of explicit histograms when none are configured: 1, 2, 5 per decade from
/// 1e-6 to 5e9, so one list fits seconds (DNS answers in milliseconds and below), bytes,
/// ratios and per-second rates alike.
pub fn default_explicit_bounds() -> Vec<f64> {
    let mut v = Vec::new();
    for exp in -6..10 {
        for m in [1, 2, 5] {
            // parsed from text so that 2e-6 is the double nearest 2e-6, not 2 * 1e-6
            v.push(format!("{m}e{exp}").parse::<f64>().unwrap_or(0.0));
        }
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
    /// Whether pktvisor's per-second rate histograms are exported (off by default).
    pub rate_histograms: bool,
}

/// The OTLP data type name of an instrument under `histograms` (docs and logs).
pub fn otlp_type(i: Instrument, histograms: &HistogramAggregation) -> &'static str {
    match (i, histograms) {
        (Instrument::Sum, _) => "Sum (monotonic)",
        (Instrument::Gauge, _) => "Gauge",
        (Instrument::Histogram, HistogramAggregation::Exponential { .. }) => "ExponentialHistogram",
        (Instrument::Histogram, HistogramAggregation::Explicit { .. }) => "Histogram",
        (Instrument::InHistogram, _) => "– (the histogram point's min/max)",
    }
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
    /// Policy name (attribute `pktvisor.policy`).
    pub policy: &'a str,
    /// Tap name (attribute `pktvisor.tap`).
    pub tap: &'a str,
    /// Handler instance name (attribute `pktvisor.handler`).
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

/// An attribute with the value type its key has (`metric::otel::value_type`): ports as
/// integers and coordinates as doubles when the text is a number, strings otherwise.
pub fn typed_kv(key: &str, value: &str) -> KeyValue {
    let typed = match value_type(key) {
        ValueType::Int => value.parse::<i64>().ok().map(any_value::Value::IntValue),
        ValueType::Double => value.parse::<f64>().ok().map(any_value::Value::DoubleValue),
        ValueType::Str => None,
    };
    match typed {
        Some(v) => KeyValue {
            key: key.to_string(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        },
        None => kv(key, value),
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
            base: [
                (key::POLICY, s.policy),
                (key::HANDLER, s.handler),
                (key::TAP, s.tap),
            ]
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

    fn metric(&mut self, o: &Otel, help: &str) -> &mut Metric {
        let i = match self.index.get(o.name) {
            Some(i) => *i,
            None => {
                let t = self.temporality();
                let data = match o.instrument {
                    Instrument::Sum => Data::Sum(Sum {
                        data_points: Vec::new(),
                        aggregation_temporality: t,
                        is_monotonic: true,
                    }),
                    Instrument::Gauge => Data::Gauge(Gauge::default()),
                    Instrument::Histogram | Instrument::InHistogram => match self.opts.histograms {
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
                    name: o.name.to_string(),
                    description: help.to_string(),
                    unit: o.unit.to_string(),
                    data: Some(data),
                    ..Default::default()
                });
                self.index
                    .insert(o.name.to_string(), self.metrics.len() - 1);
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
    /// Attributes of a point: policy/handler/tap, the metric's fixed attributes, the
    /// scope's attributes.
    fn attrs(&self, o: &Otel, s: &Scope<'_>) -> Vec<(String, String)> {
        let mut a = self.base.clone();
        for (k, v) in o.attrs.iter().chain(s.attrs) {
            a.push(((*k).to_string(), (*v).to_string()));
        }
        a
    }

    /// False when this (name, attributes, start) already has a point in this request.
    fn first(&mut self, name: &str, attrs: &[(String, String)]) -> bool {
        let mut key = attrs.to_vec();
        key.sort();
        self.b.seen.insert((name.to_string(), key, self.start))
    }

    fn number(&mut self, d: &Desc, s: &Scope<'_>, value: u64) {
        let o = &d.otel;
        if o.instrument == Instrument::InHistogram {
            return;
        }
        let attrs = self.attrs(o, s);
        if !self.first(o.name, &attrs) {
            return;
        }
        let p = NumberDataPoint {
            attributes: attrs.iter().map(|(k, v)| typed_kv(k, v)).collect(),
            start_time_unix_nano: self.start,
            time_unix_nano: self.end,
            value: Some(number_data_point::Value::AsInt(
                i64::try_from(value).unwrap_or(i64::MAX),
            )),
            ..Default::default()
        };
        if push_number(self.b.metric(o, d.help), p) {
            self.b.points += 1;
        }
    }

    fn distribution(&mut self, d: &Desc, s: &Scope<'_>, dist: &Distribution) {
        if dist.is_empty() {
            return;
        }
        let o = &d.otel;
        let attrs = self.attrs(o, s);
        if !self.first(o.name, &attrs) {
            return;
        }
        let converted;
        let factor = o.convert.factor();
        let dist = if factor == 1.0 {
            dist
        } else {
            converted = dist.scaled(factor);
            &converted
        };
        let attributes: Vec<KeyValue> = attrs.iter().map(|(k, v)| typed_kv(k, v)).collect();
        let (start, end) = (self.start, self.end);
        let histograms = self.b.opts.histograms.clone();
        let m = self.b.metric(o, d.help);
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

/// Adds a number point to a Sum or Gauge; false for other metric types.
fn push_number(m: &mut Metric, p: NumberDataPoint) -> bool {
    match &mut m.data {
        Some(Data::Sum(s)) => s.data_points.push(p),
        Some(Data::Gauge(g)) => g.data_points.push(p),
        _ => return false,
    }
    true
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
        self.number(d, s, value);
    }

    fn cardinality(&mut self, d: &Desc, s: &Scope<'_>, value: u64) {
        self.number(d, s, value);
    }

    fn quantiles(&mut self, d: &Desc, s: &Scope<'_>, dist: &Distribution, _integer: bool) {
        self.distribution(d, s, dist);
    }

    fn rate(&mut self, d: &Desc, s: &Scope<'_>, rate: &Rate, _live: Option<u64>) {
        if self.b.opts.rate_histograms {
            self.distribution(d, s, rate.samples());
        }
    }

    fn histogram(&mut self, d: &Desc, s: &Scope<'_>, dist: &Distribution, _integer: bool) {
        self.distribution(d, s, dist);
    }

    fn topn(&mut self, d: &Desc, s: &Scope<'_>, _item_label: &str, items: &[TopEntry]) {
        let o = &d.otel;
        let base = self.attrs(o, s);
        for e in items {
            if e.name.is_empty() {
                continue;
            }
            let mut attrs = base.clone();
            attrs.extend(
                o.item
                    .attributes(e)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v)),
            );
            if !self.first(o.name, &attrs) {
                continue;
            }
            let p = NumberDataPoint {
                attributes: attrs.iter().map(|(k, v)| typed_kv(k, v)).collect(),
                start_time_unix_nano: self.start,
                time_unix_nano: self.end,
                value: Some(number_data_point::Value::AsInt(
                    i64::try_from(e.estimate).unwrap_or(i64::MAX),
                )),
                ..Default::default()
            };
            if push_number(self.b.metric(o, d.help), p) {
                self.b.points += 1;
            }
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
