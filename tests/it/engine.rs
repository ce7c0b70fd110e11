//! The pipeline engine from the outside: collector-style configurations give the same
//! results as the same analysis written as pktvisor taps and policies (pcap, dnstap and
//! flow inputs, through `pktvisor-reader --config`), `pktvisord validate` reports every
//! problem of a configuration with its path and line and binds nothing, `print-config`
//! shows the effective configuration with secrets redacted, and the admin API rejects a
//! policy with a bad handler config without starting a stream.

use std::net::UdpSocket;
use std::process::Command;

use crate::agent_proc::{AgentProc, free_port, temp_file, temp_path};
use crate::common::own_fixture;

fn reader(config: &std::path::Path, file: &std::path::Path) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"))
        .args(["--periods", "1", "--config"])
        .arg(config)
        .arg(file)
        .output()
        .expect("reader runs");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    (String::from_utf8_lossy(&out.stdout).to_string(), err)
}

/// Runs both configurations over `file` and compares the output byte for byte.
fn same_output(name: &str, pktvisor_style: &str, collector_style: &str, file: &str) -> String {
    let a = temp_file(&format!("{name}-visor.yaml"), pktvisor_style);
    let b = temp_file(&format!("{name}-otel.yaml"), collector_style);
    let file = own_fixture(file);
    let (visor, _) = reader(&a, &file);
    let (otel, _) = reader(&b, &file);
    assert_eq!(visor, otel, "{name}: collector style differs");
    let _ = std::fs::remove_file(a);
    let _ = std::fs::remove_file(b);
    visor
}

#[test]
fn collector_style_gives_byte_identical_json_for_pcap_dnstap_and_flow() {
    let pcap = same_output(
        "pcap",
        r#"
visor:
  taps:
    pcap_lo: {input_type: pcap, config: {iface: lo, host_spec: "127.0.0.0/8,::1/128"}}
  policies:
    edge:
      kind: collection
      input: {tap: pcap_lo, input_type: pcap, filter: {bpf: "udp or tcp"}}
      handlers:
        window_config: {num_periods: 1}
        modules:
          net: {type: net}
          dns_v2: {type: dns, require_version: "2.0", metric_groups: {enable: [top_qnames, top_ports]}}
          dhcp: {type: dhcp}
"#,
        r#"
receivers:
  pcap/lo: {iface: lo, host_spec: "127.0.0.0/8,::1/128"}
processors:
  net: {}
  dns/v2: {require_version: "2.0", metric_groups: {enable: [top_qnames, top_ports]}}
  dhcp:
exporters:
  pktvisor_api: {}
service:
  pipelines:
    metrics/edge:
      receivers: [pcap/lo]
      processors: [net, dns/v2, dhcp]
      exporters: [pktvisor_api]
      filter: {bpf: "udp or tcp"}
      window_config: {num_periods: 1}
"#,
        "dns/dns-mixed.pcap",
    );
    let v: serde_json::Value = serde_json::from_str(&pcap).expect("json");
    assert!(
        v["edge"]["edge-pcap_lo-dns_v2"]["dns"]["deep_sampled_packets"].as_u64() > Some(0),
        "{v}"
    );
    assert!(v["edge"]["edge-pcap_lo-net"]["packets"]["total"].as_u64() > Some(0));
    let dnstap = same_output(
        "dnstap",
        r#"
visor:
  taps:
    dnstap_unbound: {input_type: dnstap, config: {socket: /run/never-bound.sock}}
  policies:
    default:
      kind: collection
      input: {tap: dnstap_unbound, input_type: dnstap, filter: {only_hosts: ["127.0.0.0/8"]}}
      handlers:
        modules:
          dns: {type: dns}
          dns_v2: {type: dns, require_version: "2.0"}
"#,
        r#"
receivers:
  dnstap/unbound: {socket: "${env:PV_TEST_NO_SUCH_VARIABLE:-/run/never-bound.sock}"}
processors:
  dns: {}
  dns/v2: {require_version: "2.0"}
exporters:
  pktvisor_api:
service:
  pipelines:
    metrics:
      receivers: [dnstap/unbound]
      processors: [dns, dns/v2]
      exporters: [pktvisor_api]
      filter: {only_hosts: ["127.0.0.0/8"]}
"#,
        "dnstap/unbound.dnstap",
    );
    let v: serde_json::Value = serde_json::from_str(&dnstap).expect("json");
    assert!(
        v["default"]["default-dnstap_unbound-dns"]["dns"]["wire_packets"]["total"].as_u64()
            > Some(0)
    );
    let flow = same_output(
        "flow",
        r#"
visor:
  taps:
    netflow_edge: {input_type: flow, config: {flow_type: netflow, bind: 127.0.0.1, port: 2055}}
  policies:
    routers:
      kind: collection
      input: {tap: netflow_edge, input_type: flow}
      handlers:
        modules:
          flow: {type: flow, config: {fold_dynamic_ports: true}}
"#,
        r#"
receivers:
  netflow/edge: {bind: 127.0.0.1, port: 2055}
processors:
  flow: {fold_dynamic_ports: true}
exporters:
  pktvisor_api: {}
service:
  pipelines:
    metrics/routers: {receivers: [netflow/edge], processors: [flow], exporters: [pktvisor_api]}
"#,
        "flow/pmacct-nf9.pcap",
    );
    let v: serde_json::Value = serde_json::from_str(&flow).expect("json");
    assert!(v["routers"]["routers-netflow_edge-flow"]["flow"]["devices"].is_object());
}

