//! The `otel-collector/` stack files: every YAML parses and is wired as documented (otlp
//! receiver → deltatocumulative → prometheus + debug; the agent pointed at the Collector),
//! and every metric the Grafana dashboard queries exists in docs/otel-metrics.md under the
//! name the Collector's Prometheus exporter gives it. The Collector binary itself is not
//! installable here (no Debian or PyPI package ships an OTLP-capable otelcol), so when
//! `otelcol-contrib` is on PATH the config is also checked with `otelcol-contrib validate`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("otel-collector")
}

fn yaml(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(name)).expect(name);
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn collector_config_is_wired_as_documented() {
    let c = yaml("collector.yaml");
    assert_eq!(
        c["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
        "0.0.0.0:4317"
    );
    assert!(c["processors"]["deltatocumulative"].is_object());
    let p = &c["service"]["pipelines"]["metrics"];
    assert_eq!(strs(&p["receivers"]), ["otlp"]);
    assert_eq!(strs(&p["processors"])[0], "deltatocumulative");
    assert!(strs(&p["exporters"]).contains(&"prometheus"));
    assert!(strs(&p["exporters"]).contains(&"debug"));
    for section in ["receivers", "processors", "exporters"] {
        for name in strs(&p[section]) {
            assert!(
                c[section][name].is_object(),
                "{section}.{name} is not defined"
            );
        }
    }
    if Command::new("sh")
        .args(["-c", "command -v otelcol-contrib"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let out = Command::new("otelcol-contrib")
            .arg("validate")
            .arg(format!(
                "--config={}",
                dir().join("collector.yaml").display()
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn compose_points_the_agent_at_the_collector() {
    let c = yaml("compose.yaml");
    let s = &c["services"];
    let agent = &s["pktvisord"];
    assert_eq!(
        strs(&agent["command"]),
        ["pktvisord", "--config", "/etc/pktvisor/agent.yaml"]
    );
    assert_eq!(
        agent["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"],
        "http://otel-collector:4317"
    );
    for svc in ["otel-collector", "prometheus", "grafana"] {
        assert!(s[svc]["image"].is_string(), "{svc}");
    }
    let prom = yaml("prometheus.yaml");
    assert_eq!(
        prom["scrape_configs"][0]["static_configs"][0]["targets"][0],
        "otel-collector:8889"
    );
    // the agent config is a pktvisor document whose otlp section resolves
    let a = yaml("agent.yaml");
    assert!(a["visor"]["policies"]["default"].is_object());
    let env = |k: &str| {
        (k == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://otel-collector:4317".to_string())
    };
    let cfg = pktvisor::otlp::OtlpConfig::resolve(
        Some(&a["visor"]["config"]["otlp"]),
        &env,
        &pktvisor::otlp::LegacyOtelFlags::default(),
    )
    .expect("agent.yaml otlp section resolves");
    assert!(cfg.enabled);
    assert_eq!(cfg.interval.as_secs(), 10);
}

/// Prometheus names of the documented OTel metrics, as the Collector's exporter writes them.
fn prometheus_names() -> BTreeSet<String> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/otel-metrics.md"))
            .unwrap();
    let mut out = BTreeSet::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[3].trim_matches('`').replace('.', "_");
        let unit = match cells[5].trim_matches('`') {
            "us" => "_microseconds",
            "By" => "_bytes",
            "s" => "_seconds",
            _ => "",
        };
        let base = format!("{name}{unit}");
        match cells[4] {
            "Sum (monotonic)" => out.insert(format!("{base}_total")),
            "ExponentialHistogram" | "Histogram" => out.insert(format!("{base}_bucket")),
            _ => out.insert(base),
        };
    }
    out
}

#[test]
fn dashboard_queries_documented_metrics() {
    let text =
        std::fs::read_to_string(dir().join("grafana/dashboards/pktvisor-otel.json")).unwrap();
    let d: Value = serde_json::from_str(&text).unwrap();
    let known = prometheus_names();
    let mut checked = 0;
    for p in d["panels"].as_array().unwrap() {
        let expr = p["targets"][0]["expr"].as_str().unwrap();
        for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("pktvisor_") {
                assert!(
                    known.contains(word),
                    "{word} (panel {}) is not a documented metric",
                    p["title"]
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 8);
    for f in [
        "grafana/provisioning/datasources/prometheus.yaml",
        "grafana/provisioning/dashboards/pktvisor.yaml",
    ] {
        assert_eq!(yaml(f)["apiVersion"], 1, "{f}");
    }
}
