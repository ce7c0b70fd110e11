//! Self-telemetry through the OpenTelemetry SDK (`opentelemetry_sdk` + `opentelemetry-otlp`
//! over tonic) into the real in-process receiver: observable counters and gauges from the
//! agent's callback, with the agent's resource.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use pktvisor::export::otlp::ResourceAttrs;
use pktvisor::otlp::{OtlpConfig, SelfKind, SelfPoint, SelfTelemetry};

use crate::otlp_receiver::{Receiver, attr, metrics};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_metrics_reach_the_receiver_through_the_sdk() {
    let r = Receiver::start().await;
    let cfg = OtlpConfig {
        enabled: true,
        endpoint: r.endpoint(),
        interval: Duration::from_secs(3600),
        ..OtlpConfig::default()
    };
    let mut res = ResourceAttrs::default();
    res.set("service.name", "pktvisor-self-test");
    let packets = Arc::new(AtomicU64::new(41));
    let p2 = packets.clone();
    let source = Arc::new(move || {
        vec![
            SelfPoint {
                name: "pktvisor.receiver.packets".into(),
                unit: "{packet}".into(),
                description: "Packets received".into(),
                value: p2.load(Ordering::Relaxed) as f64,
                attributes: vec![("receiver".into(), "wire".into())],
                kind: SelfKind::Counter,
            },
            SelfPoint {
                name: "pktvisor.otlp.queue.depth".into(),
                unit: "{batch}".into(),
                description: "Queued batches".into(),
                value: 2.0,
                attributes: Vec::new(),
                kind: SelfKind::Gauge,
            },
        ]
    });
    let st = SelfTelemetry::install(&cfg, &res, source).expect("install");
    assert_eq!(st.names().len(), 2);
    packets.store(42, Ordering::Relaxed);
    st.flush().await.expect("flush");
    st.shutdown().await.expect("shutdown");
    let reqs = r.requests();
    assert!(!reqs.is_empty());
    let res = reqs[0].resource_metrics[0].resource.as_ref().unwrap();
    assert_eq!(
        attr(&res.attributes, "service.name"),
        Some("pktvisor-self-test")
    );
    let ms = metrics(&reqs);
    let c = ms
        .iter()
        .find(|m| m.name == "pktvisor.receiver.packets")
        .expect("counter arrived");
    assert_eq!(c.unit, "{packet}");
    let Some(Data::Sum(s)) = &c.data else {
        panic!("counter is a Sum: {c:?}");
    };
    assert!(s.is_monotonic);
    let p = &s.data_points[0];
    assert_eq!(attr(&p.attributes, "receiver"), Some("wire"));
    assert_eq!(p.value, Some(number_data_point::Value::AsInt(42)));
    let g = ms
        .iter()
        .find(|m| m.name == "pktvisor.otlp.queue.depth")
        .expect("gauge arrived");
    assert!(matches!(&g.data, Some(Data::Gauge(_))));
}

#[test]
fn self_telemetry_needs_a_multi_thread_runtime() {
    let cfg = OtlpConfig::default();
    let r = SelfTelemetry::install(&cfg, &ResourceAttrs::default(), Arc::new(Vec::new));
    assert!(r.is_err());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _g = rt.enter();
    let r = SelfTelemetry::install(&cfg, &ResourceAttrs::default(), Arc::new(Vec::new));
    match r {
        Err(e) => assert!(e.to_string().contains("multi-thread"), "{e}"),
        Ok(_) => panic!("a current-thread runtime must be refused"),
    }
}
