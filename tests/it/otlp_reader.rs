//! `pktvisor-reader --otlp`: the file's results pushed to a real in-process OTLP/gRPC
//! receiver, checked point by point against the JSON the same run prints; cumulative vs
//! delta over a multi-minute capture; explicit histograms; the resource from the
//! environment; a failed push exits non-zero.

use std::path::Path;
use std::process::{Command, Output};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric::Data};
use serde_json::Value;

use crate::common::own_fixture;
use crate::otlp_receiver::{Receiver, attr, attr_text, int_points, int_points_where, metrics};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn reader(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"));
    c.args(args);
    for k in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_SERVICE_NAME",
    ] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("pktvisor-reader runs")
}

/// Runs the reader with `--otlp` into a fresh receiver: (JSON window, requests).
fn push(
    file: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Value, Vec<ExportMetricsServiceRequest>) {
    let rt = runtime();
    let r = rt.block_on(Receiver::start());
    let ep = r.endpoint();
    let mut args = vec![file.to_str().unwrap(), "--otlp", ep.as_str()];
    args.extend_from_slice(extra);
    let out = reader(&args, env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let window = v.as_object().unwrap().values().next().unwrap().clone();
    let reqs = r.requests();
    drop(r);
    drop(rt);
    (window, reqs)
}

fn u(v: &Value, path: &[&str]) -> i64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_i64()
        .unwrap_or_else(|| panic!("no integer at {path:?}"))
}

/// The single value of a point (name + attributes), asserting exactly one exists.
fn one(ms: &[Metric], name: &str, want: &[(&str, &str)]) -> i64 {
    let p = int_points(ms, name, want);
    assert_eq!(p.len(), 1, "{name} {want:?}: {p:?}");
    p[0].0
}

