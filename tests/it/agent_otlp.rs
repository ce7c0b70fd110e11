//! pktvisord's OTLP push into the real in-process tonic receiver: the endpoint from
//! `OTEL_EXPORTER_OTLP_ENDPOINT`, points every interval with policy/handler/tap attributes
//! and monotonic cumulative sums, self-telemetry through the SDK, a final flush on
//! SIGTERM, and the exporter's counters on `/metrics`.

use std::time::Duration;

use crate::agent_proc::{AgentProc, temp_file};
use crate::otlp_receiver::{Receiver, int_points, metrics};

const CONFIG: &str = "visor:\n  taps:\n    mock: {input_type: pcap, config: {iface: lo, pcap_source: mock}}\n  policies:\n    default:\n      kind: collection\n      input: {tap: mock, input_type: pcap}\n      handlers: {modules: {net: {type: net}, dns: {type: dns}}}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_pushes_policy_metrics_and_self_telemetry() {
    if !pktvisor::testdata::have_tool("curl", "curl") {
        return;
    }
    let r = Receiver::start().await;
    let cfg = temp_file("otlp-agent.yaml", CONFIG);
    // The agent reads OTEL_* from its own environment.
    let endpoint = r.endpoint();
    let mut a = tokio::task::spawn_blocking(move || {
        // SAFETY-free: set on the child only.
        let port = crate::agent_proc::free_port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_pktvisord"))
            .args([
                "--config",
                cfg.to_str().unwrap(),
                "-l",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
            .env("OTEL_METRIC_EXPORT_INTERVAL", "1000")
            .env("OTEL_SERVICE_NAME", "agent-under-test")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        AgentProc::adopt(child, port)
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let reqs = r.requests();
    assert!(reqs.len() >= 2, "periodic pushes arrived: {}", reqs.len());
    let res = &reqs[0].resource_metrics[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes;
    assert_eq!(
        crate::otlp_receiver::attr(res, "service.name"),
        Some("agent-under-test")
    );
    let ms = metrics(&reqs);
    let pts = int_points(
        &ms,
        "pktvisor.net.packets",
        &[
            ("pktvisor.policy", "default"),
            ("pktvisor.handler", "default-mock-net"),
            ("pktvisor.tap", "mock"),
        ],
    );
    assert!(pts.len() >= 2, "{pts:?}");
    let values: Vec<i64> = pts.iter().map(|p| p.0).collect();
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "cumulative sums never go down: {values:?}"
    );
    assert!(*values.last().unwrap() > 0);
    assert!(
        !int_points(
            &ms,
            "pktvisor.dns.packets",
            &[("pktvisor.policy", "default")]
        )
        .is_empty()
    );
    let self_names: Vec<&str> = ms
        .iter()
        .map(|m| m.name.as_str())
        .filter(|n| n.starts_with("pktvisor.receiver") || n.starts_with("pktvisor.export"))
        .collect();
    assert!(
        self_names.contains(&"pktvisor.receiver.packets"),
        "{self_names:?}"
    );

    let text = tokio::task::spawn_blocking({
        let port = a.port;
        move || {
            let out = std::process::Command::new("curl")
                .args(["-s", &format!("http://127.0.0.1:{port}/metrics")])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).to_string()
        }
    })
    .await
    .unwrap();
    let sent: u64 = text
        .lines()
        .find(|l| l.starts_with("pktvisord_otlp_points_sent"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(sent > 0, "{text}");

    // SIGTERM flushes the live buckets before exit.
    let before = r.requests().len();
    let st = tokio::task::spawn_blocking(move || a.terminate(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("agent exits");
    assert!(st.success());
    assert!(r.requests().len() > before, "final flush delivered");
}
