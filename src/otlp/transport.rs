//! One OTLP request over the wire: gRPC (tonic, the generated `MetricsServiceClient`) or
//! HTTP/protobuf (reqwest), and the OTLP specification's classification of the answer.
//!
//! This file owns what counts as retryable. gRPC: CANCELLED, DEADLINE_EXCEEDED, ABORTED,
//! OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are retried; RESOURCE_EXHAUSTED only when the
//! server attached a `google.rpc.RetryInfo` (whose delay is honoured); everything else is a
//! permanent failure. HTTP: 429, 502, 503 and 504 are retried (honouring `Retry-After`
//! seconds); connection errors and timeouts are retried; other statuses are permanent. A
//! success carrying `partial_success.rejected_data_points` is counted, never retried.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_types::StatusExt;

use super::config::{Compression, OtlpConfig, Protocol};

/// Why a transport could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A TLS file could not be read.
    #[error("cannot read TLS file {path}: {source}")]
    TlsFile {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The endpoint or TLS setup was rejected by the client library.
    #[error("invalid OTLP endpoint {endpoint}: {message}")]
    Endpoint {
        /// The endpoint.
        endpoint: String,
        /// The library's message.
        message: String,
    },
    /// A header name or value cannot be sent.
    #[error("invalid OTLP header '{0}'")]
    Header(String),
}

/// A request the receiver accepted (possibly in part).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Data points the receiver rejected (partial success).
    pub rejected: u64,
    /// The receiver's message about them.
    pub message: String,
}

/// A request that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendError {
    /// Whether the specification allows a retry.
    pub retryable: bool,
    /// The delay the server asked for (RetryInfo / Retry-After).
    pub retry_after: Option<Duration>,
    /// What happened.
    pub message: String,
}

enum Inner {
    Grpc {
        client: MetricsServiceClient<Channel>,
        metadata: Vec<(
            MetadataKey<tonic::metadata::Ascii>,
            MetadataValue<tonic::metadata::Ascii>,
        )>,
    },
    Http {
        client: reqwest::Client,
        url: String,
        gzip: bool,
        headers: Vec<(String, String)>,
    },
}

/// A connected (lazily: nothing is dialled until the first send) OTLP client.
pub struct Transport {
    inner: Inner,
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, TransportError> {
    std::fs::read(path).map_err(|source| TransportError::TlsFile {
        path: path.display().to_string(),
        source,
    })
}

impl Transport {
    /// Builds the client for `cfg` (must run inside a tokio runtime for gRPC).
    pub fn new(cfg: &OtlpConfig) -> Result<Self, TransportError> {
        let bad = |m: String| TransportError::Endpoint {
            endpoint: cfg.endpoint.clone(),
            message: m,
        };
        match cfg.protocol {
            Protocol::Grpc => {
                let mut ep = Endpoint::from_shared(cfg.endpoint.clone())
                    .map_err(|e| bad(e.to_string()))?
                    .timeout(cfg.timeout)
                    .connect_timeout(cfg.timeout);
                if cfg.endpoint.starts_with("https://") {
                    let mut tls = ClientTlsConfig::new().with_webpki_roots();
                    if let Some(ca) = &cfg.tls.ca_certificate {
                        tls = tls.ca_certificate(Certificate::from_pem(read(ca)?));
                    }
                    if let (Some(c), Some(k)) = (&cfg.tls.client_certificate, &cfg.tls.client_key) {
                        tls = tls.identity(Identity::from_pem(read(c)?, read(k)?));
                    }
                    ep = ep.tls_config(tls).map_err(|e| bad(e.to_string()))?;
                }
                let mut client = MetricsServiceClient::new(ep.connect_lazy())
                    .max_encoding_message_size(64 << 20);
                if cfg.compression == Compression::Gzip {
                    client = client.send_compressed(CompressionEncoding::Gzip);
                }
                let mut metadata = Vec::new();
                for (k, v) in &cfg.headers {
                    let key = MetadataKey::from_bytes(k.as_bytes())
                        .map_err(|_| TransportError::Header(k.clone()))?;
                    let val = MetadataValue::try_from(v.as_str())
                        .map_err(|_| TransportError::Header(k.clone()))?;
                    metadata.push((key, val));
                }
                Ok(Transport {
                    inner: Inner::Grpc { client, metadata },
                })
            }
            Protocol::HttpProtobuf => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let mut b = reqwest::Client::builder().timeout(cfg.timeout);
                if let Some(ca) = &cfg.tls.ca_certificate {
                    let cert = reqwest::Certificate::from_pem(&read(ca)?)
                        .map_err(|e| bad(e.to_string()))?;
                    b = b.add_root_certificate(cert);
                }
                if let (Some(c), Some(k)) = (&cfg.tls.client_certificate, &cfg.tls.client_key) {
                    let mut pem = read(c)?;
                    pem.push(b'\n');
                    pem.extend(read(k)?);
                    let id = reqwest::Identity::from_pem(&pem).map_err(|e| bad(e.to_string()))?;
                    b = b.identity(id);
                }
                let client = b.build().map_err(|e| bad(e.to_string()))?;
                for (k, v) in &cfg.headers {
                    if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err()
                        || reqwest::header::HeaderValue::from_str(v).is_err()
                    {
                        return Err(TransportError::Header(k.clone()));
                    }
                }
                Ok(Transport {
                    inner: Inner::Http {
                        client,
                        url: cfg.endpoint.clone(),
                        gzip: cfg.compression == Compression::Gzip,
                        headers: cfg.headers.clone(),
                    },
                })
            }
        }
    }

