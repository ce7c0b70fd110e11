//! pktvisord capturing live traffic: a network namespace with a veth pair (made and
//! deleted by the test), tcpreplay of our captures into one end, the agent's default policy
//! on the other. Counters are checked through REST against tcpdump's and the reader's
//! counts of the same file; a real Prometheus server scrapes `/metrics` and is queried
//! through its HTTP API; a receiver whose interface disappears is reported on `/readyz`
//! and recovers while the other policies keep running.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agent_proc::{AgentProc, Netns, need_root, temp_file, temp_path};
use crate::common::own_fixture;

fn tools() -> bool {
    use pktvisor::testdata::have_tool;
    have_tool("tcpreplay", "tcpreplay")
        && have_tool("tcpdump", "tcpdump")
        && have_tool("curl", "curl")
        && have_tool("prometheus", "prometheus")
}

fn tcpdump_count(file: &std::path::Path) -> u64 {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tcpdump -nr {} 2>/dev/null | wc -l",
            file.display()
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn reader_json(file: &std::path::Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"))
        .args(["--periods", "1"])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Polls `f` until it returns Some or `limit` passes.
fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct Prometheus {
    child: Child,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_prometheus(ns: &Netns, target_port: u16) -> Prometheus {
    let port = crate::agent_proc::free_port();
    let cfg = temp_file(
        "prometheus.yml",
        &format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: pktvisord\n    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
        ),
    );
    let data = temp_path("prom-data");
    let _ = std::fs::remove_dir_all(&data);
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "prometheus"])
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    Prometheus { child, port }
}

