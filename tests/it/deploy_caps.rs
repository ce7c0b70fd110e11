//! Capture without root, the three ways deploy/ sets it up, each run as the unprivileged
//! user `nobody` by `setpriv` on loopback: ambient capabilities with no_new_privs and a
//! bounding set of NET_RAW + NET_ADMIN (what the systemd unit asks systemd for), file
//! capabilities `=ip` (the container image: the agent raises them itself) and `=eip` (the
//! README's setcap). Each agent must report its capture running on /readyz and count the
//! requests it was sent; without any capability the same agent exits 1 with the capture's
//! error, as pktvisor does.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::agent_proc::{AgentProc, free_port, temp_path};

/// A copy of pktvisord that `nobody` can execute, with `caps` as file capabilities.
fn agent_copy(name: &str, caps: Option<&str>) -> PathBuf {
    let dir = temp_path(&format!("caps-{name}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let bin = dir.join("pktvisord");
    std::fs::copy(env!("CARGO_BIN_EXE_pktvisord"), &bin).expect("copy");
    let _ = Command::new("chmod").args(["0755"]).arg(&dir).status();
    if let Some(c) = caps {
        let st = Command::new("setcap")
            .arg(c)
            .arg(&bin)
            .status()
            .expect("setcap");
        assert!(st.success(), "setcap {c}");
    }
    bin
}

/// `bin lo` on `port` under `setpriv` with these arguments.
fn agent_command(bin: &Path, setpriv: &[&str], port: u16) -> Command {
    let mut c = Command::new("setpriv");
    c.args(setpriv)
        .arg(bin)
        .args(["lo", "-l", "127.0.0.1", "-p", &port.to_string()]);
    c
}

fn start(bin: &Path, setpriv: &[&str]) -> AgentProc {
    let port = free_port();
    let child = agent_command(bin, setpriv, port)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("setpriv");
    AgentProc::adopt(child, port)
}

/// Waits until /readyz says the capture runs, then until requests are counted.
fn assert_captures(a: &AgentProc, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = a.get("/readyz");
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "{what}: not ready: {}", r.body);
        std::thread::sleep(Duration::from_millis(100));
    }
    for _ in 0..100 {
        let v = a.get("/api/v1/metrics/bucket/0").json();
        if v["1m"]["packets"]["total"].as_u64().unwrap_or(0) > 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: the capture counted nothing");
}

const NOBODY: &[&str] = &["--reuid=65534", "--regid=65534", "--clear-groups"];

fn have_tools() -> bool {
    crate::agent_proc::need_root("switching to nobody with capabilities")
        && pktvisor::testdata::have_tool("setpriv", "util-linux")
        && pktvisor::testdata::have_tool("setcap", "libcap2-bin")
}

#[test]
fn deploy_caps_ambient_as_the_systemd_unit_sets_them() {
    if !have_tools() {
        return;
    }
    let bin = agent_copy("ambient", None);
    let mut args = NOBODY.to_vec();
    args.extend([
        "--inh-caps=-all,+net_raw,+net_admin",
        "--ambient-caps=-all,+net_raw,+net_admin",
        "--bounding-set=-all,+net_raw,+net_admin",
        "--no-new-privs",
    ]);
    let mut a = start(&bin, &args);
    assert_captures(&a, "ambient capabilities");
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", a.child.id())).unwrap_or_default();
    assert!(status.contains("CapEff:\t0000000000003000"), "{status}");
    assert!(
        a.terminate(Duration::from_secs(10))
            .expect("stops")
            .success()
    );
    let _ = std::fs::remove_dir_all(bin.parent().unwrap());
}

#[test]
fn deploy_caps_file_capabilities_as_the_image_and_the_readme_set_them() {
    if !have_tools() {
        return;
    }
    for (name, caps) in [
        ("image", "cap_net_raw,cap_net_admin=ip"),
        ("readme", "cap_net_raw,cap_net_admin=eip"),
    ] {
        let bin = agent_copy(name, Some(caps));
        let mut a = start(&bin, NOBODY);
        assert_captures(&a, caps);
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", a.child.id())).unwrap_or_default();
        assert!(
            status.contains("CapEff:\t0000000000003000"),
            "{caps}: {status}"
        );
        assert!(
            a.terminate(Duration::from_secs(10))
                .expect("stops")
                .success()
        );
        let _ = std::fs::remove_dir_all(bin.parent().unwrap());
    }
}

/// As pktvisor: a policy whose input cannot open does not start, and an agent whose
/// config (here the IFACE default policy) cannot start exits 1 with the capture's error.
#[test]
fn deploy_caps_without_capabilities_the_capture_fails_visibly() {
    if !have_tools() {
        return;
    }
    let bin = agent_copy("none", None);
    let out = agent_command(&bin, NOBODY, free_port())
        .output()
        .expect("setpriv");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("visor.policies.default: policy [default] failed to start: "),
        "{text}"
    );
    assert!(text.to_lowercase().contains("not permitted"), "{text}");
    let _ = std::fs::remove_dir_all(bin.parent().unwrap());
}
