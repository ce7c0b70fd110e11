//! DNS counters against the traffic generator's own ground truth: a capture made by
//! `../shared/bench/gen_dns_pcap.py` (UDP and TCP, IPv4 and IPv6, NXDOMAIN, SERVFAIL,
//! REFUSED, truncation with TCP retry, unanswered and malformed queries) comes with
//! `<file>.truth.json`, exact counts computed while the packets were written. The reader
//! gives the same documents with one, two and three workers.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The generator's resolvers: the host.
const HOST_SPEC: &str =
    "10.0.0.53/32,10.0.1.53/32,192.0.2.53/32,198.51.100.53/32,2001:db8::53/128,2001:db8:1::53/128";

fn generated(transactions: u32) -> Option<(PathBuf, Value)> {
    let shared = pktvisor::testdata::shared("bench")?;
    let dir = std::env::temp_dir().join(format!("pktvisor-it-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cap = dir.join("dns.pcap");
    let st = Command::new("python3")
        .arg(shared.join("gen_dns_pcap.py"))
        .arg("-o")
        .arg(&cap)
        .args(["-n", &transactions.to_string(), "--seed", "7"])
        .output()
        .expect("python3 runs");
    assert!(
        st.status.success(),
        "generator failed: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("dns.pcap.truth.json")).expect("truth file"),
    )
    .expect("truth parses");
    Some((cap, truth))
}

const POLICY: &str = r#"
visor:
  taps:
    gen: {input_type: pcap, config: {iface: x, host_spec: "HOSTS"}}
  policies:
    dns:
      kind: collection
      input: {tap: gen, input_type: pcap}
      handlers:
        window_config: {num_periods: 1, topn_count: 100}
        modules:
          v1: {type: dns}
          queries: {type: dns, filter: {only_queries: true}}
          v2: {type: dns, require_version: "2.0"}
"#;

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn top(list: &Value, name: &str) -> u64 {
    list.as_array()
        .and_then(|l| l.iter().find(|e| e["name"] == name))
        .map_or(0, |e| n(&e["estimate"]))
}

#[test]
fn dns_counters_match_the_generators_truth() {
    let Some((cap, truth)) = generated(20_000) else {
        return;
    };
    let cfg = cap.with_extension("yaml");
    std::fs::write(&cfg, POLICY.replace("HOSTS", HOST_SPEC)).expect("write config");
    let read = |workers: &str| -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"))
            .args(["--periods", "1", "--workers", workers, "--config"])
            .arg(&cfg)
            .arg(&cap)
            .output()
            .expect("reader runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let doc = read("1");
    // The same truth with any number of workers (three catches odd splits).
    for workers in ["2", "3"] {
        let bound =
            crate::workers::top_error(n(&doc["dns"]["dns-gen-v1"]["dns"]["wire_packets"]["total"]));
        if let Err(e) = crate::workers::same_document("", &doc, &read(workers), None, bound) {
            panic!("--workers {workers} differs from --workers 1: {e}");
        }
    }
    let v1 = &doc["dns"]["dns-gen-v1"]["dns"];
    let w = &v1["wire_packets"];
    let t = |k: &str| n(&truth[k]);
    let malformed = t("malformed_queries");

    // Responses are never malformed: exact.
    assert_eq!(n(&w["replies"]), t("dns_responses"));
    assert_eq!(n(&w["noerror"]), t("rcode_NOERROR"));
    assert_eq!(n(&w["nxdomain"]), t("rcode_NXDOMAIN"));
    assert_eq!(n(&w["srvfail"]), t("rcode_SERVFAIL"));
    assert_eq!(n(&w["refused"]), t("rcode_REFUSED"));
    // Every TCP session carries one query and one response.
    assert_eq!(n(&w["tcp"]), 2 * t("tcp_queries"));
    // Malformed queries are cut short at random: those too short for a DNS header are
    // not DNS messages, the others still count as queries.
    let queries = n(&w["queries"]);
    assert!(
        queries <= t("dns_queries") && queries + malformed >= t("dns_queries"),
        "queries {queries}"
    );
    assert_eq!(n(&w["total"]), n(&w["events"]), "nothing filtered");
    let udp = n(&w["udp"]);
    assert!(
        udp <= t("pkts_udp_dns") && udp + malformed >= t("pkts_udp_dns"),
        "udp {udp}"
    );

    // Transactions: every response answers a query; the unanswered (and the malformed
    // queries, never answered) time out at the end of the capture.
    let xact = &v1["xact"];
    assert_eq!(n(&xact["counts"]["total"]), t("dns_responses"));
    assert_eq!(
        n(&xact["in"]["total"]),
        t("dns_responses"),
        "the host is the resolver"
    );
    let timed_out = n(&xact["counts"]["timed_out"]);
    assert!(
        timed_out >= t("unanswered_queries") && timed_out <= t("unanswered_queries") + malformed
    );

    // Query types, counted on queries only.
    let qtypes = &doc["dns"]["dns-gen-queries"]["dns"]["top_qtype"];
    for qt in ["A", "AAAA", "HTTPS", "PTR", "MX", "TXT", "NS", "SRV", "SOA"] {
        let want = t(&format!("qtype_{qt}"));
        let got = top(qtypes, qt);
        assert!(
            got <= want && got + malformed >= want,
            "qtype {qt}: {got} vs {want}"
        );
    }

    // Distinct names within 2%.
    let card = n(&v1["cardinality"]["qname"]) as f64;
    let uniq = t("unique_qnames") as f64;
    assert!(
        (card - uniq).abs() / uniq < 0.02,
        "cardinality {card} vs {uniq}"
    );

    // v2: one transaction per response, all inbound, none orphaned.
    let v2 = &doc["dns"]["dns-gen-v2"]["dns"];
    assert_eq!(n(&v2["in"]["xacts"]), t("dns_responses"));
    assert_eq!(n(&v2["in"]["tcp_xacts"]), t("tcp_queries"));
    assert_eq!(n(&v2["in"]["orphan_responses"]), 0);
    assert_eq!(n(&v2["in"]["nxdomain_xacts"]), t("rcode_NXDOMAIN"));
    let timeouts = n(&v2["in"]["timeout_queries"]);
    assert!(timeouts >= t("unanswered_queries") && timeouts <= t("unanswered_queries") + malformed);
    assert!(v2["out"].is_null() && v2["unknown"].is_null());
    let _ = std::fs::remove_dir_all(cap.parent().expect("dir"));
}
