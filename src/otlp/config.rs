//! `OtlpConfig`: where and how the OTLP push goes, resolved from three sources.
//!
//! This file owns the resolution and its errors. Precedence, lowest first: built-in
//! defaults < `visor.config.otlp` (YAML) < the standard `OTEL_*` environment (signal-specific
//! `OTEL_EXPORTER_OTLP_METRICS_*` over generic `OTEL_EXPORTER_OTLP_*`) < pktvisor's legacy
//! `--otel*` flags / `visor.config.otel*` keys (only when `otel` is on; pktvisor's push was
//! OTLP/HTTP to `http[s]://<otel_host>:<otel_port><otel_path>`). Setting an endpoint
//! anywhere turns the push on (`enabled: false` in YAML turns it off again).
//!
//! Defaults: protocol `grpc` (pktvisor's own push was HTTP; we are gRPC-first), endpoint
//! `http://localhost:4317` (grpc) / `http://localhost:4318/v1/metrics` (http/protobuf),
//! timeout 10 s, no compression, interval 60 s, cumulative temporality, exponential
//! histograms (max 160 buckets), no per-second rate histograms (`rate_histograms: true` or
//! `PKTVISOR_OTLP_RATE_HISTOGRAMS=true` turns them on; backends derive rates from the Sums),
//! a queue of 64 batches. Every error is collected, each naming its source
//! (`visor.config.otlp.timeout`, `OTEL_EXPORTER_OTLP_TIMEOUT`, …).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::export::otlp::encode::default_explicit_bounds;
use crate::export::otlp::{EncodeOptions, HistogramAggregation, Temporality};

/// Wire protocol of the push.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum Protocol {
    /// OTLP/gRPC (default).
    #[default]
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

/// Request body compression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// None (default).
    #[default]
    None,
    /// gzip.
    Gzip,
}

/// TLS settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TlsSettings {
    /// CA certificate (PEM) that signs the server's certificate; system/webpki roots otherwise.
    pub ca_certificate: Option<PathBuf>,
    /// Client certificate (PEM) for mTLS.
    pub client_certificate: Option<PathBuf>,
    /// Client key (PEM) for mTLS.
    pub client_key: Option<PathBuf>,
}

/// The resolved OTLP push settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct OtlpConfig {
    /// Whether the push runs.
    pub enabled: bool,
    /// Full endpoint URL (`http://host:4317`; for HTTP the full `/v1/metrics` URL).
    pub endpoint: String,
    /// Wire protocol.
    pub protocol: Protocol,
    /// Extra request headers (gRPC metadata).
    pub headers: Vec<(String, String)>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Compression.
    pub compression: Compression,
    /// TLS settings (used for `https` endpoints).
    pub tls: TlsSettings,
    /// Export interval.
    pub interval: Duration,
    /// Temporality and histogram shape.
    pub encode: EncodeOptions,
    /// Batches the queue holds before dropping the oldest.
    pub queue_size: usize,
    /// First retry delay.
    pub initial_backoff: Duration,
    /// Largest retry delay.
    pub max_backoff: Duration,
    /// Time budget for retrying one batch.
    pub max_elapsed: Duration,
    /// Resource attributes from YAML (`resource_attributes`).
    pub resource_attributes: Vec<(String, String)>,
    /// Whether the agent's own metrics go out through the OpenTelemetry SDK too.
    pub self_telemetry: bool,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            enabled: false,
            endpoint: "http://localhost:4317".into(),
            protocol: Protocol::Grpc,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            compression: Compression::None,
            tls: TlsSettings::default(),
            interval: Duration::from_secs(60),
            encode: EncodeOptions::default(),
            queue_size: 64,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(300),
            resource_attributes: Vec::new(),
            self_telemetry: true,
        }
    }
}

