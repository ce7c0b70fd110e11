//! deploy/kubernetes: every kustomization renders with `kubectl kustomize`, validates
//! against the Kubernetes API schemas offline (`kubernetes-validate --strict`, PyPI; the
//! Prometheus Operator's ServiceMonitor, a CRD it does not know, against
//! tests/schemas/servicemonitor-v1.json with Python's jsonschema), and passes the
//! security policy of the agent's workloads: capabilities NET_RAW/NET_ADMIN at most,
//! never privileged, non-root, read-only root, RuntimeDefault seccomp, both probes,
//! resources, REST on the pod IP, no admin API. Mutated copies prove each check bites.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

const KUSTOMIZATIONS: &[&str] = &[
    "base",
    "overlays/otel-node-collector",
    "overlays/prometheus",
    "overlays/dnstap-sidecar",
];

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

fn have_kubectl() -> bool {
    pktvisor::testdata::have_tool("kubectl", "kubectl (google-cloud-cli's, with kustomize v5)")
}

fn have_validator() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import kubernetes_validate, jsonschema"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if pktvisor::testdata::in_ci() {
            panic!("kubernetes-validate is missing (CI=true): scripts/setup-debian.sh --test");
        }
        eprintln!(
            "note: kubernetes-validate is missing (pip install kubernetes-validate); skipped"
        );
    }
    ok
}

