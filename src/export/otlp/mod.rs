//! The OTLP encoding of snapshots (pure: no I/O; delivery lives in `crate::otlp`).
//!
//! - `encode`: the `MetricSink` that builds an `ExportMetricsServiceRequest` from the OTel
//!   identity each metric declares beside its `Desc` (`crate::metric::otel`: name,
//!   instrument, unit, attributes), and the stateless `encode_snapshots`;
//! - `stream`: the stateful `OtlpEncoder` (cumulative totals over bucket rotation, or one
//!   delta point per completed bucket);
//! - `resource`: the Resource (service, host, Kubernetes, `OTEL_RESOURCE_ATTRIBUTES`).
//!
//! **Why the data plane builds `opentelemetry-proto` messages instead of using SDK
//! instruments.** The OpenTelemetry SDK's instruments (counters, histograms) take raw
//! measurements and aggregate them themselves; the Rust SDK has no way to hand it data that
//! is already aggregated (its `MetricProducer` hook for external aggregates was removed in
//! opentelemetry_sdk 0.26, opentelemetry-rust#2105). Our processors are the aggregation:
//! they keep 60-second buckets of mergeable sketches (exponential histograms at a fixed
//! scale, HyperLogLog, top-N summaries, counters) that the REST API, Prometheus and OTLP all
//! read, merge across workers and bucket rotation, and export with the buckets' own start
//! and end times (a recorded capture is exported in packet time). Replaying every packet
//! into SDK instruments would aggregate everything a second time on the hot path, lose the
//! bucket times, and could not express top-N lists or cardinality sketches at all. So the
//! encoder writes the OTLP data model directly (Sums, Gauges, ExponentialHistograms with the
//! sketches' own buckets) and `crate::otlp` delivers it with the specification's retry
//! rules. The SDK is used where it fits: the agent's self-telemetry (`otlp::selftel`), which
//! observes plain counters and gauges.

pub mod encode;
pub mod resource;
pub mod stream;

pub use encode::{
    EncodeOptions, ExportBatch, HistogramAggregation, SnapshotRef, Temporality, encode_snapshots,
    otlp_type,
};
pub use resource::ResourceAttrs;
pub use stream::{HandlerReading, OtlpEncoder};
