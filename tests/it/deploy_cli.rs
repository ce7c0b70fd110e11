//! pktvisord's command line for operators: help under headings with the OTEL_*
//! environment, pktvisor 4.5's ignored flags hidden but accepted, shell completions, man
//! pages (scripts/gen-man.sh's subcommand), `--log-format text|json`, no ANSI colours when
//! the log is not a terminal (colours on a pseudo-terminal made by `script`), and config
//! errors that name the file and the key.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::agent_proc::{AgentProc, free_port, temp_file, temp_path};

fn pktvisord() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pktvisord"))
}

fn help() -> String {
    let out = pktvisord().arg("--help").output().expect("run");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn deploy_cli_help_has_headings_and_documents_the_environment() {
    let h = help();
    for heading in [
        "Capture:",
        "REST API and Prometheus:",
        "OTLP push",
        "Enrichment:",
        "pktvisor compatibility:",
        "Logging and process:",
        "Environment:",
        "Subcommands:",
    ] {
        assert!(h.contains(heading), "no {heading:?} in --help:\n{h}");
    }
    // Every flag under its heading.
    let section = |name: &str| -> String {
        let start = h.find(name).unwrap_or_else(|| panic!("{name}"));
        let rest = &h[start + name.len()..];
        let end = rest
            .find("\n\n\n")
            .or_else(|| rest.find(":\n  "))
            .unwrap_or(rest.len());
        rest[..end].to_string()
    };
    assert!(section("Capture:").contains("-H <HOSTSPEC>"));
    assert!(section("REST API and Prometheus:").contains("--admin-api"));
    assert!(section("Enrichment:").contains("--geo-city"));
    assert!(h.contains("--otel-host"));
    assert!(h.contains("--log-format <FORMAT>"));
    // Hidden: accepted-and-ignored legacy flags.
    for hidden in [
        "--no-track",
        "--cp-token",
        "--cp-disable",
        "--module-dir",
        "--prometheus ",
    ] {
        assert!(!h.contains(hidden), "{hidden} is shown in --help");
    }
    // Every OTEL_* variable the OTLP settings and the Resource read is documented.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut read = std::collections::BTreeSet::new();
    for f in ["src/otlp/config.rs", "src/export/otlp/resource.rs"] {
        let text = std::fs::read_to_string(root.join(f)).expect("source");
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (i, _) in code.match_indices("\"OTEL_") {
            let name: String = code[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            read.insert(name);
        }
    }
    assert!(read.len() >= 10, "found only {read:?}");
    for name in &read {
        let generic = name.replace("OTEL_EXPORTER_OTLP_METRICS_", "OTEL_EXPORTER_OTLP_");
        assert!(
            h.contains(name.as_str())
                || (h.contains(&generic) && h.contains("OTEL_EXPORTER_OTLP_METRICS_*")),
            "{name} is read but not in --help"
        );
    }
    for (var, _) in pktvisor::export::otlp::resource::K8S_ENV
        .iter()
        .filter(|(v, _)| v.starts_with("K8S_NODE") || v.ends_with("_NAME") && v.starts_with("K8S"))
    {
        assert!(h.contains(var), "{var} not in --help");
    }
}

#[test]
fn deploy_cli_legacy_flags_are_still_accepted() {
    let out = pktvisord()
        .args([
            "--no-track",
            "--cp-disable",
            "--cp-token",
            "t",
            "--cp-url",
            "u",
            "--cp-path",
            "p",
            "--cp-custom",
            "c",
            "--module-dir",
            "/nowhere",
            "--prometheus",
            "--module-list",
        ])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("handler: dns"), "{stdout}");
    // An interface named like nothing special is still IFACE, not a subcommand.
    let out = pktvisord()
        .args(["no-such-iface-x", "--version"])
        .output()
        .expect("run");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        pktvisor::VISOR_VERSION
    );
}

#[test]
fn deploy_cli_completions_for_bash_zsh_fish() {
    for (shell, marker) in [
        ("bash", "complete -F _pktvisord"),
        ("zsh", "#compdef pktvisord"),
        ("fish", "complete -c pktvisord"),
    ] {
        let out = pktvisord()
            .args(["completions", shell])
            .output()
            .expect("run");
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).expect("utf-8");
        assert!(text.contains(marker), "{shell}: {marker} missing");
        assert!(
            text.contains("otel-host") && text.contains("log-format"),
            "{shell}"
        );
        if shell == "bash" {
            // The script parses, and completing `pktvisord --log-f` offers --log-format.
            let script = temp_file("completion.bash", &text);
            let probe = format!(
                "source {}; COMP_WORDS=(pktvisord --log-f); COMP_CWORD=1; COMP_LINE='pktvisord --log-f'; COMP_POINT=${{#COMP_LINE}}; _pktvisord pktvisord --log-f pktvisord; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                script.display()
            );
            let out = Command::new("bash")
                .args(["-c", &probe])
                .output()
                .expect("bash");
            let replies = String::from_utf8_lossy(&out.stdout);
            assert!(
                replies.lines().any(|l| l == "--log-format"),
                "bash offered: {replies}"
            );
            let _ = std::fs::remove_file(script);
        }
    }
    let out = pktvisord()
        .args(["completions", "tcsh"])
        .output()
        .expect("run");
    assert!(!out.status.success());
}