fn exp_points(ms: &[Metric], name: &str, want: &[(&str, &str)]) -> Vec<(u64, u64, u64, u64)> {
    let mut out = Vec::new();
    for m in ms.iter().filter(|m| m.name == name) {
        if let Some(Data::ExponentialHistogram(h)) = &m.data {
            for p in &h.data_points {
                if want.iter().all(|(k, v)| attr(&p.attributes, k) == Some(*v)) {
                    out.push((
                        p.count,
                        p.zero_count,
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn reader_push_matches_its_json_point_by_point() {
    let file = own_fixture("dns/dns-mixed.pcap");
    let env = [
        ("OTEL_SERVICE_NAME", "visor-test"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=ci,team=net%20ops",
        ),
        ("K8S_NODE_NAME", "node-7"),
        ("K8S_POD_NAME", "pktvisor-x1"),
        ("K8S_NAMESPACE", "monitoring"),
    ];
    let (w, reqs) = push(&file, &[], &env);
    assert_eq!(reqs.len(), 1);
    let rm = &reqs[0].resource_metrics[0];
    let res = rm.resource.as_ref().unwrap();
    let r = |k: &str| attr(&res.attributes, k).map(str::to_string);
    assert_eq!(r("service.name").as_deref(), Some("visor-test"));
    assert_eq!(
        r("service.version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(r("service.instance.id").as_deref(), Some("pktvisor-x1"));
    assert_eq!(r("k8s.node.name").as_deref(), Some("node-7"));
    assert_eq!(r("k8s.pod.name").as_deref(), Some("pktvisor-x1"));
    assert_eq!(r("k8s.namespace.name").as_deref(), Some("monitoring"));
    assert_eq!(r("deployment.environment.name").as_deref(), Some("ci"));
    assert_eq!(r("team").as_deref(), Some("net ops"));
    assert!(r("host.name").is_some());
    assert_eq!(rm.scope_metrics[0].scope.as_ref().unwrap().name, "pktvisor");

    let ms = metrics(&reqs);
    let net = [
        ("pktvisor.handler", "net"),
        ("pktvisor.policy", "default"),
        ("pktvisor.tap", "default"),
    ];
    let p = &w["packets"];
    assert_eq!(one(&ms, "pktvisor.net.packets", &net), u(p, &["total"]));
    for (t, k) in [("udp", "udp"), ("tcp", "tcp")] {
        let mut a = net.to_vec();
        a.push(("network.transport", t));
        assert_eq!(
            one(&ms, "pktvisor.net.packets.by_transport", &a),
            u(p, &[k])
        );
    }
    // other transports: the slice without `network.transport`
    let other: Vec<i64> = int_points_where(&ms, "pktvisor.net.packets.by_transport", &net, |a| {
        attr_text(a, "network.transport").is_none()
    });
    assert_eq!(other, vec![u(p, &["other_l4"])]);
    for t in ["ipv4", "ipv6"] {
        let mut a = net.to_vec();
        a.push(("network.type", t));
        assert_eq!(
            one(&ms, "pktvisor.net.packets.by_network_type", &a),
            u(p, &[t])
        );
    }
    for (d, k) in [("in", "in"), ("out", "out"), ("unknown", "unknown_dir")] {
        assert_eq!(
            one(
                &ms,
                "pktvisor.net.packets.by_direction",
                &[("pktvisor.handler", "net"), ("pktvisor.direction", d)]
            ),
            u(p, &[k])
        );
    }

    let d = &w["dns"];
    let dns = [("pktvisor.handler", "dns")];
    let wp = |k: &str| u(d, &["wire_packets", k]);
    assert_eq!(one(&ms, "pktvisor.dns.packets", &dns), wp("total"));
    assert_eq!(one(&ms, "pktvisor.dns.queries", &dns), wp("queries"));
    assert_eq!(one(&ms, "pktvisor.dns.replies", &dns), wp("replies"));
    assert_eq!(one(&ms, "pktvisor.dns.events", &dns), wp("events"));
    assert_eq!(one(&ms, "pktvisor.dns.replies.nodata", &dns), wp("nodata"));
    for (rc, k) in [
        ("NOERROR", "noerror"),
        ("NXDOMAIN", "nxdomain"),
        ("REFUSED", "refused"),
        ("SERVFAIL", "srvfail"),
    ] {
        assert_eq!(
            one(
                &ms,
                "pktvisor.dns.replies.by_rcode",
                &[("pktvisor.handler", "dns"), ("pktvisor.dns.rcode", rc)]
            ),
            wp(k)
        );
    }
    assert!(
        wp("total") > 0 && wp("nxdomain") > 0,
        "fixture has NXDOMAIN"
    );
    assert_eq!(
        one(&ms, "pktvisor.dns.xacts", &dns),
        u(d, &["xact", "counts", "total"])
    );
    for dir in ["in", "out"] {
        assert_eq!(
            one(
                &ms,
                "pktvisor.dns.xacts.by_direction",
                &[("pktvisor.handler", "dns"), ("pktvisor.direction", dir)]
            ),
            u(d, &["xact", dir, "total"])
        );
    }
    assert_eq!(
        one(&ms, "pktvisor.dns.qname.cardinality", &dns),
        u(d, &["cardinality", "qname"])
    );
    for (list, label, name) in [
        ("top_qtype", "pktvisor.dns.qtype", "pktvisor.dns.top.qtype"),
        ("top_rcode", "pktvisor.dns.rcode", "pktvisor.dns.top.rcode"),
        (
            "top_qname2",
            "pktvisor.dns.qname2",
            "pktvisor.dns.top.qname2",
        ),
    ] {
        let items = d[list].as_array().unwrap();
        assert!(!items.is_empty(), "{list}");
        assert_eq!(int_points(&ms, name, &dns).len(), items.len(), "{list}");
        for it in items {
            // rcodes as IANA mnemonics (pktvisor's JSON says SRVFAIL)
            let item = pktvisor::metric::otel::iana_rcode(it["name"].as_str().unwrap());
            assert_eq!(
                one(&ms, name, &[("pktvisor.handler", "dns"), (label, item)]),
                it["estimate"].as_i64().unwrap(),
                "{list} {item}"
            );
        }
    }
    // transaction durations: one histogram point per direction, count = transactions
    for dir in ["in", "out"] {
        let total = u(d, &["xact", dir, "total"]) as u64;
        let h = exp_points(
            &ms,
            "pktvisor.dns.xact.duration",
            &[("pktvisor.handler", "dns"), ("pktvisor.direction", dir)],
        );
        if total == 0 {
            assert!(h.is_empty());
        } else {
            assert_eq!(h.len(), 1, "quantiles and histogram views are one point");
            assert_eq!(h[0].0, total);
        }
    }
    // every exponential histogram: bucket counts + zero count == count
    let mut hist = 0;
    for m in &ms {
        if let Some(Data::ExponentialHistogram(h)) = &m.data {
            assert_eq!(h.aggregation_temporality, 2, "cumulative by default");
            for p in &h.data_points {
                let b: u64 = p
                    .positive
                    .iter()
                    .chain(p.negative.iter())
                    .flat_map(|b| b.bucket_counts.iter())
                    .sum();
                assert_eq!(b + p.zero_count, p.count, "{}", m.name);
                assert!(p.count > 0 && p.min <= p.max);
                hist += 1;
            }
        }
        if let Some(Data::Sum(s)) = &m.data {
            assert!(s.is_monotonic);
            assert_eq!(s.aggregation_temporality, 2);
        }
    }
    assert!(hist >= 1, "distributions arrive as histograms");
    // rate histograms are left out by default
    assert!(!ms.iter().any(|m| m.name.ends_with(".rate")));
    // times: the capture's, not the wall clock
    let start = u(d, &["period", "start_ts"]) as u64 * 1_000_000_000;
    for (_, s, t) in int_points(&ms, "pktvisor.dns.packets", &dns) {
        assert_eq!(s / 1_000_000_000, start / 1_000_000_000);
        assert!(t > s && t - s < 120 * 1_000_000_000);
    }
    // pcap handler
    assert_eq!(
        one(
            &ms,
            "pktvisor.pcap.tcp_reassembly_errors",
            &[("pktvisor.handler", "pcap")]
        ),
        u(&w["pcap"], &["tcp_reassembly_errors"])
    );
    // no (name, attributes) appears twice
    let mut keys = std::collections::HashSet::new();
    for m in &ms {
        let pts: Vec<Vec<(String, String)>> = match &m.data {
            Some(Data::Sum(s)) => s.data_points.iter().map(|p| kvs(&p.attributes)).collect(),
            Some(Data::Gauge(g)) => g.data_points.iter().map(|p| kvs(&p.attributes)).collect(),
            Some(Data::ExponentialHistogram(h)) => {
                h.data_points.iter().map(|p| kvs(&p.attributes)).collect()
            }
            _ => Vec::new(),
        };
        for a in pts {
            assert!(
                keys.insert((m.name.clone(), a.clone())),
                "duplicate {} {a:?}",
                m.name
            );
        }
    }
}

fn kvs(a: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = a
        .iter()
        .map(|k| (k.key.clone(), attr_text(a, &k.key).unwrap_or_default()))
        .collect();
    v.sort();
    v
}

/// A generated capture spanning several minutes (python3 + the shared generator).
fn multi_minute_capture() -> Option<std::path::PathBuf> {
    let gen_ = pktvisor::testdata::shared("bench")?.join("gen_dns_pcap.py");
    let dir = std::env::temp_dir().join(format!("pktvisor-otlp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("dns_4min.pcap");
    let st = Command::new("python3")
        .arg(&gen_)
        .args([
            "-o",
            out.to_str().unwrap(),
            "-n",
            "3000",
            "--duration",
            "230",
            "--seed",
            "7",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    Some(out)
}

#[test]
fn delta_points_per_bucket_sum_to_the_cumulative_total() {
    let Some(file) = multi_minute_capture() else {
        return;
    };
    // the generator's resolvers are "the host": transactions count as `in`
    let hosts = [
        "-H",
        "10.0.0.53/32,10.0.1.53/32,192.0.2.53/32,198.51.100.53/32,2001:db8::53/128,2001:db8:1::53/128",
    ];
    let (w, cum) = push(&file, &hosts, &[]);
    let (w2, delta) = push(
        &file,
        &hosts,
        &[("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")],
    );
    assert_eq!(w, w2, "same JSON either way");
    let cm = metrics(&cum);
    let dm = metrics(&delta);
    let dns = [("pktvisor.handler", "dns")];
    let total = u(&w["dns"], &["wire_packets", "total"]);
    assert_eq!(one(&cm, "pktvisor.dns.packets", &dns), total);
    let mut pts = int_points(&dm, "pktvisor.dns.packets", &dns);
    assert!(pts.len() >= 4, "one delta point per minute bucket: {pts:?}");
    pts.sort_by_key(|p| p.1);
    assert_eq!(pts.iter().map(|p| p.0).sum::<i64>(), total);
    for w in pts.windows(2) {
        assert!(w[0].2 <= w[1].1, "delta intervals do not overlap: {w:?}");
    }
    for p in &pts {
        assert!(
            p.2 > p.1 && p.2 - p.1 <= 61_000_000_000,
            "a bucket is about 60 s: {p:?}"
        );
    }
    for m in &dm {
        match &m.data {
            Some(Data::Sum(s)) => assert_eq!(s.aggregation_temporality, 1),
            Some(Data::ExponentialHistogram(h)) => assert_eq!(h.aggregation_temporality, 1),
            _ => {}
        }
    }
    // histograms: the delta counts add up to the cumulative count
    let mut checked = 0;
    for dir in ["in", "out"] {
        let n = u(&w["dns"], &["xact", dir, "total"]);
        if n == 0 {
            continue;
        }
        let want = [("pktvisor.handler", "dns"), ("pktvisor.direction", dir)];
        let c = exp_points(&cm, "pktvisor.dns.xact.duration", &want);
        let d = exp_points(&dm, "pktvisor.dns.xact.duration", &want);
        assert_eq!(c.len(), 1);
        assert!(d.len() >= 4);
        assert_eq!(d.iter().map(|p| p.0).sum::<u64>(), c[0].0);
        assert_eq!(c[0].0 as i64, n);
        checked += 1;
    }
    assert!(checked > 0, "the capture has transactions");
    // the cumulative start is the first delta start, its time the last delta's
    let cp = int_points(&cm, "pktvisor.dns.packets", &dns)[0];
    assert_eq!(cp.1, pts[0].1);
    assert_eq!(cp.2, pts.last().unwrap().2);
}

#[test]
fn explicit_bucket_histograms_by_environment() {
    let file = own_fixture("dns/dns-mixed.pcap");
    let (w, reqs) = push(
        &file,
        &[],
        &[
            (
                "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
                "explicit_bucket_histogram",
            ),
            ("PKTVISOR_OTLP_RATE_HISTOGRAMS", "true"),
        ],
    );
    let ms = metrics(&reqs);
    assert!(
        ms.iter().any(|m| m.name == "pktvisor.dns.packet.rate"),
        "PKTVISOR_OTLP_RATE_HISTOGRAMS=true adds the rate histograms"
    );
    let mut n = 0;
    for m in &ms {
        assert!(!matches!(m.data, Some(Data::ExponentialHistogram(_))));
        if let Some(Data::Histogram(h)) = &m.data {
            for p in &h.data_points {
                assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1);
                assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count, "{}", m.name);
                n += 1;
                if m.name == "pktvisor.dns.xact.duration"
                    && attr(&p.attributes, "pktvisor.direction") == Some("out")
                {
                    assert_eq!(p.count as i64, u(&w["dns"], &["xact", "out", "total"]));
                    // seconds: the default bounds reach below one second
                    let below_1s: u64 = p
                        .explicit_bounds
                        .iter()
                        .zip(&p.bucket_counts)
                        .filter(|(b, _)| **b < 1.0)
                        .map(|(_, c)| *c)
                        .sum();
                    assert_eq!(below_1s, p.count, "DNS answers within a second");
                    assert!(p.bucket_counts.iter().filter(|c| **c > 0).count() > 1);
                }
            }
        }
    }
    assert!(n >= 4);
}

#[test]
fn failed_push_exits_non_zero_with_a_clear_message() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ep = format!("http://127.0.0.1:{port}");
    let file = own_fixture("dns/dns-mixed.pcap");
    let out = reader(
        &[
            file.to_str().unwrap(),
            "--otlp",
            &ep,
            "--otlp-retry-secs",
            "1",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("OTLP push to") && err.contains("not delivered"),
        "{err}"
    );
    let out = reader(&[file.to_str().unwrap(), "--otlp", "ftp://nowhere"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
}
