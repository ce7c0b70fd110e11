//! pktvisor behaviours that existing clients depend on, checked against a running
//! pktvisord the way pktvisor's own automation drives it: the startup line and the other
//! log lines (without colour codes in a pipe), stream identity by the input config as
//! written (and the deletion rules that follow), policies running when their POST returns,
//! deep samples counted before the filters (pktvisor-cli scales its shares by that ratio)
//! and pktvisor's error texts.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agent_proc::{AgentProc, Netns, need_root, temp_file};
use crate::common::shared_fixtures;

/// GETs `path` until `done` holds or 30 s pass; returns the last body.
fn poll(a: &AgentProc, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = a.get(path);
        let v = if r.status == 200 {
            r.json()
        } else {
            Value::Null
        };
        if done(&v) || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every integer counter below `v` (rates, quantiles and cardinalities excluded).
fn counters(v: &Value, path: &str, out: &mut Vec<(String, u64)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                counters(x, &format!("{path}/{k}"), out);
            }
        }
        Value::Number(n) => {
            if let Some(n) = n.as_u64() {
                out.push((path.to_string(), n));
            }
        }
        _ => {}
    }
}

#[test]
fn deep_samples_are_counted_before_the_filters() {
    let Some(dir) = shared_fixtures() else { return };
    let pcap = dir.join("dns_udp_tcp_random.pcap");
    let dnstap = dir.join("fixture.dnstap");
    let cfg = temp_file(
        "deep-samples.yaml",
        &format!(
            r#"version: "1.0"
visor:
  taps:
    capture: {{input_type: pcap, config: {{pcap_file: "{}"}}}}
    recording: {{input_type: dnstap, config: {{dnstap_file: "{}"}}}}
  policies:
    qtype:
      kind: collection
      input: {{tap: capture, input_type: pcap}}
      handlers:
        modules:
          v1: {{type: dns, config: {{only_qtype: [AAAA, TXT]}}}}
    qtype2:
      kind: collection
      input: {{tap: capture, input_type: pcap}}
      handlers:
        modules:
          v2: {{type: dns, require_version: "2.0", config: {{only_qtype: [AAAA, TXT]}}}}
    auth:
      kind: collection
      input: {{tap: recording, input_type: dnstap}}
      handlers:
        modules:
          v1: {{type: dns, config: {{dnstap_msg_type: auth}}}}
          v2: {{type: dns, require_version: "2.0", config: {{dnstap_msg_type: auth}}}}
"#,
            pcap.display(),
            dnstap.display()
        ),
    );
    let a = AgentProc::start(&["--config", cfg.to_str().unwrap()], None);
    // The sum of a counter over every bucket a recording filled.
    let summed = |policy: &str, handler: &str, want: u64, events: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut buckets = Vec::new();
            for i in 0..5 {
                let r = a.get(&format!("/api/v1/policies/{policy}/metrics/bucket/{i}"));
                if r.status != 200 {
                    break;
                }
                buckets.push(r.json()[policy][handler].clone());
            }
            let n: u64 = buckets
                .iter()
                .filter_map(|b| b.pointer(events).and_then(Value::as_u64))
                .sum();
            if n == want || Instant::now() > deadline {
                return buckets;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let bucket = |policy: &str, handler: &str, events: &str, want: u64| {
        let v = poll(
            &a,
            &format!("/api/v1/policies/{policy}/metrics/bucket/0"),
            |v| v[policy][handler].pointer(events).and_then(Value::as_u64) == Some(want),
        );
        v[policy][handler].clone()
    };

    // dns v1: 5851 DNS messages, every one an event and a deep sample; 3755 filtered.
    let v1 = bucket(
        "qtype",
        "qtype-capture-v1",
        "/dns/wire_packets/events",
        5851,
    );
    let w = &v1["dns"]["wire_packets"];
    assert_eq!(w["events"], 5851, "{v1}");
    assert_eq!(w["deep_samples"], 5851, "{v1}");
    assert_eq!(w["filtered"], 3755, "{v1}");
    assert_eq!(w["total"], 2096, "{v1}");

    // dns v2: the same under its own names.
    let v2 = bucket("qtype2", "qtype2-capture-v2", "/dns/observed_packets", 5851);
    assert_eq!(v2["dns"]["observed_packets"], 5851, "{v2}");
    assert_eq!(v2["dns"]["deep_sampled_packets"], 5851, "{v2}");

    // dnstap_msg_type auth on a resolver's recording: 153 events and samples, and
    // nothing else counted (every other counter 0).
    for (handler, events, samples) in [
        (
            "auth-recording-v1",
            "/dns/wire_packets/events",
            "/dns/wire_packets/deep_samples",
        ),
        (
            "auth-recording-v2",
            "/dns/observed_packets",
            "/dns/deep_sampled_packets",
        ),
    ] {
        let buckets = summed("auth", handler, 153, events);
        let sum = |p: &str| -> u64 {
            buckets
                .iter()
                .filter_map(|b| b.pointer(p).and_then(Value::as_u64))
                .sum()
        };
        assert_eq!(sum(events), 153, "{buckets:?}");
        assert_eq!(sum(samples), 153, "{buckets:?}");
        let mut all = Vec::new();
        for b in &buckets {
            counters(&b["dns"], "/dns", &mut all);
        }
        let skip = |p: &str| {
            p == events
                || p == samples
                || p.ends_with("filtered")
                || p.ends_with("filtered_packets")
                || p.contains("/rates/")
                || p.contains("/period/")
        };
        let nonzero: Vec<_> = all.iter().filter(|(p, n)| *n != 0 && !skip(p)).collect();
        assert!(
            nonzero.is_empty(),
            "{handler}: only events and samples count: {nonzero:?}"
        );
    }
}

#[test]
fn invalid_dnstap_msg_type_is_refused_with_pktvisors_text() {
    let want = "DnsStreamHandler: dnstap_msg_type contained an invalid/unsupported type. \
                Valid types: auth, client, forwarder, resolver, stub, tool, update";
    let a = AgentProc::start(&["--admin-api"], None);
    for version in ["1.0", "2.0"] {
        let v = &version[..1];
        let tap = format!(
            "version: \"1.0\"\nvisor:\n  taps:\n    t{v}: {{input_type: dnstap, config: {{socket: \"/nonexistent-dir/x.sock\"}}}}\n"
        );
        let r = a.request("POST", "/api/v1/taps", Some(("application/x-yaml", &tap)));
        assert_eq!(r.status, 201, "{}", r.body);
        let policy = format!(
            r#"version: "1.0"
visor:
  policies:
    p{v}:
      kind: collection
      input: {{tap: t{v}, input_type: dnstap}}
      handlers:
        modules:
          d: {{type: dns, require_version: "{version}", config: {{dnstap_msg_type: bogus}}}}
"#
        );
        let r = a.request(
            "POST",
            "/api/v1/policies",
            Some(("application/x-yaml", &policy)),
        );
        assert_eq!(r.status, 500, "{}", r.body);
        // Handler errors surface as pktvisor's policy start failure.
        assert_eq!(
            r.json()["error"],
            format!("policy [p{v}] failed to start: {want}"),
            "v{version}"
        );
        // Nothing of the refused policy keeps running.
        let all = a.get("/api/v1/policies").json();
        assert!(all.get(format!("p{v}")).is_none(), "{all}");
    }
}

/// Every `running` of a policy's inputs in a `/api/v1/policies` body.
fn inputs_running(policies: &Value, policy: &str) -> Vec<bool> {
    policies[policy]["input"]
        .as_object()
        .map(|m| {
            m.values()
                .map(|i| i["input"]["running"].as_bool().unwrap_or(false))
                .collect()
        })
        .unwrap_or_default()
}

fn policy_names(a: &AgentProc) -> Vec<String> {
    let v = a.get("/api/v1/policies").json();
    let mut names: Vec<String> = v
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn post_yaml(a: &AgentProc, path: &str, body: &str) -> crate::agent_proc::Resp {
    a.request("POST", path, Some(("application/x-yaml", body)))
}

#[test]
fn a_policy_without_input_config_on_the_iface_tap_gets_its_own_stream() {
    if !need_root("live capture in a network namespace") {
        return;
    }
    let ns = Netns::new("ident");
    let a = AgentProc::start(&["--admin-api", "veth1"], Some(&ns.name));
    assert_eq!(
        policy_names(&a).len(),
        2,
        "default and its resources policy"
    );
    // No input config: pktvisor keys the stream by the config as written, and the IFACE
    // default policy's input says `bpf: ""`.
    let r = post_yaml(
        &a,
        "/api/v1/policies",
        "version: \"1.0\"\nvisor:\n  policies:\n    mine:\n      kind: collection\n      input: {tap: default, input_type: pcap}\n      handlers: {modules: {n: {type: net}}}\n",
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let names = policy_names(&a);
    assert_eq!(names.len(), 4, "{names:?}");
    let resources: Vec<&String> = names.iter().filter(|n| n.ends_with("-resources")).collect();
    assert_eq!(resources.len(), 2, "{names:?}");
    let all = a.get("/api/v1/policies").json();
    let stream_of = |p: &str| -> String {
        all[p]["input"]
            .as_object()
            .and_then(|m| m.keys().next().cloned())
            .unwrap_or_default()
    };
    let mine = stream_of("mine");
    assert_ne!(mine, stream_of("default"), "separate streams");

    // The same input config as the default policy's (bpf "") shares its stream.
    let r = post_yaml(
        &a,
        "/api/v1/policies",
        "version: \"1.0\"\nvisor:\n  policies:\n    shared:\n      kind: collection\n      input: {tap: default, input_type: pcap, config: {bpf: \"\"}}\n      handlers: {modules: {n: {type: net}}}\n",
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(policy_names(&a).len(), 5);
    assert_eq!(stream_of_now(&a, "shared"), stream_of("default"));

    // Deleting a resources policy removes only it while another policy uses the stream.
    let mine_resources = format!("{mine}-resources");
    assert_eq!(
        a.request(
            "DELETE",
            &format!("/api/v1/policies/{mine_resources}"),
            None
        )
        .status,
        200
    );
    let names = policy_names(&a);
    assert!(
        !names.contains(&mine_resources) && names.contains(&"mine".to_string()),
        "{names:?}"
    );
    assert_eq!(
        inputs_running(&a.get("/api/v1/policies").json(), "mine"),
        vec![true]
    );
    // Deleting the last policy of that stream removes the stream (nothing left on it).
    assert_eq!(
        a.request("DELETE", "/api/v1/policies/mine", None).status,
        200
    );
    assert_eq!(policy_names(&a).len(), 3, "{:?}", policy_names(&a));
    // Deleting a policy whose stream another policy shares keeps the stream running.
    assert_eq!(
        a.request("DELETE", "/api/v1/policies/shared", None).status,
        200
    );
    let all = a.get("/api/v1/policies").json();
    assert_eq!(inputs_running(&all, "default"), vec![true], "{all}");
    assert_eq!(policy_names(&a).len(), 2);
    // The default policy last: its resources policy goes with its stream.
    assert_eq!(
        a.request("DELETE", "/api/v1/policies/default", None).status,
        200
    );
    assert!(policy_names(&a).is_empty(), "{:?}", policy_names(&a));
}

fn stream_of_now(a: &AgentProc, policy: &str) -> String {
    a.get("/api/v1/policies").json()[policy]["input"]
        .as_object()
        .and_then(|m| m.keys().next().cloned())
        .unwrap_or_default()
}

#[test]
fn a_created_policy_is_running_when_the_post_returns() {
    if !need_root("live capture in a network namespace") {
        return;
    }
    let ns = Netns::new("sync");
    let a = AgentProc::start(&["--admin-api"], Some(&ns.name));
    for round in 0..3 {
        // A freshly created interface, a tap on it and a policy, then a GET at once.
        let (dev, peer) = (format!("fresh{round}a"), format!("fresh{round}b"));
        let out = ns.exec(&[
            "ip", "link", "add", &dev, "type", "veth", "peer", "name", &peer,
        ]);
        assert!(out.status.success());
        assert!(ns.exec(&["ip", "link", "set", &dev, "up"]).status.success());
        let tap = format!("t{round}");
        let r = post_yaml(
            &a,
            "/api/v1/taps",
            &format!(
                "version: \"1.0\"\nvisor:\n  taps:\n    {tap}: {{input_type: pcap, config: {{iface: {dev}}}}}\n"
            ),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let policy = format!("p{round}");
        let r = post_yaml(
            &a,
            "/api/v1/policies",
            &format!(
                "version: \"1.0\"\nvisor:\n  policies:\n    {policy}:\n      kind: collection\n      input: {{tap: {tap}, input_type: pcap}}\n      handlers: {{modules: {{n: {{type: net}}}}}}\n"
            ),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(inputs_running(&r.json(), &policy), vec![true], "{}", r.body);
        let all = a.get("/api/v1/policies").json();
        assert_eq!(inputs_running(&all, &policy), vec![true], "{all}");
    }
    // A tap on an interface gone by the time the policy comes: the POST fails with the
    // input's error and leaves nothing behind.
    let out = ns.exec(&[
        "ip", "link", "add", "gone0", "type", "veth", "peer", "name", "gone1",
    ]);
    assert!(out.status.success());
    let r = post_yaml(
        &a,
        "/api/v1/taps",
        "version: \"1.0\"\nvisor:\n  taps:\n    gone: {input_type: pcap, config: {iface: gone0}}\n",
    );
    assert!(ns.exec(&["ip", "link", "del", "gone0"]).status.success());
    assert_eq!(r.status, 201, "{}", r.body);
    let before = policy_names(&a);
    let r = post_yaml(
        &a,
        "/api/v1/policies",
        "version: \"1.0\"\nvisor:\n  policies:\n    broken:\n      kind: collection\n      input: {tap: gone, input_type: pcap}\n      handlers: {modules: {n: {type: net}}}\n",
    );
    assert_eq!(r.status, 500, "{}", r.body);
    let e = r.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(e.starts_with("policy [broken] failed to start: "), "{e}");
    assert_eq!(policy_names(&a), before);
}

#[test]
fn logs_match_pktvisors_lines_and_carry_no_colour_when_piped() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let port = crate::agent_proc::free_port();
    // No -l: pktvisor's line names the default host, localhost.
    let mut child = Command::new(env!("CARGO_BIN_EXE_pktvisord"))
        .args(["--admin-api", "-p", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pktvisord");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for pipe in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    // Wait for the startup line as pktvisor's automation does, then talk to the agent.
    let want = format!("web server listening on localhost:{port}");
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log.iter().any(|l: &String| l.contains(&want)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => log.push(l),
            Err(_) => panic!("no startup line {want:?} in {log:#?}"),
        }
    }
    let a = AgentProc {
        child,
        port,
        netns: None,
    };
    let tap = "version: \"1.0\"\nvisor:\n  taps:\n    synth: {input_type: pcap, config: {pcap_source: mock, iface: mock}}\n";
    let r = post_yaml(&a, "/api/v1/taps", tap);
    assert_eq!(r.status, 201, "{}", r.body);
    let policy = "version: \"1.0\"\nvisor:\n  policies:\n    synthetic:\n      kind: collection\n      input: {tap: synth, input_type: pcap}\n      handlers: {modules: {n: {type: net}}}\n";
    let r = post_yaml(&a, "/api/v1/policies", policy);
    assert_eq!(r.status, 201, "{}", r.body);
    // a second policy on the same stream: deleting the first leaves the stream running
    let r = post_yaml(
        &a,
        "/api/v1/policies",
        &policy.replace("synthetic", "second"),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    for p in ["synthetic", "second"] {
        let path = format!("/api/v1/policies/{p}");
        assert_eq!(a.request("DELETE", &path, None).status, 200);
    }
    let mut a = a;
    let status = a.terminate(Duration::from_secs(20)).expect("agent stops");
    assert!(status.success(), "{status}");
    log.extend(rx.iter());
    let text = log.join("\n");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in piped logs: {text}"
    );
    let stream = text
        .lines()
        .find_map(|l| l.split_once("policy [synthetic]: creating input stream: "))
        .map(|(_, s)| s.trim().to_string())
        .unwrap_or_else(|| panic!("no input stream line: {text}"));
    for line in [
        "tap [synth]: parsing".to_string(),
        "tap [synth]: loaded, type pcap".to_string(),
        "policy [synthetic]: parsing".to_string(),
        format!("policy [{stream}-resources]: starting"),
        "policy [synthetic]: starting".to_string(),
        "policy [synthetic]: stopping".to_string(),
        "REQUEST: POST /api/v1/policies 201".to_string(),
        "Shutting down".to_string(),
        "exit with success".to_string(),
        format!(
            "policy [synthetic]: input instance {stream} not stopped because it is in use by another policy."
        ),
    ] {
        assert!(text.contains(&line), "missing {line:?} in:\n{text}");
    }
    // the last policy's deletion stops the stream: no such line for it
    assert!(
        !text.contains("policy [second]: input instance"),
        "the stream of the last policy was kept:\n{text}"
    );
}
