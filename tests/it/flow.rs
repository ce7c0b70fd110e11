//! Flow exports from real exporters through `pktvisor-reader -i netflow|sflow`: pmacctd's
//! nfprobe (NetFlow v5, v9, IPFIX) and sfprobe (sFlow v5) and softflowd on a live veth
//! (NetFlow v9, IPFIX), captured by `fixtures/flow/make-flow-fixtures.sh`. Totals per
//! exporter and interface, per protocol and IP version, and the top destination ports are
//! checked against what a real collector stored (nfcapd / sfcapd, read back with nfdump by
//! the make script: `fixtures/flow/expected/`) and, at test time, against tshark's cflow
//! and sFlow dissectors (also on pktvisor's own flow captures). Plus flow taps in
//! `--config` mode.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{own_fixture, shared_fixtures};

const CAPTURES: [(&str, &str); 6] = [
    ("pmacct-nf5.pcap", "netflow"),
    ("pmacct-nf9.pcap", "netflow"),
    ("pmacct-ipfix.pcap", "ipfix"),
    ("pmacct-sflow.pcap", "sflow"),
    ("softflowd-nf9.pcap", "netflow"),
    ("softflowd-ipfix.pcap", "ipfix"),
];

fn reader_json(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"))
        .env("PKTVISOR_LOG", "warn")
        .args(args)
        .output()
        .expect("pktvisor-reader runs");
    assert!(
        out.status.success(),
        "reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// `{"1m": {"flow": …}}` of a whole capture.
fn flow_of(file: &Path, kind: &str) -> Value {
    let f = file.to_str().expect("utf8 path");
    let doc = reader_json(&["-i", kind, "--periods", "1", f]);
    doc["1m"]["flow"].clone()
}

/// Totals of one interface direction as (packets, bytes), from a flow handler's `devices`.
pub(crate) fn dir_totals(devices: &Value, dir: &str) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    for dev in devices.as_object().expect("devices").values() {
        for (name, i) in dev["interfaces"].as_object().expect("interfaces") {
            let e = out.entry(name.clone()).or_insert((0, 0));
            e.0 += i[format!("{dir}_packets")].as_u64().unwrap_or(0);
            e.1 += i[format!("{dir}_bytes")].as_u64().unwrap_or(0);
        }
    }
    out
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// What the collector stored for fixture capture `name` (`fixtures/flow/expected/`).
pub(crate) fn expected(name: &str) -> Value {
    let path = own_fixture(&format!("flow/expected/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("expected json")).expect("json")
}

/// A flow handler's `devices` against the collector's totals of capture `name`: records per
/// exporter, packets and bytes per interface and direction.
pub(crate) fn assert_collector_totals(name: &str, devices: &Value, want: &Value) {
    let exporters = want["exporters"].as_object().expect("exporters");
    let got = devices.as_object().expect("devices");
    assert_eq!(got.len(), exporters.len(), "{name}: devices");
    for (ip, e) in exporters {
        assert_eq!(
            got[ip]["records_flows"], e["records"],
            "{name}: {ip} records"
        );
    }
    for (dir, key) in [("in", "in_interfaces"), ("out", "out_interfaces")] {
        let exp: BTreeMap<String, (u64, u64)> = want[key]
            .as_object()
            .expect("interfaces")
            .iter()
            .map(|(k, v)| (k.clone(), (u(&v["packets"]), u(&v["bytes"]))))
            .collect();
        assert_eq!(
            dir_totals(devices, dir),
            exp,
            "{name}: {dir} interfaces (packets, bytes)"
        );
    }
}

#[test]
fn exports_match_the_collectors_totals() {
    for (name, kind) in CAPTURES {
        let want = expected(name);
        let flow = flow_of(&own_fixture(&format!("flow/{name}")), kind);
        assert_collector_totals(name, &flow["devices"], &want);
        let devices = flow["devices"].as_object().expect("devices");
        for ip in want["exporters"].as_object().expect("exporters").keys() {
            assert_eq!(devices[ip]["records_filtered"], 0, "{name}: {ip} filtered");
        }
        // per protocol and IP version (summed over interfaces, input side)
        let sum = |field: &str| -> u64 {
            devices
                .values()
                .flat_map(|d| d["interfaces"].as_object().expect("ifs").values())
                .map(|i| i[field].as_u64().unwrap_or(0))
                .sum()
        };
        let proto = |p: &str, m: &str| want["protocols"][p][m].as_u64().unwrap_or(0);
        for m in ["bytes", "packets"] {
            assert_eq!(
                sum(&format!("in_tcp_{m}")),
                proto("tcp", m),
                "{name}: tcp {m}"
            );
            assert_eq!(
                sum(&format!("in_udp_{m}")),
                proto("udp", m),
                "{name}: udp {m}"
            );
            assert_eq!(
                sum(&format!("in_other_l4_{m}")),
                proto("other", m),
                "{name}: other {m}"
            );
            for v in ["ipv4", "ipv6"] {
                let w = want["ip_versions"][v][m].as_u64().unwrap_or(0);
                assert_eq!(sum(&format!("in_{v}_{m}")), w, "{name}: {v} {m}");
            }
        }
        // the heaviest destination ports and source addresses (one device, one interface
        // on the input side in every capture)
        let iface = devices
            .values()
            .flat_map(|d| d["interfaces"].as_object().expect("ifs").values())
            .next()
            .expect("an interface");
        let top = |list: &Value| -> Vec<(String, u64)> {
            list.as_array()
                .expect("top list")
                .iter()
                .map(|e| {
                    (
                        e["name"].as_str().expect("name").to_string(),
                        u(&e["estimate"]),
                    )
                })
                .collect()
        };
        let exp_ports: Vec<(String, u64)> = want["top_dst_ports_bytes"]
            .as_array()
            .expect("ports")
            .iter()
            .map(|p| (p[0].to_string(), u(&p[1])))
            .collect();
        let got_ports = top(&iface["top_in_dst_ports_bytes"]);
        assert_eq!(
            got_ports[..3],
            exp_ports[..3],
            "{name}: top destination ports"
        );
        let exp_ips: Vec<(String, u64)> = want["top_src_ips_bytes"]
            .as_array()
            .expect("ips")
            .iter()
            .map(|p| (p[0].as_str().expect("ip").to_string(), u(&p[1])))
            .collect();
        assert_eq!(
            top(&iface["top_in_src_ips_bytes"])[..5],
            exp_ips[..5],
            "{name}: top sources"
        );
    }
}

/// Per-capture facts from tshark: (records, packets, bytes, bytes per input interface).
type TsharkFacts = (u64, u64, u64, BTreeMap<String, u64>);

fn tshark_fields(file: &Path, decode_as: &str, fields: &[&str]) -> Vec<Vec<Vec<u64>>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(file).args(["-d", decode_as]);
    cmd.args([
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
        "-E",
        "separator=|",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            line.split('|')
                .map(|col| {
                    col.split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| {
                            let s = s.trim();
                            s.strip_prefix("0x")
                                .map(|h| u64::from_str_radix(h, 16).expect("hex"))
                                .unwrap_or_else(|| s.parse().expect("number"))
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn tshark_netflow(file: &Path, port: u16) -> TsharkFacts {
    let rows = tshark_fields(
        file,
        &format!("udp.port=={port},cflow"),
        &["cflow.octets", "cflow.packets", "cflow.inputint"],
    );
    let (mut records, mut packets, mut bytes) = (0, 0, 0);
    let mut by_if = BTreeMap::new();
    for r in rows {
        let (octets, pkts) = (&r[0], &r[1]);
        records += octets.len() as u64;
        bytes += octets.iter().sum::<u64>();
        packets += pkts.iter().sum::<u64>();
        for (i, o) in r[2].iter().zip(octets.iter()) {
            *by_if.entry(i.to_string()).or_default() += o;
        }
    }
    (records, packets, bytes, by_if)
}

fn tshark_sflow(file: &Path) -> TsharkFacts {
    let rows = tshark_fields(
        file,
        "udp.port==6343,sflow",
        &[
            "sflow_245.header.frame_length",
            "sflow.flow_sample.sampling_rate",
            "sflow.flow_sample.input_interface",
        ],
    );
    let (mut records, mut packets, mut bytes) = (0, 0, 0);
    let mut by_if = BTreeMap::new();
    for r in rows {
        for ((len, rate), input) in r[0].iter().zip(r[1].iter()).zip(r[2].iter()) {
            records += 1;
            packets += rate;
            bytes += len * rate;
            *by_if.entry(input.to_string()).or_default() += len * rate;
        }
    }
    (records, packets, bytes, by_if)
}

fn ours(flow: &Value) -> TsharkFacts {
    let devices = flow["devices"].as_object().expect("devices");
    let records = devices.values().map(|d| u(&d["records_flows"])).sum();
    let t = dir_totals(&flow["devices"], "in");
    let packets = t.values().map(|v| v.0).sum();
    let bytes = t.values().map(|v| v.1).sum();
    let by_if = t
        .into_iter()
        .filter(|(_, v)| v.1 > 0)
        .map(|(k, v)| (k, v.1))
        .collect();
    (records, packets, bytes, by_if)
}

#[test]
fn exports_match_tshark() {
    if !pktvisor::testdata::have_tool("tshark", "tshark") {
        return;
    }
    let mut files: Vec<(std::path::PathBuf, &str, u16)> = CAPTURES
        .iter()
        .map(|(n, k)| {
            (
                own_fixture(&format!("flow/{n}")),
                *k,
                if *k == "sflow" { 6343 } else { 2055 },
            )
        })
        .collect();
    if let Some(dir) = shared_fixtures() {
        for (n, k, p) in [
            ("nf1.pcap", "netflow", 2055),
            ("nf5.pcap", "netflow", 2055),
            ("nf7.pcap", "netflow", 2055),
            ("nf9.pcap", "netflow", 2055),
            ("ipfix.pcap", "ipfix", 2059),
            ("sflow_ipv6.pcap", "sflow", 6343),
        ] {
            files.push((dir.join(n), k, p));
        }
    }
    for (file, kind, port) in files {
        let want = if kind == "sflow" {
            tshark_sflow(&file)
        } else {
            tshark_netflow(&file, port)
        };
        assert!(want.0 > 0, "{}: tshark saw no flow record", file.display());
        let mut want = want;
        want.3.retain(|_, b| *b > 0);
        let got = ours(&flow_of(&file, kind));
        assert_eq!(
            got,
            want,
            "{}: (records, packets, bytes, bytes by input interface)",
            file.display()
        );
    }
}

#[test]
fn flow_taps_in_config_mode() {
    let dir = std::env::temp_dir().join(format!("pktvisor-it-flowcfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let yaml = dir.join("flow.yaml");
    std::fs::write(
        &yaml,
        r#"
visor:
  taps:
    routers: {input_type: flow, config: {flow_type: netflow, bind: 0.0.0.0, port: 2055}}
    switches: {input_type: sflow, config: {bind: 0.0.0.0, port: 6343, flow_type: sflow}}
  policies:
    edge:
      kind: collection
      input: {tap: routers, input_type: flow}
      handlers:
        modules:
          f:
            type: flow
            config:
              device_map: {127.0.0.1: {name: probe, interfaces: {7: {name: veth1}}}}
            metric_groups: {enable: [top_interfaces]}
"#,
    )
    .expect("write yaml");
    let cap = own_fixture("flow/softflowd-nf9.pcap");
    let doc = reader_json(&[
        "--config",
        yaml.to_str().expect("utf8"),
        "--periods",
        "1",
        cap.to_str().expect("utf8"),
    ]);
    let flow = &doc["edge"]["edge-routers-f"]["flow"];
    let want: Value = serde_json::from_str(
        &std::fs::read_to_string(own_fixture("flow/expected/softflowd-nf9.pcap.json"))
            .expect("json"),
    )
    .expect("json");
    let dev = &flow["devices"]["probe"];
    assert_eq!(dev["records_flows"], want["records"], "{doc}");
    assert_eq!(dev["interfaces"]["veth1"]["in_bytes"], want["bytes"]);
    assert_eq!(dev["top_in_interfaces_bytes"][0]["name"], "veth1");
    assert_eq!(dev["top_in_interfaces_bytes"][0]["estimate"], want["bytes"]);
    // Prometheus labels: device and device|interface
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"))
        .args([
            "--config",
            yaml.to_str().expect("utf8"),
            "--periods",
            "1",
            "--format",
            "prometheus",
        ])
        .arg(&cap)
        .output()
        .expect("reader runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = format!(
        "flow_in_bytes{{device=\"probe\",device_interface=\"probe|veth1\",handler=\"edge-routers-f\",policy=\"edge\",tap=\"routers\"}} {}",
        want["bytes"]
    );
    assert!(text.contains(&line), "missing {line}:\n{text}");
    // a bad flow_type is refused with pktvisor's text
    let bad = yaml.with_file_name("bad.yaml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&yaml)
            .expect("yaml")
            .replace("flow_type: netflow", "flow_type: jflow"),
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"))
        .args([
            "--config",
            bad.to_str().expect("utf8"),
            cap.to_str().expect("utf8"),
        ])
        .output()
        .expect("reader runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "invalid flow_type \"jflow\". Supported types: \"sflow\", \"netflow\" and \"ipfix\""
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
