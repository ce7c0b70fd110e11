//! The agent under attack and fault (issue 18), against real pktvisord processes: each
//! problem found by probing it as a hostile network and a careless operator would is
//! reproduced here and shown fixed.
//!
//! 1. a reload that fails keeps every running policy and its counters; an identical reload
//!    touches nothing; a changed policy is replaced; a changed port is reported;
//! 2. sFlow agents by the hundred thousand stay within the flow handler's device bound
//!    (RSS grows < 64 MiB, refusals counted), undecodable datagrams create no device, and a
//!    large window does not hold up `/readyz`;
//! 3. a NetFlow v9 template flood stays within the template byte budget, in the agent and
//!    in the reader;
//! 4. the admin API can be locked with a token; a non-loopback admin API without one is
//!    warned about; a dnstap tap cannot take over a path or a live socket, nor go outside
//!    the allowed socket directories;
//! 5. 1,100 slow connections under a 1,024 file limit do not stop the API, and idle
//!    connections are closed;
//! 7. tap, policy and module names follow pktvisor's rule;
//! 8. oversized and non-regular tables, invalid environment and `PKTVISOR_LOG` values and
//!    a log file behind a symlink are refused at start.
//!
//! (6, the dnstap listener, is tested in `dnstap_listener.rs`.)

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agent_proc::{AgentProc, free_port, temp_file, temp_path};
use crate::common::own_fixture;

fn have_curl() -> bool {
    pktvisor::testdata::have_tool("curl", "curl")
}

const MOCK_TAP: &str = "    mock: {input_type: pcap, config: {iface: lo, pcap_source: mock}}\n";

fn policy(name: &str, tap: &str, modules: &str) -> String {
    format!(
        "    {name}:\n      kind: collection\n      input: {{tap: {tap}, input_type: pcap}}\n      handlers:\n        window_config: {{num_periods: 5, deep_sample_rate: 100}}\n        modules: {{{modules}}}\n"
    )
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn hup(a: &AgentProc) {
    Command::new("kill")
        .args(["-HUP", &a.child.id().to_string()])
        .status()
        .unwrap();
}

fn log_text(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits until the log has `n` lines containing `needle`.
fn wait_log(path: &std::path::Path, needle: &str, n: usize) -> String {
    let mut text = String::new();
    wait_until(20, needle, || {
        text = log_text(path);
        text.matches(needle).count() >= n
    });
    text
}

/// The policy's info object.
fn info(a: &AgentProc, policy: &str) -> Value {
    let r = a.get(&format!("/api/v1/policies/{policy}"));
    assert_eq!(r.status, 200, "{policy}: {}", r.body);
    r.json()[policy].clone()
}

/// (stream name, packets) of a policy's (only) input.
fn input_of(a: &AgentProc, policy: &str) -> (String, u64) {
    let v = info(a, policy);
    let (name, input) = v["input"]
        .as_object()
        .and_then(|m| m.iter().next())
        .map(|(k, v)| (k.clone(), v.clone()))
        .expect("an input");
    (name, input["input"]["packets"].as_u64().unwrap_or(0))
}

/// An agent on one flow tap `tap` (`tap_type`, `flow_type`) listening on 127.0.0.1:`port`
/// with policy `policy`; logs go to a file (these tests make many requests and do not drain a
/// pipe). Waits until its listener is up.
fn flow_agent(name: &str, tap: (&str, &str, &str), port: u16, policy: &str) -> AgentProc {
    let (tap, tap_type, flow_type) = tap;
    let cfg = temp_file(
        &format!("{name}.yaml"),
        &format!(
            "visor:\n  taps:\n    {tap}: {{input_type: {tap_type}, config: {{flow_type: {flow_type}, bind: 127.0.0.1, port: {port}}}}}\n  policies:\n    {policy}:\n      kind: collection\n      input: {{tap: {tap}, input_type: flow}}\n      handlers: {{modules: {{f: {{type: flow}}}}}}\n"
        ),
    );
    let log = temp_path(&format!("{name}.log"));
    let a = AgentProc::start(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--log-file",
            log.to_str().unwrap(),
        ],
        None,
    );
    wait_until(10, "the flow listener", || a.get("/readyz").status == 200);
    a
}

/// Waits until `policy`'s input count stops moving above `floor`; the count.
fn settled_count(a: &AgentProc, policy: &str, floor: u64, what: &str) -> u64 {
    let mut last = 0;
    wait_until(120, what, || {
        let now = input_of(a, policy).1;
        let settled = now == last && now > floor;
        last = now;
        std::thread::sleep(Duration::from_millis(500));
        settled
    });
    last
}

/// The start of a handler's oldest period: a handler started anew has a later one.
fn oldest_start(a: &AgentProc, policy: &str, handler: &str) -> String {
    let v = info(a, policy);
    let periods = v["modules"][handler]["metrics"]["periods"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    periods
        .last()
        .and_then(|p| p["start_tstamp"].as_str())
        .unwrap_or("")
        .to_string()
}

#[test]
fn a_failing_reload_keeps_every_running_policy_and_its_counters() {
    if !have_curl() {
        return;
    }
    let log = temp_path("reload-fail.log");
    let good = format!(
        "visor:\n  taps:\n{MOCK_TAP}  policies:\n{}",
        policy("keep", "mock", "net: {type: net}, dns: {type: dns}")
    );
    let cfg = temp_file("reload-fail.yaml", &good);
    let a = AgentProc::start(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--log-file",
            log.to_str().unwrap(),
        ],
        None,
    );
    wait_until(20, "mock packets", || input_of(&a, "keep").1 >= 5);
    // a period boundary between the two reads would not change the oldest period's start
    std::thread::sleep(Duration::from_millis(1100));
    let (stream, before) = input_of(&a, "keep");
    let started = oldest_start(&a, "keep", "keep-mock-net");
    assert!(!started.is_empty());
    // the new file validates, but its tap's interface does not exist: it cannot start
    let bad = format!(
        "visor:\n  taps:\n{MOCK_TAP}    gone: {{input_type: pcap, config: {{iface: pktvisor-nonexistent0}}}}\n  policies:\n{}{}",
        policy("keep", "mock", "net: {type: net}, dns: {type: dns}"),
        policy("broken", "gone", "net: {type: net}")
    );
    std::fs::write(&cfg, bad).unwrap();
    hup(&a);
    let text = wait_log(&log, "configuration not reloaded", 1);
    assert!(text.contains("pktvisor-nonexistent0"), "{text}");
    // every running policy is still there, on the same input, its counters going on
    assert_eq!(a.get("/api/v1/policies/broken").status, 404);
    assert_eq!(a.get("/api/v1/taps/gone").status, 404);
    let (stream_after, after) = input_of(&a, "keep");
    assert_eq!(stream_after, stream);
    assert!(
        after >= before,
        "input counter went back: {before} → {after}"
    );
    wait_until(10, "packets to go on", || input_of(&a, "keep").1 > before);
    assert_eq!(oldest_start(&a, "keep", "keep-mock-net"), started);
    let ready = a.get("/readyz");
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["inputs"][0]["input"], stream);
    assert!(
        a.get("/api/v1/taps").json()["mock"].is_object(),
        "the tap is still there"
    );
}