/// `kubectl kustomize DIR` as YAML text.
fn render_text(dir: &str) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(k8s_dir().join(dir))
        .output()
        .expect("run kubectl kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The rendered documents as JSON values.
fn render(dir: &str) -> Vec<Value> {
    let text = render_text(dir);
    let mut docs = Vec::new();
    for d in serde_norway::Deserializer::from_str(&text) {
        use serde::Deserialize;
        let v = Value::deserialize(d).expect("YAML document");
        if !v.is_null() {
            docs.push(v);
        }
    }
    assert!(!docs.is_empty(), "{dir} rendered nothing");
    docs
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pktvisor-k8s-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Runs kubernetes-validate --strict on `docs`; returns (success, output).
fn kubernetes_validate(docs: &[Value], name: &str) -> (bool, String) {
    let dir = temp_dir(name);
    let file = dir.join("all.yaml");
    let text: Vec<String> = docs
        .iter()
        .map(|d| serde_norway::to_string(d).expect("to yaml"))
        .collect();
    std::fs::write(&file, text.join("---\n")).expect("write");
    let out = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "-k", "1.30.0"])
        .arg(&file)
        .output()
        .expect("run kubernetes-validate");
    let _ = std::fs::remove_dir_all(dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Validates a ServiceMonitor against our schema of the CRD's fields.
fn validate_service_monitor(doc: &Value) -> Result<(), String> {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/servicemonitor-v1.json");
    let script = "import json,sys,jsonschema\n\
                  schema=json.load(open(sys.argv[1]))\n\
                  doc=json.load(sys.stdin)\n\
                  errs=[e.message+' at '+'/'.join(map(str,e.absolute_path)) for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]\n\
                  print('\\n'.join(errs)); sys.exit(1 if errs else 0)";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(schema)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(doc.to_string().as_bytes())
            .expect("write doc");
    }
    let out = child.wait_with_output().expect("wait");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn kind(d: &Value) -> &str {
    d["kind"].as_str().unwrap_or("")
}

fn find<'a>(docs: &'a [Value], k: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| kind(d) == k && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {k}/{name}"))
}

#[test]
fn deploy_k8s_every_kustomization_renders_and_validates() {
    if !have_kubectl() || !have_validator() {
        return;
    }
    for dir in KUSTOMIZATIONS {
        let docs = render(dir);
        let (builtin, crds): (Vec<Value>, Vec<Value>) = docs.into_iter().partition(|d| {
            !d["apiVersion"]
                .as_str()
                .unwrap_or("")
                .contains(".coreos.com")
        });
        let (ok, text) = kubernetes_validate(&builtin, &dir.replace('/', "-"));
        assert!(ok, "{dir}: kubernetes-validate failed:\n{text}");
        for d in &builtin {
            let name = d["metadata"]["name"].as_str().unwrap_or("");
            assert!(
                text.contains(&format!(
                    "passed for resource {}/{name}",
                    kind(d).to_lowercase()
                )),
                "{dir}: {}/{name} was not validated:\n{text}",
                kind(d)
            );
        }
        for d in &crds {
            assert_eq!(
                kind(d),
                "ServiceMonitor",
                "{dir}: a CRD kind without a schema here"
            );
            validate_service_monitor(d).unwrap_or_else(|e| panic!("{dir}: ServiceMonitor: {e}"));
        }
    }
}

#[test]
fn deploy_k8s_validators_reject_broken_manifests() {
    if !have_kubectl() || !have_validator() {
        return;
    }
    let mut docs = render("base");
    let ds = docs
        .iter_mut()
        .find(|d| kind(d) == "DaemonSet")
        .expect("DaemonSet");
    ds["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privilegd"] = json!(true);
    let (ok, text) = kubernetes_validate(&docs, "broken");
    assert!(!ok, "a misspelt field passed strict validation:\n{text}");
    assert!(text.contains("privilegd"), "{text}");

    let prom = render("overlays/prometheus");
    let mut sm = find(&prom, "ServiceMonitor", "pktvisord").clone();
    validate_service_monitor(&sm).expect("the rendered ServiceMonitor is valid");
    sm["spec"]["endpoints"][0]["interval"] = json!("1 minute");
    let e = validate_service_monitor(&sm).expect_err("a bad duration must fail");
    assert!(e.contains("interval"), "{e}");
    sm["spec"]["endpoints"][0]["interval"] = json!("60s");
    sm["spec"]["endpoints"][0]["bearerTokenFle"] = json!("/x");
    let e = validate_service_monitor(&sm).expect_err("an unknown field must fail");
    assert!(e.contains("bearerTokenFle"), "{e}");
}

/// The security policy of a workload running the agent image; every violation found.
fn policy_violations(workload: &Value) -> Vec<String> {
    let mut v = Vec::new();
    let name = workload["metadata"]["name"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    let pod = &workload["spec"]["template"]["spec"];
    let daemonset = kind(workload) == "DaemonSet";
    for flag in ["hostPID", "hostIPC"] {
        if pod[flag] == json!(true) {
            v.push(format!("{name}: {flag}"));
        }
    }
    for vol in pod["volumes"].as_array().into_iter().flatten() {
        if vol.get("hostPath").is_some() {
            v.push(format!("{name}: hostPath volume {}", vol["name"]));
        }
    }
    if daemonset {
        if pod["hostNetwork"] != json!(true) {
            v.push(format!("{name}: hostNetwork is not on"));
        }
        if pod["dnsPolicy"] != json!("ClusterFirstWithHostNet") {
            v.push(format!("{name}: dnsPolicy is not ClusterFirstWithHostNet"));
        }
        let tolerates_all = pod["tolerations"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["operator"] == json!("Exists") && t.get("key").is_none());
        if !tolerates_all {
            v.push(format!("{name}: does not tolerate every taint"));
        }
    }
    let psc = &pod["securityContext"];
    let agents: Vec<&Value> = pod["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["image"].as_str().unwrap_or("").contains("pktvisor"))
        .collect();
    if agents.is_empty() {
        v.push(format!("{name}: no pktvisor container"));
    }
    for c in agents {
        let cn = format!("{name}/{}", c["name"].as_str().unwrap_or("?"));
        let sc = &c["securityContext"];
        if sc["privileged"] == json!(true) {
            v.push(format!("{cn}: privileged"));
        }
        let drop: Vec<&str> = sc["capabilities"]["drop"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if drop != ["ALL"] {
            v.push(format!("{cn}: capabilities.drop is {drop:?}, not [ALL]"));
        }
        let add: Vec<&str> = sc["capabilities"]["add"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for cap in &add {
            if !["NET_RAW", "NET_ADMIN"].contains(cap) {
                v.push(format!("{cn}: capability {cap} beyond NET_RAW/NET_ADMIN"));
            }
        }
        if daemonset && (add.len() != 2 || !add.contains(&"NET_RAW") || !add.contains(&"NET_ADMIN"))
        {
            v.push(format!(
                "{cn}: capture needs exactly NET_RAW and NET_ADMIN, has {add:?}"
            ));
        }
        // File capabilities need privilege escalation allowed (no no_new_privs); a
        // container that adds no capability has no reason to allow it.
        if add.is_empty() && sc["allowPrivilegeEscalation"] != json!(false) {
            v.push(format!(
                "{cn}: allowPrivilegeEscalation without capabilities"
            ));
        }
        if sc["readOnlyRootFilesystem"] != json!(true) {
            v.push(format!("{cn}: root file system is writable"));
        }
        if sc["runAsNonRoot"] != json!(true) && psc["runAsNonRoot"] != json!(true) {
            v.push(format!("{cn}: runAsNonRoot is not set"));
        }
        if sc["runAsUser"] == json!(0) || psc["runAsUser"] == json!(0) {
            v.push(format!("{cn}: runs as UID 0"));
        }
        let seccomp = if sc["seccompProfile"].is_null() {
            &psc["seccompProfile"]
        } else {
            &sc["seccompProfile"]
        };
        if seccomp["type"] != json!("RuntimeDefault") {
            v.push(format!("{cn}: seccomp profile is not RuntimeDefault"));
        }
        let ports: Vec<&str> = c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str())
            .collect();
        for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
            let get = &c[probe]["httpGet"];
            if get["path"] != json!(path) {
                v.push(format!("{cn}: {probe} is not an HTTP GET of {path}"));
            } else if !get["port"].as_str().is_some_and(|p| ports.contains(&p))
                && !get["port"].is_number()
            {
                v.push(format!(
                    "{cn}: {probe} port {} is not a container port",
                    get["port"]
                ));
            }
        }
        for r in ["requests", "limits"] {
            for k in ["cpu", "memory"] {
                if c["resources"][r][k].is_null() {
                    v.push(format!("{cn}: no resources.{r}.{k}"));
                }
            }
        }
        let args: Vec<&str> = c["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if args.contains(&"--admin-api") {
            v.push(format!("{cn}: the admin API is on"));
        }
        let bind = args
            .iter()
            .position(|a| *a == "-l")
            .and_then(|i| args.get(i + 1));
        let pod_ip_env = c["env"].as_array().into_iter().flatten().any(|e| {
            e["name"] == json!("POD_IP")
                && e["valueFrom"]["fieldRef"]["fieldPath"] == json!("status.podIP")
        });
        if bind != Some(&"$(POD_IP)") || !pod_ip_env {
            v.push(format!(
                "{cn}: the REST API is not bound to the pod IP (-l $(POD_IP))"
            ));
        }
    }
    v
}

fn agent_workloads(docs: &[Value]) -> Vec<&Value> {
    docs.iter()
        .filter(|d| matches!(kind(d), "DaemonSet" | "Deployment"))
        .filter(|d| {
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["image"].as_str().unwrap_or("").contains("pktvisor"))
        })
        .collect()
}

#[test]
fn deploy_k8s_agent_workloads_pass_the_security_policy() {
    if !have_kubectl() {
        return;
    }
    let mut seen = 0;
    for dir in KUSTOMIZATIONS {
        let docs = render(dir);
        assert!(
            docs.iter()
                .any(|d| kind(d) == "DaemonSet" && d["metadata"]["name"] == "pktvisord"),
            "{dir}: no pktvisord DaemonSet"
        );
        for w in agent_workloads(&docs) {
            let v = policy_violations(w);
            assert!(v.is_empty(), "{dir}: {v:#?}");
            seen += 1;
        }
    }
    // base, three overlays' DaemonSets, and the dnstap sidecar's Deployment.
    assert_eq!(seen, 5);
}

/// A change to a manifest part, described, with the violation it must cause.
type Mutation = (&'static str, Box<dyn Fn(&mut Value)>, &'static str);

#[test]
fn deploy_k8s_policy_fails_on_added_privileges_or_lost_probes() {
    if !have_kubectl() {
        return;
    }
    let docs = render("base");
    let ds = find(&docs, "DaemonSet", "pktvisord");
    let mutations: Vec<Mutation> = vec![
        (
            "SYS_ADMIN added",
            Box::new(|c| {
                c["securityContext"]["capabilities"]["add"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("SYS_ADMIN"))
            }),
            "capability SYS_ADMIN beyond",
        ),
        (
            "privileged",
            Box::new(|c| c["securityContext"]["privileged"] = json!(true)),
            "privileged",
        ),
        (
            "drop ALL removed",
            Box::new(|c| c["securityContext"]["capabilities"]["drop"] = json!([])),
            "capabilities.drop",
        ),
        (
            "liveness probe removed",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("livenessProbe");
            }),
            "livenessProbe is not an HTTP GET of /healthz",
        ),
        (
            "readiness probe on the wrong path",
            Box::new(|c| c["readinessProbe"]["httpGet"]["path"] = json!("/healthz")),
            "readinessProbe is not an HTTP GET of /readyz",
        ),
        (
            "writable root",
            Box::new(|c| c["securityContext"]["readOnlyRootFilesystem"] = json!(false)),
            "root file system is writable",
        ),
        (
            "admin API",
            Box::new(|c| c["args"].as_array_mut().unwrap().push(json!("--admin-api"))),
            "admin API is on",
        ),
        (
            "bound on 0.0.0.0",
            Box::new(|c| {
                let args = c["args"].as_array_mut().unwrap();
                let i = args.iter().position(|a| a == "-l").unwrap();
                args[i + 1] = json!("0.0.0.0");
            }),
            "not bound to the pod IP",
        ),
        (
            "no limits",
            Box::new(|c| {
                c["resources"].as_object_mut().unwrap().remove("limits");
            }),
            "no resources.limits.memory",
        ),
    ];
    for (what, mutate, expect) in mutations {
        let mut w = ds.clone();
        mutate(&mut w["spec"]["template"]["spec"]["containers"][0]);
        let v = policy_violations(&w);
        assert!(
            v.iter().any(|m| m.contains(expect)),
            "{what}: expected a violation containing {expect:?}, got {v:?}"
        );
    }
    let pod_mutations: Vec<Mutation> = vec![
        (
            "hostPID",
            Box::new(|p| p["hostPID"] = json!(true)),
            "hostPID",
        ),
        (
            "root user",
            Box::new(|p| p["securityContext"]["runAsUser"] = json!(0)),
            "UID 0",
        ),
        (
            "seccomp off",
            Box::new(|p| p["securityContext"]["seccompProfile"]["type"] = json!("Unconfined")),
            "seccomp",
        ),
        (
            "hostPath",
            Box::new(|p| {
                p["volumes"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "root", "hostPath": {"path": "/"}}))
            }),
            "hostPath",
        ),
    ];
    for (what, mutate, expect) in pod_mutations {
        let mut w = ds.clone();
        mutate(&mut w["spec"]["template"]["spec"]);
        let v = policy_violations(&w);
        assert!(
            v.iter().any(|m| m.contains(expect)),
            "{what}: expected a violation containing {expect:?}, got {v:?}"
        );
    }
}

