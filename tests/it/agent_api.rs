//! pktvisord's REST API route by route (reference §9) against a real agent process fed by
//! its mock source: admin create/get/delete of taps and policies with YAML and JSON bodies,
//! every error text and code, stream sharing and reference counting, the legacy and
//! Prometheus endpoints (checked by `promtool`), command-line errors and signals.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::agent_proc::{AgentProc, temp_file};

const MOCK_TAP: &str = "version: \"1.0\"\nvisor:\n  taps:\n    mock:\n      input_type: pcap\n      config: {iface: lo, pcap_source: mock}\n      tags: {virtual: true, vhost: 1}\n";

fn policy_yaml(name: &str, tap: &str) -> String {
    format!(
        "version: \"1.0\"\nvisor:\n  policies:\n    {name}:\n      kind: collection\n      input: {{tap: {tap}, input_type: pcap}}\n      handlers:\n        window_config: {{num_periods: 5, deep_sample_rate: 100}}\n        modules:\n          net: {{type: net}}\n          dns: {{type: dns}}\n"
    )
}

fn have_curl() -> bool {
    pktvisor::testdata::have_tool("curl", "curl")
}

#[test]
fn admin_routes_do_not_exist_without_admin_api() {
    if !have_curl() {
        return;
    }
    let cfg = temp_file(
        "noadmin.yaml",
        &format!(
            "{MOCK_TAP}{}",
            &policy_yaml("default", "mock")["version: \"1.0\"\nvisor:\n".len()..]
        ),
    );
    let a = AgentProc::start(&["--config", cfg.to_str().unwrap()], None);
    assert_eq!(
        a.request(
            "POST",
            "/api/v1/taps",
            Some(("application/x-yaml", MOCK_TAP))
        )
        .status,
        404
    );
    assert_eq!(
        a.request("DELETE", "/api/v1/policies/default", None).status,
        404
    );
    assert_eq!(a.request("DELETE", "/api/v1/server", None).status, 404);
    assert_eq!(a.get("/api/v1/policies/default").status, 200);
    assert_eq!(a.get("/no/such/route").status, 404);
}

