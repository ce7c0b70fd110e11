//! A pktvisord process for tests: started on a free port (optionally inside a network
//! namespace), waited for until `/healthz` answers, killed on drop.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running agent.
pub struct AgentProc {
    pub child: Child,
    pub port: u16,
    /// Network namespace it runs in (requests go through `ip netns exec … curl`).
    pub netns: Option<String>,
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A file in the temp dir unique to this process and `name`.
pub fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("pktvisord-test-{}-{name}", std::process::id()))
}

/// Writes `text` to a temp file and returns its path.
pub fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let p = temp_path(name);
    std::fs::write(&p, text).expect("write temp file");
    p
}

/// A response: status and body.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl AgentProc {
    /// Starts pktvisord with `args` (a port is added) and waits for it.
    pub fn start(args: &[&str], netns: Option<&str>) -> AgentProc {
        let port = free_port();
        let bin = env!("CARGO_BIN_EXE_pktvisord");
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, bin]);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(args)
            .args(["-l", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd.spawn().expect("spawn pktvisord");
        let mut a = AgentProc {
            child,
            port,
            netns: netns.map(str::to_string),
        };
        a.wait_up();
        a
    }

    /// Wraps an agent started by the caller and waits for it.
    pub fn adopt(child: Child, port: u16) -> AgentProc {
        let mut a = AgentProc {
            child,
            port,
            netns: None,
        };
        a.wait_up();
        a
    }

    fn wait_up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let (out, err) = self.output();
                panic!("pktvisord exited early ({status}): {out}\n{err}");
            }
            if self.get("/healthz").status == 200 {
                return;
            }
            assert!(Instant::now() < deadline, "pktvisord did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends a request with curl (inside the namespace when there is one).
    pub fn request(&self, method: &str, path: &str, body: Option<(&str, &str)>) -> Resp {
        self.request_with(method, path, body, &[])
    }

    /// Sends a request with extra headers (`Name: value`).
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &str)>,
        headers: &[&str],
    ) -> Resp {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "curl"]);
                c
            }
            None => Command::new("curl"),
        };
        cmd.args([
            "-s",
            "-m",
            "10",
            "-X",
            method,
            "-o",
            "-",
            "-w",
            "\n%{http_code} %{content_type}",
        ]);
        for h in headers {
            cmd.args(["-H", h]);
        }
        if let Some((ct, data)) = body {
            // An empty value makes curl send no Content-Type at all.
            cmd.args([
                "-H",
                &format!(
                    "Content-Type:{}",
                    if ct.is_empty() {
                        String::new()
                    } else {
                        format!(" {ct}")
                    }
                ),
            ]);
            cmd.args(["--data-binary", data]);
        }
        cmd.arg(&url);
        let out = cmd.output().expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
        let mut parts = tail.splitn(2, ' ');
        let status = parts.next().unwrap_or("0").parse().unwrap_or(0);
        Resp {
            status,
            content_type: parts.next().unwrap_or("").to_string(),
            body: body.to_string(),
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, None)
    }

    /// Stops with SIGTERM and returns the exit status within `limit`.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id();
        // In a namespace `ip netns exec` execs the agent, so the pid is the agent's.
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Stdout and stderr so far (after the process ended).
    pub fn output(&mut self) -> (String, String) {
        let mut out = String::new();
        let mut err = String::new();
        if let Some(s) = self.child.stdout.as_mut() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(s) = self.child.stderr.as_mut() {
            let _ = s.read_to_string(&mut err);
        }
        (out, err)
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether this process runs as root (network namespaces need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// True when root; otherwise a note (or a panic under CI=true).
pub fn need_root(what: &str) -> bool {
    if is_root() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what} needs root (CI=true)");
    }
    eprintln!("note: {what} needs root; skipped");
    false
}

/// A network namespace with a veth pair `veth0`/`veth1` (both up), deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("pv{tag}{}", std::process::id());
        let run = |args: &[&str]| {
            let st = Command::new("ip").args(args).status().expect("ip");
            assert!(st.success(), "ip {args:?} failed");
        };
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        run(&["netns", "add", &name]);
        let ns = Netns { name };
        run(&[
            "netns", "exec", &ns.name, "ip", "link", "add", "veth0", "type", "veth", "peer",
            "name", "veth1",
        ]);
        // No IPv6 autoconfiguration chatter on the pair: only replayed frames are seen.
        for k in ["all", "default"] {
            run(&[
                "netns",
                "exec",
                &ns.name,
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{k}.disable_ipv6=1"),
            ]);
        }
        run(&[
            "netns",
            "exec",
            &ns.name,
            "sysctl",
            "-qw",
            "net.ipv6.conf.veth0.disable_ipv6=1",
        ]);
        run(&[
            "netns",
            "exec",
            &ns.name,
            "sysctl",
            "-qw",
            "net.ipv6.conf.veth1.disable_ipv6=1",
        ]);
        // Loopback captures hold frames above 1500 bytes: room for them on the pair.
        for d in ["veth0", "veth1"] {
            run(&[
                "netns", "exec", &ns.name, "ip", "link", "set", d, "mtu", "9000",
            ]);
        }
        for d in ["lo", "veth0", "veth1"] {
            run(&["netns", "exec", &ns.name, "ip", "link", "set", d, "up"]);
        }
        ns
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("ip netns exec")
    }

    /// Replays a capture into veth0 (tcpreplay).
    pub fn replay(&self, capture: &Path, extra: &[&str]) -> String {
        let cap = capture.display().to_string();
        let mut args = vec!["tcpreplay", "-i", "veth0"];
        args.extend_from_slice(extra);
        args.push(&cap);
        let out = self.exec(&args);
        assert!(
            out.status.success(),
            "tcpreplay failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
