//! deploy/Dockerfile, built for real with podman: the runtime layer (target
//! `runtime-prebuilt`) from the binaries cargo built for these tests, on a Debian base that
//! deploy/build-image.sh makes locally with mmdebstrap (no registry). The image runs
//! pktvisor-reader on a fixture (same JSON as on the host, also as `pktvisor-pcap`) and
//! pktvisord as UID 10853 capturing on the container's eth0 with only the file
//! capabilities, serving /readyz and counting the requests that reach it; the HEALTHCHECK
//! command, the OCI labels and the entrypoint aliases are checked too.
//! (The full multi-stage build, cargo inside the builder, is `deploy/build-image.sh`
//! without --prebuilt: too slow for CI, run by hand.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::agent_proc::free_port;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `podman ARGS` with deploy/container/podman-env.sh's settings for this host.
pub fn podman(args: &[&str]) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!(
            ". {}/deploy/container/podman-env.sh; exec podman \"$@\"",
            repo().display()
        ))
        .arg("podman")
        .args(args)
        .output()
        .expect("run podman")
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// podman and mmdebstrap are there (else skipped outside CI), and we are root (rootful
/// podman; rootless needs subuids this sandbox does not set up).
pub fn have_container_tools() -> bool {
    if !crate::agent_proc::need_root("building images with podman") {
        return false;
    }
    pktvisor::testdata::have_tool("podman", "podman")
        && pktvisor::testdata::have_tool("mmdebstrap", "mmdebstrap")
}

/// Builds the runtime layer from the test binaries; returns the tag.
pub fn build_prebuilt_image(tag: &str) -> String {
    let bins = Path::new(env!("CARGO_BIN_EXE_pktvisord"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let out = Command::new(repo().join("deploy/build-image.sh"))
        .arg("--prebuilt")
        .arg(&bins)
        .args(["--tag", tag])
        .output()
        .expect("run deploy/build-image.sh");
    let stdout = ok(&out, "deploy/build-image.sh --prebuilt");
    assert_eq!(stdout.lines().last(), Some(tag));
    tag.to_string()
}

/// Removes a container and an image when dropped.
struct Cleanup {
    containers: Vec<String>,
    image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = podman(&["rm", "-f", c]);
        }
        let _ = podman(&["rmi", "-f", &self.image]);
    }
}