#[test]
fn taps_and_policies_lifecycle_with_every_error() {
    if !have_curl() {
        return;
    }
    let mut a = AgentProc::start(&["--admin-api"], None);
    // No taps yet: pktvisor's body is `null`.
    let r = a.get("/api/v1/taps");
    assert_eq!(
        (r.status, r.body.as_str(), r.content_type.as_str()),
        (200, "null", "text/json")
    );

    let yaml = "application/x-yaml";
    let r = a.request("POST", "/api/v1/taps", Some((yaml, MOCK_TAP)));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["mock"]["input_type"], "pcap");
    assert_eq!(r.json()["mock"]["tags"]["vhost"], 1);
    let r = a.request("POST", "/api/v1/taps", Some((yaml, MOCK_TAP)));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (409, Some("module name 'mock' already exists"))
    );
    let json_tap = r#"{"version":"1.0","visor":{"taps":{"mock2":{"input_type":"pcap","config":{"iface":"lo","pcap_source":"mock"}}}}}"#;
    let r = a.request("POST", "/api/v1/taps", Some(("application/json", json_tap)));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["mock2"]["tags"], Value::Null);

    let cases: &[(&str, &str, u16, &str)] = &[
        ("", MOCK_TAP, 400, "must include Content-Type header"),
        ("text/plain", MOCK_TAP, 400, "Content-Type not supported"),
        (yaml, " ", 500, "empty data"),
        (yaml, "- a\n- b\n", 500, "invalid schema"),
        (
            yaml,
            "version: \"2.0\"\nvisor: {}\n",
            500,
            "unsupported version",
        ),
        (
            yaml,
            "version: \"1.0\"\nvisor: {policies: {}}\n",
            500,
            "no taps found in schema",
        ),
        (
            yaml,
            "visor:\n  taps:\n    a: {input_type: pcap}\n    b: {input_type: pcap}\n",
            500,
            "only a single tap expected but got 2",
        ),
        (
            yaml,
            "visor:\n  taps:\n    c: {input_type: carrier_pigeon}\n",
            500,
            "Tap 'c' requires input stream type 'carrier_pigeon' which is not available",
        ),
    ];
    for (ct, body, status, msg) in cases {
        let r = a.request("POST", "/api/v1/taps", Some((ct, body)));
        assert_eq!(r.status, *status, "{body}: {}", r.body);
        assert_eq!(r.json()["error"], *msg, "{body}");
    }

    // Policies: errors first.
    let selector = "visor:\n  policies:\n    p:\n      kind: collection\n      input:\n        tap_selector: {any: [{vhost: 9}]}\n        input_type: pcap\n      handlers: {modules: {n: {type: net}}}\n";
    let r = a.request("POST", "/api/v1/policies", Some((yaml, selector)));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (
            422,
            Some("no tap match found for specified 'input.tap_selector' tags")
        )
    );
    let r = a.request(
        "POST",
        "/api/v1/policies",
        Some((yaml, &policy_yaml("p", "nope"))),
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (500, Some("tap 'nope' does not exist"))
    );
    let r = a.request(
        "POST",
        "/api/v1/policies",
        Some((yaml, "version: \"1.0\"\nvisor: {taps: {}}\n")),
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (500, Some("no policies found in schema"))
    );
    let bad_module =
        policy_yaml("p", "mock").replace("type: dns", "type: dns, require_version: \"9.0\"");
    let r = a.request("POST", "/api/v1/policies", Some((yaml, &bad_module)));
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(
        r.json()["error"],
        "Policy 'p' requires stream handler type 'dns' and version '9.0' which is not available"
    );
    let r = a.request("GET", "/api/v1/policies", None);
    assert_eq!(
        r.json(),
        serde_json::json!({}),
        "a failed create leaves nothing behind"
    );

    // Two policies on the same tap share one input stream.
    let r = a.request(
        "POST",
        "/api/v1/policies",
        Some((yaml, &policy_yaml("p1", "mock"))),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let info = r.json();
    let input_name = info["p1"]["input"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    assert!(input_name.starts_with("mock-"), "{input_name}");
    assert!(info["p1"]["modules"]["p1-mock-net"]["module"]["config"]["num_periods"].is_number());
    assert_eq!(info["p1"]["taps"]["mock"]["input_type"], "pcap");
    let r = a.request(
        "POST",
        "/api/v1/policies",
        Some((yaml, &policy_yaml("p1", "mock"))),
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (409, Some("policy with name 'p1' already defined"))
    );
    let json_policy = r#"{"visor":{"policies":{"p2":{"kind":"collection","input":{"tap_selector":{"all":[{"virtual":true}]},"input_type":"pcap"},"handlers":{"modules":{"d":{"type":"dns","require_version":"2.0"}}}}}}}"#;
    let r = a.request(
        "POST",
        "/api/v1/policies",
        Some(("application/json", json_policy)),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let all = a.get("/api/v1/policies").json();
    let resources = format!("{input_name}-resources");
    let names: Vec<&String> = all.as_object().unwrap().keys().collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(all.get(&resources).is_some(), "{names:?}");
    assert!(all[&resources].get("taps").is_none());
    assert_eq!(all["p2"]["input"][&input_name]["input"]["consumers"], 3);
    assert_eq!(
        all["p2"]["input"][&input_name]["pcap"]["pcap_source"],
        "mock"
    );

    // Metrics of a policy: bucket, window and pktvisor's period errors (425).
    std::thread::sleep(Duration::from_millis(1500));
    let r = a.get("/api/v1/policies/p1/metrics/bucket/0");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert!(
        v["p1"]["p1-mock-dns"]["dns"]["wire_packets"]["total"]
            .as_u64()
            .unwrap()
            > 0,
        "{v}"
    );
    assert!(v["p1"]["p1-mock-net"]["packets"]["total"].as_u64().unwrap() > 0);
    for (path, msg) in [
        (
            "/api/v1/policies/p1/metrics/bucket/9",
            "invalid metrics period, specify [0, 4]",
        ),
        (
            "/api/v1/policies/p1/metrics/bucket/3",
            "requested metrics period has not yet accumulated, current range is [0, 0]",
        ),
        (
            "/api/v1/policies/p1/metrics/window/1",
            "invalid metrics period, specify [2, 5]",
        ),
    ] {
        let r = a.get(path);
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (425, Some(msg)),
            "{path}"
        );
    }
    let r = a.get("/api/v1/policies/nope/metrics/bucket/0");
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("policy does not exist"))
    );
    let v = a.get("/api/v1/policies/__all/metrics/window/2").json();
    assert!(
        v["p2"]["p2-mock-d"]["dns"]["in"].is_object() || v["p2"]["p2-mock-d"]["dns"].is_object(),
        "{v}"
    );
    assert!(
        v[&resources][&resources]["input_resources"]["total"]
            .as_u64()
            .unwrap()
            > 0,
        "{v}"
    );
    assert_eq!(
        v[&resources][&resources]["input_resources"]["policy_count"],
        2
    );
    assert_eq!(
        v[&resources][&resources]["input_resources"]["handler_count"],
        3
    );
    assert_eq!(a.get("/api/v1/policies/p1/metrics/bucket/x").status, 404);

    let r = a.get("/api/v1/policies/p1/metrics/prometheus");
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("text/plain"));
    assert!(r.body.contains("handler=\"p1-mock-dns\""), "{}", r.body);
    let r = a.get("/api/v1/policies/nope/metrics/prometheus");
    assert_eq!((r.status, r.body.as_str()), (404, "policy does not exists"));
    // No policy named default: the legacy routes say so.
    let r = a.get("/api/v1/metrics/bucket/0");
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("no \"default\" policy exists"))
    );
    assert_eq!(a.get("/metrics").status, 404);

    // Reference counting: the stream lives while a policy uses it.
    let r = a.request("DELETE", "/api/v1/policies/p1", None);
    assert_eq!((r.status, r.body.as_str()), (200, "{}"));
    let all = a.get("/api/v1/policies").json();
    assert_eq!(all.as_object().unwrap().len(), 2);
    assert_eq!(all["p2"]["input"][&input_name]["input"]["consumers"], 2);
    let r = a.request("DELETE", "/api/v1/policies/p1", None);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("policy does not exists"))
    );
    assert_eq!(a.request("DELETE", "/api/v1/policies/p2", None).status, 200);
    assert_eq!(
        a.get("/api/v1/policies").json(),
        serde_json::json!({}),
        "stream and resources policy removed"
    );
    let r = a.get("/readyz");
    assert_eq!(r.status, 200);

    // Taps.
    let r = a.get("/api/v1/taps/mock");
    assert_eq!(r.json()["mock"]["config"]["pcap_source"], "mock");
    assert_eq!(a.request("DELETE", "/api/v1/taps/mock", None).status, 200);
    let r = a.request("DELETE", "/api/v1/taps/mock", None);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("tap does not exists"))
    );
    let r = a.get("/api/v1/taps/mock");
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("tap does not exists"))
    );
    assert_eq!(a.get("/api/v1/taps/9bad").status, 404);

    // The server stops on request and the process exits with success.
    assert_eq!(a.request("DELETE", "/api/v1/server", None).status, 200);
    let st = a.terminate(Duration::from_secs(5)).expect("agent exits");
    assert!(st.success(), "{st}");
}

