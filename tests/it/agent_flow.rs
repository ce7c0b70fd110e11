//! pktvisord's flow taps: the datagrams real exporters sent (pmacctd nfprobe NetFlow v9 and
//! sfprobe sFlow, `fixtures/flow/`) are re-sent over loopback to the agent's UDP listeners;
//! the per-device record counts and interface totals read through REST must equal what
//! nfcapd/sfcapd stored (`fixtures/flow/expected/`), with the listener reporting no drops.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use pktvisor::receiver::flow::file::read_udp_payloads;
use serde_json::Value;

use crate::agent_proc::{AgentProc, temp_file};
use crate::common::own_fixture;

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn send_all(name: &str, port: u16) -> usize {
    let payloads = read_udp_payloads(&own_fixture(&format!("flow/{name}")), None).expect("capture");
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (i, (_, p)) in payloads.iter().enumerate() {
        s.send_to(p, ("127.0.0.1", port)).unwrap();
        if i % 100 == 99 {
            // The agent's socket buffer is large; pace lightly anyway (loopback is not a router).
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    payloads.len()
}

fn expected(name: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(own_fixture(&format!("flow/expected/{name}.json"))).unwrap(),
    )
    .unwrap()
}

#[test]
fn flow_taps_count_what_the_collectors_stored() {
    if !pktvisor::testdata::have_tool("curl", "curl") {
        return;
    }
    let (nf, sf) = (free_udp_port(), free_udp_port());
    let cfg = temp_file(
        "flow.yaml",
        &format!(
            "visor:\n  taps:\n    nf: {{input_type: flow, config: {{flow_type: netflow, bind: 127.0.0.1, port: {nf}}}}}\n    sf: {{input_type: sflow, config: {{flow_type: sflow, bind: 127.0.0.1, port: {sf}}}}}\n  policies:\n    netflow:\n      kind: collection\n      input: {{tap: nf, input_type: flow}}\n      handlers: {{modules: {{f: {{type: flow}}}}}}\n    sflow:\n      kind: collection\n      input: {{tap: sf, input_type: flow}}\n      handlers: {{modules: {{f: {{type: flow}}}}}}\n"
        ),
    );
    let a = AgentProc::start(&["--config", cfg.to_str().unwrap()], None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.get("/readyz").status != 200 {
        assert!(Instant::now() < deadline, "flow listeners not ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    for (policy, tap, name) in [
        ("netflow", "nf", "pmacct-nf9.pcap"),
        ("sflow", "sf", "pmacct-sflow.pcap"),
    ] {
        let port = if tap == "nf" { nf } else { sf };
        let sent = send_all(name, port);
        let want = expected(name);
        let handler = format!("{policy}-{tap}-f");
        let deadline = Instant::now() + Duration::from_secs(15);
        let devices = loop {
            let v = a
                .get(&format!("/api/v1/policies/{policy}/metrics/bucket/0"))
                .json();
            let d = v[policy][&handler]["flow"]["devices"].clone();
            let records: u64 = d
                .as_object()
                .map(|m| {
                    m.values()
                        .map(|x| x["records_flows"].as_u64().unwrap_or(0))
                        .sum()
                })
                .unwrap_or(0);
            if records >= want["records"].as_u64().unwrap() || Instant::now() > deadline {
                break d;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        for (ip, e) in want["exporters"].as_object().unwrap() {
            assert_eq!(
                devices[ip]["records_flows"], e["records"],
                "{name}: {ip} records"
            );
        }
        let mut in_packets = 0;
        let mut in_bytes = 0;
        for dev in devices.as_object().unwrap().values() {
            for i in dev["interfaces"].as_object().unwrap().values() {
                in_packets += i["in_packets"].as_u64().unwrap_or(0);
                in_bytes += i["in_bytes"].as_u64().unwrap_or(0);
            }
        }
        let want_in_packets: u64 = want["in_interfaces"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v["packets"].as_u64().unwrap())
            .sum();
        let want_in_bytes: u64 = want["in_interfaces"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v["bytes"].as_u64().unwrap())
            .sum();
        assert_eq!(
            (in_packets, in_bytes),
            (want_in_packets, want_in_bytes),
            "{name}: in packets/bytes"
        );
        let info = a.get(&format!("/api/v1/policies/{policy}")).json();
        let input = info[policy]["input"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .clone();
        let l = &input["flow"]["listener"];
        assert_eq!(l["datagrams"].as_u64(), Some(sent as u64), "{input}");
        assert_eq!(
            (l["kernel_drops"].as_u64(), l["queue_drops"].as_u64()),
            (Some(0), Some(0)),
            "{input}"
        );
        assert_eq!(input["flow"]["packet_errors"], 0, "{input}");
    }
}
