//! `pktvisor-reader` as a user runs it: real captures in, JSON or Prometheus out, checked
//! against independent tools (tshark, tcpdump, promtool) where they can count the same
//! thing, and against pktvisor's error behaviour for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::{own_fixture, shared_fixtures};

fn reader() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"));
    c.env("PKTVISOR_LOG", "info");
    c
}

fn run(args: &[&str]) -> Output {
    reader().args(args).output().expect("pktvisor-reader runs")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
}

/// A tool the tests need; under CI its absence fails the test.
fn tool(name: &str) -> bool {
    let package = match name {
        "editcap" => "wireshark-common",
        other => other,
    };
    pktvisor::testdata::have_tool(name, package)
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pktvisor-it-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// (l3 version, l4 protocol number, SYN flag) of one frame.
type FrameFacts = (Option<u8>, Option<u8>, bool);

/// Per-frame protocol facts from tshark with IP reassembly off: (l3, l4 protocol number
/// from the IP header chain, SYN flag).
fn tshark_frames(file: &Path) -> Vec<FrameFacts> {
    let out = Command::new("tshark")
        .args([
            "-n",
            "-o",
            "ip.defragment:FALSE",
            "-o",
            "ipv6.defragment:FALSE",
            "-r",
        ])
        .arg(file)
        .args(["-T", "fields", "-E", "occurrence=f", "-E", "separator=|"])
        .args([
            "-e",
            "ip.proto",
            "-e",
            "ipv6.nxt",
            "-e",
            "ipv6.hopopts.nxt",
            "-e",
            "ipv6.dstopts.nxt",
            "-e",
            "ipv6.routing.nxt",
            "-e",
            "ipv6.fraghdr.nxt",
            "-e",
            "tcp.flags.syn",
            "-e",
            "frame.protocols",
        ])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('|').collect();
            let num = |i: usize| f.get(i).and_then(|s| s.parse::<u8>().ok());
            let protos = f.get(7).copied().unwrap_or_default();
            let layers: Vec<&str> = protos.split(':').collect();
            let ip_pos = layers.iter().position(|l| *l == "ip" || *l == "ipv6");
            let (l3, l4) = match ip_pos.map(|i| layers[i]) {
                Some("ip") => (Some(4), num(0)),
                Some("ipv6") => {
                    // The first non-extension next-header along the chain.
                    let ext = [0u8, 43, 44, 51, 60, 135, 139, 140];
                    let chain = [num(1), num(2), num(3), num(4), num(5)];
                    let upper = chain.iter().flatten().copied().find(|p| !ext.contains(p));
                    (Some(6), upper)
                }
                _ => (None, None),
            };
            let syn = f.get(6).is_some_and(|s| *s == "1" || *s == "True");
            (l3, l4, syn)
        })
        .collect()
}

fn check_against_tshark(file: &Path, extra: &[&str]) {
    if !tool("tshark") {
        return;
    }
    let frames = tshark_frames(file);
    let mut args = vec!["--periods", "1"];
    args.extend_from_slice(extra);
    let f = file.to_str().expect("utf8 path");
    args.push(f);
    let doc = json_of(&run(&args));
    let p = &doc["1m"]["packets"];
    let count =
        |pred: &dyn Fn(&FrameFacts) -> bool| frames.iter().filter(|x| pred(x)).count() as u64;
    let name = file.display();
    assert_eq!(p["events"], frames.len() as u64, "{name}: events");
    assert_eq!(p["total"], frames.len() as u64, "{name}: total");
    assert_eq!(p["ipv4"], count(&|x| x.0 == Some(4)), "{name}: ipv4");
    assert_eq!(p["ipv6"], count(&|x| x.0 == Some(6)), "{name}: ipv6");
    assert_eq!(p["udp"], count(&|x| x.1 == Some(17)), "{name}: udp");
    assert_eq!(p["tcp"], count(&|x| x.1 == Some(6)), "{name}: tcp");
    assert_eq!(
        p["other_l4"],
        count(&|x| x.1 != Some(17) && x.1 != Some(6)),
        "{name}: other_l4"
    );
    assert_eq!(
        p["protocol"]["tcp"]["syn"],
        count(&|x| x.1 == Some(6) && x.2),
        "{name}: syn"
    );
}