#[test]
fn deploy_image_runtime_layer_runs_reader_and_agent_as_non_root() {
    if !have_container_tools() {
        return;
    }
    let tag = format!("localhost/pktvisor:it-{}", std::process::id());
    let name = format!("pktvisord-it-{}", std::process::id());
    let mut cleanup = Cleanup {
        containers: vec![name.clone()],
        image: tag.clone(),
    };
    build_prebuilt_image(&tag);

    // Image metadata.
    let meta = ok(
        &podman(&[
            "image",
            "inspect",
            &tag,
            "--format",
            "{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .HealthCheck}}|{{json .Config.Labels}}",
        ]),
        "inspect",
    );
    let parts: Vec<&str> = meta.trim().splitn(4, '|').collect();
    assert_eq!(parts[0], "10853:10853");
    assert_eq!(parts[1], "[\"pktvisor-entrypoint\"]");
    let hc: serde_json::Value = serde_json::from_str(parts[2]).expect("healthcheck json");
    assert_eq!(
        hc["Test"],
        serde_json::json!(["CMD", "pktvisor-healthcheck"])
    );
    let labels: serde_json::Value = serde_json::from_str(parts[3]).expect("labels json");
    for l in [
        "title",
        "description",
        "version",
        "revision",
        "created",
        "licenses",
        "documentation",
    ] {
        let key = format!("org.opencontainers.image.{l}");
        assert!(
            labels[&key].as_str().is_some_and(|v| !v.is_empty()),
            "label {key}"
        );
    }
    assert_eq!(labels["org.opencontainers.image.licenses"], "MPL-2.0");

    // File capabilities, permitted only; the reader and the CLI have none.
    let caps = ok(
        &podman(&[
            "run",
            "--rm",
            "--no-healthcheck",
            &tag,
            "sh",
            "-c",
            "getcap /usr/local/bin/* 2>/dev/null; id -u; id -g",
        ]),
        "getcap",
    );
    assert!(
        caps.contains("/usr/local/bin/pktvisord cap_net_admin,cap_net_raw=ip"),
        "{caps}"
    );
    assert_eq!(
        caps.lines().filter(|l| l.contains("cap_")).count(),
        1,
        "{caps}"
    );
    assert!(caps.contains("\n10853\n10853"), "{caps}");

    // pktvisor-reader (and pktvisor's old name) on a fixture: the host's output.
    let fixtures = repo().join("fixtures");
    let mount = format!("{}:/data:ro", fixtures.display());
    let args = ["--periods", "1", "-H", "10.0.0.0/24,fd00::/64"];
    let host = Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"))
        .args(args)
        .arg(fixtures.join("mixed-lo.pcapng"))
        .output()
        .expect("host reader");
    let host_json: serde_json::Value = serde_json::from_slice(&host.stdout).expect("host json");
    for prog in ["pktvisor-reader", "pktvisor-pcap"] {
        let mut a = vec!["run", "--rm", "--no-healthcheck", "-v", &mount, &tag, prog];
        a.extend(args);
        a.push("/data/mixed-lo.pcapng");
        let out = ok(&podman(&a), prog);
        let json: serde_json::Value = serde_json::from_str(&out).expect("container json");
        assert_eq!(
            json, host_json,
            "{prog} in the image differs from the host's"
        );
        assert!(json["1m"]["packets"]["total"].as_u64().unwrap_or(0) > 0);
    }
    let v = ok(
        &podman(&[
            "run",
            "--rm",
            "--no-healthcheck",
            &tag,
            "pktvisor",
            "--version",
        ]),
        "cli",
    );
    assert_eq!(v.trim(), pktvisor::VISOR_VERSION);
    // Without NET_RAW/NET_ADMIN in the container the agent still starts (=ip, not =eip).
    let v = ok(
        &podman(&[
            "run",
            "--rm",
            "--no-healthcheck",
            "--cap-drop",
            "ALL",
            &tag,
            "pktvisord",
            "--version",
        ]),
        "agent without caps",
    );
    assert_eq!(v.trim(), pktvisor::VISOR_VERSION);

    // The agent: capture on the container's eth0 as UID 10853, REST published on loopback.
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:10853");
    ok(
        &podman(&[
            "run",
            "-d",
            "--name",
            &name,
            "--no-healthcheck",
            "--cap-drop",
            "ALL",
            "--cap-add",
            "NET_RAW",
            "--cap-add",
            "NET_ADMIN",
            "-p",
            &publish,
            &tag,
            "pktvisord",
            "-l",
            "0.0.0.0",
            "eth0",
        ]),
        "run agent",
    );
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let readyz = loop {
        let out = Command::new("curl")
            .args(["-s", "-m", "5", "-w", "\n%{http_code}", &url("/readyz")])
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.ends_with("\n200") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never answered 200: {text}\n{}",
            String::from_utf8_lossy(&podman(&["logs", &name]).stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let body: serde_json::Value =
        serde_json::from_str(readyz.trim_end_matches("\n200")).expect("readyz json");
    assert_eq!(body["ready"], true, "{body}");
    assert_eq!(body["inputs"][0]["running"], true, "{body}");
    let status = ok(
        &podman(&[
            "exec",
            &name,
            "sh",
            "-c",
            "id -u; grep CapEff /proc/1/status",
        ]),
        "exec",
    );
    assert!(status.starts_with("10853\n"), "{status}");
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .expect("CapEff");
    assert_eq!(
        eff,
        (1 << 12) | (1 << 13),
        "effective capabilities are exactly NET_ADMIN+NET_RAW"
    );
    ok(
        &podman(&["exec", &name, "pktvisor-healthcheck"]),
        "HEALTHCHECK command",
    );
    // Our requests crossed eth0: the capture counted them.
    let mut packets = 0;
    for _ in 0..50 {
        let out = Command::new("curl")
            .args(["-s", "-m", "5", &url("/api/v1/metrics/bucket/0")])
            .output()
            .expect("curl");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        packets = v["1m"]["packets"]["total"].as_u64().unwrap_or(0);
        if packets > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(packets > 0, "the agent in the container captured nothing");
    let stop = podman(&["stop", "-t", "10", &name]);
    ok(&stop, "stop");
    let logs = podman(&["logs", &name]);
    let text = String::from_utf8_lossy(&logs.stdout);
    assert!(
        text.contains("SIGTERM: stopping") && text.contains("stopped"),
        "{text}"
    );
    cleanup.containers.clear();
    let _ = podman(&["rm", "-f", &name]);
}
