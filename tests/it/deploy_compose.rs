//! otel-collector/: the compose stack starts for real with podman-compose and the agent's
//! image from deploy/Dockerfile (its runtime layer, from the binaries cargo built for these
//! tests): `stack.sh up --offline` (no registry here, so the Collector is the local rotel
//! stand-in of otel-collector/offline/), then `stack.sh check` waits until the stand-in has
//! logged the agent's net metrics, pushed over the compose network to
//! `otel-collector:4317` from a capture on the agent container's eth0.

use std::path::Path;
use std::process::{Command, Output};

use crate::agent_proc::free_port;
use crate::deploy_image::{have_container_tools, podman};

fn stack(args: &[&str], envs: &[(&str, String)]) -> Output {
    let mut c = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("otel-collector/stack.sh"));
    c.args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run otel-collector/stack.sh")
}

#[test]
fn deploy_compose_stack_starts_and_the_agent_pushes_to_the_collector() {
    if !have_container_tools()
        || !pktvisor::testdata::have_tool("podman-compose", "podman-compose")
        || crate::otlp_rotel::rotel_agent().is_none()
    {
        return;
    }
    let id = std::process::id();
    let bins = Path::new(env!("CARGO_BIN_EXE_pktvisord"))
        .parent()
        .expect("bin dir");
    let envs = [
        (
            "PKTVISOR_IMAGE",
            format!("localhost/pktvisor:compose-it-{id}"),
        ),
        ("PKTVISOR_PREBUILT", bins.display().to_string()),
        ("COMPOSE_PROJECT_NAME", format!("pvstack-it-{id}")),
        ("OTLP_GRPC_PORT", free_port().to_string()),
        ("OTLP_HTTP_PORT", free_port().to_string()),
        ("COLLECTOR_PROMETHEUS_PORT", free_port().to_string()),
        // The agent pushes every 10 s; leave room for a slow first connection.
        ("STACK_CHECK_SECONDS", "120".to_string()),
    ];
    struct Down<'a>(&'a [(&'a str, String)]);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = stack(&["down"], self.0);
            let _ = podman(&["rmi", "-f", &self.0[0].1]);
        }
    }
    let _down = Down(&envs);
    let up = stack(&["up", "--offline"], &envs);
    assert!(
        up.status.success(),
        "stack.sh up --offline: {}\n{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    let check = stack(&["check"], &envs);
    let agent_log = podman(&["logs", &format!("pvstack-it-{id}_pktvisord_1")]);
    let agent_text = String::from_utf8_lossy(&agent_log.stdout);
    assert!(
        check.status.success(),
        "no metrics reached the Collector: {}\n{}\nagent: {agent_text}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        agent_text.contains("OTLP push to http://otel-collector:4317"),
        "{agent_text}"
    );
    // The agent in the stack runs as the image's non-root user.
    let who = podman(&["exec", &format!("pvstack-it-{id}_pktvisord_1"), "id", "-u"]);
    assert_eq!(String::from_utf8_lossy(&who.stdout).trim(), "10853");
}
