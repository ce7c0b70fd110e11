//! The poller and the UI state against a scripted agent: pktvisor's window negotiation (a
//! 425 leads to the largest valid window), the version check, an agent that is not up yet or
//! goes away and comes back, a policy that does not exist yet, policy switching and pause.
//! Also the binary's flags.

use std::process::Command;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pktvisor::cli::app::{App, Command as UiCommand};
use pktvisor::cli::client::Api;
use pktvisor::cli::poll::{Poller, Status};
use pktvisor::cli::ui::{render_lines, status_text};

use crate::cli_fixture::{FixtureApi, app_after_polls, fixture, screen};

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

#[test]
fn cli_follows_a_425_to_the_largest_valid_window() {
    let api = FixtureApi::recorded();
    let mut poller = Poller::new();
    let u = poller.poll(&api, "v2");
    assert_eq!(u.status, Status::Live);
    assert_eq!(u.window_n, 3);
    assert!(u.window.unwrap().dns_v2().is_some());
    let asked = api.asked.lock().unwrap().clone();
    let windows: Vec<&String> = asked
        .iter()
        .filter(|p| p.starts_with("/api/v1/policies/v2/"))
        .collect();
    assert_eq!(
        windows,
        [
            "/api/v1/policies/v2/metrics/window/5",
            "/api/v1/policies/v2/metrics/window/3"
        ]
    );
    api.asked.lock().unwrap().clear();
    poller.poll(&api, "v2");
    let asked = api.asked.lock().unwrap().clone();
    assert_eq!(
        asked
            .iter()
            .filter(|p| p.starts_with("/api/v1/policies/v2/"))
            .collect::<Vec<_>>(),
        ["/api/v1/policies/v2/metrics/window/3"],
        "the negotiated window is kept"
    );
    let app = app_after_polls(&api, "v2", 1);
    assert!(status_text(&app).0.contains("window 3m"));
}

#[test]
fn cli_warns_on_a_major_version_mismatch() {
    let mut api = FixtureApi::recorded();
    api.route(
        "/api/v1/metrics/app",
        200,
        r#"{"app":{"up_time_min":1.5,"version":"3.3.0"}}"#.into(),
    );
    let app = app_after_polls(&api, "default", 1);
    let (text, _) = status_text(&app);
    assert!(
        text.contains("WARNING: this version of pktvisor-cli was written for pktvisord 4.x"),
        "{text}"
    );
    assert!(render_lines(&app, 120, 40)[0].contains("server: 3.3.0"));
}

#[test]
fn cli_agent_not_up_yet_shows_connecting_then_recovers() {
    let api = FixtureApi::recorded();
    api.set_down(true);
    let mut app = app_after_polls(&api, "default", 2);
    let lines = render_lines(&app, 100, 24);
    let status = lines.last().unwrap();
    assert!(
        status.contains("connecting to http://127.0.0.1:10853: attempt 2 (Connection refused"),
        "{status}"
    );
    assert!(screen(&lines).contains("waiting for the first window"));
    api.set_down(false);
    let mut poller = Poller::new();
    app.apply(poller.poll(&api, "default"), Instant::now());
    assert_eq!(app.status, Status::Live);
    assert!(screen(&render_lines(&app, 100, 24)).contains("DNS Wire Pkts"));
}

#[test]
fn cli_agent_lost_shows_reconnecting_keeps_the_data_and_recovers() {
    let api = FixtureApi::recorded();
    let t0 = Instant::now();
    let mut app = App::new(
        "http://127.0.0.1:10853",
        "default",
        Duration::from_secs(1),
        t0,
    );
    let mut poller = Poller::new();
    app.apply(poller.poll(&api, "default"), t0);
    api.set_down(true);
    for i in 1..=3 {
        let at = t0 + Duration::from_secs(i);
        app.apply(poller.poll(&api, "default"), at);
        app.now = at;
    }
    let lines = render_lines(&app, 120, 40);
    let status = lines.last().unwrap();
    assert!(
        status.contains("⚠ agent lost, reconnecting to http://127.0.0.1:10853: attempt 3 ("),
        "{status}"
    );
    assert!(status_text(&app).0.ends_with("· data from 3s ago"));
    assert!(screen(&lines).contains("Pkts  "), "the last data stays");
    api.set_down(false);
    api.asked.lock().unwrap().clear();
    app.apply(poller.poll(&api, "default"), t0 + Duration::from_secs(4));
    assert_eq!(app.status, Status::Live);
    assert!(
        api.asked
            .lock()
            .unwrap()
            .contains(&"/api/v1/metrics/app".to_string()),
        "a restarted agent's version is read again"
    );
}

