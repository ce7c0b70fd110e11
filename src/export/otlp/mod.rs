//! The OTLP encoding of snapshots (pure: no I/O; delivery lives in `crate::otlp`).
//!
//! - `naming`: pktvisor metric names → OTel names, units and attributes;
//! - `encode`: the `MetricSink` that builds an `ExportMetricsServiceRequest`, and the
//!   stateless `encode_snapshots`;
//! - `stream`: the stateful `OtlpEncoder` (cumulative totals over bucket rotation, or one
//!   delta point per completed bucket);
//! - `resource`: the Resource (service, host, Kubernetes, `OTEL_RESOURCE_ATTRIBUTES`).

pub mod encode;
pub mod naming;
pub mod resource;
pub mod stream;

pub use encode::{
    EncodeOptions, ExportBatch, HistogramAggregation, SnapshotRef, Temporality, encode_snapshots,
};
pub use resource::ResourceAttrs;
pub use stream::{HandlerReading, OtlpEncoder};
