//! `pktvisor-reader --config`: pktvisor YAML policies run over a capture, printed in the
//! agent's `__all` window envelope, config errors with pktvisor's texts; and the
//! Prometheus output checked by a real promtool.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::own_fixture;

fn temp_file(tag: &str, contents: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("pktvisor-it-{tag}-{}.yaml", std::process::id()));
    std::fs::write(&p, contents).expect("write temp config");
    p
}

fn reader(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"))
        .args(args)
        .output()
        .expect("pktvisor-reader runs")
}

const POLICIES: &str = r#"
version: "1.0"
visor:
  taps:
    wire:
      input_type: pcap
      config: {iface: eth0, host_spec: "10.0.0.2/32,fd00::2/128"}
      tags: {site: lab}
    wire2: {input_type: pcap, config: {iface: eth1}}
  global_handler_config:
    net: {topn_count: 1}
  policies:
    edge:
      kind: collection
      input: {tap: wire, input_type: pcap}
      handlers:
        modules:
          n1: {type: net}
          stats: {type: pcap}
    edge_v2:
      kind: collection
      input:
        tap_selector: {all: [{site: lab}]}
        input_type: pcap
        filter: {bpf: "udp"}
      handlers:
        window_config: {num_periods: 1}
        modules:
          n2: {type: net, require_version: "2.0", metric_groups: {disable: [top_geo, cardinality]}}
          d: {type: dhcp}
    merged:
      kind: collection
      config: {merge_like_handlers: true}
      input: {tap: wire2, input_type: pcap}
      handlers:
        modules:
          a: {type: net}
          b: {type: net}
"#;

#[test]
fn policies_run_over_the_file_in_the_agent_envelope() {
    let cfg = temp_file("policies", POLICIES);
    let file = own_fixture("mixed-lo.pcapng");
    let out = reader(&[
        "--periods",
        "1",
        "--config",
        cfg.to_str().expect("path"),
        file.to_str().expect("path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let keys: Vec<&String> = doc.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["edge", "edge_v2", "merged"]);

    let net = &doc["edge"]["edge-wire-n1"]["packets"];
    let total = net["events"].as_u64().expect("events");
    assert!(total > 100);
    assert_eq!(
        net["top_ipv4"].as_array().map(Vec::len),
        Some(1),
        "global topn_count applies"
    );
    assert!(
        net["in"].as_u64().is_some_and(|n| n > 0),
        "tap host_spec applies"
    );
    assert!(doc["edge"]["edge-wire-stats"]["pcap"]["period"].is_object());

    let v2 = &doc["edge_v2"]["edge_v2-wire-n2"]["net"];
    let udp: u64 = ["in", "out", "unknown"]
        .iter()
        .filter_map(|d| v2[d]["udp_packets"].as_u64())
        .sum();
    assert_eq!(
        v2["observed_packets"].as_u64(),
        Some(udp),
        "the policy's bpf applies"
    );
    assert!(
        v2["in"]["cardinality"].is_null(),
        "disabled group is absent"
    );
    assert!(v2["in"]["top_geo_loc_packets"].is_null());
    assert!(v2["in"]["top_ipv4_packets"].is_array());
    assert_eq!(
        doc["edge_v2"]["edge_v2-wire-d"]["dhcp"]["wire_packets"]["total"],
        5
    );

    let merged = &doc["merged"]["packets_merged"]["packets"];
    assert_eq!(
        merged["events"].as_u64(),
        Some(2 * total),
        "like handlers are summed"
    );
    assert_eq!(
        merged["unknown_dir"].as_u64(),
        Some(2 * total),
        "wire2 has no host_spec"
    );
    let _ = std::fs::remove_file(cfg);
}

#[test]
fn config_errors_print_pktvisor_messages_and_exit_1() {
    let file = own_fixture("mixed-lo.pcapng");
    let cases: &[(&str, &str)] = &[
        ("- just a list\n", "invalid schema"),
        ("version: \"9\"\nvisor: {}\n", "unsupported version"),
        (
            &POLICIES.replace(
                "{type: net}\n          stats",
                "{type: net, require_version: \"3.0\"}\n          stats",
            ),
            "Policy 'edge' requires stream handler type 'net' and version '3.0' which is not available",
        ),
        (
            &POLICIES.replace("disable: [top_geo, cardinality]", "disable: [bogus]"),
            "policy [edge_v2] failed to start: bogus is an invalid/unsupported metric group. The valid groups are: all, cardinality, counters, quantiles, top_geo, top_ips",
        ),
        (
            &POLICIES.replace("n1: {type: net}", "n1: {type: net, config: {nope: 1}}"),
            "policy [edge] failed to start: nope is an invalid/unsupported config or filter.",
        ),
        (
            &POLICIES.replace("wire2: {input_type: pcap", "wire2: {input_type: bogus"),
            "Tap 'wire2' requires input stream type 'bogus' which is not available",
        ),
        (
            &POLICIES.replace("tap: wire2", "tap: nowhere"),
            "tap 'nowhere' does not exist",
        ),
    ];
    for (i, (yaml, message)) in cases.iter().enumerate() {
        let cfg = temp_file(&format!("bad{i}"), yaml);
        let out = reader(&[
            "--config",
            cfg.to_str().expect("path"),
            file.to_str().expect("path"),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "case {i}: {err}");
        assert!(out.stdout.is_empty(), "case {i}");
        assert!(err.contains(message), "case {i}: want {message:?} in {err}");
        let _ = std::fs::remove_file(cfg);
    }
}

fn promtool_check(text: &[u8]) {
    use std::io::Write;
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "promtool is required (scripts/setup-debian.sh --test)"
        );
        return;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text)
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // 0 = clean, 3 = lint warnings only; 1 = the exposition does not parse.
    assert!(
        matches!(out.status.code(), Some(0) | Some(3)),
        "promtool: {report}"
    );
    for line in report.lines().filter(|l| !l.trim().is_empty()) {
        // pktvisor's names end in _total on gauges; that lint is expected and allowed.
        assert!(
            line.contains("non-counter metrics should not have \"_total\" suffix"),
            "unexpected promtool finding: {line}"
        );
    }
}

#[test]
fn prometheus_output_parses_with_promtool() {
    let file = own_fixture("mixed-lo.pcapng");
    let out = reader(&[
        "--format",
        "prometheus",
        "--periods",
        "1",
        "-H",
        "10.0.0.2/32",
        file.to_str().expect("path"),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("# TYPE packets_payload_size summary"));
    assert!(text.contains("dhcp_wire_packets_discover{} 1\n"));
    promtool_check(&out.stdout);

    let cfg = temp_file("prom", POLICIES);
    let out = reader(&[
        "--format",
        "prometheus",
        "--periods",
        "1",
        "--config",
        cfg.to_str().expect("path"),
        file.to_str().expect("path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("packets_udp{handler=\"edge-wire-n1\",policy=\"edge\",tap=\"wire\"} "),
        "{text}"
    );
    assert!(text.contains("net_udp_packets{direction=\"in\",handler=\"edge_v2-wire-n2\",policy=\"edge_v2\",tap=\"wire\"} "));
    assert!(text.contains("handler=\"packets_merged\""));
    assert_eq!(
        text.matches("# TYPE packets_udp gauge").count(),
        1,
        "one header per family"
    );
    promtool_check(&out.stdout);
    let _ = std::fs::remove_file(cfg);
}
