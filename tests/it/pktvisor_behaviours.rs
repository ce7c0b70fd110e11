//! pktvisor behaviours that existing clients depend on, checked against a running
//! pktvisord the way pktvisor's own automation drives it: deep samples counted before the
//! filters (pktvisor-cli scales its shares by that ratio) and pktvisor's error texts.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agent_proc::{AgentProc, temp_file};
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
