//! pktvisor-cli end to end, in a real terminal: pktvisord on a veth in a network namespace the
//! test creates, tcpreplay of one of our DNS captures into the other end, pktvisor-cli in a
//! 120x40 tmux session (its own tmux server socket). `tmux capture-pane` must show pktvisor's
//! header with packet and DNS counts and the Top QName 2 table led by the capture's top name
//! (counted from tshark's reading of the capture); `q` must exit 0 and give back a cooked,
//! primary-screen terminal. The second test kills the agent midway: the CLI says it is
//! reconnecting, and shows live data again once the agent is back on the same port. Without
//! an agent: a panic in a thread gives the terminal back, and the CLI ends when its terminal
//! goes away (with or without SIGHUP) instead of spinning on it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::agent_proc::{AgentProc, Netns, free_port, need_root, temp_path};
use crate::common::own_fixture;

fn tools() -> bool {
    use pktvisor::testdata::have_tool;
    have_tool("tmux", "tmux")
        && have_tool("tcpreplay", "tcpreplay")
        && have_tool("tshark", "tshark")
        && have_tool("curl", "curl")
}

/// A tmux server of our own (socket in the temp dir), killed on drop.
struct Tmux {
    socket: PathBuf,
}

const SESSION: &str = "pvcli";

impl Tmux {
    fn new(tag: &str) -> Tmux {
        let socket = temp_path(&format!("tmux-{tag}.sock"));
        let _ = std::fs::remove_file(&socket);
        Tmux { socket }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tmux")
    }

