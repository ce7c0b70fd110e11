//! A newcomer's first minutes, as the README tells them: a fresh `git clone` of this
//! repository (its committed HEAD), then the commands of the README's "Quick start"
//! (`./run.sh`) and the first block of "Run the agent", run as written except that the
//! interface is `lo`, the port a free one (`PKTVISOR_PORT` for the agent, the curls'
//! `10853` replaced), `target/` the shared CARGO_TARGET_DIR (so the build is not cold) and
//! `sudo` dropped when already root. The agent must answer `/api/v1/metrics/app` in both.
//! The clone's path is fixed, so cargo keeps one set of release artifacts for it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::agent_proc::free_port;

/// The first ```sh block after `heading`.
fn sh_block(readme: &str, heading: &str) -> String {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?}"));
    let rest = &readme[start..];
    let open = rest.find("```sh\n").expect("a sh block") + 6;
    let close = rest[open..].find("```").expect("block end");
    rest[open..open + close].to_string()
}

/// The shared target directory (…/target/debug/pktvisord → …/target).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_pktvisord"))
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

#[test]
fn deploy_readme_commands_start_the_agent_from_a_fresh_clone() {
    if !crate::agent_proc::need_root("capture on lo from the README's commands")
        || !pktvisor::testdata::have_tool("git", "git")
    {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !repo.join(".git").exists() {
        assert!(!pktvisor::testdata::in_ci(), "CI runs in a git clone");
        eprintln!("note: not a git checkout; skipped");
        return;
    }
    let clone = std::env::temp_dir().join("pktvisor-readme-clone");
    let _ = std::fs::remove_dir_all(&clone);
    let out = Command::new("git")
        .args(["clone", "--quiet"])
        .arg(repo)
        .arg(&clone)
        .output()
        .expect("git clone");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let readme = std::fs::read_to_string(clone.join("README.md")).expect("README");
    let target = target_dir();

    // 1. Quick start: ./run.sh (the line's comment is the README's, not a command).
    let quick = sh_block(&readme, "## Quick start");
    let run_lines: Vec<&str> = quick
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| l.starts_with("./run.sh"))
        .collect();
    assert_eq!(
        run_lines,
        ["./run.sh"],
        "the quick start's first command changed"
    );
    let port = free_port();
    let out = Command::new("bash")
        .args(["-c", run_lines[0]])
        .current_dir(&clone)
        .env("CARGO_TARGET_DIR", &target)
        .env("PKTVISOR_DEMO_PORT", port.to_string())
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .expect("./run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "./run.sh failed:\n{stdout}\n{stderr}");
    for bin in ["pktvisord", "pktvisor-reader", "pktvisor-cli"] {
        assert!(target.join("release").join(bin).exists(), "{bin} not built");
    }
    let app = stdout
        .lines()
        .find(|l| l.starts_with("{\"app\":"))
        .unwrap_or_else(|| {
            panic!("./run.sh showed no /api/v1/metrics/app answer:\n{stdout}\n{stderr}")
        });
    let v: serde_json::Value = serde_json::from_str(app).expect("app JSON");
    assert_eq!(v["app"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(stderr.contains(&format!(
        "curl -s http://127.0.0.1:{port}/api/v1/metrics/app"
    )));
    // The reader's analysis came first.
    let first: serde_json::Value =
        serde_json::from_str(stdout.lines().next().unwrap_or("")).expect("reader JSON");
    assert!(first["1m"]["packets"]["total"].as_u64().unwrap_or(0) > 0);

    // 2. Run the agent: the README's block as a script.
    let block = sh_block(&readme, "## Run the agent");
    let port = free_port();
    let script = block
        .replace("sudo ", "")
        .replace("target/release/", &format!("{}/release/", target.display()))
        .replace(" eth0 ", " lo ")
        .replace("10853", &port.to_string());
    assert!(script.contains("/api/v1/metrics/app"), "{script}");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -eu\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{script}"
        ))
        .current_dir(&clone)
        .env("PKTVISOR_PORT", port.to_string())
        .output()
        .expect("README block");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "README block failed:\n{script}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // curl prints no newline: the answers follow each other on one line.
    let at = stdout
        .find("{\"app\":")
        .unwrap_or_else(|| panic!("no /api/v1/metrics/app answer:\n{stdout}"));
    let v: serde_json::Value = serde_json::Deserializer::from_str(&stdout[at..])
        .into_iter()
        .next()
        .expect("a value")
        .expect("app JSON");
    assert_eq!(v["app"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(stdout.contains("\"ready\":true"), "{stdout}");
    assert!(stdout.contains("packets_"), "no Prometheus text: {stdout}");
    let _ = std::fs::remove_dir_all(&clone);
}
