//! netprobe measured for real: two network namespaces joined by a veth pair (made and
//! deleted by the test). In the target namespace the kernel's echo replies are off
//! (`icmp_echo_ignore_all`, both families) and a responder on raw ICMP sockets answers
//! echo requests after a fixed delay and drops a fixed share of them (checked first with
//! `ping`); a TCP listener waits on one port and none on another. pktvisord runs in the
//! other namespace and its REST API, Prometheus text and input info are checked against
//! the delay and loss the responder made. Also: the unprivileged datagram ICMP sockets
//! (the agent without CAP_NET_RAW), every config error of pktvisor's netprobe input with
//! its text, `--module-list`, and a netprobe policy created and deleted through the
//! admin API. Traffic goes only to loopback and the namespaces made here.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::agent_proc::{AgentProc, free_port, need_root, temp_file};

const TARGET_V4: &str = "10.77.0.2";
const TARGET_V6: &str = "fd77::2";
const TARGET_NAME: &str = "target.netprobe.test";

fn run(args: &[&str]) {
    let st = Command::new(args[0])
        .args(&args[1..])
        .status()
        .expect("run command");
    assert!(st.success(), "{args:?} failed");
}

/// Two namespaces, `a` (the agent) and `b` (the target), joined by a veth pair with
/// 10.77.0.1/24 + fd77::1/64 in `a` and 10.77.0.2/24 + fd77::2/64 in `b`; `b` ignores
/// echo requests. `/etc/netns/<a>/hosts` names the target `target.netprobe.test` (both
/// families) and its resolv.conf points at loopback, so lookups never leave.
struct NsPair {
    a: String,
    b: String,
}

impl NsPair {
    fn new(tag: &str) -> NsPair {
        let pid = std::process::id();
        let p = NsPair {
            a: format!("pvnpa{tag}{pid}"),
            b: format!("pvnpb{tag}{pid}"),
        };
        for n in [&p.a, &p.b] {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
            run(&["ip", "netns", "add", n]);
        }
        run(&[
            "ip", "-n", &p.a, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
            "netns", &p.b,
        ]);
        for (ns, dev, v4, v6) in [
            (&p.a, "veth0", "10.77.0.1/24", "fd77::1/64"),
            (&p.b, "veth1", "10.77.0.2/24", "fd77::2/64"),
        ] {
            run(&["ip", "-n", ns, "addr", "add", v4, "dev", dev]);
            run(&["ip", "-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        // Static neighbours: no ARP / neighbour discovery delays the first probes.
        let mac = |ns: &str, dev: &str| -> String {
            let out = NsPair::exec(ns, &["cat", &format!("/sys/class/net/{dev}/address")]);
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let (mac_a, mac_b) = (mac(&p.a, "veth0"), mac(&p.b, "veth1"));
        for (ns, dev, ip, lladdr) in [
            (&p.a, "veth0", TARGET_V4, &mac_b),
            (&p.a, "veth0", TARGET_V6, &mac_b),
            (&p.b, "veth1", "10.77.0.1", &mac_a),
            (&p.b, "veth1", "fd77::1", &mac_a),
        ] {
            run(&[
                "ip",
                "-n",
                ns,
                "neigh",
                "replace",
                ip,
                "lladdr",
                lladdr,
                "dev",
                dev,
                "nud",
                "permanent",
            ]);
        }
        run(&[
            "ip",
            "netns",
            "exec",
            &p.b,
            "sysctl",
            "-qw",
            "net.ipv4.icmp_echo_ignore_all=1",
            "net.ipv6.icmp.echo_ignore_all=1",
        ]);
        let etc = format!("/etc/netns/{}", p.a);
        std::fs::create_dir_all(&etc).expect("mkdir /etc/netns");
        std::fs::write(
            format!("{etc}/hosts"),
            format!("127.0.0.1 localhost\n{TARGET_V4} {TARGET_NAME}\n{TARGET_V6} {TARGET_NAME}\n"),
        )
        .expect("write hosts");
        std::fs::write(format!("{etc}/resolv.conf"), "nameserver 127.0.0.1\n")
            .expect("write resolv.conf");
        p
    }

    /// Runs a command in namespace `ns`.
    fn exec(ns: &str, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .output()
            .expect("ip netns exec")
    }
}

impl Drop for NsPair {
    fn drop(&mut self) {
        for n in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.a));
    }
}

/// Moves the calling thread into network namespace `ns`.
fn enter_netns(ns: &str) {
    let f = std::fs::File::open(format!("/var/run/netns/{ns}")).expect("open netns");
    // SAFETY: setns on a descriptor we own; it changes only this thread's namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum += u32::from(w);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn recv_from(sock: &Socket, buf: &mut [u8]) -> Option<(usize, IpAddr)> {
    // SAFETY: a zeroed sockaddr_storage is valid; buf and addr outlive the call.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: as above.
    let n = unsafe {
        libc::recvfrom(
            sock.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            (&raw mut ss).cast(),
            &raw mut len,
        )
    };
    if n <= 0 {
        return None;
    }
    let ip = match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(&raw const ss).cast() };
            IpAddr::from(u32::from_be(a.sin_addr.s_addr).to_be_bytes())
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(&raw const ss).cast() };
            IpAddr::from(a.sin6_addr.s6_addr)
        }
        _ => return None,
    };
    let _ = len;
    Some((n as usize, ip))
}