#[test]
fn net_counters_match_tshark_on_our_captures() {
    check_against_tshark(
        &own_fixture("mixed-lo.pcapng"),
        &["-H", "10.0.0.2/32,fd00::2/128"],
    );
    check_against_tshark(&own_fixture("sll2-any.pcap"), &[]);
}

#[test]
fn net_counters_match_tshark_on_pktvisor_captures() {
    let Some(dir) = shared_fixtures() else { return };
    for f in [
        "dns_udp_tcp_random.pcap",
        "dhcpv6.pcap",
        "ipfix.pcap",
        "ecs.pcap",
        "bgp.pcap",
    ] {
        check_against_tshark(&dir.join(f), &[]);
    }
}

#[test]
fn directions_follow_the_host_spec() {
    let doc = json_of(&run(&[
        "--periods",
        "1",
        "-H",
        "10.0.0.2/32,fd00::2/128",
        own_fixture("mixed-lo.pcapng").to_str().expect("path"),
    ]));
    let p = &doc["1m"]["packets"];
    let (i, o, u) = (
        p["in"].as_u64(),
        p["out"].as_u64(),
        p["unknown_dir"].as_u64(),
    );
    assert_eq!(
        i.zip(o).zip(u).map(|((i, o), u)| i + o + u),
        p["total"].as_u64()
    );
    assert!(i.unwrap_or(0) > 0 && o.unwrap_or(0) > 0, "{p}");
    // The host is 10.0.0.2: ingress sources and egress destinations are the client.
    assert_eq!(p["top_ipv4"][0]["name"], "10.0.0.1");
    assert_eq!(p["top_ipv6"][0]["name"], "fd00::1");
    // Without a host spec every direction is unknown.
    let doc = json_of(&run(&[
        "--periods",
        "1",
        own_fixture("mixed-lo.pcapng").to_str().expect("path"),
    ]));
    assert_eq!(
        doc["1m"]["packets"]["unknown_dir"],
        doc["1m"]["packets"]["total"]
    );
}

#[test]
fn dhcp_exchange_from_dnsmasq_and_dhclient() {
    let doc = json_of(&run(&[
        "--periods",
        "1",
        own_fixture("mixed-lo.pcapng").to_str().expect("path"),
    ]));
    let d = &doc["1m"]["dhcp"]["wire_packets"];
    assert_eq!(
        (
            d["discover"].as_u64(),
            d["offer"].as_u64(),
            d["request"].as_u64(),
            d["ack"].as_u64()
        ),
        (Some(1), Some(1), Some(1), Some(1))
    );
    // DISCOVER, OFFER, REQUEST, ACK and the client's RELEASE.
    assert_eq!(d["total"], 5);
    let client = doc["1m"]["dhcp"]["top_clients"][0]["name"]
        .as_str()
        .expect("a client");
    assert!(client.contains("/fixture-client/10.0.0."), "{client}");
    let server = doc["1m"]["dhcp"]["top_servers"][0]["name"]
        .as_str()
        .expect("a server");
    assert!(server.ends_with("/10.0.0.2"), "{server}");
}