/// Five different mistakes, two of them in one file's collector sections, are all
/// reported with their paths; nothing named in the file is bound or created.
#[test]
fn validate_reports_every_mistake_and_binds_nothing() {
    let sock = temp_path("validate.sock");
    let _ = std::fs::remove_file(&sock);
    let udp = free_port();
    let tcp = free_port();
    let a = temp_file(
        "validate-a.yaml",
        &format!(
            r#"visor:
  config:
    port: not-a-port
  taps:
    resolver:
      input_type: dnstap
      config: {{socket: {sock}}}
    routers:
      input_type: flow
      config: {{flow_type: netflow, bind: 127.0.0.1, port: {udp}}}
  policies:
    dns:
      kind: collection
      input: {{tap: resolver, input_type: dnstap}}
      handlers:
        modules:
          dns:
            type: dns
            metric_groups:
              disable: [bogus_group]
    lost:
      kind: collection
      input: {{tap: nowhere, input_type: pcap}}
      handlers:
        modules:
          net: {{type: net}}
    edge:
      kind: collection
      input: {{tap: routers, input_type: flow}}
      handlers:
        modules:
          flow: {{type: flow}}
"#,
            sock = sock.display()
        ),
    );
    let b = temp_file(
        "validate-b.yaml",
        &format!(
            r#"receivers:
  dnstap/tcp: {{tcp: "127.0.0.1:{tcp}"}}
  netflow/other: {{bind: 0.0.0.0, port: {udp}}}
processors:
  net: {{}}
  dns/v2: {{require_version: "3.0"}}
exporters:
  pktvisor_api: {{}}
service:
  pipelines:
    metrics/flows: {{receivers: [netflow/other], processors: [net], exporters: [pktvisor_api]}}
    metrics/v3: {{receivers: [dnstap/tcp], processors: [dns/v2], exporters: [pktvisor_api]}}
"#
        ),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisord"))
        .args(["validate", "--config"])
        .arg(&a)
        .arg("--config")
        .arg(&b)
        .output()
        .expect("validate runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let a_name = a.display().to_string();
    let b_name = b.display().to_string();
    for want in [
        "visor.config.port: ".to_string(),
        format!(
            "{a_name}:17: visor.policies.dns.handlers.modules.dns: policy [dns] failed to start: bogus_group is an invalid/unsupported metric group"
        ),
        format!("{a_name}:21: visor.policies.lost: tap 'nowhere' does not exist"),
        format!(
            "{b_name}:6: processors.dns/v2: Policy 'v3' requires stream handler type 'dns' and version '3.0' which is not available"
        ),
        format!(
            "{b_name}:11: service.pipelines.metrics/flows.receivers: UDP port 0.0.0.0:{udp} is also claimed by policy 'edge'"
        ),
    ] {
        assert!(
            err.lines().any(|l| l.contains(&want)),
            "missing {want:?} in:\n{err}"
        );
    }
    assert!(err.contains("5 problem(s) found"), "{err}");
    // nothing was bound or created
    assert!(!sock.exists(), "the dnstap socket was created");
    UdpSocket::bind(("127.0.0.1", udp)).expect("the flow port is free");
    std::net::TcpListener::bind(("127.0.0.1", tcp)).expect("the dnstap port is free");
    // a valid configuration validates, still binding nothing
    let good = temp_file(
        "validate-good.yaml",
        &format!(
            "receivers:\n  dnstap/s: {{socket: {}}}\nprocessors:\n  dns:\nexporters:\n  pktvisor_api:\nservice:\n  pipelines:\n    metrics: {{receivers: [dnstap/s], processors: [dns], exporters: [pktvisor_api]}}\n",
            sock.display()
        ),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisord"))
        .args(["validate", "--config"])
        .arg(&good)
        .output()
        .expect("validate runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "configuration is valid: 1 taps, 1 policies, 1 input streams"
    );
    assert!(!sock.exists(), "the dnstap socket was created");
    for f in [a, b, good] {
        let _ = std::fs::remove_file(f);
    }
}

#[test]
fn print_config_merges_files_redacts_secrets_and_round_trips() {
    let a = temp_file(
        "print-a.yaml",
        r#"visor:
  config: {periods: 3, cp_token: shh}
receivers:
  pcap/lo: {iface: lo, pcap_source: mock}
processors:
  net: {}
exporters:
  otlp: {endpoint: "http://127.0.0.1:4317", headers: {authorization: "Bearer secret-value"}}
  pktvisor_api: {}
service:
  pipelines:
    metrics/edge: {receivers: [pcap/lo], processors: [net], exporters: [otlp, pktvisor_api]}
"#,
    );
    let b = temp_file(
        "print-b.yaml",
        "receivers:\n  pcap/lo: {host_spec: \"127.0.0.0/8\"}\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisord"))
        .args(["print-config", "--config"])
        .arg(&a)
        .arg("--config")
        .arg(&b)
        .output()
        .expect("print-config runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("secret-value") && !text.contains("shh"),
        "{text}"
    );
    assert!(text.contains("<redacted>"), "{text}");
    let y: serde_norway::Value = serde_norway::from_str(&text).expect("YAML");
    assert_eq!(
        y["visor"]["config"]["periods"],
        serde_norway::Value::from(3)
    );
    // the later file's key joins the earlier one's receiver
    assert_eq!(
        y["receivers"]["pcap/lo"]["host_spec"].as_str(),
        Some("127.0.0.0/8")
    );
    assert_eq!(
        y["receivers"]["pcap/lo"]["pcap_source"].as_str(),
        Some("mock")
    );
    let printed = temp_file("print-out.yaml", &text);
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisord"))
        .args(["validate", "--config"])
        .arg(&printed)
        .output()
        .expect("validate runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [a, b, printed] {
        let _ = std::fs::remove_file(f);
    }
}

/// A policy whose handler config is bad is refused before any stream starts: no policy,
/// no `<stream>-resources` policy, and the tap's input is never opened.
#[test]
fn admin_api_rejects_a_bad_handler_config_without_starting_a_stream() {
    let agent = AgentProc::start(&["--admin-api"], None);
    let tap = "version: \"1.0\"\nvisor:\n  taps:\n    m: {input_type: pcap, config: {iface: lo, pcap_source: mock}}\n";
    assert_eq!(
        agent
            .request("POST", "/api/v1/taps", Some(("application/x-yaml", tap)))
            .status,
        201
    );
    let bad = "version: \"1.0\"\nvisor:\n  policies:\n    p:\n      kind: collection\n      input: {tap: m, input_type: pcap}\n      handlers:\n        modules:\n          d: {type: dns, filter: {only_rcode: [NOPE]}}\n";
    let r = agent.request(
        "POST",
        "/api/v1/policies",
        Some(("application/x-yaml", bad)),
    );
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("policy [p] failed to start: "))
    );
    assert_eq!(agent.get("/api/v1/policies").json(), serde_json::json!({}));
    let ready = agent.get("/readyz").json();
    assert_eq!(
        ready["inputs"],
        serde_json::json!([]),
        "no stream was started"
    );
    // the same policy with a good config starts its stream
    let good = bad.replace("only_rcode: [NOPE]", "only_rcode: [NXDOMAIN]");
    let r = agent.request(
        "POST",
        "/api/v1/policies",
        Some(("application/x-yaml", &good)),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let policies = agent.get("/api/v1/policies").json();
    assert_eq!(policies.as_object().map(|o| o.len()), Some(2), "{policies}");
}