    /// Starts `cmd` (through sh) in a detached `width`x`height` session.
    fn start(&self, cmd: &str, width: u16, height: u16) {
        let out = self.run(&[
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            cmd,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", SESSION]).stdout).into()
    }

    fn display(&self, format: &str) -> String {
        String::from_utf8_lossy(
            &self
                .run(&["display-message", "-p", "-t", SESSION, format])
                .stdout,
        )
        .trim()
        .to_string()
    }

    fn keys(&self, keys: &str) {
        assert!(
            self.run(&["send-keys", "-t", SESSION, keys])
                .status
                .success()
        );
    }

    /// Polls the screen until `ok` holds; the last screen either way.
    fn wait(&self, limit: Duration, ok: impl Fn(&str) -> bool) -> (bool, String) {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.screen();
            if ok(&s) {
                return (true, s);
            }
            if Instant::now() > deadline {
                return (false, s);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// The number after `label` on the screen (first occurrence).
fn number_after(screen: &str, label: &str) -> Option<u64> {
    let at = screen.find(label)? + label.len();
    let digits: String = screen[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// The first row of the table titled `title`, as shown under its top border.
fn first_row(screen: &str, title: &str) -> Option<String> {
    let lines: Vec<&str> = screen.lines().collect();
    let border = format!("┌{title}");
    let (i, line) = lines
        .iter()
        .enumerate()
        .find(|(_, l)| l.contains(&border))?;
    let col = line[..line.find(&border)?].chars().count();
    let row: String = lines.get(i + 1)?.chars().skip(col + 1).collect();
    Some(row.split('│').next().unwrap_or("").trim().to_string())
}

/// pktvisor's "qname2" of a name: its last two labels, with the leading dot of a longer name.
fn qname2(name: &str) -> String {
    let labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
    if labels.len() <= 2 {
        labels.join(".")
    } else {
        format!(".{}", labels[labels.len() - 2..].join("."))
    }
}

/// The most frequent qname2 over every DNS message of `capture`, as tshark reads it.
fn top_qname2(capture: &Path) -> (String, u64) {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(capture)
        .args(["-Y", "dns", "-T", "fields", "-e", "dns.qry.name"])
        .output()
        .expect("tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut counts: HashMap<String, u64> = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(first) = line.split(',').next().filter(|n| !n.is_empty()) {
            *counts.entry(qname2(&first.to_lowercase())).or_default() += 1;
        }
    }
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    assert!(v.len() > 1 && v[0].1 > v[1].1, "a clear top name: {v:?}");
    v.swap_remove(0)
}

/// The shell line tmux runs: a marker, the CLI, then its exit status and the terminal modes
/// it left behind, then a long sleep so the pane stays to be read.
fn session_command(ns: &str, port: u16) -> String {
    format!(
        "sh -c 'echo before-cli; ip netns exec {ns} {bin} -H 127.0.0.1 -p {port} --interval 0.5; \
         echo cli-exit=$?; echo modes: $(stty -a | tr \" ;\" \"\\n\\n\" | grep -E \"^-?(icanon|echo|isig)$\"); sleep 600'",
        bin = env!("CARGO_BIN_EXE_pktvisor-cli")
    )
}

/// pktvisord's default policy on veth1 of `ns`, on `port`.
fn start_agent(ns: &Netns, port: u16) -> AgentProc {
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            env!("CARGO_BIN_EXE_pktvisord"),
            "veth1",
        ])
        .args(["-l", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pktvisord");
    let mut a = AgentProc {
        child,
        port,
        netns: Some(ns.name.clone()),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = a.child.try_wait() {
            panic!("pktvisord exited early: {status}");
        }
        if a.get("/readyz").status == 200 {
            return a;
        }
        assert!(Instant::now() < deadline, "pktvisord did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for the header's packet and DNS counts to be non-zero and the Top QName 2 table to
/// be led by `top`; returns the screen.
fn wait_for_traffic(tmux: &Tmux, top: &str) -> String {
    let (ok, screen) = tmux.wait(Duration::from_secs(30), |s| {
        number_after(s, "Pkts  ").is_some_and(|n| n > 0)
            && number_after(s, "DNS Wire Pkts ").is_some_and(|n| n > 0)
            && first_row(s, "Top QName 2").is_some_and(|r| r.starts_with(&format!("{top} ")))
    });
    assert!(ok, "no traffic on the screen:\n{screen}");
    screen
}

fn quit_and_check_terminal(tmux: &Tmux) {
    tmux.keys("q");
    let (ok, screen) = tmux.wait(Duration::from_secs(10), |s| s.contains("modes:"));
    assert!(ok, "pktvisor-cli did not quit on q:\n{screen}");
    assert!(screen.contains("cli-exit=0"), "{screen}");
    assert!(
        screen.contains("before-cli"),
        "the primary screen is back:\n{screen}"
    );
    let modes = screen
        .lines()
        .find(|l| l.starts_with("modes:"))
        .unwrap()
        .to_string();
    for m in ["icanon", "echo", "isig"] {
        assert!(
            modes.split_whitespace().any(|w| w == m),
            "terminal left in raw mode ({modes})"
        );
    }
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "0",
        "alternate screen left on"
    );
    assert_eq!(tmux.display("#{cursor_flag}"), "1", "cursor left hidden");
}

#[test]
fn cli_tmux_shows_live_traffic_and_quits_cleanly() {
    if !need_root("pktvisor-cli end to end in a network namespace") || !tools() {
        return;
    }
    let cap = own_fixture("dns/dns-perf.pcap");
    let (top, _) = top_qname2(&cap);
    let ns = Netns::new("cli");
    let port = free_port();
    let _agent = start_agent(&ns, port);
    let tmux = Tmux::new("live");
    tmux.start(&session_command(&ns.name, port), 120, 40);
    let (ok, screen) = tmux.wait(Duration::from_secs(20), |s| s.contains("● live"));
    assert!(ok, "the CLI never got a window:\n{screen}");
    assert!(
        screen.contains("pktvisor-cli (client: ") && screen.contains("Policy: default"),
        "{screen}"
    );
    ns.replay(&cap, &[]);
    let screen = wait_for_traffic(&tmux, &top);
    for title in [
        "Top QName 3",
        "Top RCodes",
        "IPv4",
        "Top DNS UDP Ports",
        "Packets/s now",
    ] {
        assert!(screen.contains(title), "{title} missing:\n{screen}");
    }
    quit_and_check_terminal(&tmux);
}

#[test]
fn cli_tmux_reconnects_after_the_agent_restarts() {
    if !need_root("pktvisor-cli end to end in a network namespace") || !tools() {
        return;
    }
    let cap = own_fixture("dns/dns-perf.pcap");
    let (top, _) = top_qname2(&cap);
    let ns = Netns::new("clirs");
    let port = free_port();
    let agent = start_agent(&ns, port);
    let tmux = Tmux::new("restart");
    tmux.start(&session_command(&ns.name, port), 120, 40);
    ns.replay(&cap, &["-K", "--topspeed"]);
    wait_for_traffic(&tmux, &top);

    drop(agent);
    let (ok, screen) = tmux.wait(Duration::from_secs(20), |s| {
        s.contains("agent lost, reconnecting to http://127.0.0.1:")
    });
    assert!(ok, "no reconnecting status:\n{screen}");
    assert!(screen.contains("Pkts  "), "the last data stays on screen");

    let _agent = start_agent(&ns, port);
    // Back live, with the new agent's empty window (not the data kept from the old one).
    let (ok, screen) = tmux.wait(Duration::from_secs(20), |s| {
        s.contains("● live") && number_after(s, "Pkts  ") == Some(0)
    });
    assert!(ok, "the CLI did not come back:\n{screen}");
    ns.replay(&cap, &["-K", "--topspeed"]);
    wait_for_traffic(&tmux, &top);
    quit_and_check_terminal(&tmux);
}

#[test]
fn cli_tmux_panic_in_a_thread_restores_the_terminal() {
    if !pktvisor::testdata::have_tool("tmux", "tmux") {
        return;
    }
    // The poller thread panics (debug builds inject it on request) half a second in: the
    // hook must give the terminal back and the CLI must exit with an error, not hang.
    let tmux = Tmux::new("panic");
    tmux.start(
        &format!(
            "sh -c 'echo before-cli; RUST_BACKTRACE=0 PKTVISOR_CLI_TEST_PANIC=1 {bin} -H 127.0.0.1 -p {port}; \
             echo cli-exit=$?; echo modes: $(stty -a | tr \" ;\" \"\\n\\n\" | grep -E \"^-?(icanon|echo|isig)$\"); sleep 600'",
            bin = env!("CARGO_BIN_EXE_pktvisor-cli"),
            port = free_port()
        ),
        100,
        30,
    );
    let (ok, screen) = tmux.wait(Duration::from_secs(15), |s| s.contains("modes:"));
    assert!(ok, "the CLI did not exit after the panic:\n{screen}");
    assert!(screen.contains("injected panic"), "{screen}");
    assert!(screen.contains("cli-exit=1"), "{screen}");
    assert!(screen.contains("before-cli"), "{screen}");
    let modes = screen.lines().find(|l| l.starts_with("modes:")).unwrap();
    for m in ["icanon", "echo", "isig"] {
        assert!(
            modes.split_whitespace().any(|w| w == m),
            "raw mode left on ({modes})"
        );
    }
    assert_eq!(tmux.display("#{alternate_on}"), "0");
    assert_eq!(tmux.display("#{cursor_flag}"), "1");
}

/// Whether process `pid` still runs (a zombie has exited).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

#[test]
fn cli_tmux_exits_when_its_terminal_goes_away() {
    if !pktvisor::testdata::have_tool("tmux", "tmux")
        || !pktvisor::testdata::have_tool("setsid", "util-linux")
    {
        return;
    }
    // Once as the terminal's process (SIGHUP on hangup), once in a session of its own with
    // the pane as stdin/stdout (no signal: it must notice the hangup itself). Either way the
    // process must end, not spin on the dead terminal.
    for tag in ["hup", "nohup"] {
        let pidfile = temp_path(&format!("cli-{tag}.pid"));
        let _ = std::fs::remove_file(&pidfile);
        let run = format!(
            "echo $$ > {pid}; exec {bin} -H 127.0.0.1 -p {port}",
            pid = pidfile.display(),
            bin = env!("CARGO_BIN_EXE_pktvisor-cli"),
            port = free_port()
        );
        let script = crate::agent_proc::temp_file(
            &format!("cli-{tag}.sh"),
            &if tag == "hup" {
                format!("{run}\n")
            } else {
                format!("exec setsid -w sh -c '{run}'\n")
            },
        );
        let tmux = Tmux::new(tag);
        tmux.start(&format!("sh {}", script.display()), 100, 30);
        let (ok, screen) = tmux.wait(Duration::from_secs(15), |s| s.contains("connecting to"));
        assert!(ok, "[{tag}] the CLI did not start:\n{screen}");
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(running(pid), "[{tag}] pid {pid}");
        drop(tmux);
        let deadline = Instant::now() + Duration::from_secs(10);
        while running(pid) {
            if Instant::now() > deadline {
                // Do not leave it spinning behind the failed test.
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                panic!("[{tag}] pktvisor-cli (pid {pid}) still runs after its terminal went away");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