#[test]
fn deploy_k8s_downward_api_names_are_the_ones_the_resource_reads() {
    if !have_kubectl() {
        return;
    }
    use pktvisor::export::otlp::resource::K8S_ENV;
    for dir in KUSTOMIZATIONS {
        for w in agent_workloads(&render(dir)) {
            for c in w["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
            {
                if !c["image"].as_str().unwrap_or("").contains("pktvisor") {
                    continue;
                }
                let names: Vec<&str> = c["env"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["name"].as_str())
                    .collect();
                for n in names
                    .iter()
                    .filter(|n| n.starts_with("K8S_") && **n != "K8S_NODE_IP")
                {
                    assert!(
                        K8S_ENV.iter().any(|(var, _)| var == n),
                        "{dir}: {n} is not read by the OTLP resource"
                    );
                }
                for attr in [
                    "k8s.node.name",
                    "k8s.pod.name",
                    "k8s.namespace.name",
                    "k8s.pod.uid",
                ] {
                    assert!(
                        K8S_ENV
                            .iter()
                            .any(|(var, a)| *a == attr && names.contains(var)),
                        "{dir}: nothing sets {attr}"
                    );
                }
            }
        }
    }
}

#[test]
fn deploy_k8s_configmaps_hold_configs_the_agent_accepts() {
    if !have_kubectl() {
        return;
    }
    for dir in ["base", "overlays/dnstap-sidecar"] {
        for cm in render(dir).iter().filter(|d| kind(d) == "ConfigMap") {
            let Some(text) = cm["data"]["agent.yaml"].as_str() else {
                continue;
            };
            let f = temp_dir("cm").join("agent.yaml");
            std::fs::write(&f, text).expect("write");
            let cfg = pktvisor::agent::config::load(std::slice::from_ref(&f), &Default::default())
                .unwrap_or_else(|e| panic!("{dir}: {}: {e}", cm["metadata"]["name"]));
            assert!(!cfg.definitions.policies.is_empty(), "{dir}: no policy");
            assert!(!cfg.settings.admin_api, "{dir}: admin API on");
            let _ = std::fs::remove_dir_all(f.parent().expect("temp dir"));
        }
    }
    // The agent's OTLP endpoint in the collector overlay is the node-local Collector.
    let docs = render("overlays/otel-node-collector");
    let ds = find(&docs, "DaemonSet", "pktvisord");
    let env = ds["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    let endpoint = env
        .iter()
        .find(|e| e["name"] == "OTEL_EXPORTER_OTLP_ENDPOINT")
        .expect("endpoint");
    assert_eq!(endpoint["value"], "http://$(K8S_NODE_IP):4317");
    // $(K8S_NODE_IP) expands only when the variable is defined before it.
    let node_ip = env
        .iter()
        .position(|e| e["name"] == "K8S_NODE_IP")
        .expect("K8S_NODE_IP");
    let ep = env
        .iter()
        .position(|e| e["name"] == "OTEL_EXPORTER_OTLP_ENDPOINT")
        .unwrap();
    assert!(node_ip < ep);
    let node = find(&docs, "DaemonSet", "otelcol-node");
    let port = &node["spec"]["template"]["spec"]["containers"][0]["ports"][0];
    assert_eq!(
        (port["containerPort"].clone(), port["hostPort"].clone()),
        (json!(4317), json!(4317))
    );
}
