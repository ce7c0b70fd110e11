//! The `otel-collector/` stack files: every YAML parses and is wired as documented (otlp
//! receiver → deltatocumulative → prometheus + debug; the agent pointed at the Collector),
//! and every series the Grafana dashboard queries (and every label it groups by) is one the
//! Collector's Prometheus exporter writes for the metrics pktvisor exports: the test
//! encodes every processor's metrics and derives their Prometheus names with the
//! OpenTelemetry → Prometheus compatibility rules (unit suffixes, `_total`, `_ratio`). The Collector binary itself is not
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

/// The Collector's Prometheus names (the `prometheus` exporter with its default
/// `add_metric_suffixes`), per the OpenTelemetry → Prometheus compatibility rules as the
/// Collector's translator applies them: the name split into words at every character
/// outside `[a-zA-Z0-9:]`; the unit's main part (before `/`) appended unless it is an
/// annotation in curly braces or already one of the words, UCUM symbols becoming words
/// (`s` → `seconds`, `By` → `bytes`, `1` → nothing, …); a `/x` part appended as
/// `per_<x>` (`s` → `second`); monotonic Sums end in `total` (other `total` words
/// dropped); Gauges with unit `1` end in `ratio`; words joined with `_`.
pub fn prometheus_name(name: &str, unit: &str, monotonic_sum: bool, gauge: bool) -> String {
    fn main_unit(u: &str) -> String {
        match u {
            "d" => "days",
            "h" => "hours",
            "min" => "minutes",
            "s" => "seconds",
            "ms" => "milliseconds",
            "us" => "microseconds",
            "ns" => "nanoseconds",
            "By" => "bytes",
            "KiBy" => "kibibytes",
            "MiBy" => "mebibytes",
            "GiBy" => "gibibytes",
            "TiBy" => "tibibytes",
            "KBy" => "kilobytes",
            "MBy" => "megabytes",
            "GBy" => "gigabytes",
            "TBy" => "terabytes",
            "m" => "meters",
            "V" => "volts",
            "A" => "amperes",
            "J" => "joules",
            "W" => "watts",
            "g" => "grams",
            "Cel" => "celsius",
            "Hz" => "hertz",
            "1" => "",
            "%" => "percent",
            other => other,
        }
        .to_string()
    }
    fn per_unit(u: &str) -> String {
        match u {
            "s" => "second",
            "m" => "minute",
            "h" => "hour",
            "d" => "day",
            "w" => "week",
            "mo" => "month",
            "y" => "year",
            other => other,
        }
        .to_string()
    }
    let clean = |u: &str| -> String {
        u.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("_")
    };
    let mut words: Vec<String> = name
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m.trim(), Some(p.trim())),
        None => (unit.trim(), None),
    };
    let main = if main.is_empty() || main.contains(['{', '}']) {
        String::new()
    } else {
        clean(&main_unit(main))
    };
    let per = match per {
        Some(p) if !p.is_empty() && !p.contains(['{', '}']) => {
            format!("per_{}", clean(&per_unit(p)))
        }
        _ => String::new(),
    };
    if !main.is_empty() && !words.contains(&main) {
        words.push(main);
    }
    if !per.is_empty() && !words.contains(&per) {
        words.push(per);
    }
    if monotonic_sum {
        words.retain(|w| w != "total");
        words.push("total".into());
    }
    if gauge && unit == "1" {
        words.retain(|w| w != "ratio");
        words.push("ratio".into());
    }
    let n = words.join("_");
    if n.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{n}")
    } else {
        n
    }
}

/// An attribute key as a Prometheus label name.
pub fn prometheus_label(key: &str) -> String {
    let l: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if l.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{l}")
    } else {
        l
    }
}

#[test]
fn prometheus_names_follow_the_compatibility_rules() {
    // the translator's own examples
    assert_eq!(
        prometheus_name("system.filesystem.usage", "By", false, true),
        "system_filesystem_usage_bytes"
    );
    assert_eq!(
        prometheus_name("system.network.dropped", "{packets}", false, true),
        "system_network_dropped"
    );
    assert_eq!(
        prometheus_name("system.network.dropped", "packets", false, true),
        "system_network_dropped_packets"
    );
    assert_eq!(
        prometheus_name("system.memory.utilization", "1", false, true),
        "system_memory_utilization_ratio"
    );
    assert_eq!(
        prometheus_name("astro.light.speed", "m/s", false, true),
        "astro_light_speed_meters_per_second"
    );
    assert_eq!(
        prometheus_name("system.processes.created", "", true, false),
        "system_processes_created_total"
    );
    assert_eq!(
        prometheus_name("http.server.duration", "s", false, false),
        "http_server_duration_seconds"
    );
    // the case: a count with unit 1 would gain `_ratio`
    assert_eq!(
        prometheus_name("pktvisor.dns.qname.cardinality", "1", false, true),
        "pktvisor_dns_qname_cardinality_ratio"
    );
    assert_eq!(
        prometheus_name("pktvisor.dns.qname.cardinality", "{name}", false, true),
        "pktvisor_dns_qname_cardinality"
    );
    assert_eq!(
        prometheus_name("pktvisor.net.packet.rate", "{packet}/s", false, false),
        "pktvisor_net_packet_rate_per_second"
    );
    assert_eq!(prometheus_label("network.transport"), "network_transport");
}

