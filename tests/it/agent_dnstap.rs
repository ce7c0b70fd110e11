//! pktvisord's dnstap taps with a real Frame Streams sender: `fstrm_replay` (fstrm-bin)
//! replays recordings into the agent's unix socket and TCP listener at full speed; every
//! message must be counted, and the dns/net counters must equal the reader's on the same
//! recording.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agent_proc::{AgentProc, free_port, temp_file, temp_path};
use crate::common::{own_fixture, shared_fixtures};

fn reader_dnstap(file: &std::path::Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"))
        .args(["-i", "dnstap", "--periods", "1"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn replay(args: &[&str]) {
    let out = Command::new("fstrm_replay")
        .args(["-t", "protobuf:dnstap.Dnstap"])
        .args(args)
        .output()
        .expect("fstrm_replay");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn handler(a: &AgentProc, policy: &str, handler: &str) -> Value {
    let v = a
        .get(&format!("/api/v1/policies/{policy}/metrics/bucket/0"))
        .json();
    v[policy][handler].clone()
}

fn wait_total(a: &AgentProc, policy: &str, h: &str, want: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = handler(a, policy, h);
        if v["dns"]["wire_packets"]["total"].as_u64() == Some(want) || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn dnstap_socket_and_tcp_taps_count_every_message() {
    use pktvisor::testdata::have_tool;
    if !have_tool("fstrm_replay", "fstrm-bin") || !have_tool("curl", "curl") {
        return;
    }
    let files = [
        own_fixture("dnstap/unbound.dnstap"),
        shared_fixtures()
            .expect("shared fixtures")
            .join("fixture.dnstap"),
    ];
    let sock = temp_path("agent-dnstap.sock");
    let tcp_port = free_port();
    let cfg = temp_file(
        "dnstap.yaml",
        &format!(
            "visor:\n  taps:\n    resolver: {{input_type: dnstap, config: {{socket: \"{}\"}}}}\n    remote: {{input_type: dnstap, config: {{tcp: \"127.0.0.1:{tcp_port}\"}}}}\n  policies:\n    unix:\n      kind: collection\n      input: {{tap: resolver, input_type: dnstap}}\n      handlers: {{modules: {{net: {{type: net}}, dns: {{type: dns}}}}}}\n    tcp:\n      kind: collection\n      input: {{tap: remote, input_type: dnstap}}\n      handlers: {{modules: {{dns: {{type: dns}}}}}}\n",
            sock.display()
        ),
    );
    let a = AgentProc::start(&["--config", cfg.to_str().unwrap()], None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.get("/readyz").status != 200 {
        assert!(Instant::now() < deadline, "dnstap listeners not ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let truth: Vec<Value> = files.iter().map(|f| reader_dnstap(f)).collect();
    let sum = |path: &str| -> u64 {
        truth
            .iter()
            .map(|t| t["1m"].pointer(path).and_then(Value::as_u64).unwrap_or(0))
            .sum()
    };
    for f in &files {
        replay(&["-r", f.to_str().unwrap(), "-u", sock.to_str().unwrap()]);
        replay(&[
            "-r",
            f.to_str().unwrap(),
            "-a",
            "127.0.0.1",
            "-p",
            &tcp_port.to_string(),
        ]);
    }
    let want = sum("/dns/wire_packets/total");
    assert!(want > 200, "recordings hold messages");
    for (policy, h) in [("unix", "unix-resolver-dns"), ("tcp", "tcp-remote-dns")] {
        let v = wait_total(&a, policy, h, want);
        for path in [
            "/dns/wire_packets/total",
            "/dns/wire_packets/queries",
            "/dns/wire_packets/replies",
            "/dns/wire_packets/noerror",
            "/dns/wire_packets/nxdomain",
            "/dns/wire_packets/srvfail",
            "/dns/wire_packets/udp",
            "/dns/wire_packets/tcp",
            "/dns/wire_packets/ipv4",
            "/dns/wire_packets/ipv6",
        ] {
            assert_eq!(
                v.pointer(path).and_then(Value::as_u64),
                Some(sum(path)),
                "{policy} {path}"
            );
        }
    }
    let net = handler(&a, "unix", "unix-resolver-net");
    assert_eq!(
        net["packets"]["total"].as_u64(),
        Some(sum("/packets/total"))
    );
    // The input's info carries the listener's counters.
    let info = a.get("/api/v1/policies/unix").json();
    let input = info["unix"]["input"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(input["dnstap"]["messages"].as_u64(), Some(want), "{input}");
    assert_eq!(
        input["dnstap"]["dropped_messages"].as_u64(),
        Some(0),
        "{input}"
    );
}