#[test]
fn default_policy_serves_legacy_routes_and_prometheus() {
    if !have_curl() || !pktvisor::testdata::have_tool("promtool", "prometheus") {
        return;
    }
    let cfg = temp_file(
        "legacy.yaml",
        &format!(
            "{MOCK_TAP}{}",
            &policy_yaml("default", "mock")["version: \"1.0\"\nvisor:\n".len()..]
        ),
    );
    let mut a = AgentProc::start(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--prom-instance",
            "node7",
        ],
        None,
    );
    std::thread::sleep(Duration::from_millis(1200));
    let v = a.get("/api/v1/metrics/bucket/0").json();
    let one = &v["1m"];
    assert!(one["packets"]["total"].as_u64().unwrap() > 0, "{v}");
    assert!(one["dns"]["wire_packets"]["total"].as_u64().unwrap() > 0);
    assert_eq!(one["period"], one["packets"]["period"], "hoisted period");
    let v = a.get("/api/v1/metrics/window/3").json();
    assert!(v["3m"]["packets"].is_object(), "{v}");
    assert!(v["3m"].get("period").is_none());
    let r = a.get("/api/v1/metrics/window/1");
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (500, Some("invalid metrics period, specify [2, 5]"))
    );
    let app = a.get("/api/v1/metrics/app").json();
    assert_eq!(app["app"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(app["app"]["up_time_min"].as_f64().unwrap() >= 0.0);
    let rates = a.get("/api/v1/metrics/rates").json();
    assert_eq!(rates["packets"]["in"], 0);

    let r = a.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .contains("packets_total{instance=\"node7\",policy=\"default\",tap=\"mock\"}"),
        "{}",
        &r.body[..2000.min(r.body.len())]
    );
    assert!(
        !r.body.contains("handler=\"default-mock-net\""),
        "/metrics has no handler label"
    );
    assert!(r.body.contains("pktvisord_input_packets{"));
    let prom = temp_file("metrics.txt", &r.body);
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("promtool check metrics < {}", prom.display()))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // 0 = clean, 3 = lint findings only; 1 = the exposition does not parse.
    assert!(
        matches!(out.status.code(), Some(0) | Some(3)),
        "promtool: {text}"
    );
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        // pktvisor's gauge names end in _total; that lint is expected.
        assert!(
            line.contains("non-counter metrics should not have \"_total\" suffix"),
            "promtool: {line}"
        );
    }

    let st = a
        .terminate(Duration::from_secs(5))
        .expect("SIGTERM stops the agent within 5 s");
    assert!(st.success(), "{st}");
}

