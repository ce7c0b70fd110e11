//! deploy/systemd: the unit passes `systemd-analyze verify` (with its ExecStart pointed at
//! the test binary and the generated man page on MANPATH, since verify checks both), and
//! the agent speaks sd_notify to a fake notify socket made here, by path and as an
//! abstract `@` socket: READY=1 once the REST API answers, RELOADING=1 + READY=1 around a
//! SIGHUP reload, STOPPING=1 on SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::agent_proc::{AgentProc, free_port, temp_file, temp_path};

#[test]
fn deploy_systemd_unit_verifies() {
    if !pktvisor::testdata::have_tool("systemd-analyze", "systemd")
        || !pktvisor::testdata::have_tool("man", "man-db")
    {
        return;
    }
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd/pktvisord.service"),
    )
    .expect("unit");
    for want in [
        "Type=notify",
        "DynamicUser=yes",
        "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN",
        "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "--config /etc/pktvisor/pktvisord.yaml",
    ] {
        assert!(unit.contains(want), "unit lacks {want}");
    }
    let dir = temp_path("systemd");
    let man1 = dir.join("man/man1");
    std::fs::create_dir_all(&man1).expect("dir");
    let bin = env!("CARGO_BIN_EXE_pktvisord");
    let out = Command::new(bin)
        .args(["man", "--dir"])
        .arg(&man1)
        .output()
        .expect("man");
    assert!(out.status.success());
    let unit_file = dir.join("pktvisord.service");
    std::fs::write(&unit_file, unit.replace("/usr/local/bin/pktvisord", bin)).expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit_file)
        .env("MANPATH", dir.join("man"))
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .expect("systemd-analyze");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !text.contains("pktvisord.service:"),
        "{text}"
    );
    // A broken directive is caught by the same command (the check is not vacuous).
    let bad = dir.join("bad.service");
    std::fs::write(
        &bad,
        unit.replace("/usr/local/bin/pktvisord", bin)
            .replace("Type=notify", "Type=notifyy"),
    )
    .expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&bad)
        .env("MANPATH", dir.join("man"))
        .output()
        .expect("systemd-analyze");
    assert!(String::from_utf8_lossy(&out.stderr).contains("notifyy"));
    let _ = std::fs::remove_dir_all(dir);
}

fn recv(sock: &UnixDatagram, within: Duration) -> String {
    sock.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("a notification in time");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn notify_cycle(sock: UnixDatagram, notify_socket: &str) {
    let cfg = temp_file(
        &format!("notify-{}.yaml", notify_socket.len()),
        "visor:\n  config:\n    admin_api: true\n",
    );
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_pktvisord"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "-l",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .env("NOTIFY_SOCKET", notify_socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let ready = recv(&sock, Duration::from_secs(20));
    assert!(
        ready.starts_with("READY=1\nSTATUS=serving http://127.0.0.1:"),
        "{ready:?}"
    );
    // READY means serving: the very first request is answered.
    let mut a = AgentProc {
        child,
        port,
        netns: None,
    };
    assert_eq!(a.get("/healthz").status, 200);
    let _ = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status();
    let reloading = recv(&sock, Duration::from_secs(10));
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading:?}"
    );
    let again = recv(&sock, Duration::from_secs(10));
    assert_eq!(again, "READY=1\nSTATUS=configuration reloaded");
    let status = a.terminate(Duration::from_secs(15)).expect("stops");
    assert!(status.success(), "{status:?}");
    assert_eq!(
        recv(&sock, Duration::from_secs(1)),
        "STOPPING=1\nSTATUS=stopping"
    );
    let _ = std::fs::remove_file(cfg);
}

#[test]
fn deploy_systemd_notify_on_a_path_socket() {
    let path = temp_path("notify.sock");
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).expect("bind");
    notify_cycle(sock, path.to_str().unwrap());
    let _ = std::fs::remove_file(path);
}

#[test]
fn deploy_systemd_notify_on_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("pktvisord-test-notify-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("addr");
    let sock = UnixDatagram::bind_addr(&addr).expect("bind");
    notify_cycle(sock, &format!("@{name}"));
}

#[test]
fn deploy_systemd_no_notify_socket_no_notifications() {
    // Without NOTIFY_SOCKET the agent runs as before (and a bad one is only a warning).
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_pktvisord"))
        .args(["--admin-api", "-l", "127.0.0.1", "-p", &port.to_string()])
        .env("NOTIFY_SOCKET", "relative/not-a-socket")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut a = AgentProc::adopt(child, port);
    assert!(
        a.terminate(Duration::from_secs(10))
            .expect("stops")
            .success()
    );
    let (out, _) = a.output();
    assert!(
        out.contains("NOTIFY_SOCKET=\"relative/not-a-socket\""),
        "{out}"
    );
}
