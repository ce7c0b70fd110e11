//! Self-telemetry: the agent's own metrics (packets per receiver, drops, queue depth, export
//! results, CPU, memory …) exported through the OpenTelemetry SDK (`opentelemetry_sdk` +
//! `opentelemetry-otlp` over gRPC) to the same endpoint as the data plane.
//!
//! This file owns the SDK wiring. The agent supplies one callback returning its current
//! values; at install the callback is called once and one observable instrument is
//! registered per metric name it returned (names that appear only later are not exported).
//! Each instrument's callback calls the agent's callback and observes the points with its
//! name. The SDK's `PeriodicReader` runs on its own thread at `interval`; the tonic exporter
//! is built inside the caller's multi-thread tokio runtime, and flush/shutdown run through
//! `spawn_blocking` (see the deadlock notes in dependencies.md).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};

use super::config::{Compression, OtlpConfig, Protocol};
use crate::export::otlp::ResourceAttrs;

/// How a self-metric is exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SelfKind {
    /// Monotonic running total (observable counter).
    Counter,
    /// Current value (observable gauge).
    Gauge,
}

/// One self-metric value.
#[derive(Clone, Debug, PartialEq)]
pub struct SelfPoint {
    /// OTel metric name (e.g. `pktvisor.receiver.packets`).
    pub name: String,
    /// UCUM unit.
    pub unit: String,
    /// Description.
    pub description: String,
    /// The value.
    pub value: f64,
    /// Attributes.
    pub attributes: Vec<(String, String)>,
    /// Counter or gauge.
    pub kind: SelfKind,
}

/// The agent's callback.
pub type SelfSource = Arc<dyn Fn() -> Vec<SelfPoint> + Send + Sync>;

/// Why self-telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum SelfTelemetryError {
    /// Not inside a multi-thread tokio runtime.
    #[error("self-telemetry must be installed inside a multi-thread tokio runtime")]
    Runtime,
    /// Only gRPC is wired for the SDK exporter.
    #[error("self-telemetry supports the grpc protocol only (OTLP protocol is http/protobuf)")]
    Protocol,
    /// A TLS file could not be read.
    #[error("cannot read TLS file {0}: {1}")]
    Tls(String, std::io::Error),
    /// The SDK rejected the exporter.
    #[error("cannot build the self-telemetry exporter: {0}")]
    Build(String),
}

/// The installed SDK pipeline.
pub struct SelfTelemetry {
    provider: SdkMeterProvider,
    names: Vec<String>,
}

fn attrs(p: &SelfPoint) -> Vec<KeyValue> {
    p.attributes
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect()
}

impl SelfTelemetry {
    /// Builds the SDK exporter and registers the instruments (see the module doc).
    pub fn install(
        cfg: &OtlpConfig,
        resource: &ResourceAttrs,
        source: SelfSource,
    ) -> Result<SelfTelemetry, SelfTelemetryError> {
        let h = tokio::runtime::Handle::try_current().map_err(|_| SelfTelemetryError::Runtime)?;
        if h.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err(SelfTelemetryError::Runtime);
        }
        if cfg.protocol != Protocol::Grpc {
            return Err(SelfTelemetryError::Protocol);
        }
        let mut b = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(cfg.endpoint.clone())
            .with_timeout(cfg.timeout)
            .with_temporality(match cfg.encode.temporality {
                crate::export::otlp::Temporality::Cumulative => Temporality::Cumulative,
                crate::export::otlp::Temporality::Delta => Temporality::Delta,
            });
        if cfg.compression == Compression::Gzip {
            b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
        }
        if !cfg.headers.is_empty() {
            let mut md = tonic::metadata::MetadataMap::new();
            for (k, v) in &cfg.headers {
                if let (Ok(k), Ok(v)) = (
                    tonic::metadata::MetadataKey::from_bytes(k.as_bytes()),
                    tonic::metadata::MetadataValue::try_from(v.as_str()),
                ) {
                    md.insert(k, v);
                }
            }
            b = b.with_metadata(md);
        }
        if cfg.endpoint.starts_with("https://") {
            let read = |p: &std::path::Path| {
                std::fs::read(p).map_err(|e| SelfTelemetryError::Tls(p.display().to_string(), e))
            };
            let mut tls = tonic::transport::ClientTlsConfig::new().with_webpki_roots();
            if let Some(ca) = &cfg.tls.ca_certificate {
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(read(ca)?));
            }
            if let (Some(c), Some(k)) = (&cfg.tls.client_certificate, &cfg.tls.client_key) {
                tls = tls.identity(tonic::transport::Identity::from_pem(read(c)?, read(k)?));
            }
            b = b.with_tls_config(tls);
        }
        let exporter = b
            .build()
            .map_err(|e| SelfTelemetryError::Build(e.to_string()))?;
        let reader = PeriodicReader::builder(exporter)
            .with_interval(cfg.interval.max(Duration::from_millis(100)))
            .build();
        let res = opentelemetry_sdk::Resource::builder_empty()
            .with_attributes(
                resource
                    .0
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .build();
        let provider = SdkMeterProvider::builder()
            .with_reader(reader)
            .with_resource(res)
            .build();
        let meter = provider.meter("pktvisor.self");
        let mut kinds: BTreeMap<String, SelfPoint> = BTreeMap::new();
        for p in source() {
            kinds.entry(p.name.clone()).or_insert(p);
        }
        for (name, p) in &kinds {
            let src = source.clone();
            let want = name.clone();
            match p.kind {
                SelfKind::Counter => {
                    meter
                        .u64_observable_counter(name.clone())
                        .with_unit(p.unit.clone())
                        .with_description(p.description.clone())
                        .with_callback(move |o| {
                            for q in src().iter().filter(|q| q.name == want) {
                                o.observe(q.value.max(0.0) as u64, &attrs(q));
                            }
                        })
                        .build();
                }
                SelfKind::Gauge => {
                    meter
                        .f64_observable_gauge(name.clone())
                        .with_unit(p.unit.clone())
                        .with_description(p.description.clone())
                        .with_callback(move |o| {
                            for q in src().iter().filter(|q| q.name == want) {
                                o.observe(q.value, &attrs(q));
                            }
                        })
                        .build();
                }
            }
        }
        Ok(SelfTelemetry {
            provider,
            names: kinds.into_keys().collect(),
        })
    }

    /// The metric names registered.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Exports now (off the async threads).
    pub async fn flush(&self) -> Result<(), SelfTelemetryError> {
        let p = self.provider.clone();
        tokio::task::spawn_blocking(move || p.force_flush())
            .await
            .map_err(|e| SelfTelemetryError::Build(e.to_string()))?
            .map_err(|e| SelfTelemetryError::Build(e.to_string()))
    }

    /// Final export and stop (off the async threads).
    pub async fn shutdown(self) -> Result<(), SelfTelemetryError> {
        let p = self.provider;
        tokio::task::spawn_blocking(move || p.shutdown())
            .await
            .map_err(|e| SelfTelemetryError::Build(e.to_string()))?
            .map_err(|e| SelfTelemetryError::Build(e.to_string()))
    }
}