/// pktvisor's `--otel*` flags (or `visor.config.otel*` keys), already merged by the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LegacyOtelFlags {
    /// `--otel`.
    pub otel: bool,
    /// `--otel-host` (default localhost).
    pub host: Option<String>,
    /// `--otel-port` (default 4318).
    pub port: Option<u16>,
    /// `--otel-path` (default /v1/metrics).
    pub path: Option<String>,
    /// `--otel-tls`.
    pub tls: bool,
    /// `--otel-tls-cert` (client certificate).
    pub tls_cert: Option<PathBuf>,
    /// `--otel-tls-key` (client key).
    pub tls_key: Option<PathBuf>,
    /// `--otel-interval` seconds (pktvisor ignored it; honoured here).
    pub interval: Option<u64>,
}

/// One configuration problem, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct OtlpConfigError {
    /// The YAML path, variable or flag.
    pub source_name: String,
    /// What is wrong.
    pub message: String,
}

/// Every configuration problem found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid OTLP configuration: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct OtlpConfigErrors(pub Vec<OtlpConfigError>);

struct Errors(Vec<OtlpConfigError>);

impl Errors {
    fn push(&mut self, source_name: &str, message: impl Into<String>) {
        self.0.push(OtlpConfigError {
            source_name: source_name.to_string(),
            message: message.into(),
        });
    }
}

/// A duration: a number of `default_unit`s, or a string with `ms`, `s` or `m`.
fn parse_duration(v: &str, default_ms_per_unit: u64) -> Result<Duration, String> {
    let t = v.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{v}' is not a duration (e.g. 10s, 500ms, 10000)"))?;
    let ms = match unit.trim() {
        "" => n.saturating_mul(default_ms_per_unit),
        "ms" => n,
        "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        _ => return Err(format!("'{v}' has an unknown unit (use ms, s or m)")),
    };
    Ok(Duration::from_millis(ms))
}

fn parse_protocol(v: &str) -> Result<Protocol, String> {
    match v.trim() {
        "grpc" => Ok(Protocol::Grpc),
        "http/protobuf" => Ok(Protocol::HttpProtobuf),
        "http/json" => Err("http/json is not supported (use grpc or http/protobuf)".into()),
        o => Err(format!(
            "unknown protocol '{o}' (use grpc or http/protobuf)"
        )),
    }
}

fn parse_compression(v: &str) -> Result<Compression, String> {
    match v.trim() {
        "gzip" => Ok(Compression::Gzip),
        "none" | "" => Ok(Compression::None),
        o => Err(format!("unknown compression '{o}' (use gzip or none)")),
    }
}

fn parse_temporality(v: &str) -> Result<Temporality, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "cumulative" => Ok(Temporality::Cumulative),
        // lowmemory = delta for Sums/Histograms of synchronous instruments, which is what
        // every pktvisor metric is closest to
        "delta" | "lowmemory" => Ok(Temporality::Delta),
        o => Err(format!(
            "unknown temporality '{o}' (use cumulative, delta or lowmemory)"
        )),
    }
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        o => Err(format!("'{o}' is not true or false")),
    }
}

/// `k=v,k2=v2` (percent-decoded), as `OTEL_EXPORTER_OTLP_HEADERS`.
fn parse_headers(v: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in v.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((k, val)) = pair.split_once('=') else {
            return Err(format!("'{pair}' is not key=value"));
        };
        let k = crate::export::otlp::resource::percent_decode(k.trim()).to_ascii_lowercase();
        if k.is_empty()
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(format!("'{k}' is not a valid header name"));
        }
        out.push((k, crate::export::otlp::resource::percent_decode(val.trim())));
    }
    Ok(out)
}

fn check_endpoint(v: &str) -> Result<(), String> {
    let rest = v
        .strip_prefix("http://")
        .or_else(|| v.strip_prefix("https://"))
        .ok_or_else(|| format!("'{v}' must start with http:// or https://"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("'{v}' has no host"));
    }
    Ok(())
}

/// Turns a value that may lack a scheme into a URL (`insecure` picks http).
fn with_scheme(v: &str, insecure: bool) -> String {
    if v.contains("://") {
        v.to_string()
    } else if insecure {
        format!("http://{v}")
    } else {
        format!("https://{v}")
    }
}

