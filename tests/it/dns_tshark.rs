//! DNS statistics of real captures checked against tshark: `fixtures/dns/tshark_expect.py`
//! computes, from tshark field extraction only, what pktvisor's DNS v1 handler should
//! count on each capture; the reader must give the same numbers. The captures were made on
//! this machine with unbound, nsd, dig, kdig, mdig and dnsperf (see fixtures/dns/README.md).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{own_fixture, shared_fixtures};

const POLICY: &str = r#"
visor:
  taps:
    cap: {input_type: pcap, config: {iface: x}}
  policies:
    dns:
      kind: collection
      input: {tap: cap, input_type: pcap}
      handlers:
        window_config: {num_periods: 1, topn_count: 1000}
        modules:
          all: {type: dns, metric_groups: {enable: [top_ecs]}}
          queries: {type: dns, filter: {only_queries: true}}
          dnssec: {type: dns, filter: {only_dnssec_response: true}}
"#;

fn expected(file: &Path) -> Option<Value> {
    if !pktvisor::testdata::have_tool("tshark", "tshark") {
        return None;
    }
    let script = own_fixture("dns/tshark_expect.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "tshark_expect.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("expectations parse"))
}

fn reader_output(file: &Path) -> Value {
    let cfg: PathBuf = std::env::temp_dir().join(format!(
        "pktvisor-it-dns-tshark-{}-{}.yaml",
        std::process::id(),
        file.file_stem().and_then(|s| s.to_str()).unwrap_or("x")
    ));
    std::fs::write(&cfg, POLICY).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"))
        .args(["--periods", "1", "--config"])
        .arg(&cfg)
        .arg(file)
        .output()
        .expect("reader runs");
    let _ = std::fs::remove_file(&cfg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn tops(list: &Value) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = list
        .as_array()
        .map(|l| {
            l.iter()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap_or_default().to_string(),
                        e["estimate"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// tshark's mnemonic → pktvisor's (pktvisor spells SERVFAIL "SRVFAIL" and ANY "*").
fn pktvisor_name(tshark: &str) -> String {
    match tshark {
        "SERVFAIL" => "SRVFAIL".to_string(),
        "ANY" => "*".to_string(),
        other => other.to_string(),
    }
}

fn counts(map: &Value) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = map
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (pktvisor_name(k), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn check(file: &Path) {
    let Some(want) = expected(file) else { return };
    let doc = reader_output(file);
    let name = file.display().to_string();
    let all = &doc["dns"]["dns-cap-all"]["dns"];
    let w = &all["wire_packets"];
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    assert_eq!(n(&w["events"]), n(&want["messages"]), "{name}: messages");
    assert_eq!(n(&w["total"]), n(&want["messages"]), "{name}: total");
    for key in [
        "queries", "replies", "udp", "tcp", "ipv4", "ipv6", "noerror", "nxdomain", "srvfail",
        "refused", "nodata",
    ] {
        assert_eq!(n(&w[key]), n(&want[key]), "{name}: {key}");
    }
    assert_eq!(
        n(&w["query_ecs"]),
        n(&want["ecs_queries"]),
        "{name}: ECS queries"
    );
    assert_eq!(
        tops(&all["top_rcode"]),
        counts(&want["rcode_counts_replies"]),
        "{name}: rcodes"
    );
    assert_eq!(
        tops(&all["top_qtype"]),
        counts(&want["qtype_counts"]),
        "{name}: qtypes"
    );
    let queries = &doc["dns"]["dns-cap-queries"]["dns"];
    assert_eq!(
        tops(&queries["top_qtype"]),
        counts(&want["qtypes_queries"]),
        "{name}: query qtypes"
    );
    assert_eq!(
        n(&all["cardinality"]["qname"]),
        n(&want["distinct_qnames"]),
        "{name}: distinct names"
    );
    let x = &want["transactions"];
    let counts_xact = &all["xact"]["counts"];
    assert_eq!(
        n(&counts_xact["total"]),
        n(&x["answered"]),
        "{name}: answered"
    );
    assert_eq!(
        n(&counts_xact["timed_out"]),
        n(&x["unanswered"]) + n(&x["late"]),
        "{name}: timed out"
    );
    let dnssec = &doc["dns"]["dns-cap-dnssec"]["dns"]["wire_packets"];
    assert_eq!(
        n(&dnssec["total"]),
        n(&want["rrsig_replies"]),
        "{name}: RRSIG replies"
    );
}

#[test]
fn dns_counts_match_tshark_on_our_captures() {
    for f in [
        "dns-mixed.pcap",
        "dns-dnssec.pcap",
        "dns-tcp-pipelined.pcap",
        "dns-perf.pcap",
    ] {
        check(&own_fixture(&format!("dns/{f}")));
    }
}

#[test]
fn dns_counts_match_tshark_on_pktvisor_captures() {
    let Some(dir) = shared_fixtures() else { return };
    for f in [
        "dns_ipv4_udp.pcap",
        "dns_ipv6_udp.pcap",
        "dns_ipv4_tcp.pcap",
        "dns_ipv6_tcp.pcap",
        "dns_udp_mixed_rcode.pcap",
        "ecs.pcap",
        "dnssec.pcap",
    ] {
        check(&dir.join(f));
    }
}