#[test]
fn reloads_leave_unchanged_policies_alone_replace_changed_ones_and_report_settings() {
    if !have_curl() {
        return;
    }
    let port = free_port();
    let log = temp_path("reload-diff.log");
    let doc = |port: u16, b_modules: &str, extra: &str| {
        format!(
            "visor:\n  config: {{port: {port}, host: 127.0.0.1}}\n  taps:\n{MOCK_TAP}  policies:\n{}{}{extra}",
            policy("a", "mock", "net: {type: net}"),
            policy("b", "mock", b_modules)
        )
    };
    let cfg = temp_file("reload-diff.yaml", &doc(port, "net: {type: net}", ""));
    let child = Command::new(env!("CARGO_BIN_EXE_pktvisord"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--log-file",
            log.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let a = AgentProc::adopt(child, port);
    wait_until(20, "mock packets", || input_of(&a, "a").1 >= 3);
    std::thread::sleep(Duration::from_millis(1100));
    let (stream, before) = input_of(&a, "a");
    let a_start = oldest_start(&a, "a", "a-mock-net");
    let b_start = oldest_start(&a, "b", "b-mock-net");

    // the same file again: nothing is restarted
    hup(&a);
    let text = wait_log(
        &log,
        "reload: unchanged: a, b; changed: -; added: -; removed: -",
        1,
    );
    assert!(!text.contains("needs a restart"), "{text}");
    assert_eq!(oldest_start(&a, "a", "a-mock-net"), a_start);
    assert_eq!(oldest_start(&a, "b", "b-mock-net"), b_start);
    let (s2, p2) = input_of(&a, "a");
    assert_eq!(s2, stream, "the input stream was not recreated");
    assert!(p2 >= before);

    // b changes, the port changes: b is replaced, a is untouched, the port is reported
    std::fs::write(
        &cfg,
        doc(port + 1, "net: {type: net}, dhcp: {type: dhcp}", ""),
    )
    .unwrap();
    hup(&a);
    let text = wait_log(&log, "reload: unchanged: a; changed: b", 1);
    assert!(
        text.contains(&format!(
            "visor.config.port: {port} → {} needs a restart",
            port + 1
        )),
        "{text}"
    );
    assert!(
        info(&a, "b")["modules"]["b-mock-dhcp"].is_object(),
        "b runs its new modules"
    );
    assert_eq!(oldest_start(&a, "a", "a-mock-net"), a_start);
    let (s3, p3) = input_of(&a, "a");
    assert_eq!(s3, stream);
    assert!(p3 >= p2, "the shared input kept counting: {p2} → {p3}");
    assert_eq!(a.get("/api/v1/metrics/app").status, 200, "still on {port}");

    // a goes, c comes: the stream b and c share keeps running
    std::fs::write(
        &cfg,
        format!(
            "visor:\n  config: {{port: {port}, host: 127.0.0.1}}\n  taps:\n{MOCK_TAP}  policies:\n{}{}",
            policy("b", "mock", "net: {type: net}, dhcp: {type: dhcp}"),
            policy("c", "mock", "net: {type: net}")
        ),
    )
    .unwrap();
    hup(&a);
    wait_log(
        &log,
        "reload: unchanged: b; changed: -; added: c; removed: a",
        1,
    );
    assert_eq!(a.get("/api/v1/policies/a").status, 404);
    let (s4, p4) = input_of(&a, "c");
    assert_eq!(s4, stream);
    assert!(p4 >= p3);
    assert_eq!(a.get("/readyz").status, 200);
}

/// One sFlow v5 datagram of the fixtures with an IPv4 agent address.
fn sflow_template() -> Vec<u8> {
    let payloads = pktvisor::receiver::flow::file::read_udp_payloads(
        &own_fixture("flow/pmacct-sflow.pcap"),
        None,
    )
    .expect("capture");
    payloads
        .into_iter()
        .map(|(_, p)| p)
        .find(|p| p.len() > 28 && p[..4] == [0, 0, 0, 5] && p[4..8] == [0, 0, 0, 1])
        .expect("an sFlow v5 datagram with an IPv4 agent")
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `n` copies of `dg`, each with its own agent address (from `first`), paced.
fn send_agents(sock: &UdpSocket, port: u16, dg: &[u8], first: u32, n: u32) {
    let mut d = dg.to_vec();
    for i in 0..n {
        let agent = first.wrapping_add(i);
        d[8..12].copy_from_slice(&agent.to_be_bytes());
        let _ = sock.send_to(&d, ("127.0.0.1", port));
        if i % 256 == 255 {
            std::thread::sleep(Duration::from_millis(3));
        }
    }
}

/// A table of the Prometheus text: (entries, limit, refused) for `table` on `input`.
fn prom_table(text: &str, table: &str) -> (u64, u64, u64) {
    let get = |metric: &str| {
        text.lines()
            .filter(|l| l.starts_with(metric) && l.contains(&format!("table=\"{table}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
    };
    (
        get("pktvisord_table_entries{"),
        get("pktvisord_table_limit{"),
        get("pktvisord_table_refused{"),
    )
}

#[test]
fn sflow_agents_by_the_hundred_thousand_stay_within_the_device_bound() {
    if !have_curl() {
        return;
    }
    let port = free_udp_port();
    let a = flow_agent("sflow-flood", ("sf", "sflow", "sflow"), port, "flows");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dg = sflow_template();
    let pid = a.child.id();

    // datagrams whose samples do not decode create no device
    let mut broken = dg[..28].to_vec();
    broken[24..28].copy_from_slice(&1u32.to_be_bytes());
    send_agents(&sock, port, &broken, 0x0a00_0000, 1000);
    wait_until(20, "the broken datagrams", || {
        input_of(&a, "flows").1 >= 1000
    });
    let tables =
        |a: &AgentProc| info(a, "flows")["modules"]["flows-sf-f"]["metrics"]["tables"].clone();
    let devices = |a: &AgentProc| {
        tables(a)
            .as_array()
            .and_then(|t| t.iter().find(|x| x["name"] == "flow_devices").cloned())
            .expect("a flow_devices table")
    };
    assert_eq!(devices(&a)["len"], 0, "undecodable datagrams made devices");

    let base = rss_kib(pid);
    send_agents(&sock, port, &dg, 0x0b00_0000, 300_000);
    let last = settled_count(&a, "flows", 1000, "the flood to be read");
    let grown_mib = rss_kib(pid).saturating_sub(base) / 1024;
    let d = devices(&a);
    eprintln!(
        "sFlow flood: {} datagrams received, RSS grew {grown_mib} MiB, devices {d}",
        last - 1000
    );
    assert!(last - 1000 > 100_000, "too few datagrams arrived: {last}");
    assert!(grown_mib < 64, "RSS grew {grown_mib} MiB");
    // Full: every worker the datagrams went to holds its max_devices (the limit sums the
    // workers' tables; every datagram here comes from one socket, so one worker).
    let (len, limit) = (d["len"].as_u64().unwrap(), d["limit"].as_u64().unwrap());
    assert!(len >= 1024 && len % 1024 == 0 && len <= limit, "{d}");
    assert!(d["evicted"].as_u64().unwrap_or(0) > 100_000, "{d}");
    let metrics = a.get("/api/v1/policies/__all/metrics/prometheus").body;
    let (plen, plimit, refused) = prom_table(&metrics, "flow_devices");
    assert!(
        plen == len && plimit == limit && refused > 100_000,
        "{plen} {plimit} {refused}"
    );

    // the largest window is encoded while /readyz answers at once
    let port_api = a.port;
    let reader = std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(4);
        let mut n = 0;
        while Instant::now() < until {
            let mut s = TcpStream::connect(("127.0.0.1", port_api)).unwrap();
            write!(
                s,
                "GET /api/v1/policies/__all/metrics/window/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut body = Vec::new();
            let _ = s.read_to_end(&mut body);
            n += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        n
    });
    let mut worst = Duration::ZERO;
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let t = Instant::now();
        let r = a.get("/readyz");
        assert_eq!(r.status, 200, "{r:?}");
        worst = worst.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    let windows = reader.join().unwrap();
    assert!(windows > 0);
    assert!(
        worst < Duration::from_secs(1),
        "/readyz took {worst:?} beside window reads"
    );
}

/// A NetFlow v9 datagram of `templates` templates of `fields` fields, from source id `id`.
fn v9_templates(id: u32, templates: u16, fields: u16) -> Vec<u8> {
    let mut set = Vec::new();
    for t in 0..templates {
        set.extend_from_slice(&(256 + t).to_be_bytes());
        set.extend_from_slice(&fields.to_be_bytes());
        for f in 0..fields {
            // IN_BYTES, IN_PKTS, … cycled, 4 bytes each
            set.extend_from_slice(&(1 + f % 60).to_be_bytes());
            set.extend_from_slice(&4u16.to_be_bytes());
        }
    }
    let mut d = Vec::new();
    d.extend_from_slice(&9u16.to_be_bytes());
    d.extend_from_slice(&templates.to_be_bytes());
    d.extend_from_slice(&1000u32.to_be_bytes());
    d.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    d.extend_from_slice(&id.to_be_bytes());
    d.extend_from_slice(&id.to_be_bytes());
    d.extend_from_slice(&0u16.to_be_bytes());
    d.extend_from_slice(&((set.len() + 4) as u16).to_be_bytes());
    d.extend_from_slice(&set);
    d
}

/// A pcap of UDP datagrams from 192.0.2.1 to 192.0.2.2:2055 (Ethernet, IPv4).
fn pcap_of(datagrams: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 262_144, 1] {
        match v {
            0x0004_0002 => {
                out.extend_from_slice(&2u16.to_le_bytes());
                out.extend_from_slice(&4u16.to_le_bytes());
            }
            _ => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
    for (i, d) in datagrams.iter().enumerate() {
        let udp_len = 8 + d.len();
        let ip_len = 20 + udp_len;
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0,
            0,
            64,
            17,
            0,
            0,
        ]);
        f.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
        f.extend_from_slice(&40000u16.to_be_bytes());
        f.extend_from_slice(&2055u16.to_be_bytes());
        f.extend_from_slice(&(udp_len as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(d);
        out.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&f);
    }
    out
}

/// Largest resident size of the children this process waited for, in KiB.
fn children_max_rss_kib() -> u64 {
    // SAFETY: `u` is a valid rusage for getrusage to fill.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &raw mut u) };
    u.ru_maxrss as u64
}

#[test]
fn a_template_flood_stays_inside_its_byte_budget() {
    // the reader: a capture of template sets from ever new domains
    let flood: Vec<Vec<u8>> = (0..60).map(|i| v9_templates(i, 15, 1000)).collect();
    let file = temp_path("templates.pcap");
    std::fs::write(&file, pcap_of(&flood)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"))
        .args(["-i", "netflow", "--format", "prometheus", "--periods", "1"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak = children_max_rss_kib() / 1024;
    let text = String::from_utf8_lossy(&out.stdout);
    let bytes_line = text
        .lines()
        .find(|l| l.starts_with("pktvisor_table_entries{") && l.contains("flow_template_bytes"))
        .expect("the template bytes table");
    let held: u64 = bytes_line.rsplit(' ').next().unwrap().parse().unwrap();
    eprintln!(
        "reader over {} MB of templates: peak RSS {peak} MiB, {held} template bytes held",
        std::fs::metadata(&file).unwrap().len() >> 20
    );
    assert!(held <= 16 << 20, "{bytes_line}");
    assert!(peak < 160, "the reader peaked at {peak} MiB");
    assert!(
        text.lines()
            .any(|l| l.starts_with("pktvisor_table_evictions{")
                && l.contains("flow_template_bytes")
                && !l.ends_with(" 0")),
        "refusals are counted"
    );

    // the agent: 4,416 datagrams of templates over UDP
    if !have_curl() {
        return;
    }
    let port = free_udp_port();
    let a = flow_agent("template-flood", ("nf", "flow", "netflow"), port, "nf");
    let pid = a.child.id();
    let base = rss_kib(pid);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..4416u32 {
        let _ = sock.send_to(&v9_templates(i, 15, 1000), ("127.0.0.1", port));
        if i % 32 == 31 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let last = settled_count(&a, "nf", 0, "the templates to be read");
    let grown = rss_kib(pid).saturating_sub(base) / 1024;
    let metrics = a.get("/api/v1/policies/__all/metrics/prometheus").body;
    let (held, limit, refused) = prom_table(&metrics, "flow_template_bytes");
    eprintln!(
        "agent: {last} template datagrams, RSS grew {grown} MiB, {held} of {limit} bytes, {refused} refused"
    );
    assert!(held <= limit && limit == 16 << 20);
    assert!(refused > 0);
    assert!(grown < 64, "RSS grew {grown} MiB");
    let input = info(&a, "nf")["input"].clone();
    let tables = &input.as_object().unwrap().values().next().unwrap()["input"]["tables"];
    assert!(
        tables
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "flow_template_bytes"),
        "the input info lists the template budget: {tables}"
    );
}

const TAP_DOC: &str = "version: \"1.0\"\nvisor:\n  taps:\n    t1: {input_type: pcap, config: {iface: lo, pcap_source: mock}}\n";

#[test]
fn the_admin_api_can_be_locked_with_a_token() {
    if !have_curl() {
        return;
    }
    let token = temp_file("admin-token", "  c0rrect-h0rse\n");
    let a = AgentProc::start(
        &["--admin-api", "--admin-token-file", token.to_str().unwrap()],
        None,
    );
    let body = Some(("application/x-yaml", TAP_DOC));
    let bearer = "Authorization: Bearer c0rrect-h0rse";
    let r = a.request("POST", "/api/v1/taps", body);
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["error"], "unauthorized");
    let wrong = a.request_with(
        "POST",
        "/api/v1/taps",
        body,
        &["Authorization: Bearer c0rrect-h0rsE"],
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(
        a.request_with("POST", "/api/v1/taps", body, &[bearer])
            .status,
        201
    );
    // reads need no token
    assert_eq!(a.get("/api/v1/taps/t1").status, 200);
    assert_eq!(a.request("DELETE", "/api/v1/taps/t1", None).status, 401);
    assert_eq!(a.get("/api/v1/taps/t1").status, 200);
    assert_eq!(a.request("DELETE", "/api/v1/server", None).status, 401);
    assert_eq!(a.get("/api/v1/metrics/app").status, 200, "still running");
    assert_eq!(
        a.request_with("DELETE", "/api/v1/taps/t1", None, &[bearer])
            .status,
        200
    );
    assert_eq!(
        a.request_with("DELETE", "/api/v1/server", None, &[bearer])
            .status,
        200
    );
    let mut a = a;
    wait_until(10, "the agent to stop", || {
        matches!(a.child.try_wait(), Ok(Some(_)))
    });

    // the environment names the file too; an unreadable one stops the start
    let port = free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisord"))
        .args(["--admin-api", "-l", "127.0.0.1", "-p", &port.to_string()])
        .env("PKTVISOR_ADMIN_TOKEN_FILE", "/dev/zero")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("admin token file /dev/zero: not a regular file"),
        "{err}"
    );
}

#[test]
fn an_open_admin_api_on_a_network_address_is_warned_about() {
    if !have_curl() {
        return;
    }
    let port = free_port();
    let log = temp_path("open-admin.log");
    let child = Command::new(env!("CARGO_BIN_EXE_pktvisord"))
        .args(["--admin-api", "-l", "0.0.0.0", "-p", &port.to_string()])
        .arg("--log-file")
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _a = AgentProc::adopt(child, port);
    let text = wait_log(&log, "without an admin token", 1);
    assert!(text.contains("0.0.0.0"), "{text}");
    let token = temp_file("admin-token-2", "t0ken\n");
    let port = free_port();
    let log2 = temp_path("closed-admin.log");
    let child = Command::new(env!("CARGO_BIN_EXE_pktvisord"))
        .args(["--admin-api", "-l", "127.0.0.1", "-p", &port.to_string()])
        .arg("--log-file")
        .arg(&log2)
        .arg("--admin-token-file")
        .arg(&token)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _b = AgentProc::adopt(child, port);
    wait_log(&log2, "listening on", 1);
    assert!(!log_text(&log2).contains("without an admin token"));
}

fn dnstap_doc(tap: &str, socket: &std::path::Path) -> String {
    format!(
        "version: \"1.0\"\nvisor:\n  taps:\n    {tap}: {{input_type: dnstap, config: {{socket: \"{}\"}}}}\n  policies:\n    {tap}_p:\n      kind: collection\n      input: {{tap: {tap}, input_type: dnstap}}\n      handlers: {{modules: {{d: {{type: dns}}}}}}\n",
        socket.display()
    )
}

fn post_doc(a: &AgentProc, doc: &str) -> crate::agent_proc::Resp {
    let parts: Vec<&str> = doc.split("  policies:\n").collect();
    let tap = a.request(
        "POST",
        "/api/v1/taps",
        Some(("application/x-yaml", parts[0])),
    );
    assert_eq!(tap.status, 201, "{}", tap.body);
    a.request(
        "POST",
        "/api/v1/policies",
        Some((
            "application/x-yaml",
            &format!("version: \"1.0\"\nvisor:\n  policies:\n{}", parts[1]),
        )),
    )
}

#[test]
fn a_dnstap_tap_cannot_take_over_paths_or_live_sockets() {
    if !have_curl() {
        return;
    }
    let dir = temp_path("sockets");
    let _ = std::fs::remove_dir_all(&dir);
    let allowed = dir.join("allowed");
    let other = dir.join("other");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    let a = AgentProc::start(
        &[
            "--admin-api",
            "--dnstap-socket-dir",
            allowed.to_str().unwrap(),
        ],
        None,
    );
    // A policy starts with its input, as in pktvisor: one whose listener cannot bind is
    // refused with the listener's error and nothing of it keeps running.
    let refused = |r: &crate::agent_proc::Resp, policy: &str, why: &str| {
        assert_eq!(r.status, 500, "{}", r.body);
        let e = serde_json::from_str::<Value>(&r.body).unwrap()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            e.starts_with(&format!("policy [{policy}] failed to start: ")),
            "{e}"
        );
        assert!(e.contains(why), "{e}");
    };
    // a regular file is never removed
    let file = allowed.join("precious");
    std::fs::write(&file, "keep me").unwrap();
    let r = post_doc(&a, &dnstap_doc("f1", &file));
    refused(&r, "f1_p", "exists and is not a socket");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    // a socket someone listens on is left alone and keeps working
    let live = allowed.join("live.sock");
    let owner = std::os::unix::net::UnixListener::bind(&live).unwrap();
    let r = post_doc(&a, &dnstap_doc("f2", &live));
    refused(&r, "f2_p", "in use by another process");
    let _c = std::os::unix::net::UnixStream::connect(&live).expect("still served");
    assert!(owner.accept().is_ok());
    for p in ["f1_p", "f2_p"] {
        let r = a.get(&format!("/api/v1/policies/{p}"));
        assert_eq!(r.status, 404, "{p} was left behind: {}", r.body);
    }
    assert_eq!(
        a.get("/readyz").status,
        200,
        "nothing failing keeps running"
    );
    // a stale socket (nobody accepts) is replaced
    let stale = allowed.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let r = post_doc(&a, &dnstap_doc("f3", &stale));
    assert_eq!(r.status, 201, "{}", r.body);
    wait_until(20, "the stale socket to be replaced", || {
        let v = info(&a, "f3_p")["input"].clone();
        v.as_object()
            .and_then(|m| m.values().next())
            .is_some_and(|i| i["input"]["running"] == true)
    });
    // outside the allowed directories (also through ..): refused before anything binds
    for (tap, path) in [
        ("f4", other.join("x.sock")),
        ("f5", allowed.join("../other/y.sock")),
    ] {
        let r = post_doc(&a, &dnstap_doc(tap, &path));
        assert_eq!(r.status, 500, "{}", r.body);
        assert!(
            r.body.contains("is not inside an allowed socket directory"),
            "{}",
            r.body
        );
        assert!(!path.exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Slowloris: `n` connections that send a request head a byte at a time, reconnecting
/// whenever the server closes one, until `stop`.
fn slowloris(
    port: u16,
    n: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<(u64, u64)> {
    std::thread::spawn(move || {
        let mut conns: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
        let (mut opened, mut closed) = (0u64, 0u64);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            for c in conns.iter_mut() {
                match c {
                    None => {
                        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                        if let Ok(mut s) =
                            TcpStream::connect_timeout(&addr, Duration::from_millis(50))
                        {
                            let _ = s.set_nonblocking(true);
                            let _ = s.write(b"GET /api/v1/metrics/app HTTP/1.1\r\nX-Slow: ");
                            *c = Some(s);
                            opened += 1;
                        }
                    }
                    Some(s) => {
                        let mut buf = [0u8; 64];
                        let gone = matches!(s.read(&mut buf), Ok(0)) || s.write(b"a").is_err();
                        if gone {
                            *c = None;
                            closed += 1;
                        }
                    }
                }
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        (opened, closed)
    })
}

#[test]
fn slow_clients_under_a_small_file_limit_do_not_stop_the_api() {
    if !have_curl() {
        return;
    }
    // this process opens 1,100 connections: its own limit must allow them
    // SAFETY: `r` is a valid rlimit.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut r);
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &raw const r);
    }
    let port = free_port();
    let log = temp_path("slowloris.log");
    let child = Command::new("prlimit")
        .arg("--nofile=1024:1024")
        .arg(env!("CARGO_BIN_EXE_pktvisord"))
        .args(["--admin-api", "-l", "127.0.0.1", "-p", &port.to_string()])
        .arg("--log-file")
        .arg(&log)
        .env("PKTVISOR_HTTP_IDLE_TIMEOUT", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let a = AgentProc::adopt(child, port);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attack = slowloris(port, 1100, stop.clone());
    std::thread::sleep(Duration::from_secs(3));
    let mut worst = Duration::ZERO;
    for _ in 0..8 {
        let t = Instant::now();
        let r = a.request_with("GET", "/api/v1/metrics/app", None, &["Connection: close"]);
        let took = t.elapsed();
        assert_eq!(
            r.status, 200,
            "the API did not answer beside the slow clients"
        );
        worst = worst.max(took);
        std::thread::sleep(Duration::from_millis(1500));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (opened, closed) = attack.join().unwrap();
    let metrics = a.get("/metrics").body;
    eprintln!(
        "slowloris: {opened} connections opened, {closed} closed by the agent; worst answer {worst:?}"
    );
    assert!(worst < Duration::from_secs(15), "{worst:?}");
    assert!(opened >= 1100 && closed > 0);
    let _ = metrics;
    let text = log_text(&log);
    assert!(text.contains("open-file limit 1024"), "{text}");

    // an idle keep-alive connection is closed after http_idle_timeout (3 s here)
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /api/v1/metrics/app HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let t = Instant::now();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
    let idle = t.elapsed();
    assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200"));
    assert!(
        idle >= Duration::from_secs(2) && idle < Duration::from_secs(10),
        "closed after {idle:?}"
    );
}

#[test]
fn names_follow_pktvisors_rule() {
    if !have_curl() {
        return;
    }
    let a = AgentProc::start(&["--admin-api"], None);
    for name in ["\"\"", "\"a/b\"", "1abc", "\"-x\"", "café", "__all"] {
        let doc = format!(
            "version: \"1.0\"\nvisor:\n  taps:\n    {name}: {{input_type: pcap, config: {{iface: lo, pcap_source: mock}}}}\n"
        );
        let r = a.request("POST", "/api/v1/taps", Some(("application/x-yaml", &doc)));
        assert_eq!(r.status, 500, "{name}: {}", r.body);
        let shown = name.trim_matches('"');
        assert!(
            r.json()["error"]
                .as_str()
                .unwrap_or("")
                .starts_with(&format!("invalid module name: {shown}")),
            "{name}: {}",
            r.body
        );
    }
    assert_eq!(a.get("/api/v1/taps").body, "null", "nothing was created");
    let ok = a.request(
        "POST",
        "/api/v1/taps",
        Some(("application/x-yaml", TAP_DOC)),
    );
    assert_eq!(ok.status, 201);
    for name in ["\"a/b\"", "9p", "__all", "\"x y\""] {
        let doc = format!(
            "version: \"1.0\"\nvisor:\n  policies:\n    {name}:\n      kind: collection\n      input: {{tap: t1, input_type: pcap}}\n      handlers: {{modules: {{n: {{type: net}}}}}}\n"
        );
        let r = a.request(
            "POST",
            "/api/v1/policies",
            Some(("application/x-yaml", &doc)),
        );
        assert_eq!(r.status, 500, "{name}: {}", r.body);
        assert!(r.body.contains("invalid module name"), "{}", r.body);
    }
    // a module id that makes an invalid handler name
    let doc = "version: \"1.0\"\nvisor:\n  policies:\n    p:\n      kind: collection\n      input: {tap: t1, input_type: pcap}\n      handlers: {modules: {\"n/1\": {type: net}}}\n";
    let r = a.request(
        "POST",
        "/api/v1/policies",
        Some(("application/x-yaml", doc)),
    );
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid module name: p-t1-n/1");
    let policies = a.get("/api/v1/policies").json();
    assert!(policies.as_object().unwrap().is_empty(), "{policies}");
    // the same rule in config files, with the path
    let bad = temp_file(
        "bad-names.yaml",
        "visor:\n  taps:\n    \"a b\": {input_type: pcap, config: {iface: lo, pcap_source: mock}}\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisord"))
        .args(["validate", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("visor.taps.a b: invalid module name: a b"),
        "{err}"
    );
}

#[test]
fn bad_tables_environment_and_log_files_stop_the_start() {
    let bin = env!("CARGO_BIN_EXE_pktvisord");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let port = free_port().to_string();
        let mut c = Command::new(bin);
        c.args(args)
            .args(["--admin-api", "-l", "127.0.0.1", "-p", &port]);
        for (k, v) in env {
            c.env(k, v);
        }
        let t = Instant::now();
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
            t.elapsed(),
        )
    };
    // an endless "table" is refused before a byte is read
    let (code, err, took) = run(&["--iana-service-port-registry", "/dev/zero"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("/dev/zero") && err.contains("not a regular file"),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    let (code, err, _) = run(&["--geo-city", "/dev/zero"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    // a bad environment value is reported even when a flag overrides it
    let (code, err, _) = run(&[], &[("PKTVISOR_PORT", "nope")]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("visor.config.port: invalid type: found string \"nope\"")
            && err.contains("environment variable"),
        "{err}"
    );
    // a filter that does not parse is not silently replaced
    let (code, err, _) = run(&[], &[("PKTVISOR_LOG", "pktvisor=loud")]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("invalid PKTVISOR_LOG value 'pktvisor=loud'"),
        "{err}"
    );
    // the log file is not opened through a symlink
    let target = temp_file("log-target", "");
    let link = temp_path("log-link");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (code, err, _) = run(&["--log-file", link.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "");
}

#[test]
fn a_reload_hands_a_socket_over_to_the_input_that_replaces_its_holder() {
    use std::os::unix::fs::PermissionsExt;
    if !have_curl() {
        return;
    }
    let dir = temp_path("handover");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("dnstap.sock");
    let log = temp_path("handover.log");
    let doc = |mode: &str| {
        format!(
            "visor:\n  taps:\n    d: {{input_type: dnstap, config: {{socket: \"{}\", socket_mode: \"{mode}\"}}}}\n  policies:\n    d:\n      kind: collection\n      input: {{tap: d, input_type: dnstap}}\n      handlers: {{modules: {{dns: {{type: dns}}}}}}\n",
            sock.display()
        )
    };
    let cfg = temp_file("handover.yaml", &doc("0600"));
    let a = AgentProc::start(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--log-file",
            log.to_str().unwrap(),
        ],
        None,
    );
    let mode = || {
        std::fs::metadata(&sock)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    };
    wait_until(10, "the socket", || mode() == 0o600);
    let (before, _) = input_of(&a, "d");
    // the same socket with another mode: a new input that needs the old one's socket
    std::fs::write(&cfg, doc("0660")).unwrap();
    hup(&a);
    wait_log(&log, "reload: unchanged: -; changed: d", 1);
    wait_until(10, "the new socket", || mode() == 0o660);
    let (after, _) = input_of(&a, "d");
    assert_ne!(before, after, "a new input stream");
    wait_until(10, "the new input to run", || {
        a.get("/readyz").status == 200
    });
    let ready = a.get("/readyz").json();
    assert_eq!(ready["inputs"].as_array().map(Vec::len), Some(1), "{ready}");
    let _ = std::fs::remove_dir_all(&dir);
}
