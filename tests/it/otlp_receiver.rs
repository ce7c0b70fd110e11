//! A real in-process OTLP/gRPC receiver for the OTLP tests: tonic serving
//! opentelemetry-proto's generated `MetricsService` on loopback, recording every request,
//! answering from a script (errors with or without RetryInfo, partial success, delays).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric::Data, number_data_point};
use tonic::codec::CompressionEncoding;
use tonic_types::{ErrorDetails, StatusExt};

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Answer {
    Ok,
    Status(tonic::Code),
    StatusRetryAfter(tonic::Code, Duration),
    Partial(i64),
}

#[derive(Default)]
pub struct State {
    pub requests: Vec<ExportMetricsServiceRequest>,
    pub attempts: u64,
    pub script: VecDeque<Answer>,
    pub delay: Duration,
}

#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<State>>);

#[tonic::async_trait]
impl MetricsService for Recorder {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let (answer, delay) = {
            let mut s = self.0.lock().unwrap();
            s.attempts += 1;
            (s.script.pop_front().unwrap_or(Answer::Ok), s.delay)
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let req = request.into_inner();
        match answer {
            Answer::Ok => {
                self.0.lock().unwrap().requests.push(req);
                Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
            }
            Answer::Partial(n) => {
                self.0.lock().unwrap().requests.push(req);
                Ok(tonic::Response::new(ExportMetricsServiceResponse {
                    partial_success: Some(ExportMetricsPartialSuccess {
                        rejected_data_points: n,
                        error_message: "test rejects some".into(),
                    }),
                }))
            }
            Answer::Status(code) => Err(tonic::Status::new(code, "scripted")),
            Answer::StatusRetryAfter(code, d) => Err(tonic::Status::with_error_details(
                code,
                "scripted with RetryInfo",
                ErrorDetails::with_retry_info(Some(d)),
            )),
        }
    }
}

/// A running receiver.
pub struct Receiver {
    pub addr: SocketAddr,
    pub rec: Recorder,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Receiver {
    /// Serves on `addr` (port 0 picks one) inside the current runtime.
    pub async fn start_on(addr: SocketAddr) -> Receiver {
        let rec = Recorder::default();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let svc = MetricsServiceServer::new(rec.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(64 << 20);
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = rx.await;
                })
                .await;
        });
        Receiver {
            addr,
            rec,
            stop: Some(tx),
        }
    }

    pub async fn start() -> Receiver {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn script(&self, answers: &[Answer]) {
        self.rec
            .0
            .lock()
            .unwrap()
            .script
            .extend(answers.iter().cloned());
    }

    pub fn set_delay(&self, d: Duration) {
        self.rec.0.lock().unwrap().delay = d;
    }

    pub fn requests(&self) -> Vec<ExportMetricsServiceRequest> {
        self.rec.0.lock().unwrap().requests.clone()
    }

    pub fn attempts(&self) -> u64 {
        self.rec.0.lock().unwrap().attempts
    }

    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// String value of an attribute list.
pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs.iter().find(|k| k.key == key).and_then(|k| {
        match k.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        }
    })
}

/// Any scalar attribute value as text (ports are integers, coordinates doubles).
pub fn attr_text(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|k| k.key == key).and_then(|k| {
        match k.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => Some(s.clone()),
            Some(any_value::Value::IntValue(i)) => Some(i.to_string()),
            Some(any_value::Value::DoubleValue(d)) => Some(d.to_string()),
            Some(any_value::Value::BoolValue(b)) => Some(b.to_string()),
            _ => None,
        }
    })
}

/// Integer values of a Sum or Gauge metric's points whose attributes include `want` and
/// satisfy `keep`.
pub fn int_points_where(
    ms: &[Metric],
    name: &str,
    want: &[(&str, &str)],
    keep: impl Fn(&[KeyValue]) -> bool,
) -> Vec<i64> {
    let mut out = Vec::new();
    for m in ms.iter().filter(|m| m.name == name) {
        let pts = match &m.data {
            Some(Data::Sum(s)) => &s.data_points,
            Some(Data::Gauge(g)) => &g.data_points,
            _ => continue,
        };
        for p in pts {
            if want
                .iter()
                .all(|(k, v)| attr_text(&p.attributes, k).as_deref() == Some(*v))
                && keep(&p.attributes)
                && let Some(number_data_point::Value::AsInt(v)) = p.value
            {
                out.push(v);
            }
        }
    }
    out
}

/// Every metric of every request.
pub fn metrics(reqs: &[ExportMetricsServiceRequest]) -> Vec<Metric> {
    reqs.iter()
        .flat_map(|r| r.resource_metrics.iter())
        .flat_map(|rm| rm.scope_metrics.iter())
        .flat_map(|sm| sm.metrics.iter().cloned())
        .collect()
}

/// Integer values of a Sum or Gauge metric's points whose attributes include `want`.
pub fn int_points(ms: &[Metric], name: &str, want: &[(&str, &str)]) -> Vec<(i64, u64, u64)> {
    let mut out = Vec::new();
    for m in ms.iter().filter(|m| m.name == name) {
        let pts = match &m.data {
            Some(Data::Sum(s)) => &s.data_points,
            Some(Data::Gauge(g)) => &g.data_points,
            _ => continue,
        };
        for p in pts {
            if want
                .iter()
                .all(|(k, v)| attr_text(&p.attributes, k).as_deref() == Some(*v))
                && let Some(number_data_point::Value::AsInt(v)) = p.value
            {
                out.push((v, p.start_time_unix_nano, p.time_unix_nano));
            }
        }
    }
    out
}

/// Total data points in requests.
pub fn count_points(reqs: &[ExportMetricsServiceRequest]) -> u64 {
    metrics(reqs)
        .iter()
        .map(|m| match &m.data {
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
            None => 0,
        } as u64)
        .sum()
}