#[test]
fn cli_missing_policy_is_reported_and_picked_up_once_created() {
    let mut api = FixtureApi::recorded();
    let mut app = app_after_polls(&api, "nope", 1);
    assert_eq!(app.status, Status::PolicyMissing);
    let text = screen(&render_lines(&app, 120, 30));
    assert!(
        text.contains("policy 'nope' does not exist on http://127.0.0.1:10853: retrying"),
        "{text}"
    );
    api.route(
        "/api/v1/policies/nope/metrics/window/5",
        200,
        fixture("default-window-5.json").replace("\"default\":", "\"nope\":"),
    );
    let mut poller = Poller::new();
    app.apply(poller.poll(&api, "nope"), Instant::now());
    assert_eq!(app.status, Status::Live);
    assert!(screen(&render_lines(&app, 120, 30)).contains("DNS Wire Pkts"));
}

#[test]
fn cli_arrows_and_the_list_switch_policy() {
    let api = FixtureApi::recorded();
    let mut app = app_after_polls(&api, "default", 1);
    let mut sorted = app.policies.clone();
    sorted.sort();
    assert!(sorted.len() >= 4, "{sorted:?}");
    let i = sorted.iter().position(|p| p == "default").unwrap();
    let next = sorted[(i + 1) % sorted.len()].clone();
    assert_eq!(
        app.on_key(key(KeyCode::Right)),
        Some(UiCommand::SetPolicy(next.clone()))
    );
    assert_eq!(app.policy, next);
    assert!(app.window.is_none(), "another policy's data is not shown");
    assert_eq!(
        app.on_key(key(KeyCode::Left)),
        Some(UiCommand::SetPolicy("default".into()))
    );
    app.on_key(key(KeyCode::Char('l')));
    let v2 = sorted.iter().position(|p| p == "v2").unwrap();
    for _ in 0..(v2 + sorted.len() - i) % sorted.len() {
        app.on_key(key(KeyCode::Down));
    }
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        Some(UiCommand::SetPolicy("v2".into()))
    );
    assert!(app.picker.is_none());
    // A late answer for the old policy is ignored.
    let mut poller = Poller::new();
    app.apply(poller.poll(&api, "default"), Instant::now());
    assert!(app.window.is_none());
}

#[test]
fn cli_pause_freezes_the_screen_while_polling_goes_on() {
    let mut api = FixtureApi::recorded();
    let mut poller = Poller::new();
    let t0 = Instant::now();
    let mut app = App::new(
        "http://127.0.0.1:10853",
        "default",
        Duration::from_secs(1),
        t0,
    );
    app.apply(poller.poll(&api, "default"), t0);
    let before = screen(&render_lines(&app, 240, 60));
    app.on_key(key(KeyCode::Char('p')));
    api.route(
        "/api/v1/policies/default/metrics/window/5",
        200,
        fixture("pktvisor45-window-5.json"),
    );
    app.apply(poller.poll(&api, "default"), t0 + Duration::from_secs(1));
    let paused = render_lines(&app, 240, 60);
    assert!(paused.last().unwrap().contains("PAUSED"));
    assert!(!screen(&paused).contains("Pkts  1500 "));
    assert_eq!(
        paused[..paused.len() - 1],
        before.lines().collect::<Vec<_>>()[..paused.len() - 1]
    );
    app.on_key(key(KeyCode::Char('p')));
    assert!(screen(&render_lines(&app, 240, 60)).contains("Pkts  1500 "));
    assert_eq!(app.history.len(), 2, "both polls were recorded");
}