fn yaml_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads the process environment (for `OtlpConfig::resolve`).
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

const YAML_KEYS: &[&str] = &[
    "enabled",
    "endpoint",
    "protocol",
    "headers",
    "timeout",
    "compression",
    "certificate",
    "client_certificate",
    "client_key",
    "insecure",
    "interval",
    "temporality",
    "histogram_aggregation",
    "histogram_max_size",
    "histogram_boundaries",
    "rate_histograms",
    "queue_size",
    "max_elapsed",
    "resource_attributes",
    "self_telemetry",
];

impl OtlpConfig {
    /// Resolves YAML (`visor.config.otlp`), environment and legacy flags (see the module doc).
    pub fn resolve(
        yaml: Option<&Value>,
        env: &dyn Fn(&str) -> Option<String>,
        legacy: &LegacyOtelFlags,
    ) -> Result<OtlpConfig, OtlpConfigErrors> {
        let mut c = OtlpConfig::default();
        let mut errs = Errors(Vec::new());
        let mut endpoint: Option<(String, String)> = None; // (value, source)
        let mut endpoint_is_signal = false;
        let mut insecure: Option<bool> = None;
        let mut enabled: Option<bool> = None;
        let mut hist_kind: Option<String> = None;
        let mut max_size = 160usize;
        let mut bounds: Option<Vec<f64>> = None;

        // 1. YAML
        if let Some(y) = yaml {
            let p = "visor.config.otlp";
            match y.as_object() {
                None if y.is_null() => {}
                None => errs.push(p, "must be a map"),
                Some(m) => {
                    for (k, v) in m {
                        let path = format!("{p}.{k}");
                        if !YAML_KEYS.contains(&k.as_str()) {
                            errs.push(
                                &path,
                                format!("unknown key (known: {})", YAML_KEYS.join(", ")),
                            );
                            continue;
                        }
                        match k.as_str() {
                            "headers" | "resource_attributes" => {
                                let Some(o) = v.as_object() else {
                                    errs.push(&path, "must be a map of strings");
                                    continue;
                                };
                                let list: Vec<(String, String)> = o
                                    .iter()
                                    .filter_map(|(k, v)| yaml_str(v).map(|s| (k.clone(), s)))
                                    .collect();
                                if list.len() != o.len() {
                                    errs.push(&path, "values must be scalars");
                                }
                                if k == "headers" {
                                    c.headers = list
                                        .into_iter()
                                        .map(|(k, v)| (k.to_ascii_lowercase(), v))
                                        .collect();
                                } else {
                                    c.resource_attributes = list;
                                }
                            }
                            "histogram_boundaries" => {
                                let list: Option<Vec<f64>> = v.as_array().and_then(|a| {
                                    a.iter()
                                        .map(|x| {
                                            x.as_f64()
                                                .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
                                        })
                                        .collect()
                                });
                                match list {
                                    Some(l)
                                        if !l.is_empty() && l.windows(2).all(|w| w[0] < w[1]) =>
                                    {
                                        bounds = Some(l)
                                    }
                                    _ => errs.push(
                                        &path,
                                        "must be a non-empty ascending list of numbers",
                                    ),
                                }
                            }
                            _ => {
                                let Some(s) = yaml_str(v) else {
                                    errs.push(&path, "must be a scalar");
                                    continue;
                                };
                                apply_scalar(
                                    k,
                                    &s,
                                    &path,
                                    &mut c,
                                    &mut errs,
                                    &mut endpoint,
                                    &mut insecure,
                                    &mut enabled,
                                    &mut hist_kind,
                                    &mut max_size,
                                );
                                if k == "endpoint" {
                                    endpoint_is_signal = true;
                                }
                            }
                        }
                    }
                }
            }
        }

        // 2. environment: generic, then signal-specific
        let pairs: &[(&str, &str)] = &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "protocol"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "protocol"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "timeout_ms"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "timeout_ms"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "compression"),
            ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "compression"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "certificate"),
            ("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "certificate"),
            (
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                "client_certificate",
            ),
            (
                "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE",
                "client_certificate",
            ),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "client_key"),
            ("OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY", "client_key"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "insecure"),
            ("OTEL_EXPORTER_OTLP_METRICS_INSECURE", "insecure"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "interval_ms"),
            ("PKTVISOR_OTLP_RATE_HISTOGRAMS", "rate_histograms"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "temporality",
            ),
            (
                "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
                "histogram_aggregation",
            ),
        ];
        for (var, key) in pairs {
            if let Some(v) = env(var).filter(|v| !v.trim().is_empty()) {
                apply_scalar(
                    key,
                    &v,
                    var,
                    &mut c,
                    &mut errs,
                    &mut endpoint,
                    &mut insecure,
                    &mut enabled,
                    &mut hist_kind,
                    &mut max_size,
                );
            }
        }
        for var in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        ] {
            if let Some(v) = env(var).filter(|v| !v.trim().is_empty()) {
                match parse_headers(&v) {
                    Ok(h) => {
                        for (k, v) in h {
                            c.headers.retain(|(x, _)| *x != k);
                            c.headers.push((k, v));
                        }
                    }
                    Err(e) => errs.push(var, e),
                }
            }
        }
        if let Some(v) = env("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|v| !v.trim().is_empty()) {
            endpoint = Some((v.trim().to_string(), "OTEL_EXPORTER_OTLP_ENDPOINT".into()));
            endpoint_is_signal = false;
        }
        if let Some(v) = env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").filter(|v| !v.trim().is_empty())
        {
            endpoint = Some((
                v.trim().to_string(),
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT".into(),
            ));
            endpoint_is_signal = true;
        }
        if let Some(v) = env("OTEL_SDK_DISABLED")
            && v.trim().eq_ignore_ascii_case("true")
        {
            c.self_telemetry = false;
        }

        // 3. legacy pktvisor flags
        if legacy.otel {
            let scheme = if legacy.tls { "https" } else { "http" };
            let host = legacy.host.clone().unwrap_or_else(|| "localhost".into());
            let port = legacy.port.unwrap_or(4318);
            let path = legacy.path.clone().unwrap_or_else(|| "/v1/metrics".into());
            let path = if path.starts_with('/') {
                path
            } else {
                format!("/{path}")
            };
            endpoint = Some((format!("{scheme}://{host}:{port}{path}"), "--otel".into()));
            endpoint_is_signal = true;
            c.protocol = Protocol::HttpProtobuf;
            if legacy.tls {
                if legacy.tls_cert.is_none() || legacy.tls_key.is_none() {
                    errs.push(
                        "--otel-tls",
                        "you must specify --otel-tls-key and --otel-tls-cert to use --otel-tls",
                    );
                }
                c.tls.client_certificate = legacy.tls_cert.clone();
                c.tls.client_key = legacy.tls_key.clone();
            }
            if let Some(i) = legacy.interval {
                c.interval = Duration::from_secs(i.max(1));
            }
            enabled = Some(true);
        }

        // endpoint and enablement
        match endpoint {
            Some((v, src)) => {
                let url = with_scheme(&v, insecure.unwrap_or(false));
                match check_endpoint(&url) {
                    Ok(()) => {
                        c.endpoint = if c.protocol == Protocol::HttpProtobuf && !endpoint_is_signal
                        {
                            format!("{}/v1/metrics", url.trim_end_matches('/'))
                        } else {
                            url
                        };
                        c.enabled = enabled.unwrap_or(true);
                    }
                    Err(e) => errs.push(&src, e),
                }
            }
            None => {
                if c.protocol == Protocol::HttpProtobuf {
                    c.endpoint = "http://localhost:4318/v1/metrics".into();
                }
                c.enabled = enabled.unwrap_or(false);
            }
        }
        if c.tls.client_certificate.is_some() != c.tls.client_key.is_some() {
            errs.push(
                "client_certificate/client_key",
                "mTLS needs both a client certificate and a client key",
            );
        }
        for p in [
            &c.tls.ca_certificate,
            &c.tls.client_certificate,
            &c.tls.client_key,
        ]
        .into_iter()
        .flatten()
        {
            if !p.is_file() {
                errs.push(&p.display().to_string(), "TLS file not found");
            }
        }
        c.encode.histograms = match hist_kind.as_deref() {
            Some("explicit_bucket_histogram") => HistogramAggregation::Explicit {
                bounds: bounds.unwrap_or_else(default_explicit_bounds),
            },
            _ => HistogramAggregation::Exponential { max_size },
        };
        if errs.0.is_empty() {
            Ok(c)
        } else {
            Err(OtlpConfigErrors(errs.0))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn apply_scalar(
    key: &str,
    v: &str,
    src: &str,
    c: &mut OtlpConfig,
    errs: &mut Errors,
    endpoint: &mut Option<(String, String)>,
    insecure: &mut Option<bool>,
    enabled: &mut Option<bool>,
    hist_kind: &mut Option<String>,
    max_size: &mut usize,
) {
    let r: Result<(), String> = (|| {
        match key {
            "enabled" => *enabled = Some(parse_bool(v)?),
            "endpoint" => *endpoint = Some((v.trim().to_string(), src.to_string())),
            "protocol" => c.protocol = parse_protocol(v)?,
            "timeout" => c.timeout = parse_duration(v, 1000)?,
            "timeout_ms" => c.timeout = parse_duration(v, 1)?,
            "interval" => c.interval = parse_duration(v, 1000)?,
            "interval_ms" => c.interval = parse_duration(v, 1)?,
            "max_elapsed" => c.max_elapsed = parse_duration(v, 1000)?,
            "compression" => c.compression = parse_compression(v)?,
            "certificate" => c.tls.ca_certificate = Some(PathBuf::from(v.trim())),
            "client_certificate" => c.tls.client_certificate = Some(PathBuf::from(v.trim())),
            "client_key" => c.tls.client_key = Some(PathBuf::from(v.trim())),
            "insecure" => *insecure = Some(parse_bool(v)?),
            "temporality" => c.encode.temporality = parse_temporality(v)?,
            "histogram_aggregation" => match v.trim() {
                "explicit_bucket_histogram" | "base2_exponential_bucket_histogram" => {
                    *hist_kind = Some(v.trim().to_string())
                }
                o => {
                    return Err(format!(
                        "unknown histogram aggregation '{o}' (use base2_exponential_bucket_histogram or explicit_bucket_histogram)"
                    ));
                }
            },
            "histogram_max_size" => {
                *max_size = v
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 2)
                    .ok_or_else(|| format!("'{v}' must be an integer >= 2"))?
            }
            "queue_size" => {
                c.queue_size = v
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| format!("'{v}' must be an integer >= 1"))?
            }
            "self_telemetry" => c.self_telemetry = parse_bool(v)?,
            "rate_histograms" => c.encode.rate_histograms = parse_bool(v)?,
            _ => return Err("unknown key".into()),
        }
        Ok(())
    })();
    if let Err(e) = r {
        errs.push(src, e);
    }
}

