//! The contract between processors and encoders: a metric's static identity (`Desc`), where
//! it sits (`Scope`), the visitor every snapshot drives (`MetricSink`), the period a
//! snapshot covers and the snapshot itself, plus the occupancy of bounded tables
//! (`TableStat`) processors report for self-telemetry.
//!
//! Processors implement `Snapshot` and call `MetricSink`; the JSON, Prometheus and OTLP
//! encoders in `export` are sinks. Neither side knows the other: both depend only on this
//! module. A metric is named by a static `Desc` (Prometheus family = `schema` + `_` + path
//! joined by `_`; JSON path = the path below the handler's key) and placed by a `Scope`
//! (extra JSON prefix and labels, e.g. a v2 direction). Every `Desc` carries the metric's
//! OpenTelemetry identity (`otel`: name, instrument, unit, attributes; see `otel`), and a
//! `Scope` its OTel attributes beside its Prometheus labels.

pub mod otel;

use std::any::Any;

use crate::sketch::{Distribution, Rate};
use crate::time::Timespec;

pub use otel::Otel;

/// Static identity of a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Desc {
    /// Prometheus family prefix (usually the handler's schema key).
    pub schema: &'static str,
    /// Name parts: the JSON path below the handler object and the rest of the family name.
    pub path: &'static [&'static str],
    /// Help text (Prometheus HELP, OTel description).
    pub help: &'static str,
    /// Its OpenTelemetry identity.
    pub otel: Otel,
}

impl Desc {
    /// A description.
    pub const fn new(
        schema: &'static str,
        path: &'static [&'static str],
        help: &'static str,
        otel: Otel,
    ) -> Desc {
        Desc {
            schema,
            path,
            help,
            otel,
        }
    }

    /// The Prometheus family name.
    pub fn family(&self) -> String {
        let mut s = String::from(self.schema);
        for p in self.path {
            s.push('_');
            s.push_str(p);
        }
        s
    }
}

/// Where a metric sits: a JSON prefix below the handler object, extra Prometheus labels and
/// the same place as OpenTelemetry attributes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scope<'a> {
    /// JSON keys between the handler object and the metric path.
    pub json: &'a [&'a str],
    /// Labels added to the metric's Prometheus series.
    pub labels: &'a [(&'a str, &'a str)],
    /// Attributes added to the metric's OTLP points (`otel::key`).
    pub attrs: &'a [(&'a str, &'a str)],
}

impl Scope<'static> {
    /// The handler object itself, no labels.
    pub const ROOT: Scope<'static> = Scope {
        json: &[],
        labels: &[],
        attrs: &[],
    };
}

/// One top-N entry ready for output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopEntry {
    /// The item, rendered.
    pub name: String,
    /// Its estimated count or weight.
    pub estimate: u64,
    /// Latitude and longitude strings for geo items (emitted only when both are set).
    pub lat_lon: Option<(String, String)>,
}

/// The visitor a snapshot drives.
pub trait MetricSink {
    /// A counter (u64).
    fn counter(&mut self, d: &Desc, s: &Scope<'_>, value: u64);
    /// A distinct-count estimate, already rounded.
    fn cardinality(&mut self, d: &Desc, s: &Scope<'_>, value: u64);
    /// Quantiles p50/p90/p95/p99 of a distribution; `integer` rounds them.
    fn quantiles(&mut self, d: &Desc, s: &Scope<'_>, dist: &Distribution, integer: bool);
    /// A per-second rate: quantiles of its samples plus the live value when given.
    fn rate(&mut self, d: &Desc, s: &Scope<'_>, rate: &Rate, live: Option<u64>);
    /// pktvisor's log-bound histogram of a distribution.
    fn histogram(&mut self, d: &Desc, s: &Scope<'_>, dist: &Distribution, integer: bool);
    /// A top-N list; `item_label` names the item in Prometheus labels.
    fn topn(&mut self, d: &Desc, s: &Scope<'_>, item_label: &str, items: &[TopEntry]);
}

/// The period a snapshot covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Period {
    /// Start of the first bucket.
    pub start: Timespec,
    /// End of the last bucket (last event for recorded streams, or now for live).
    pub end: Timespec,
    /// Length in seconds as pktvisor reports it.
    pub length: i64,
    /// Whether the newest bucket is still live.
    pub live: bool,
}

/// An immutable copy of a bucket or merged window of one processor.
pub trait Snapshot: Send + Sync + 'static {
    /// The handler's JSON key (`packets`, `net`, `dns`, `pcap`, …).
    fn schema_key(&self) -> &'static str;
    /// Period covered.
    fn period(&self) -> Period;
    /// False when every metric group is disabled: nothing, not even the period, is output.
    fn has_output(&self) -> bool {
        true
    }
    /// Walks every metric in emission order.
    fn visit(&self, sink: &mut dyn MetricSink);
    /// Adds another snapshot of the same processor type into this one (merge_like_handlers);
    /// false when the types differ.
    fn merge_from(&mut self, other: &dyn Snapshot) -> bool;
    /// For downcasting in `merge_from`.
    fn as_any(&self) -> &dyn Any;
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn Snapshot>;
}

/// The four quantile ranks pktvisor emits, with their JSON keys and Prometheus labels.
pub const QUANTILES: [(f64, &str, &str); 4] = [
    (0.50, "p50", "0.5"),
    (0.90, "p90", "0.9"),
    (0.95, "p95", "0.95"),
    (0.99, "p99", "0.99"),
];

/// Occupancy and losses of one bounded table a processor or receiver keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableStat {
    /// Which table.
    pub name: &'static str,
    /// Entries now.
    pub len: usize,
    /// The bound.
    pub limit: usize,
    /// Entries dropped because the table was full.
    pub evicted: u64,
}
