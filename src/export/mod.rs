//! Encoders of snapshots: pure functions of the metric walk in `crate::metric`.
//!
//! A processor's snapshot walks its metrics once through `metric::MetricSink`; the JSON
//! encoder (`json`), the Prometheus text encoder (`prometheus`) and the OTLP encoder
//! (`otlp`) are sinks, so one walk drives every output and the emission order is the same
//! everywhere.

pub mod json;
pub mod numfmt;
pub mod otlp;
pub mod prometheus;