    /// Sends one request.
    pub async fn send(
        &mut self,
        req: &ExportMetricsServiceRequest,
    ) -> Result<Delivered, SendError> {
        match &mut self.inner {
            Inner::Grpc { client, metadata } => {
                let mut r = tonic::Request::new(req.clone());
                for (k, v) in metadata.iter() {
                    r.metadata_mut().insert(k.clone(), v.clone());
                }
                match client.export(r).await {
                    Ok(resp) => Ok(delivered(resp.into_inner())),
                    Err(status) => Err(classify_grpc(&status)),
                }
            }
            Inner::Http {
                client,
                url,
                gzip,
                headers,
            } => {
                let mut body = req.encode_to_vec();
                let mut rb = client
                    .post(url.as_str())
                    .header("content-type", "application/x-protobuf");
                if *gzip {
                    body = gzip_bytes(&body);
                    rb = rb.header("content-encoding", "gzip");
                }
                for (k, v) in headers.iter() {
                    rb = rb.header(k.as_str(), v.as_str());
                }
                let resp = rb.body(body).send().await.map_err(|e| SendError {
                    retryable: true,
                    retry_after: None,
                    message: format!("HTTP request failed: {e}"),
                })?;
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let bytes = resp.bytes().await.unwrap_or_default();
                if (200..300).contains(&status) {
                    let r =
                        ExportMetricsServiceResponse::decode(bytes.as_ref()).unwrap_or_default();
                    return Ok(delivered(r));
                }
                Err(SendError {
                    retryable: matches!(status, 429 | 502 | 503 | 504),
                    retry_after,
                    message: format!("HTTP {status}"),
                })
            }
        }
    }
}

fn delivered(r: ExportMetricsServiceResponse) -> Delivered {
    match r.partial_success {
        Some(p) => Delivered {
            rejected: u64::try_from(p.rejected_data_points).unwrap_or(0),
            message: p.error_message,
        },
        None => Delivered::default(),
    }
}

/// The OTLP specification's verdict on a gRPC status.
pub fn classify_grpc(status: &tonic::Status) -> SendError {
    use tonic::Code;
    let retry_after = status.get_details_retry_info().and_then(|r| r.retry_delay);
    let retryable = match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => true,
        Code::ResourceExhausted => retry_after.is_some(),
        _ => false,
    };
    SendError {
        retryable,
        retry_after,
        message: format!("gRPC {:?}: {}", status.code(), status.message()),
    }
}

/// gzip of `data`.
pub fn gzip_bytes(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}
