//! OTLP delivery against a real in-process gRPC receiver (and a real HTTP one): retries only
//! for retryable answers, RetryInfo honoured, partial success counted, a receiver that is
//! absent at start, a slow receiver, queue overflow with drops counted, shutdown deadline.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data, number_data_point,
};
use pktvisor::export::otlp::ExportBatch;
use pktvisor::otlp::{OtlpConfig, OtlpExporter, Protocol};

use crate::otlp_receiver::{Answer, Receiver, count_points, int_points, metrics};

/// A batch of `n` points of `test.seq` with value `seq` (to check order and loss).
fn batch(seq: i64, n: usize) -> ExportBatch {
    let points = (0..n)
        .map(|i| NumberDataPoint {
            attributes: vec![pktvisor::export::otlp::encode::kv("i", &i.to_string())],
            time_unix_nano: 1,
            value: Some(number_data_point::Value::AsInt(seq)),
            ..Default::default()
        })
        .collect();
    ExportBatch {
        request: ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "test.seq".into(),
                        data: Some(Data::Sum(Sum {
                            data_points: points,
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        },
        data_points: n as u64,
    }
}

fn config(endpoint: &str) -> OtlpConfig {
    OtlpConfig {
        enabled: true,
        endpoint: endpoint.to_string(),
        timeout: Duration::from_secs(2),
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        max_elapsed: Duration::from_secs(20),
        ..OtlpConfig::default()
    }
}

fn seqs(r: &Receiver) -> Vec<i64> {
    let mut v: Vec<i64> = int_points(&metrics(&r.requests()), "test.seq", &[("i", "0")])
        .into_iter()
        .map(|p| p.0)
        .collect();
    v.dedup();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_then_recovery_loses_nothing() {
    let r = Receiver::start().await;
    r.script(&[
        Answer::Status(tonic::Code::Unavailable),
        Answer::Status(tonic::Code::Unavailable),
    ]);
    let h = OtlpExporter::start(&config(&r.endpoint())).unwrap();
    for seq in 0..3 {
        assert!(h.submit(batch(seq, 5)));
    }
    let st = h.shutdown(Duration::from_secs(10)).await;
    assert_eq!(seqs(&r), vec![0, 1, 2], "in order, none lost");
    assert_eq!(st.points_sent, 15);
    assert_eq!(st.retries, 2);
    assert_eq!(st.points_retried, 10);
    assert_eq!(st.points_failed + st.points_dropped, 0);
    assert_eq!(r.attempts(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_exhausted_is_retried_only_with_retry_info() {
    let r = Receiver::start().await;
    r.script(&[Answer::Status(tonic::Code::ResourceExhausted)]);
    let h = OtlpExporter::start(&config(&r.endpoint())).unwrap();
    h.submit(batch(0, 4));
    let st = h.shutdown(Duration::from_secs(5)).await;
    assert_eq!(r.attempts(), 1, "no retry without RetryInfo");
    assert_eq!(st.points_failed, 4);
    assert_eq!(st.points_sent, 0);
    assert!(st.last_error.unwrap().contains("ResourceExhausted"));

    let r = Receiver::start().await;
    r.script(&[Answer::StatusRetryAfter(
        tonic::Code::ResourceExhausted,
        Duration::from_millis(600),
    )]);
    let h = OtlpExporter::start(&config(&r.endpoint())).unwrap();
    let t0 = Instant::now();
    h.submit(batch(7, 4));
    let st = h.shutdown(Duration::from_secs(5)).await;
    assert!(
        t0.elapsed() >= Duration::from_millis(600),
        "RetryInfo delay honoured"
    );
    assert_eq!(r.attempts(), 2);
    assert_eq!(st.points_sent, 4);
    assert_eq!(st.retries, 1);
    assert_eq!(seqs(&r), vec![7]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_fail_and_partial_success_is_counted_not_retried() {
    let r = Receiver::start().await;
    r.script(&[
        Answer::Status(tonic::Code::InvalidArgument),
        Answer::Partial(3),
    ]);
    let h = OtlpExporter::start(&config(&r.endpoint())).unwrap();
    h.submit(batch(0, 10));
    h.submit(batch(1, 10));
    h.submit(batch(2, 10));
    let st = h.shutdown(Duration::from_secs(5)).await;
    assert_eq!(r.attempts(), 3);
    assert_eq!(st.points_failed, 10);
    assert_eq!(st.points_rejected, 3);
    assert_eq!(st.points_sent, 17);
    assert_eq!(st.retries, 0);
    assert_eq!(seqs(&r), vec![1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_absent_at_start_then_appears() {
    // reserve a port, free it, point the exporter at it
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut cfg = config(&format!("http://{addr}"));
    cfg.queue_size = 8;
    let h = OtlpExporter::start(&cfg).unwrap();
    for seq in 0..6 {
        h.submit(batch(seq, 2));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mid = h.stats();
    assert!(mid.retries >= 1, "{mid:?}");
    assert_eq!(mid.points_sent, 0);
    let r = Receiver::start_on(addr).await;
    let st = h.shutdown(Duration::from_secs(10)).await;
    assert_eq!(
        seqs(&r),
        vec![0, 1, 2, 3, 4, 5],
        "nothing lost within the queue bound"
    );
    assert_eq!(st.points_sent, 12);
    assert_eq!(st.points_dropped + st.points_failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_receiver_overflows_the_queue_and_drops_are_counted() {
    let r = Receiver::start().await;
    r.set_delay(Duration::from_millis(300));
    let mut cfg = config(&r.endpoint());
    cfg.queue_size = 3;
    let h = OtlpExporter::start(&cfg).unwrap();
    let mut accepted_without_drop = 0;
    for seq in 0..20 {
        if h.submit(batch(seq, 1)) {
            accepted_without_drop += 1;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let st = h.shutdown(Duration::from_secs(10)).await;
    let got = seqs(&r);
    assert_eq!(st.points_sent + st.points_dropped, 20, "{st:?}");
    assert_eq!(st.points_sent as usize, got.len());
    assert!(st.points_dropped >= 10, "{st:?}");
    assert!(accepted_without_drop < 20);
    // the newest batches survive (drop oldest), the first one was already in flight
    assert_eq!(got.first(), Some(&0));
    assert_eq!(got.last(), Some(&19));
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(st.queue_depth, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_deadline_bounds_the_wait_and_counts_what_is_left() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let h = OtlpExporter::start(&config(&format!("http://{addr}"))).unwrap();
    h.submit(batch(0, 3));
    h.submit(batch(1, 4));
    let t0 = Instant::now();
    let st = h.shutdown(Duration::from_millis(500)).await;
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(st.points_dropped, 7);
    assert_eq!(st.points_sent, 0);
    assert!(!h.submit(batch(2, 1)), "no intake after shutdown");
    assert_eq!(h.stats().points_dropped, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_over_grpc_is_accepted() {
    let r = Receiver::start().await;
    let mut cfg = config(&r.endpoint());
    cfg.compression = pktvisor::otlp::config::Compression::Gzip;
    let h = OtlpExporter::start(&cfg).unwrap();
    h.submit(batch(3, 50));
    let st = h.shutdown(Duration::from_secs(5)).await;
    assert_eq!(st.points_sent, 50);
    assert_eq!(count_points(&r.requests()), 50);
}

/// A real HTTP OTLP receiver (axum) that answers 503 + Retry-After once, then 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_retries_503_with_retry_after_and_not_400() {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use prost::Message;
    use std::sync::{Arc, Mutex};

    type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;
    let seen: Seen = Arc::default();
    let answers: Arc<Mutex<Vec<u16>>> = Arc::new(Mutex::new(vec![503, 200, 400]));
    let app = {
        let seen = seen.clone();
        let answers = answers.clone();
        axum::Router::new().route(
            "/v1/metrics",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let seen = seen.clone();
                let answers = answers.clone();
                async move {
                    seen.lock().unwrap().push((headers, body.to_vec()));
                    let code = {
                        let mut a = answers.lock().unwrap();
                        if a.is_empty() { 200 } else { a.remove(0) }
                    };
                    let mut h = HeaderMap::new();
                    if code == 503 {
                        h.insert("retry-after", "1".parse().unwrap());
                    }
                    (StatusCode::from_u16(code).unwrap(), h, Vec::<u8>::new())
                }
            }),
        )
    };
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    let mut cfg = config(&format!("http://{addr}/v1/metrics"));
    cfg.protocol = Protocol::HttpProtobuf;
    cfg.compression = pktvisor::otlp::config::Compression::Gzip;
    cfg.headers = vec![("x-tenant".into(), "lab".into())];
    let h = OtlpExporter::start(&cfg).unwrap();
    let t0 = Instant::now();
    h.submit(batch(1, 6));
    h.submit(batch(2, 6));
    let st = h.shutdown(Duration::from_secs(10)).await;
    assert!(
        t0.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(st.retries, 1);
    assert_eq!(st.points_sent, 6);
    assert_eq!(st.points_failed, 6, "400 is permanent");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    let (headers, body) = &seen[1];
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["x-tenant"], "lab");
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut raw).unwrap();
    let req = ExportMetricsServiceRequest::decode(&raw[..]).unwrap();
    assert_eq!(count_points(&[req]), 6);
}
