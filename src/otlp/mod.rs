//! OTLP delivery: configuration, transports, the push loop and self-telemetry.
//!
//! - `config`: `OtlpConfig` from `visor.config.otlp`, `OTEL_*` and pktvisor's `--otel*` flags;
//! - `transport`: one request over gRPC or HTTP/protobuf, and what is retryable;
//! - `exporter`: `OtlpExporter::start` → `OtlpHandle` (bounded queue, retries with
//!   backoff and jitter, counters, shutdown with a deadline);
//! - `selftel`: the agent's own metrics through the OpenTelemetry SDK to the same endpoint.
//!
//! Encoding (snapshots → requests) is in `crate::export::otlp`.

pub mod config;
pub mod exporter;
pub mod selftel;
pub mod transport;

pub use config::{LegacyOtelFlags, OtlpConfig, OtlpConfigErrors, Protocol};
pub use exporter::{ExportStats, OtlpExporter, OtlpHandle};
pub use selftel::{SelfKind, SelfPoint, SelfTelemetry};