/// The series names and label names the Collector's Prometheus exporter writes for every
/// metric pktvisor exports (explicit-bucket histograms, as the compose stack asks for, so
/// a histogram is `_bucket`, `_sum` and `_count` with label `le`), with the resource
/// attributes as labels (`resource_to_telemetry_conversion`).
fn prometheus_series() -> std::collections::BTreeMap<String, BTreeSet<String>> {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use pktvisor::export::otlp::{EncodeOptions, HistogramAggregation};
    let walked = crate::otlp_docs::walk_everything();
    let opts = EncodeOptions {
        histograms: HistogramAggregation::Explicit {
            bounds: pktvisor::export::otlp::encode::default_explicit_bounds(),
        },
        rate_histograms: true,
        ..Default::default()
    };
    let req = crate::otlp_semconv::encode_walk(&walked, &opts);
    let resource: BTreeSet<String> = [
        "service.name",
        "service.version",
        "service.instance.id",
        "host.name",
        "k8s.node.name",
        "k8s.pod.name",
        "k8s.namespace.name",
        "deployment.environment.name",
        "job",
        "instance",
    ]
    .iter()
    .map(|k| prometheus_label(k))
    .collect();
    let mut out = std::collections::BTreeMap::new();
    for m in crate::otlp_semconv::metrics_of(&req) {
        let (sum, gauge, hist) = match &m.data {
            Some(Data::Sum(s)) => (s.is_monotonic, false, false),
            Some(Data::Gauge(_)) => (false, true, false),
            Some(Data::Histogram(_)) => (false, false, true),
            other => panic!("{}: unexpected {other:?}", m.name),
        };
        let mut labels = resource.clone();
        for attrs in crate::otlp_semconv::point_attributes(m) {
            labels.extend(attrs.iter().map(|kv| prometheus_label(&kv.key)));
        }
        let base = prometheus_name(&m.name, &m.unit, sum, gauge);
        if hist {
            let mut with_le = labels.clone();
            with_le.insert("le".into());
            out.insert(format!("{base}_bucket"), with_le);
            out.insert(format!("{base}_sum"), labels.clone());
            out.insert(format!("{base}_count"), labels);
        } else {
            out.insert(base, labels);
        }
    }
    out
}

/// Label names a PromQL expression groups by (`by (a, b)`, `without (c)`).
fn grouping_labels(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for kw in ["by", "without"] {
        let mut rest = expr;
        while let Some(i) = rest.find(kw) {
            let before_ok = rest[..i]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            let after = rest[i + kw.len()..].trim_start();
            if before_ok && let Some(list) = after.strip_prefix('(') {
                let end = list.find(')').unwrap_or(list.len());
                out.extend(
                    list[..end]
                        .split(',')
                        .map(|l| l.trim().to_string())
                        .filter(|l| !l.is_empty()),
                );
            }
            rest = &rest[i + kw.len()..];
        }
    }
    out
}

#[test]
fn dashboard_queries_the_names_the_collector_writes() {
    let text =
        std::fs::read_to_string(dir().join("grafana/dashboards/pktvisor-otel.json")).unwrap();
    let d: Value = serde_json::from_str(&text).unwrap();
    let series = prometheus_series();
    let mut checked = 0;
    let mut problems = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            let grouping = grouping_labels(expr);
            // metric names: words outside quoted strings that are not grouping labels
            let unquoted: String = expr.split('"').step_by(2).collect::<Vec<_>>().join(" ");
            let mut labels = BTreeSet::new();
            let mut found = 0;
            for word in unquoted.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("pktvisor_") && !grouping.iter().any(|l| l == word) {
                    found += 1;
                    match series.get(word) {
                        Some(l) => labels.extend(l.iter().cloned()),
                        None => problems.push(format!(
                            "{word} (panel {}) is not a series the Collector writes",
                            p["title"]
                        )),
                    }
                }
            }
            if found == 0 {
                problems.push(format!("panel {} queries no pktvisor metric", p["title"]));
            }
            for l in grouping {
                if !labels.contains(&l) {
                    problems.push(format!(
                        "panel {} groups by {l}, which its metrics do not have",
                        p["title"]
                    ));
                }
            }
            checked += found;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 8);
    for f in [
        "grafana/provisioning/datasources/prometheus.yaml",
        "grafana/provisioning/dashboards/pktvisor.yaml",
    ] {
        assert_eq!(yaml(f)["apiVersion"], 1, "{f}");
    }
}
