//! End to end through a third-party OTLP collector: `pktvisor-reader --otlp` pushes over
//! gRPC (gzip) to rotel (PyPI `rotel`), which forwards OTLP to our in-process receiver;
//! the data points that come out are the ones that went in. Under `CI=true` a missing
//! rotel fails (install: `pip install rotel==0.0.1a15`, done by scripts/setup-debian.sh).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::own_fixture;
use crate::otlp_receiver::{Receiver, count_points, int_points, metrics};

/// rotel's agent binary (inside the Python package).
pub fn rotel_agent() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))",
        ])
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if out.status.success() && p.is_file() {
        return Some(p);
    }
    if pktvisor::testdata::in_ci() {
        panic!("rotel is missing (CI=true); install it: pip install rotel==0.0.1a15");
    }
    eprintln!("note: rotel is missing (pip install rotel==0.0.1a15); test skipped");
    None
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn reader_push_arrives_through_rotel_unchanged() {
    let Some(agent) = rotel_agent() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sink = rt.block_on(Receiver::start());
    let (grpc, http) = (free_port(), free_port());
    let tmp = std::env::temp_dir().join(format!("pktvisor-rotel-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let child = Command::new(&agent)
        .args(["start", "--otlp-grpc-endpoint"])
        .arg(format!("127.0.0.1:{grpc}"))
        .arg("--otlp-http-endpoint")
        .arg(format!("127.0.0.1:{http}"))
        .args(["--exporter", "otlp", "--otlp-exporter-protocol", "grpc"])
        .arg("--otlp-exporter-endpoint")
        .arg(sink.endpoint())
        .arg("--pid-file")
        .arg(tmp.join("rotel.pid"))
        .arg("--log-file")
        .arg(tmp.join("rotel.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rotel-agent starts");
    let _guard = Kill(child);
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", grpc)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "rotel did not listen"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let file = own_fixture("dns/dns-mixed.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"))
        .arg(&file)
        .arg("--otlp")
        .arg(format!("http://127.0.0.1:{grpc}"))
        .env("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
        .env("OTEL_SERVICE_NAME", "via-rotel")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let w = &json["5m"];
    // what the reader sent: the same run's stderr says how many points
    let t0 = Instant::now();
    while sink.requests().is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "nothing arrived through rotel; its log: {}",
            std::fs::read_to_string(tmp.join("rotel.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let reqs = sink.requests();
    let ms = metrics(&reqs);
    let res = reqs[0].resource_metrics[0].resource.as_ref().unwrap();
    assert_eq!(
        crate::otlp_receiver::attr(&res.attributes, "service.name"),
        Some("via-rotel")
    );
    let total = w["dns"]["wire_packets"]["total"].as_i64().unwrap();
    assert!(total > 0);
    let p = int_points(&ms, "pktvisor.dns.packets", &[("pktvisor.handler", "dns")]);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].0, total);
    let net = int_points(&ms, "pktvisor.net.packets", &[("pktvisor.handler", "net")]);
    assert_eq!(net[0].0, w["packets"]["total"].as_i64().unwrap());
    let qtypes = w["dns"]["top_qtype"].as_array().unwrap().len();
    assert_eq!(int_points(&ms, "pktvisor.dns.top.qtype", &[]).len(), qtypes);
    // every point the reader pushed came out of rotel
    let pushed = String::from_utf8_lossy(&out.stderr);
    let n: u64 = pushed
        .split("pushed ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("the reader logs how many points it pushed");
    assert_eq!(count_points(&reqs), n);
    drop(sink);
}