#[test]
fn cli_quit_keys() {
    for k in [
        KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE),
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
    ] {
        let mut app = App::new("x", "default", Duration::from_secs(1), Instant::now());
        app.on_key(k);
        assert!(app.quit);
    }
}

#[test]
fn cli_binary_flags() {
    let bin = env!("CARGO_BIN_EXE_pktvisor-cli");
    let out = Command::new(bin).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        pktvisor::VISOR_VERSION
    );
    let out = Command::new(bin).arg("-h").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "-p, --port",
        "-H, --host",
        "-P, --policy",
        "--tls",
        "--tls-noverify",
        "--interval",
        "[default: 10853]",
        "[default: localhost]",
        "[default: default]",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    let out = Command::new(bin).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Without a terminal (a new session: no controlling tty either) it says so and exits 1.
    let mut child = Command::new("setsid")
        .args(["-w", bin, "-p", "1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("pktvisor-cli without a terminal did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pktvisor-cli needs an interactive terminal"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cli_polls_a_real_agent_and_follows_its_425() {
    if !pktvisor::testdata::have_tool("curl", "curl") {
        return;
    }
    // A mock capture (no root needed) under a policy keeping 2 periods: window/5 is a 425.
    let cfg = crate::agent_proc::temp_file(
        "cli-mock.yaml",
        "visor:\n  taps:\n    synth: {input_type: pcap, config: {iface: lo, pcap_source: mock}}\n  policies:\n    mocked:\n      kind: collection\n      input: {tap: synth, input_type: pcap}\n      handlers:\n        window_config: {num_periods: 2}\n        modules: {net: {type: net}, dns: {type: dns}}\n",
    );
    let agent = crate::agent_proc::AgentProc::start(&["--config", cfg.to_str().unwrap()], None);
    let api =
        pktvisor::cli::client::HttpApi::new(&format!("http://127.0.0.1:{}", agent.port), false)
            .unwrap();
    let mut poller = Poller::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let u = loop {
        let u = poller.poll(&api, "mocked");
        if u.window
            .as_ref()
            .and_then(|w| w.net_v1())
            .is_some_and(|n| n.total > 0)
        {
            break u;
        }
        assert!(
            Instant::now() < deadline,
            "no packets from the mock tap: {u:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(u.status, Status::Live);
    assert_eq!(u.window_n, 2, "followed the agent's 425 to window/2");
    assert_eq!(u.server_version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert!(
        u.policies.contains(&"mocked".to_string()),
        "{:?}",
        u.policies
    );
    assert!(
        u.resources.as_ref().and_then(|r| r.resources()).is_some(),
        "the input's resources policy is read too"
    );
    let u = poller.poll(&api, "absent");
    assert_eq!(u.status, Status::PolicyMissing);
    drop(agent);
    let u = poller.poll(&api, "mocked");
    assert!(
        matches!(u.status, Status::Reconnecting { attempts: 1, .. }),
        "{:?}",
        u.status
    );
}

#[test]
fn cli_reads_a_tls_agent_and_checks_its_certificate() {
    if !pktvisor::testdata::have_tool("openssl", "openssl") {
        return;
    }
    let key = crate::agent_proc::temp_path("cli-tls.key");
    let cert = crate::agent_proc::temp_path("cli-tls.crt");
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
        .args(["--admin-api", "--tls", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .args(["-l", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("https://127.0.0.1:{port}");
    let noverify = pktvisor::cli::client::HttpApi::new(&base, true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let r = loop {
        match noverify.get("/api/v1/metrics/app") {
            Ok(r) => break r,
            Err(e) => {
                assert!(Instant::now() < deadline, "{e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert_eq!(r.status, 200);
    assert!(r.body.contains(env!("CARGO_PKG_VERSION")));
    // --tls alone verifies the certificate: a self-signed one is refused.
    let verify = pktvisor::cli::client::HttpApi::new(&base, false).unwrap();
    let e = verify.get("/api/v1/metrics/app").unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    let _ = child.kill();
    let _ = child.wait();
}