/// A user-space echo responder: answers after `delay`, drops `drop_pct` percent (a
/// seeded coin, so every run drops the same share).
struct Responder {
    stop: Arc<AtomicBool>,
    seen: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

type Reply = (Instant, Vec<u8>, IpAddr);

impl Responder {
    fn start(ns: &str, v6: bool, delay: Duration, drop_pct: u64) -> Responder {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicU64::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel::<Reply>();
        let open = move || {
            let (d, p) = if v6 {
                (Domain::IPV6, Protocol::ICMPV6)
            } else {
                (Domain::IPV4, Protocol::ICMPV4)
            };
            Socket::new(d, Type::RAW, Some(p)).expect("raw ICMP socket")
        };
        let (ns1, ns2) = (ns.to_string(), ns.to_string());
        let (stop1, stop2) = (stop.clone(), stop.clone());
        let (seen1, dropped1) = (seen.clone(), dropped.clone());
        let (ready_tx, ready_rx) = mpsc::channel();
        let ready2 = ready_tx.clone();
        let receiver = std::thread::spawn(move || {
            enter_netns(&ns1);
            let sock = open();
            sock.set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let _ = ready_tx.send(());
            let mut rng: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(v6);
            let mut buf = vec![0u8; 65_536];
            while !stop1.load(Ordering::Relaxed) {
                let Some((n, from)) = recv_from(&sock, &mut buf) else {
                    continue;
                };
                let now = Instant::now();
                let data = &buf[..n];
                let icmp = if v6 {
                    data
                } else {
                    let ihl = usize::from(data[0] & 0x0f) * 4;
                    &data[ihl..]
                };
                let request = if v6 { 128 } else { 8 };
                if icmp.len() < 8 || icmp[0] != request {
                    continue;
                }
                seen1.fetch_add(1, Ordering::Relaxed);
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                if rng % 100 < drop_pct {
                    dropped1.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let mut reply = icmp.to_vec();
                reply[0] = if v6 { 129 } else { 0 };
                reply[2] = 0;
                reply[3] = 0;
                if !v6 {
                    let c = checksum(&reply);
                    reply[2..4].copy_from_slice(&c.to_be_bytes());
                }
                let _ = tx.send((now + delay, reply, from));
            }
        });
        let sender = std::thread::spawn(move || {
            enter_netns(&ns2);
            let sock = open();
            let _ = ready2.send(());
            let mut due: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
            let mut bodies = std::collections::HashMap::new();
            let mut n = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                let wait = due
                    .peek()
                    .map_or(Duration::from_millis(20), |Reverse((at, _))| {
                        at.saturating_duration_since(Instant::now())
                    });
                if let Ok((at, body, to)) = rx.recv_timeout(wait) {
                    n += 1;
                    due.push(Reverse((at, n)));
                    bodies.insert(n, (body, to));
                }
                while let Some(Reverse((at, id))) = due.peek().copied() {
                    if at > Instant::now() {
                        break;
                    }
                    due.pop();
                    if let Some((body, to)) = bodies.remove(&id) {
                        let _ = sock.send_to(&body, &SockAddr::from(SocketAddr::new(to, 0)));
                    }
                }
            }
        });
        for _ in 0..2 {
            ready_rx.recv().expect("responder ready");
        }
        Responder {
            stop,
            seen,
            dropped,
            threads: vec![receiver, sender],
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A TCP listener in namespace `ns` on both families' target addresses, accepting and
/// closing; counts the connections per family.
struct Listener {
    stop: Arc<AtomicBool>,
    accepted: [Arc<AtomicU64>; 2],
    port: u16,
    threads: Vec<JoinHandle<()>>,
}

impl Listener {
    fn start(ns: &str) -> Listener {
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
        let port = free_port();
        let mut threads = Vec::new();
        let (ready_tx, ready_rx) = mpsc::channel();
        for (i, addr) in [TARGET_V4, TARGET_V6].into_iter().enumerate() {
            let (ns, stop, count, ready) = (
                ns.to_string(),
                stop.clone(),
                accepted[i].clone(),
                ready_tx.clone(),
            );
            threads.push(std::thread::spawn(move || {
                enter_netns(&ns);
                let ip: IpAddr = addr.parse().unwrap();
                let l = TcpListener::bind(SocketAddr::new(ip, port)).expect("listen");
                l.set_nonblocking(true).unwrap();
                let _ = ready.send(());
                while !stop.load(Ordering::Relaxed) {
                    match l.accept() {
                        Ok((mut s, _)) => {
                            count.fetch_add(1, Ordering::Relaxed);
                            let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
                            let _ = s.read(&mut [0u8; 16]);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            }));
        }
        for _ in 0..2 {
            ready_rx.recv().expect("listener ready");
        }
        Listener {
            stop,
            accepted,
            port,
            threads,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// `rtt min/avg/max/mdev = a/b/c/d ms` of a ping run, as (min, avg) in ms.
fn ping_rtt(ns: &str, args: &[&str]) -> (f64, f64) {
    let mut cmd = vec!["ping", "-n", "-q"];
    cmd.extend_from_slice(args);
    let out = NsPair::exec(ns, &cmd);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = text
        .lines()
        .find(|l| l.contains("min/avg/max"))
        .unwrap_or_else(|| panic!("no rtt line from ping: {text}"));
    let nums: Vec<f64> = line
        .split('=')
        .nth(1)
        .unwrap()
        .trim()
        .split(" ms")
        .next()
        .unwrap()
        .split('/')
        .map(|v| v.parse().unwrap())
        .collect();
    (nums[0], nums[1])
}

fn tools() -> bool {
    use pktvisor::testdata::have_tool;
    have_tool("ping", "iputils-ping") && have_tool("curl", "curl") && have_tool("ip", "iproute2")
}

/// Polls the agent's `path` until `done` holds for its JSON (or `limit` passes).
fn wait_json(a: &AgentProc, path: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let v = serde_json::from_str(&a.get(path).body).unwrap_or(Value::Null);
        if done(&v) || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

#[test]
fn netprobe_ping_measures_a_host_with_known_delay_and_loss() {
    if !need_root("netprobe in network namespaces") || !tools() {
        return;
    }
    let pair = NsPair::new("p");
    let delay = Duration::from_millis(20);
    let r4 = Responder::start(&pair.b, false, delay, 10);
    let _r6 = Responder::start(&pair.b, true, delay, 10);
    // The responder first, with ping: round trips just above the delay.
    let (min, avg) = ping_rtt(&pair.a, &["-c", "20", "-i", "0.02", "-W", "1", TARGET_V4]);
    assert!(min >= 20.0 && avg < 60.0, "ping: min {min} avg {avg}");
    let (min, avg) = ping_rtt(
        &pair.a,
        &["-6", "-c", "20", "-i", "0.02", "-W", "1", TARGET_V6],
    );
    assert!(min >= 20.0 && avg < 60.0, "ping -6: min {min} avg {avg}");

    let cfg = temp_file(
        "netprobe-ping.yaml",
        &format!(
            r#"version: "1.0"
visor:
  taps:
    probes:
      input_type: netprobe
      config:
        test_type: ping
        interval_msec: 200
        timeout_msec: 200
        packets_per_test: 10
        packets_interval_msec: 20
        targets:
          t1: {{target: {TARGET_V4}}}
          t2: {{target: {TARGET_V4}}}
          t3: {{target: {TARGET_V4}}}
          t4: {{target: {TARGET_V4}}}
          six: {{target: "{TARGET_V6}"}}
  policies:
    default:
      kind: collection
      input: {{tap: probes, input_type: netprobe}}
      handlers:
        modules:
          probe: {{type: netprobe, metric_groups: {{enable: [quantiles]}}}}
"#
        ),
    );
    let cfg_path = cfg.display().to_string();
    let a = AgentProc::start(&["--config", &cfg_path], Some(&pair.a));
    let path = "/api/v1/policies/default/metrics/bucket/0";
    let targets = |v: &Value| v["default"]["default-probes-probe"]["netprobe"]["targets"].clone();
    let v4 = ["t1", "t2", "t3", "t4"];
    let v = wait_json(&a, path, Duration::from_secs(30), |v| {
        let t = targets(v);
        v4.iter().map(|k| n(&t[k]["attempts"])).sum::<u64>() >= 1000
            && n(&t["six"]["attempts"]) >= 200
    });
    let t = targets(&v);
    let (mut attempts, mut ok, mut lost) = (0, 0, 0);
    for name in v4.iter().chain(&["six"]) {
        let x = &t[*name];
        // every probe ends as a success or a timeout, in the bucket of its outcome
        assert_eq!(
            n(&x["successes"]) + n(&x["packets_timeout"]),
            n(&x["attempts"]),
            "{name}: {x}"
        );
        assert_eq!(n(&x["connect_failures"]) + n(&x["dns_lookup_failures"]), 0);
        let p50 = n(&x["response_quantiles_us"]["p50"]);
        // the issue's bound: p50 within ±2 ms of the responder's 20 ms
        assert!((18_000..=22_000).contains(&p50), "{name}: p50 {p50} µs");
        let min = n(&x["response_min_us"]);
        assert!(min >= 20_000, "{name}: min {min} µs");
        assert!(n(&x["response_max_us"]) < 1_000_000, "{name}: {x}");
        assert!(x["response_histogram_us"]["buckets"]["+Inf"].as_f64() > Some(0.0));
        if *name != "six" {
            attempts += n(&x["attempts"]);
            ok += n(&x["successes"]);
            lost += n(&x["packets_timeout"]);
        }
    }
    assert!(attempts >= 1000, "{attempts} attempts: {t}");
    let loss = lost as f64 / attempts as f64;
    assert!(
        (0.07..=0.13).contains(&loss),
        "loss {loss:.3} ({lost}/{attempts}, {ok} ok)"
    );
    eprintln!(
        "IPv4: {attempts} pings, {ok} answered, loss {:.1}%; t1 p50 {} µs min {} µs max {} µs",
        loss * 100.0,
        t["t1"]["response_quantiles_us"]["p50"],
        t["t1"]["response_min_us"],
        t["t1"]["response_max_us"]
    );
    // the responder's own share of dropped requests agrees
    let (seen, dropped) = (
        r4.seen.load(Ordering::Relaxed),
        r4.dropped.load(Ordering::Relaxed),
    );
    let share = dropped as f64 / seen as f64;
    assert!(
        (loss - share).abs() < 0.02,
        "agent loss {loss:.3}, responder dropped {dropped} of {seen}"
    );
    let six = &t["six"];
    let loss6 = n(&six["packets_timeout"]) as f64 / n(&six["attempts"]) as f64;
    assert!(
        (0.03..=0.17).contains(&loss6),
        "IPv6 loss {loss6:.3}: {six}"
    );

    // The input's info: pktvisor's fields plus ours.
    let info = a.get("/api/v1/policies/default").json();
    let input = info["default"]["input"]
        .as_object()
        .and_then(|m| m.values().next())
        .cloned()
        .unwrap_or_default();
    assert_eq!(input["netprobe"]["current_targets_total"], 5, "{input}");
    assert_eq!(input["netprobe"]["ping_sockets"], 2, "{input}");
    assert_eq!(input["netprobe"]["probes"]["socket_ipv4"], "raw");
    assert!(
        n(&input["netprobe"]["probes"]["kernel_rx_timestamps"]) > 0,
        "{input}"
    );
    // /metrics serves the default policy: netprobe_* with the target label
    let prom = a.get("/metrics").body;
    for want in [
        "# TYPE netprobe_attempts gauge",
        "netprobe_attempts{policy=\"default\",tap=\"probes\",target=\"t1\"}",
        "netprobe_response_histogram_us_bucket{le=\"+Inf\",policy=\"default\",tap=\"probes\",target=\"six\"}",
        "netprobe_response_quantiles_us{policy=\"default\",quantile=\"0.5\",tap=\"probes\",target=\"t2\"}",
        "netprobe_packets_timeout{policy=\"default\",tap=\"probes\",target=\"t4\"}",
    ] {
        assert!(prom.contains(want), "missing {want} in\n{prom}");
    }
    assert!(!prom.contains("server.address"), "{prom}");
}

#[test]
fn netprobe_tcp_open_closed_silent_and_unresolvable_targets_collector_style() {
    if !need_root("netprobe in network namespaces") || !tools() {
        return;
    }
    let pair = NsPair::new("t");
    let l = Listener::start(&pair.b);
    let open = l.port;
    let closed = free_port();
    let cfg = temp_file(
        "netprobe-tcp.yaml",
        &format!(
            r#"receivers:
  netprobe/tcp:
    test_type: tcp
    interval_msec: 500
    timeout_msec: 400
    targets:
      open: {{target: {TARGET_V4}, port: {open}}}
      open6: {{target: "{TARGET_V6}", port: {open}}}
      closed: {{target: {TARGET_V4}, port: {closed}}}
      name4: {{target: {TARGET_NAME}, port: {open}}}
      name6: {{target: {TARGET_NAME}, port: {open}, ip_version: 6}}
      nowhere: {{target: nothing.invalid, port: {open}}}
      silent: {{target: 10.77.0.9, port: {open}}}
processors:
  netprobe: {{}}
exporters:
  pktvisor_api: {{}}
service:
  pipelines:
    metrics/tcp: {{receivers: [netprobe/tcp], processors: [netprobe], exporters: [pktvisor_api]}}
"#
        ),
    );
    let cfg_path = cfg.display().to_string();
    let a = AgentProc::start(&["--config", &cfg_path], Some(&pair.a));
    let targets = |v: &Value| v["tcp"]["tcp-netprobe_tcp-netprobe"]["netprobe"]["targets"].clone();
    let v = wait_json(
        &a,
        "/api/v1/policies/tcp/metrics/bucket/0",
        Duration::from_secs(20),
        |v| {
            let t = targets(v);
            ["open", "open6", "closed", "name4", "name6", "silent"]
                .iter()
                .all(|k| n(&t[k]["attempts"]) >= 3)
                && n(&t["nowhere"]["dns_lookup_failures"]) >= 3
        },
    );
    let t = targets(&v);
    for k in ["open", "open6", "name4", "name6"] {
        let x = &t[k];
        assert!(n(&x["successes"]) >= 3, "{k}: {x}");
        assert_eq!(n(&x["successes"]), n(&x["attempts"]), "{k}: {x}");
        assert!(n(&x["response_min_us"]) > 0, "{k}: {x}");
    }
    let c = &t["closed"];
    assert!(n(&c["connect_failures"]) >= 3, "{c}");
    assert_eq!(n(&c["connect_failures"]), n(&c["attempts"]), "{c}");
    assert_eq!(n(&c["successes"]), 0, "{c}");
    let s = &t["silent"];
    assert!(n(&s["packets_timeout"]) >= 3, "{s}");
    assert_eq!(n(&s["packets_timeout"]), n(&s["attempts"]), "{s}");
    let d = &t["nowhere"];
    assert_eq!((n(&d["attempts"]), n(&d["successes"])), (0, 0), "{d}");
    // ip_version 6 made the name's probes IPv6 (and open6's): the v6 listener saw them
    assert!(l.accepted[1].load(Ordering::Relaxed) >= 6);
    assert!(l.accepted[0].load(Ordering::Relaxed) >= 6);
    let prom = a.get("/api/v1/policies/tcp/metrics/prometheus").body;
    assert!(
        prom.contains("netprobe_connect_failures{handler=\"tcp-netprobe_tcp-netprobe\",policy=\"tcp\",tap=\"netprobe_tcp\",target=\"closed\"}"),
        "{prom}"
    );
    let info = a.get("/api/v1/policies/tcp").json();
    let input = info["tcp"]["input"]
        .as_object()
        .and_then(|m| m.values().next())
        .cloned()
        .unwrap_or_default();
    assert_eq!(input["netprobe"]["current_targets_total"], 7, "{input}");
    assert!(input["netprobe"].get("ping_sockets").is_none(), "{input}");
}

#[test]
fn netprobe_pings_through_unprivileged_datagram_sockets() {
    use pktvisor::testdata::have_tool;
    if !need_root("netprobe in network namespaces")
        || !tools()
        || !have_tool("setpriv", "util-linux")
    {
        return;
    }
    let pair = NsPair::new("d");
    let _r4 = Responder::start(&pair.b, false, Duration::from_millis(5), 0);
    let _r6 = Responder::start(&pair.b, true, Duration::from_millis(5), 0);
    run(&[
        "ip",
        "netns",
        "exec",
        &pair.a,
        "sysctl",
        "-qw",
        "net.ipv4.ping_group_range=0 2147483647",
    ]);
    let cfg = temp_file(
        "netprobe-dgram.yaml",
        &format!(
            "visor:\n  taps:\n    p:\n      input_type: netprobe\n      config:\n        test_type: ping\n        interval_msec: 100\n        timeout_msec: 100\n        targets: {{v4: {{target: {TARGET_V4}}}, v6: {{target: \"{TARGET_V6}\"}}}}\n  policies:\n    default:\n      kind: collection\n      input: {{tap: p, input_type: netprobe}}\n      handlers: {{modules: {{probe: {{type: netprobe}}}}}}\n"
        ),
    );
    let port = free_port();
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &pair.a,
            "setpriv",
            "--bounding-set=-net_raw",
            "--",
        ])
        .arg(env!("CARGO_BIN_EXE_pktvisord"))
        .arg("--config")
        .arg(&cfg)
        .args(["-l", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pktvisord");
    let a = AgentProc {
        child,
        port,
        netns: Some(pair.a.clone()),
    };
    let up = Instant::now() + Duration::from_secs(20);
    while a.get("/healthz").status != 200 && Instant::now() < up {
        std::thread::sleep(Duration::from_millis(100));
    }
    let targets = |v: &Value| v["default"]["default-p-probe"]["netprobe"]["targets"].clone();
    let v = wait_json(
        &a,
        "/api/v1/policies/default/metrics/bucket/0",
        Duration::from_secs(20),
        |v| {
            let t = targets(v);
            n(&t["v4"]["successes"]) >= 10 && n(&t["v6"]["successes"]) >= 10
        },
    );
    let t = targets(&v);
    for k in ["v4", "v6"] {
        let x = &t[k];
        assert!(n(&x["successes"]) >= 10, "{k}: {x}");
        assert!(n(&x["response_min_us"]) >= 5_000, "{k}: {x}");
    }
    let info = a.get("/api/v1/policies/default").json();
    let input = info["default"]["input"]
        .as_object()
        .and_then(|m| m.values().next())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        input["netprobe"]["probes"]["socket_ipv4"], "datagram",
        "{input}"
    );
    assert_eq!(
        input["netprobe"]["probes"]["socket_ipv6"], "datagram",
        "{input}"
    );
}

/// Every config error of pktvisor's netprobe input (and handler) with its text, through
/// `pktvisord validate`: one file, one broken tap and policy per case.
#[test]
fn netprobe_config_errors_have_pktvisors_texts() {
    let t = "targets: {a: {target: 192.0.2.1}}";
    let cases: &[(&str, &str)] = &[
        (
            "interval_msec: 100",
            "'test_type' config not specified. The valid test types are: http, ping, tcp, udp",
        ),
        (
            "test_type: icmp",
            "icmp is an invalid/unsupported test type. The valid test types are: http, ping, tcp, udp",
        ),
        (
            "test_type: http, targets: {a: {target: 192.0.2.1}}",
            "Test type currently not supported",
        ),
        (
            "test_type: udp, targets: {a: {target: 192.0.2.1}}",
            "Test type currently not supported",
        ),
        (
            "test_type: ping, interval_msec: 1000, timeout_msec: 1001",
            "timeout_msec [1001] cannot be greater than interval_msec [1000]",
        ),
        (
            "test_type: ping, packets_per_test: 0",
            "packets_per_test needs to be greater than 0",
        ),
        (
            "test_type: ping, interval_msec: 100, timeout_msec: 100, packets_per_test: 5, packets_interval_msec: 25",
            "packets_per_test [5] times packets_interval_msec [25] cannot be greater than packets_interval_msec [100]",
        ),
        (
            "test_type: ping, packet_payload_size: 70000",
            "packet_payload_size was set to 70000 but max supported size is 65500",
        ),
        ("test_type: ping", "no targets specified"),
        (
            "test_type: ping, targets: {a: {port: 80}}",
            "'a' does not have key 'target' which is required",
        ),
        (
            "test_type: tcp, targets: {a: {target: 192.0.2.1}}",
            "'a' does not have key 'port' which is required",
        ),
        (
            "test_type: ping, targets: {a: {target: 192.0.2.1, ip_version: 5}}",
            "ip_version must be 4 or 6",
        ),
        (
            "test_type: ping, targets: {a: {target: '2001:db8::1', ip_version: 4}}",
            "target 2001:db8::1 is IPv6 but ip_version is set to 4",
        ),
        (
            "test_type: ping, targets: {a: {target: 192.0.2.1, ip_version: 6}}",
            "target 192.0.2.1 is IPv4 but ip_version is set to 6",
        ),
        (
            "test_type: ping, targets: {a: {target: intranet}}",
            "intranet is an invalid/unsupported DNS",
        ),
        (
            "test_type: ping, interval_msec: soon, targets: {a: {target: 192.0.2.1}}",
            "wrong type for key: interval_msec",
        ),
        (
            "test_type: ping, bogus: 1, targets: {a: {target: 192.0.2.1}}",
            "invalid input config: bogus is an invalid/unsupported config or filter. The valid configs/filters are: test_type, interval_msec, timeout_msec, packets_per_test, packets_interval_msec, packet_payload_size, targets",
        ),
    ];
    let handler_cases: &[(&str, &str)] = &[
        (
            "{type: netprobe, config: {xact_ttl: 5}}",
            "policy [h0] failed to start: xact_ttl is an invalid/unsupported config or filter. The valid configs/filters are: recorded_stream, xact_ttl_secs, xact_ttl_ms, deep_sample_rate, num_periods, topn_count, topn_percentile_threshold",
        ),
        (
            "{type: netprobe, metric_groups: {enable: [top_targets]}}",
            "policy [h1] failed to start: top_targets is an invalid/unsupported metric group. The valid groups are: all, counters, histograms, quantiles",
        ),
    ];
    let mut doc = String::from("visor:\n  taps:\n");
    for (i, (c, _)) in cases.iter().enumerate() {
        doc.push_str(&format!(
            "    t{i}: {{input_type: netprobe, config: {{{c}}}}}\n"
        ));
    }
    doc.push_str(&format!(
        "    good: {{input_type: netprobe, config: {{test_type: ping, {t}}}}}\n"
    ));
    doc.push_str("  policies:\n");
    for i in 0..cases.len() {
        doc.push_str(&format!(
            "    p{i}: {{kind: collection, input: {{tap: t{i}, input_type: netprobe}}, handlers: {{modules: {{n: {{type: netprobe}}}}}}}}\n"
        ));
    }
    for (i, (m, _)) in handler_cases.iter().enumerate() {
        doc.push_str(&format!(
            "    h{i}: {{kind: collection, input: {{tap: good, input_type: netprobe}}, handlers: {{modules: {{n: {m}}}}}}}\n"
        ));
    }
    let file = temp_file("netprobe-errors.yaml", &doc);
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisord"))
        .args(["validate", "--config"])
        .arg(&file)
        .output()
        .expect("validate runs");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    for (i, (_, want)) in cases.iter().enumerate() {
        let line = err
            .lines()
            .find(|l| l.contains(&format!("visor.policies.p{i}.input: ")))
            .unwrap_or_else(|| panic!("no error for case {i} in\n{err}"));
        let got = line
            .split(&format!("visor.policies.p{i}.input: "))
            .nth(1)
            .unwrap();
        // the input's own keys, then the engine's `workers`
        let got = got.trim_end_matches(", workers");
        assert_eq!(got, *want, "case {i}");
    }
    for (i, (_, want)) in handler_cases.iter().enumerate() {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("visor.policies.h{i}.handlers.modules.n: {want}"))),
            "missing {want} in\n{err}"
        );
    }
    assert!(
        err.contains(&format!(
            "{} problem(s) found",
            cases.len() + handler_cases.len()
        )),
        "{err}"
    );
    let _ = std::fs::remove_file(file);
}

#[test]
fn module_list_names_the_netprobe_input_and_handler() {
    let out = Command::new(env!("CARGO_BIN_EXE_pktvisord"))
        .arg("--module-list")
        .output()
        .expect("pktvisord runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l == "input: netprobe version 1.0"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "handler: netprobe version 1.0"),
        "{text}"
    );
}

/// A netprobe tap and policy created and deleted through the admin API (probing the
/// loopback address).
#[test]
fn netprobe_policy_created_and_deleted_through_the_admin_api() {
    if !tools() {
        return;
    }
    let a = AgentProc::start(&["--admin-api"], None);
    let yaml = "application/x-yaml";
    let tap = "version: \"1.0\"\nvisor:\n  taps:\n    lo_probe:\n      input_type: netprobe\n      config: {test_type: ping, interval_msec: 200, timeout_msec: 100, targets: {lo: {target: 127.0.0.1}}}\n";
    let r = a.request("POST", "/api/v1/taps", Some((yaml, tap)));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["lo_probe"]["input_type"], "netprobe");
    let policy = "version: \"1.0\"\nvisor:\n  policies:\n    probing:\n      kind: collection\n      input: {tap: lo_probe, input_type: netprobe}\n      handlers: {modules: {np: {type: netprobe}}}\n";
    let r = a.request("POST", "/api/v1/policies", Some((yaml, policy)));
    assert_eq!(r.status, 201, "{}", r.body);
    let v = wait_json(
        &a,
        "/api/v1/policies/probing/metrics/bucket/0",
        Duration::from_secs(10),
        |v| n(&v["probing"]["probing-lo_probe-np"]["netprobe"]["targets"]["lo"]["attempts"]) >= 2,
    );
    let lo = &v["probing"]["probing-lo_probe-np"]["netprobe"]["targets"]["lo"];
    // root or ping_group_range: loopback always answers
    assert!(n(&lo["successes"]) + n(&lo["connect_failures"]) >= 2, "{v}");
    let info = a.get("/api/v1/policies/probing").json();
    let input = info["probing"]["input"]
        .as_object()
        .and_then(|m| m.values().next())
        .cloned()
        .unwrap_or_default();
    assert_eq!(input["netprobe"]["current_targets_total"], 1, "{info}");
    assert_eq!(input["input"]["running"], true, "{info}");
    let r = a.request("DELETE", "/api/v1/policies/probing", None);
    assert!(
        r.status == 200 || r.status == 204,
        "{}: {}",
        r.status,
        r.body
    );
    assert_eq!(a.get("/api/v1/policies").json(), serde_json::json!({}));
    assert_eq!(a.get("/api/v1/policies/probing").status, 404);
    assert_eq!(a.get("/readyz").json()["inputs"], serde_json::json!([]));
    let r = a.request("DELETE", "/api/v1/taps/lo_probe", None);
    assert!(
        r.status == 200 || r.status == 204,
        "{}: {}",
        r.status,
        r.body
    );
}

/// The OTLP shape of netprobe: sums of probes (failures by `error.type`), the response
/// time as one exponential histogram in seconds, `pktvisor.netprobe.target` and
/// `server.address` (and TCP's `server.port`, an integer) on every point; pktvisor's min/max
/// live in the histogram point.
#[test]
fn netprobe_otlp_points_are_sums_and_a_histogram_in_seconds() {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use pktvisor::config::value::ConfigMap;
    use pktvisor::event::{Event, ProbeOutcome, ProbeResult, ProbeTest};
    use pktvisor::export::otlp::encode::{EncodeOptions, SnapshotRef, encode_snapshots};
    use pktvisor::processor::{ProcessorContext, Select, build};
    use pktvisor::time::Timespec;

    let mut p = build(
        "netprobe",
        "1.0",
        &ConfigMap::new(),
        &ProcessorContext::default(),
    )
    .expect("netprobe");
    let t0 = Timespec::new(1_700_000_000, 0);
    p.handle(&Event::Start(t0));
    for outcome in [
        Some(ProbeOutcome::Success { rtt_ns: 20_000_000 }),
        Some(ProbeOutcome::Success { rtt_ns: 30_000_000 }),
        Some(ProbeOutcome::Timeout),
        Some(ProbeOutcome::ConnectFailure),
        None,
    ] {
        let r = ProbeResult {
            target: "web".into(),
            host: "www.example.com".into(),
            port: Some(443),
            address: Some("192.0.2.7".parse().unwrap()),
            test: ProbeTest::Tcp,
            outcome: outcome.unwrap_or(ProbeOutcome::DnsLookupFailure),
            attempted: outcome.is_some(),
            sent: t0,
            ts: t0,
            timeout_ms: 2000,
        };
        p.handle(&Event::Probe(&r));
    }
    let snap = p.snapshot(Select::Bucket(0), t0).unwrap();
    let batch = encode_snapshots(
        &EncodeOptions::default(),
        &Resource::default(),
        &[SnapshotRef {
            policy: "p",
            tap: "t",
            handler: "h",
            snapshot: snap.as_ref(),
            start: t0,
            end: t0,
        }],
    );
    let metrics = &batch.request.resource_metrics[0].scope_metrics[0].metrics;
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "pktvisor.netprobe.attempts",
            "pktvisor.netprobe.successes",
            "pktvisor.netprobe.failures",
            "pktvisor.netprobe.response.duration"
        ]
    );
    let attr = |kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue], k: &str| {
        kvs.iter()
            .find(|kv| kv.key == k)
            .and_then(|kv| match &kv.value {
                Some(v) => match &v.value {
                    Some(Any::StringValue(s)) => Some(s.clone()),
                    Some(Any::IntValue(i)) => Some(i.to_string()),
                    _ => None,
                },
                None => None,
            })
    };
    for m in metrics {
        match &m.data {
            Some(Data::Sum(s)) => {
                assert!(s.is_monotonic, "{}", m.name);
                assert_eq!(m.unit, "{probe}");
                for dp in &s.data_points {
                    assert_eq!(
                        attr(&dp.attributes, "pktvisor.netprobe.target").as_deref(),
                        Some("web")
                    );
                    assert_eq!(
                        attr(&dp.attributes, "server.address").as_deref(),
                        Some("www.example.com")
                    );
                    assert_eq!(attr(&dp.attributes, "server.port").as_deref(), Some("443"));
                    let port = dp.attributes.iter().find(|kv| kv.key == "server.port");
                    assert!(
                        matches!(
                            port.and_then(|kv| kv.value.as_ref()?.value.as_ref()),
                            Some(Any::IntValue(443))
                        ),
                        "server.port is an integer"
                    );
                }
                if m.name == "pktvisor.netprobe.failures" {
                    let mut kinds: Vec<String> = s
                        .data_points
                        .iter()
                        .filter_map(|dp| attr(&dp.attributes, "error.type"))
                        .collect();
                    kinds.sort();
                    assert_eq!(kinds, ["connect", "dns_lookup", "timeout"]);
                }
            }
            Some(Data::ExponentialHistogram(h)) => {
                assert_eq!(m.unit, "s");
                let dp = &h.data_points[0];
                assert_eq!(dp.count, 2);
                assert!((dp.sum.unwrap() - 0.05).abs() < 1e-9, "{dp:?}");
                assert!((dp.min.unwrap() - 0.02).abs() < 1e-9, "{dp:?}");
                assert!((dp.max.unwrap() - 0.03).abs() < 1e-9, "{dp:?}");
                assert_eq!(
                    attr(&dp.attributes, "pktvisor.netprobe.target").as_deref(),
                    Some("web")
                );
                // bucket i covers (base^i, base^(i+1)] with base = 2^(2^-scale)
                let base = 2f64.powf(2f64.powi(-dp.scale));
                let first = dp.positive.as_ref().unwrap().offset;
                let lower = base.powi(first);
                assert!(
                    lower < 0.02 && 0.02 <= lower * base * 1.0001,
                    "{lower} {base}"
                );
            }
            other => panic!("{}: unexpected {other:?}", m.name),
        }
    }
}

/// The receiver in-process against the loopback address: 150 tests 20 ms apart stay on
/// their grid (no wake-up latency adds up), each probe answered.
#[test]
fn netprobe_tests_stay_on_their_grid() {
    use pktvisor::config::value::ConfigMap;
    use pktvisor::event::ProbeOutcome;
    use pktvisor::receiver::ReceiverConfig;
    use pktvisor::receiver::context::{Delivery, ReceiverContext, Shutdown};
    use pktvisor::receiver::netprobe::NetprobeInput;

    if !need_root("raw ICMP sockets") {
        return;
    }
    let yaml: serde_norway::Value = serde_norway::from_str(
        "test_type: ping\ninterval_msec: 20\ntimeout_msec: 20\npackets_interval_msec: 10\ntargets: {lo: {target: 127.0.0.1}}\n",
    )
    .unwrap();
    let cfg = ConfigMap::from_yaml(yaml.as_mapping().unwrap()).unwrap();
    let input = NetprobeInput::from_config(&cfg).unwrap();
    let built = input.build().unwrap();
    let (tx, rx) = mpsc::sync_channel(64);
    let (_recycle_tx, recycle_rx) = mpsc::sync_channel(1);
    let shutdown = Shutdown::default();
    let ctx = ReceiverContext::new(tx, recycle_rx, shutdown.clone(), Arc::default());
    let runner = std::thread::spawn(move || built.receiver.run(&ctx));
    let mut results = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while results.len() < 150 && Instant::now() < deadline {
        if let Ok(Delivery::Probes(b)) = rx.recv_timeout(Duration::from_millis(200)) {
            results.extend(b);
        }
    }
    shutdown.trigger();
    drop(rx);
    runner.join().unwrap().unwrap();
    assert!(results.len() >= 150, "{} results", results.len());
    results.sort_by_key(|r| r.sent);
    for r in &results {
        assert!(
            matches!(r.outcome, ProbeOutcome::Success { .. }),
            "{:?}",
            r.outcome
        );
    }
    // Each test's offset from its grid point (a loaded machine may run one late, or skip
    // one when the loop falls a whole interval behind; neither moves the grid).
    let t0 = results[0].sent.as_nanos();
    let offsets: Vec<i128> = results
        .iter()
        .map(|r| {
            let d = r.sent.as_nanos() - t0 + 3_000_000;
            d.rem_euclid(20_000_000) - 3_000_000
        })
        .collect();
    let median = |v: &[i128]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let (early, late) = (
        median(&offsets[..50]),
        median(&offsets[offsets.len() - 50..]),
    );
    assert!(
        (late - early).abs() < 2_000_000,
        "the grid drifted: median offset {early} ns at the start, {late} ns at the end"
    );
    let on_time = offsets.iter().filter(|o| o.abs() < 5_000_000).count();
    assert!(
        on_time * 10 >= offsets.len() * 8,
        "{on_time} of {} tests within 5 ms of their grid point",
        offsets.len()
    );
    let worst = offsets.iter().map(|o| o.abs()).max().unwrap_or(0);
    eprintln!(
        "{} tests at 20 ms: median offset from the grid {} µs at the start, {} µs at the end, worst {} µs",
        offsets.len(),
        early / 1000,
        late / 1000,
        worst / 1000
    );
}