#[test]
fn deploy_cli_man_pages_render() {
    let dir = temp_path("man");
    let out = pktvisord()
        .args(["man", "--dir"])
        .arg(&dir)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(dir.join("pktvisord.1")).expect("pktvisord.1");
    assert!(
        page.starts_with(".ie") || page.contains(".TH pktvisord 1"),
        "{}",
        &page[..200.min(page.len())]
    );
    assert!(page.contains("otel\\-host") || page.contains("otel-host"));
    assert!(dir.join("pktvisord-completions.1").exists());
    assert!(
        !dir.join("pktvisord-man.1").exists(),
        "the hidden subcommand got a page"
    );
    if pktvisor::testdata::have_tool("man", "man-db") {
        let out = Command::new("man")
            .arg("-l")
            .arg(dir.join("pktvisord.1"))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("man");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("SYNOPSIS") && text.contains("--log-format"),
            "{text}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn run_until_listening(extra: &[&str], envs: &[(&str, &str)]) -> (String, String) {
    let port = free_port();
    let mut cmd = pktvisord();
    cmd.args(["--admin-api", "-l", "127.0.0.1", "-p", &port.to_string()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut a = AgentProc::adopt(cmd.spawn().expect("spawn"), port);
    let _ = a.get("/api/v1/metrics/app");
    a.terminate(Duration::from_secs(10))
        .expect("stops on SIGTERM");
    a.output()
}

#[test]
fn deploy_cli_json_log_lines_and_no_colours_in_a_pipe() {
    let (out, _) = run_until_listening(&["--log-format", "json"], &[]);
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert!(lines.len() >= 3, "{out}");
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string() && v["message"].is_string(),
            "{l}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("listening on http://127.0.0.1:")),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("REQUEST: GET /api/v1/metrics/app 200")),
        "{out}"
    );
    assert!(!out.contains('\x1b'));
    // Environment form.
    let (out, _) = run_until_listening(&[], &[("PKTVISOR_LOG_FORMAT", "json")]);
    assert!(
        out.lines().all(|l| l.is_empty() || l.starts_with('{')),
        "{out}"
    );
    // Text to a pipe: plain.
    let (out, _) = run_until_listening(&[], &[]);
    assert!(out.contains(" INFO ") && !out.contains('\x1b'), "{out:?}");
    // Text to a file: plain.
    let log = temp_path("agent.log");
    let _ = run_until_listening(&["--log-file", log.to_str().unwrap()], &[]);
    let text = std::fs::read_to_string(&log).expect("log file");
    assert!(
        text.contains("listening on") && !text.contains('\x1b'),
        "{text:?}"
    );
    let _ = std::fs::remove_file(log);
}

#[test]
fn deploy_cli_colours_only_on_a_terminal() {
    if !pktvisor::testdata::have_tool("script", "bsdutils") {
        return;
    }
    // `script` gives the agent a pseudo-terminal as stdout; --module-list exits at once, so
    // use an agent that logs and is stopped by `timeout`.
    let port = free_port();
    let cmd = format!(
        "timeout -s TERM 2 {} --admin-api -l 127.0.0.1 -p {port}",
        env!("CARGO_BIN_EXE_pktvisord")
    );
    let out = Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("listening on"), "{text:?}");
    assert!(text.contains("\x1b["), "no colours on a terminal: {text:?}");
}

#[test]
fn deploy_cli_config_errors_name_the_file_and_the_key() {
    let f = temp_file(
        "bad-port.yaml",
        "visor:\n  config:\n    port: nope\n    geo_cache_size: many\n  taps:\n    t: {input_type: pcap, config: {iface: lo}}\n",
    );
    let out = pktvisord().arg("--config").arg(&f).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for key in ["visor.config.port", "visor.config.geo_cache_size"] {
        let line = err
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key}: {err}"));
        assert!(
            line.ends_with(&format!("(from config file {})", f.display())),
            "{line}"
        );
    }
    assert!(!err.contains("BTreeMap"), "{err}");
    let out = pktvisord()
        .arg("--config")
        .arg(&f)
        .env("PKTVISOR_PORT", "x")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("visor.config.port: invalid type: found string \"x\", expected u16 (from `PKTVISOR_` environment variable(s))"), "{err}");
    let _ = std::fs::remove_file(f);
}
