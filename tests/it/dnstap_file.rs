//! dnstap files through `pktvisor-reader -i dnstap` and dnstap taps in `--config` mode:
//! pktvisor's `fixture.dnstap` against the numbers pktvisor's own tests assert and against
//! golang-dnstap's decoding of the same file (`dnstap -j`, an independent decoder); our own
//! unbound recording (fixtures/dnstap, made by `fstrm_capture`) against the capture of the
//! same traffic, read by our pcap path and by tshark; `only_hosts` and `dnstap_msg_type`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{own_fixture, shared_fixtures};

fn reader(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"))
        .args(args)
        .output()
        .expect("pktvisor-reader runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn fixture() -> Option<PathBuf> {
    Some(shared_fixtures()?.join("fixture.dnstap"))
}

fn top(v: &Value, i: usize) -> (String, u64) {
    (
        v[i]["name"].as_str().unwrap_or_default().to_string(),
        v[i]["estimate"].as_u64().unwrap_or(0),
    )
}

/// One message as golang-dnstap prints it (`dnstap -j`).
#[derive(Debug, Clone)]
pub struct GoMsg {
    /// e.g. `CLIENT_QUERY`.
    pub mtype: String,
    /// QR from the message type.
    pub response: bool,
    /// `status:` of the DNS message (NOERROR, NXDOMAIN, …).
    pub rcode: String,
    /// DNS id.
    pub id: u16,
    /// First question's type mnemonic.
    pub qtype: String,
    /// First question's name, lower-cased, without the final dot.
    pub qname: String,
    /// ANSWER count.
    pub answers: u32,
    /// Seconds since the epoch of this side's time.
    pub ts: f64,
    /// `socket_protocol`.
    pub proto: String,
    /// `socket_family`.
    pub family: String,
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn rfc3339(t: &str) -> f64 {
    let (date, time) = t.trim_end_matches('Z').split_once('T').expect("time");
    let d: Vec<i64> = date.split('-').map(|x| x.parse().expect("date")).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let h: Vec<i64> = hms.split(':').map(|x| x.parse().expect("time")).collect();
    let secs = days_from_civil(d[0], d[1], d[2]) * 86_400 + h[0] * 3600 + h[1] * 60 + h[2];
    secs as f64 + format!("0.{frac}").parse::<f64>().expect("fraction")
}

/// Every message of a dnstap file decoded by golang-dnstap, or `None` when the tool is
/// missing (a note; a failure under CI=true).
pub fn golang_messages(file: &Path) -> Option<Vec<GoMsg>> {
    if !pktvisor::testdata::have_tool("dnstap", "golang-github-dnstap-golang-dnstap-cli") {
        return None;
    }
    let out = Command::new("dnstap")
        .arg("-r")
        .arg(file)
        .arg("-j")
        .output()
        .expect("dnstap runs");
    let mut msgs = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).expect("dnstap -j line");
        let m = &v["message"];
        let mtype = m["type"].as_str().expect("type").to_string();
        let response = mtype.ends_with("RESPONSE");
        let (text, time) = if response {
            (m["response_message"].as_str(), m["response_time"].as_str())
        } else {
            (m["query_message"].as_str(), m["query_time"].as_str())
        };
        let text = text.expect("message text");
        let field = |key: &str| -> String {
            let i = text.find(key).expect("field") + key.len();
            text[i..]
                .split([',', '\n'])
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        let question = text
            .split(";; QUESTION SECTION:\n;")
            .nth(1)
            .and_then(|q| q.lines().next())
            .unwrap_or_default();
        let mut q = question.split_whitespace();
        let qname = q.next().unwrap_or_default();
        msgs.push(GoMsg {
            mtype,
            response,
            rcode: field("status: "),
            id: field("id: ").parse().expect("id"),
            qtype: q.last().unwrap_or_default().to_string(),
            qname: qname.trim_end_matches('.').to_ascii_lowercase(),
            answers: field("ANSWER: ").parse().expect("answers"),
            ts: rfc3339(time.expect("time")),
            proto: m["socket_protocol"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            family: m["socket_family"].as_str().unwrap_or_default().to_string(),
        });
    }
    Some(msgs)
}

/// dns v2's transactions over CLIENT messages keyed by DNS id only (pktvisor's dnstap
/// key), 5 s timeout: (xacts, timeouts, orphans, rcode counts of the transactions).
fn v2_model(msgs: &[GoMsg]) -> (u64, u64, u64, BTreeMap<String, u64>) {
    let mut pending: HashMap<u16, f64> = HashMap::new();
    let (mut xacts, mut timeouts, mut orphans) = (0, 0, 0);
    let mut rcodes = BTreeMap::new();
    for m in msgs.iter().filter(|m| m.mtype.starts_with("CLIENT_")) {
        if !m.response {
            pending.insert(m.id, m.ts);
            continue;
        }
        match pending.remove(&m.id) {
            None => orphans += 1,
            Some(q) if m.ts - q > 5.0 => timeouts += 1,
            Some(_) => {
                xacts += 1;
                *rcodes.entry(m.rcode.clone()).or_default() += 1;
            }
        }
    }
    (xacts, timeouts + pending.len() as u64, orphans, rcodes)
}

#[test]
fn fixture_matches_pktvisor_tests_and_golang_dnstap() {
    let Some(file) = fixture() else { return };
    let path = file.to_str().expect("path");
    let out = reader(&["-i", "dnstap", "--periods", "1", path]);
    let dns = &out["1m"]["dns"];
    let w = &dns["wire_packets"];
    // pktvisor's src/handlers/dns/v1/tests/test_dnstap.cpp "Parse DNSTAP"
    for (k, v) in [
        ("events", 153),
        ("deep_samples", 153),
        ("tcp", 0),
        ("udp", 153),
        ("ipv4", 153),
        ("ipv6", 0),
        ("queries", 79),
        ("replies", 74),
        ("noerror", 70),
        ("nxdomain", 0),
        ("refused", 0),
        ("srvfail", 4),
        ("filtered", 0),
    ] {
        assert_eq!(w[k], v, "wire_packets.{k}");
    }
    assert_eq!(dns["xact"]["counts"]["total"], 0);
    assert_eq!(dns["xact"]["in"]["total"], 0);
    assert_eq!(dns["xact"]["out"]["total"], 0);
    assert_eq!(dns["xact"]["counts"]["timed_out"], 0);
    assert_eq!(dns["cardinality"]["qname"], 70);
    assert_eq!(top(&dns["top_qname2"], 0), (".google.com".into(), 18));
    assert_eq!(top(&dns["top_udp_ports"], 0), ("33000".into(), 4));
    assert_eq!(top(&dns["top_qtype"], 0), ("A".into(), 149));
    assert_eq!(top(&dns["top_qtype"], 1), ("HTTPS".into(), 4));
    // net: queries arrive at the resolver, responses leave it; frame sizes
    let p = &out["1m"]["packets"];
    assert_eq!(
        (p["total"].as_u64(), p["in"].as_u64()),
        (Some(153), Some(79))
    );
    assert_eq!(
        (p["out"].as_u64(), p["udp"].as_u64()),
        (Some(74), Some(153))
    );
    assert_eq!(top(&p["top_ipv4"], 0).1, 153);

    // the same facts from golang-dnstap's decoding of the file
    let Some(msgs) = golang_messages(&file) else {
        return;
    };
    assert_eq!(msgs.len(), 153);
    let count = |f: &dyn Fn(&GoMsg) -> bool| msgs.iter().filter(|m| f(m)).count() as u64;
    assert_eq!(w["queries"], count(&|m| !m.response));
    assert_eq!(w["replies"], count(&|m| m.response));
    assert_eq!(w["noerror"], count(&|m| m.response && m.rcode == "NOERROR"));
    assert_eq!(
        w["srvfail"],
        count(&|m| m.response && m.rcode == "SERVFAIL")
    );
    assert_eq!(
        w["nodata"],
        count(&|m| m.response && m.rcode == "NOERROR" && m.answers == 0)
    );
    assert_eq!(w["udp"], count(&|m| m.proto == "UDP"));
    let mut names: Vec<&str> = msgs.iter().map(|m| m.qname.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(dns["cardinality"]["qname"], names.len() as u64);
    assert_eq!(
        top(&dns["top_qtype"], 0).1,
        count(&|m| m.qtype == "A"),
        "A count"
    );
}

const POLICIES: &str = r#"
visor:
  taps:
    resolver: {input_type: dnstap, config: {socket: /nonexistent/dnstap.sock}}
  policies:
    lan:
      kind: collection
      input: {tap: resolver, input_type: dnstap, filter: {only_hosts: [192.168.0.0/24, "2001:db8::/48"]}}
      handlers:
        window_config: {num_periods: 1, topn_count: 100}
        modules:
          d1: {type: dns}
          d2: {type: dns, require_version: "2.0", metric_groups: {enable: [top_ports]}}
          n1: {type: net}
          n2: {type: net, require_version: "2.0"}
    elsewhere:
      kind: collection
      input: {tap: resolver, input_type: dnstap, filter: {only_hosts: [10.0.0.0/8]}}
      handlers:
        window_config: {num_periods: 1}
        modules:
          d1: {type: dns}
    types:
      kind: collection
      input: {tap: resolver, input_type: dnstap}
      handlers:
        window_config: {num_periods: 1}
        modules:
          auth: {type: dns, filter: {dnstap_msg_type: auth}}
          client: {type: dns, filter: {dnstap_msg_type: client}}
          auth2: {type: dns, require_version: "2.0", filter: {dnstap_msg_type: auth}}
          rcode: {type: dns, filter: {only_rcode: 2}}
"#;

fn write_config(tag: &str, text: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("pktvisor-it-{tag}-{}.yaml", std::process::id()));
    std::fs::write(&p, text).expect("write config");
    p
}

#[test]
fn dnstap_taps_filters_and_v2_in_config_mode() {
    let Some(file) = fixture() else { return };
    let cfg = write_config("dnstap-policies", POLICIES);
    let out = reader(&[
        "--periods",
        "1",
        "--config",
        cfg.to_str().expect("path"),
        file.to_str().expect("path"),
    ]);
    let _ = std::fs::remove_file(&cfg);
    let lan = &out["lan"];
    let d1 = &lan["lan-resolver-d1"]["dns"];
    assert_eq!(d1["wire_packets"]["total"], 153);
    assert_eq!(d1["wire_packets"]["queries"], 79);
    // only_hosts with no matching address: nothing reaches the handler at all
    let none = &out["elsewhere"]["elsewhere-resolver-d1"]["dns"];
    assert_eq!(none["wire_packets"]["events"], 0);
    // dnstap_msg_type: pktvisor's "Parse filtered DNSTAP empty data / with data"
    let t = &out["types"];
    let auth = &t["types-resolver-auth"]["dns"]["wire_packets"];
    assert_eq!(
        (auth["events"].as_u64(), auth["filtered"].as_u64()),
        (Some(153), Some(153))
    );
    assert_eq!(
        (auth["udp"].as_u64(), auth["queries"].as_u64()),
        (Some(0), Some(0))
    );
    let client = &t["types-resolver-client"]["dns"]["wire_packets"];
    assert_eq!(
        (
            client["total"].as_u64(),
            client["srvfail"].as_u64(),
            client["filtered"].as_u64()
        ),
        (Some(153), Some(4), Some(0))
    );
    let auth2 = &t["types-resolver-auth2"]["dns"];
    assert_eq!(auth2["filtered_packets"], 153);
    assert!(auth2.get("in").is_none(), "{auth2}");
    // DNS filters apply to dnstap messages too (pktvisor ignores them there)
    let rc = &t["types-resolver-rcode"]["dns"]["wire_packets"];
    assert_eq!(
        (rc["total"].as_u64(), rc["srvfail"].as_u64()),
        (Some(4), Some(4))
    );

    // net v2: everything is the resolver's clients' traffic, in and out
    let n2 = &lan["lan-resolver-n2"]["net"];
    assert_eq!(
        n2["in"]["total_packets"].as_u64().unwrap_or(0)
            + n2["out"]["total_packets"].as_u64().unwrap_or(0),
        153
    );
    assert_eq!(n2["in"]["total_packets"], 79);
    let n1 = &lan["lan-resolver-n1"]["packets"];
    assert_eq!(n1["cardinality"]["src_ips_in"], 1);
    assert_eq!(n1["cardinality"]["dst_ips_out"], 1);

    // dns v2: transactions keyed by DNS id, against golang-dnstap's decoding
    let Some(msgs) = golang_messages(&file) else {
        return;
    };
    let (xacts, timeouts, orphans, rcodes) = v2_model(&msgs);
    let d2 = &lan["lan-resolver-d2"]["dns"];
    let inb = &d2["in"];
    assert_eq!(inb["xacts"], xacts, "{d2}");
    assert_eq!(inb["timeout_queries"], timeouts);
    assert_eq!(inb["orphan_responses"], orphans);
    assert_eq!(inb["udp_xacts"], xacts);
    assert_eq!(inb["ipv4_xacts"], xacts);
    assert_eq!(
        inb["noerror_xacts"],
        rcodes.get("NOERROR").copied().unwrap_or(0)
    );
    assert_eq!(
        inb["srvfail_xacts"],
        rcodes.get("SERVFAIL").copied().unwrap_or(0)
    );
    assert!(d2.get("out").is_none());
}

#[test]
fn own_unbound_recording_agrees_with_its_capture() {
    let dnstap = own_fixture("dnstap/unbound.dnstap");
    let pcap = own_fixture("dnstap/unbound.pcap");
    let a = reader(&[
        "-i",
        "dnstap",
        "--periods",
        "1",
        dnstap.to_str().expect("path"),
    ]);
    let b = reader(&["--periods", "1", pcap.to_str().expect("path")]);
    let (a, b) = (&a["1m"]["dns"], &b["1m"]["dns"]);
    assert_eq!(a["wire_packets"], b["wire_packets"]);
    for k in [
        "cardinality",
        "top_qtype",
        "top_rcode",
        "top_qname2",
        "top_qname3",
        "top_nxdomain",
        "top_srvfail",
        "top_refused",
        "top_nodata",
    ] {
        assert_eq!(a[k], b[k], "{k}");
    }
    let w = &a["wire_packets"];
    assert!(w["tcp"].as_u64() > Some(0) && w["ipv6"].as_u64() > Some(0));
    assert!(w["refused"].as_u64() > Some(0) && w["srvfail"].as_u64() > Some(0));

    // tshark's view of the capture (fixtures/dns/tshark_expect.py)
    if pktvisor::testdata::have_tool("tshark", "tshark") {
        let out = Command::new("python3")
            .arg(own_fixture("dns/tshark_expect.py"))
            .args(["--ports", "53"])
            .arg(&pcap)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let t: Value = serde_json::from_slice(&out.stdout).expect("json");
        for (ours, theirs) in [
            ("total", "messages"),
            ("queries", "queries"),
            ("replies", "replies"),
            ("udp", "udp"),
            ("tcp", "tcp"),
            ("ipv4", "ipv4"),
            ("ipv6", "ipv6"),
            ("noerror", "noerror"),
            ("nxdomain", "nxdomain"),
            ("srvfail", "srvfail"),
            ("refused", "refused"),
            ("nodata", "nodata"),
        ] {
            assert_eq!(w[ours], t[theirs], "{ours}");
        }
        assert_eq!(a["cardinality"]["qname"], t["distinct_qnames"]);
    }
    // and golang-dnstap's view of the recording
    if let Some(msgs) = golang_messages(&dnstap) {
        assert_eq!(w["total"], msgs.len() as u64);
        let tcp = msgs.iter().filter(|m| m.proto == "TCP").count() as u64;
        let v6 = msgs.iter().filter(|m| m.family == "INET6").count() as u64;
        assert_eq!(
            (w["tcp"].as_u64(), w["ipv6"].as_u64()),
            (Some(tcp), Some(v6))
        );
    }
}

#[test]
fn files_that_are_not_dnstap_are_refused_clearly() {
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"))
        .arg("-i")
        .arg("dnstap")
        .arg(own_fixture("mixed-lo.pcapng"))
        .output()
        .expect("reader runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a dnstap (Frame Streams) file"), "{err}");
    // a recording cut in the middle of a frame: every complete frame, and a warning
    let full = std::fs::read(own_fixture("dnstap/unbound.dnstap")).expect("read");
    let cut = std::env::temp_dir().join(format!("pktvisor-it-cut-{}.dnstap", std::process::id()));
    std::fs::write(&cut, &full[..full.len() / 2]).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"))
        .args(["-i", "dnstap", "--periods", "1"])
        .arg(&cut)
        .output()
        .expect("reader runs");
    let _ = std::fs::remove_file(&cut);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let total = v["1m"]["dns"]["wire_packets"]["total"]
        .as_u64()
        .unwrap_or(0);
    assert!(total > 900 && total < 1100, "{total}");
}