#[test]
fn pcapng_gzip_and_pcap_forms_give_identical_results() {
    if !tool("editcap") || !tool("gzip") {
        return;
    }
    let dir = temp_dir("forms");
    let src = own_fixture("mixed-lo.pcapng");
    let pcap = dir.join("mixed.pcap");
    let st = Command::new("editcap")
        .args(["-F", "pcap"])
        .arg(&src)
        .arg(&pcap)
        .status()
        .expect("editcap");
    assert!(st.success());
    let gz = dir.join("mixed.pcapng.gz");
    let out = Command::new("gzip")
        .arg("-c")
        .arg(&src)
        .output()
        .expect("gzip");
    std::fs::write(&gz, out.stdout).expect("write gz");
    let outputs: Vec<Vec<u8>> = [src.as_path(), pcap.as_path(), gz.as_path()]
        .iter()
        .map(|f| {
            let o = run(&[
                "--periods",
                "1",
                "-H",
                "10.0.0.2/32",
                f.to_str().expect("path"),
            ]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            o.stdout
        })
        .collect();
    assert_eq!(outputs[0], outputs[1], "pcapng vs pcap");
    assert_eq!(outputs[0], outputs[2], "pcapng vs pcapng.gz");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn truncated_last_record_warns_and_keeps_everything_before() {
    let Some(fx) = shared_fixtures() else { return };
    let dir = temp_dir("trunc");
    let bytes = std::fs::read(fx.join("dns_ipv4_udp.pcap")).expect("fixture");
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).expect("write");
    let out = run(&["--periods", "1", cut.to_str().expect("path")]);
    let doc = json_of(&out);
    assert_eq!(doc["1m"]["packets"]["events"], 139);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("truncated"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreadable_or_unknown_files_fail_with_exit_code_1() {
    let dir = temp_dir("bad");
    let garbage = dir.join("garbage.pcap");
    std::fs::write(
        &garbage,
        b"this is not a capture file at all, not even close",
    )
    .expect("write");
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, b"").expect("write");
    for (f, needle) in [
        (dir.join("missing.pcap"), "Cannot open pcap/pcapng file"),
        (garbage, "not a pcap or pcapng file"),
        (empty, "empty"),
    ] {
        let out = run(&[f.to_str().expect("path")]);
        assert_eq!(out.status.code(), Some(1), "{}", f.display());
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{}: {err}", f.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bpf_on_files_matches_tcpdump() {
    if !tool("tcpdump") {
        return;
    }
    let f = own_fixture("mixed-lo.pcapng");
    for expr in ["udp", "tcp and port 8080", "icmp or icmp6", "ip6"] {
        let td = Command::new("tcpdump")
            .args(["-nn", "-r"])
            .arg(&f)
            .arg(expr)
            .output()
            .expect("tcpdump");
        let expected = String::from_utf8_lossy(&td.stdout).lines().count() as u64;
        let doc = json_of(&run(&[
            "--periods",
            "1",
            "-b",
            expr,
            f.to_str().expect("path"),
        ]));
        assert_eq!(doc["1m"]["packets"]["events"], expected, "bpf {expr}");
    }
    let out = run(&["-b", "not a ( valid filter", f.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Cannot set BPF filter"));
}

#[test]
fn periods_select_the_window_key() {
    let f = own_fixture("mixed-lo.pcapng");
    let doc = json_of(&run(&[f.to_str().expect("path")]));
    assert!(doc["5m"]["packets"].is_object(), "{doc}");
    let doc = json_of(&run(&["--periods", "2", f.to_str().expect("path")]));
    assert!(
        doc["2m"]["packets"]["events"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
}

#[test]
fn geo_databases_feed_top_geo_and_asn() {
    let Some(fx) = shared_fixtures() else { return };
    let city = fx.join("GeoIP2-City-Test.mmdb");
    let asn = fx.join("GeoIP2-ISP-Test.mmdb");
    let doc = json_of(&run(&[
        "--periods",
        "1",
        "-H",
        "192.168.0.0/24",
        "--geo-city",
        city.to_str().expect("path"),
        "--geo-asn",
        asn.to_str().expect("path"),
        fx.join("dns_udp_mixed_rcode.pcap").to_str().expect("path"),
    ]));
    let p = &doc["1m"]["packets"];
    assert_eq!(p["top_geoLoc"][0]["name"], "Unknown");
    assert_eq!(p["top_ASN"][0]["name"], "Unknown");
    let out = run(&[
        "--geo-city",
        "/nonexistent.mmdb",
        fx.join("bgp.pcap").to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.mmdb"));
}

#[test]
fn inputs_not_in_this_build_are_refused_clearly() {
    let out = run(&[
        "-i",
        "bogus",
        own_fixture("mixed-lo.pcapng").to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("input type 'bogus'"));
}

#[test]
fn iana_registry_flag_loads_or_fails() {
    let Some(fx) = shared_fixtures() else { return };
    let f = own_fixture("mixed-lo.pcapng");
    let reg = fx.join("pktvisor-port-service-names.csv");
    let out = run(&[
        "--iana-service-port-registry",
        reg.to_str().expect("path"),
        f.to_str().expect("path"),
    ]);
    assert!(out.status.success());
    let out = run(&[
        "--iana-service-port-registry",
        "/nonexistent.csv",
        f.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn other_binaries_report_their_version() {
    for bin in [
        env!("CARGO_BIN_EXE_pktvisord"),
        env!("CARGO_BIN_EXE_pktvisor-cli"),
        env!("CARGO_BIN_EXE_pktvisor-reader"),
    ] {
        let out = Command::new(bin).arg("--version").output().expect("runs");
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("pktvisor 4.5.0"));
    }
}