impl OtlpConfig {
    /// A compact description for logs.
    pub fn describe(&self) -> String {
        format!(
            "{} {} every {}s ({:?}, {:?})",
            match self.protocol {
                Protocol::Grpc => "grpc",
                Protocol::HttpProtobuf => "http/protobuf",
            },
            self.endpoint,
            self.interval.as_secs(),
            self.encode.temporality,
            self.compression
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn nothing_set_is_off() {
        let c = OtlpConfig::resolve(None, &env_of(&[]), &LegacyOtelFlags::default()).unwrap();
        assert!(!c.enabled);
    }

    #[test]
    fn env_overrides_yaml_and_signal_overrides_generic() {
        let y = serde_json::json!({"endpoint": "http://yaml:4317", "timeout": "2s",
            "temporality": "delta", "headers": {"X-Tenant": "a"}});
        let env = env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20x"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "10000"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
                "explicit_bucket_histogram",
            ),
        ]);
        let c = OtlpConfig::resolve(Some(&y), &env, &LegacyOtelFlags::default()).unwrap();
        assert!(c.enabled);
        assert_eq!(c.endpoint, "http://generic:4318/v1/metrics");
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.timeout, Duration::from_millis(500));
        assert_eq!(c.interval, Duration::from_secs(10));
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.encode.temporality, Temporality::Delta);
        assert!(matches!(
            c.encode.histograms,
            HistogramAggregation::Explicit { .. }
        ));
        assert!(c.headers.contains(&("x-tenant".into(), "a".into())));
        assert!(
            c.headers
                .contains(&("authorization".into(), "Bearer x".into()))
        );
        let env2 = env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4317"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "collector:4317"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
        ]);
        let c = OtlpConfig::resolve(None, &env2, &LegacyOtelFlags::default()).unwrap();
        assert_eq!(c.endpoint, "http://collector:4317");
        assert_eq!(c.protocol, Protocol::Grpc);
    }

    #[test]
    fn rate_histograms_are_off_unless_asked_for() {
        let c = OtlpConfig::resolve(None, &env_of(&[]), &LegacyOtelFlags::default()).unwrap();
        assert!(!c.encode.rate_histograms);
        let y = serde_json::json!({"rate_histograms": true});
        let c = OtlpConfig::resolve(Some(&y), &env_of(&[]), &LegacyOtelFlags::default()).unwrap();
        assert!(c.encode.rate_histograms);
        let env = env_of(&[("PKTVISOR_OTLP_RATE_HISTOGRAMS", "false")]);
        let c = OtlpConfig::resolve(Some(&y), &env, &LegacyOtelFlags::default()).unwrap();
        assert!(!c.encode.rate_histograms, "the environment wins over YAML");
        let bad = serde_json::json!({"rate_histograms": "sometimes"});
        let e =
            OtlpConfig::resolve(Some(&bad), &env_of(&[]), &LegacyOtelFlags::default()).unwrap_err();
        assert!(
            e.to_string().contains("visor.config.otlp.rate_histograms"),
            "{e}"
        );
    }

    #[test]
    fn legacy_flags_map_to_http() {
        let l = LegacyOtelFlags {
            otel: true,
            host: Some("otel.lab".into()),
            port: Some(4318),
            interval: Some(15),
            ..Default::default()
        };
        let c = OtlpConfig::resolve(None, &env_of(&[]), &l).unwrap();
        assert!(c.enabled);
        assert_eq!(c.endpoint, "http://otel.lab:4318/v1/metrics");
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.interval, Duration::from_secs(15));
    }

    #[test]
    fn every_error_is_reported_with_its_source() {
        let y = serde_json::json!({"endpoint": "ftp://x", "timeout": "ten", "bogus": 1});
        let env = env_of(&[(
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "sometimes",
        )]);
        let e = OtlpConfig::resolve(Some(&y), &env, &LegacyOtelFlags::default()).unwrap_err();
        let text = e.to_string();
        assert_eq!(e.0.len(), 4, "{text}");
        assert!(text.contains("visor.config.otlp.timeout"), "{text}");
        assert!(text.contains("visor.config.otlp.bogus"), "{text}");
        assert!(
            text.contains("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"),
            "{text}"
        );
        assert!(text.contains("ftp://x"), "{text}");
        let l = LegacyOtelFlags {
            otel: true,
            tls: true,
            ..Default::default()
        };
        let e = OtlpConfig::resolve(None, &env_of(&[]), &l).unwrap_err();
        assert!(e.to_string().contains("--otel-tls-key"));
    }
}