fn prom_query(ns: &Netns, port: u16, q: &str) -> Option<f64> {
    let out = ns.exec(&[
        "curl",
        "-s",
        "-G",
        &format!("http://127.0.0.1:{port}/api/v1/query"),
        "--data-urlencode",
        &format!("query={q}"),
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let r = v["data"]["result"].as_array()?.first()?;
    r["value"][1].as_str()?.parse().ok()
}

#[test]
fn default_policy_counts_replayed_traffic_and_prometheus_scrapes_it() {
    if !need_root("live capture in a network namespace") || !tools() {
        return;
    }
    let ns = Netns::new("live");
    let cap = own_fixture("dns/dns-perf.pcap");
    let expected_packets = tcpdump_count(&cap);
    let truth = reader_json(&cap);
    let a = AgentProc::start(&["veth1", "--periods", "2"], Some(&ns.name));
    let prom = start_prometheus(&ns, a.port);
    // The receiver must be running before the replay starts.
    wait_for(Duration::from_secs(10), || {
        (a.get("/readyz").status == 200).then_some(())
    })
    .expect("receiver ready");
    ns.replay(&cap, &["-K", "--topspeed"]);
    let bucket = wait_for(Duration::from_secs(10), || {
        let v = a.get("/api/v1/metrics/bucket/0").json();
        (v["1m"]["packets"]["total"].as_u64() == Some(expected_packets)).then_some(v)
    });
    let v = bucket.unwrap_or_else(|| a.get("/api/v1/metrics/bucket/0").json());
    let one = &v["1m"];
    assert_eq!(
        one["packets"]["total"].as_u64(),
        Some(expected_packets),
        "{one}"
    );
    let t = &truth["1m"];
    for path in [
        "/dns/wire_packets/total",
        "/dns/wire_packets/queries",
        "/dns/wire_packets/replies",
        "/dns/wire_packets/noerror",
        "/dns/wire_packets/nxdomain",
        "/dns/wire_packets/udp",
        "/dns/wire_packets/tcp",
        "/packets/udp",
        "/packets/tcp",
        "/packets/ipv4",
        "/packets/ipv6",
    ] {
        assert_eq!(one.pointer(path), t.pointer(path), "{path}");
    }
    assert_eq!(
        one["pcap"]["os_drops"], 0,
        "kernel drops are reported (none expected)"
    );

    // Prometheus scrapes /metrics and sees the same total.
    let scraped = wait_for(Duration::from_secs(20), || {
        prom_query(&ns, prom.port, "packets_total{policy=\"default\"}")
            .filter(|v| *v as u64 == expected_packets)
    });
    assert_eq!(scraped.map(|v| v as u64), Some(expected_packets));
    assert!(prom_query(&ns, prom.port, "up{job=\"pktvisord\"}") == Some(1.0));
}

#[test]
fn failed_receiver_is_reported_retried_and_isolated() {
    if !need_root("live capture in a network namespace") || !tools() {
        return;
    }
    let ns = Netns::new("fail");
    let cfg = temp_file(
        "two-taps.yaml",
        "visor:\n  taps:\n    wire: {input_type: pcap, config: {iface: veth1}}\n    mock: {input_type: pcap, config: {iface: lo, pcap_source: mock}}\n  policies:\n    live: {kind: collection, input: {tap: wire, input_type: pcap}, handlers: {modules: {n: {type: net}}}}\n    synthetic: {kind: collection, input: {tap: mock, input_type: pcap}, handlers: {modules: {n: {type: net}}}}\n",
    );
    let a = AgentProc::start(&["--config", cfg.to_str().unwrap()], Some(&ns.name));
    wait_for(Duration::from_secs(10), || {
        (a.get("/readyz").status == 200).then_some(())
    })
    .expect("ready");
    let out = ns.exec(&["ip", "link", "del", "veth0"]);
    assert!(out.status.success());
    let r = wait_for(Duration::from_secs(10), || {
        let r = a.get("/readyz");
        (r.status == 503).then_some(r)
    })
    .expect("readyz reports the failed receiver");
    assert!(r.body.contains("\"running\":false"), "{}", r.body);
    let before = a.get("/api/v1/policies/synthetic/metrics/bucket/0").json()["synthetic"]["synthetic-mock-n"]["packets"]["total"]
        .as_u64()
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis(1500));
    let after = a.get("/api/v1/policies/synthetic/metrics/bucket/0").json()["synthetic"]["synthetic-mock-n"]["packets"]["total"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        after > before,
        "the other policy keeps counting ({before} → {after})"
    );
    let info = a.get("/api/v1/policies/live").json();
    let input = info["live"]["input"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert!(input["input"]["error"].is_string(), "{input}");
    // The interface comes back: the receiver reopens it.
    for args in [
        &[
            "ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
        ][..],
        &["ip", "link", "set", "veth0", "up"],
        &["ip", "link", "set", "veth1", "up"],
    ] {
        assert!(ns.exec(args).status.success());
    }
    wait_for(Duration::from_secs(30), || {
        (a.get("/readyz").status == 200).then_some(())
    })
    .expect("receiver recovered");
    let info = a.get("/api/v1/policies/live").json();
    let input = info["live"]["input"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert!(input["input"]["restarts"].as_u64().unwrap() >= 1, "{input}");
}

#[test]
fn af_packet_ring_counts_replayed_traffic() {
    if !need_root("live capture in a network namespace") || !tools() {
        return;
    }
    let ns = Netns::new("afp");
    let cap = own_fixture("dns/dns-mixed.pcap");
    let expected_packets = tcpdump_count(&cap);
    let truth = reader_json(&cap);
    let cfg = temp_file(
        "afpacket.yaml",
        "visor:\n  taps:\n    ring: {input_type: pcap, config: {iface: veth1, pcap_source: af_packet}}\n  policies:\n    default:\n      kind: collection\n      input: {tap: ring, input_type: pcap}\n      handlers: {modules: {net: {type: net}, dns: {type: dns}}}\n",
    );
    let a = AgentProc::start(&["--config", cfg.to_str().unwrap()], Some(&ns.name));
    wait_for(Duration::from_secs(10), || {
        (a.get("/readyz").status == 200).then_some(())
    })
    .expect("ring ready");
    let info = a.get("/api/v1/policies/default").json();
    let input = info["default"]["input"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(input["pcap"]["pcap_source"], "af_packet");
    ns.replay(&cap, &["-K", "--topspeed"]);
    let v = wait_for(Duration::from_secs(10), || {
        let v = a.get("/api/v1/metrics/bucket/0").json();
        (v["1m"]["packets"]["total"].as_u64() == Some(expected_packets)).then_some(v)
    })
    .unwrap_or_else(|| a.get("/api/v1/metrics/bucket/0").json());
    let one = &v["1m"];
    assert_eq!(
        one["packets"]["total"].as_u64(),
        Some(expected_packets),
        "{one}"
    );
    for path in [
        "/dns/wire_packets/total",
        "/dns/wire_packets/queries",
        "/dns/wire_packets/replies",
        "/dns/wire_packets/tcp",
        "/dns/wire_packets/udp",
    ] {
        assert_eq!(one.pointer(path), truth["1m"].pointer(path), "{path}");
    }
}