#[test]
fn sighup_reloads_and_keeps_running_config_on_error() {
    if !have_curl() {
        return;
    }
    let body = &policy_yaml("first", "mock")["version: \"1.0\"\nvisor:\n".len()..];
    let cfg = temp_file("reload.yaml", &format!("{MOCK_TAP}{body}"));
    let a = AgentProc::start(&["--config", cfg.to_str().unwrap()], None);
    assert_eq!(a.get("/api/v1/policies/first").status, 200);
    let hup = || {
        Command::new("kill")
            .args(["-HUP", &a.child.id().to_string()])
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_millis(800));
    };
    let second = &policy_yaml("second", "mock")["version: \"1.0\"\nvisor:\n".len()..];
    std::fs::write(&cfg, format!("{MOCK_TAP}{second}")).unwrap();
    hup();
    assert_eq!(a.get("/api/v1/policies/second").status, 200);
    assert_eq!(a.get("/api/v1/policies/first").status, 404);
    std::fs::write(&cfg, "visor:\n  policies:\n    third: {kind: nonsense}\n").unwrap();
    hup();
    assert_eq!(
        a.get("/api/v1/policies/second").status,
        200,
        "bad file keeps the running config"
    );
    assert_eq!(a.get("/api/v1/policies/third").status, 404);
}

#[test]
fn command_line_errors_and_usage() {
    let bin = env!("CARGO_BIN_EXE_pktvisord");
    let out = Command::new(bin).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: pktvisord"));
    let out = Command::new(bin).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("pktvisor 4.5.0"));
    let out = Command::new(bin).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    // pktvisor's accepted-and-ignored flags are hidden from --help (issue 15) but accepted.
    assert!(
        help.contains("pktvisor compatibility:") && !help.contains("--cp-token"),
        "{help}"
    );
    let out = Command::new(bin).arg("--module-list").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("handler: dns version 2.0") && text.contains("input: pcap version 1.0"),
        "{text}"
    );

    let bad = temp_file(
        "bad.yaml",
        "visor:\n  config: {port: nope}\n  taps:\n    t: {input_type: pcap, config: {iface: lo, pcap_source: mock}}\n  policies:\n    a: {kind: collection, input: {tap: zz, input_type: pcap}, handlers: {modules: {n: {type: net}}}}\n",
    );
    let out = Command::new(bin)
        .args(["--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("visor.config.port"), "{err}");
    let bad2 = temp_file(
        "bad2.yaml",
        "visor:\n  taps:\n    t: {input_type: pcap, config: {iface: lo, pcap_source: mock}}\n  policies:\n    a: {kind: collection, input: {tap: zz, input_type: pcap}, handlers: {modules: {n: {type: net}}}}\n    b: {kind: collection, input: {tap: t, input_type: dnstap}, handlers: {modules: {n: {type: net}}}}\n",
    );
    let out = Command::new(bin)
        .args(["--config", bad2.to_str().unwrap(), "-p", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("visor.policies.a: tap 'zz' does not exist"),
        "{err}"
    );
    assert!(err.contains("visor.policies.b: input_type for policy specified tap 't' doesn't match tap's defined input type: dnstap/pcap"), "{err}");
    let out = Command::new(bin)
        .args(["--tls", "-p", "1", "--admin-api"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("you must specify --tls-key and --tls-cert to use --tls")
    );
    let out = Command::new(bin).args(["-p", "1"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("Nothing to do"));
}

#[test]
fn serves_https_with_rustls() {
    if !have_curl() || !pktvisor::testdata::have_tool("openssl", "openssl") {
        return;
    }
    let key = crate::agent_proc::temp_path("tls.key");
    let cert = crate::agent_proc::temp_path("tls.crt");
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let port = crate::agent_proc::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pktvisord"))
        .args([
            "--admin-api",
            "--tls",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ])
        .args(["-l", "127.0.0.1", "-p", &port.to_string()])
        .spawn()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}/api/v1/metrics/app");
    let mut body = String::new();
    for _ in 0..100 {
        let out = Command::new("curl")
            .args(["-s", "--cacert", cert.to_str().unwrap(), &url])
            .output()
            .unwrap();
        body = String::from_utf8_lossy(&out.stdout).to_string();
        if !body.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    assert_eq!(v["app"]["version"], env!("CARGO_PKG_VERSION"));
    // A bad certificate file is refused with pktvisor's message.
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisord"))
        .args([
            "--admin-api",
            "--tls",
            "--tls-cert",
            key.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ])
        .args([
            "-l",
            "127.0.0.1",
            "-p",
            &crate::agent_proc::free_port().to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid TLS configuration"));
}
