//! pktvisor's Prometheus text exposition.
//!
//! Families appear in first-write order, each with one `# HELP` / `# TYPE` header followed
//! by all its series (series of the same family from several handlers or policies are
//! grouped under that one header). Labels: the static `instance` label first, then every
//! other label sorted by key. No labels print as `{}`. Counters, cardinalities and top-N
//! lists are gauges; quantiles and rates are summaries whose `_sum` is the maximum observed
//! value (pktvisor's quirk) and `_count` the number of samples; histograms have `_bucket`
//! series with `le` and a `_count`, but no `_sum`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::numfmt::{prom_f64, to_string_f64};
use crate::metric::{Desc, MetricSink, QUANTILES, Scope, Snapshot, TopEntry};
use crate::sketch::{Distribution, Rate, histogram};

type Labels = BTreeMap<String, String>;

struct Family {
    name: String,
    help: String,
    kind: &'static str,
    body: String,
}

/// Accumulates the exposition of any number of snapshots.
pub struct PromWriter {
    instance: Option<String>,
    families: Vec<Family>,
    index: HashMap<String, usize>,
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl PromWriter {
    /// A writer; `instance` is the static label of `--prom-instance`.
    pub fn new(instance: Option<&str>) -> Self {
        PromWriter {
            instance: instance.map(str::to_string),
            families: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Writes every metric of `snap` with the given per-call labels (policy, handler, tap).
    pub fn write_snapshot(&mut self, snap: &dyn Snapshot, labels: &[(&str, &str)]) {
        if !snap.has_output() {
            return;
        }
        let mut sink = PromSink {
            w: self,
            base: labels,
        };
        snap.visit(&mut sink);
    }

    /// Writes one gauge sample outside any snapshot (self-telemetry such as table bounds).
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64) {
        self.family(name, help, "gauge");
        let labels: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        self.line(name, "", &labels, &value.to_string());
    }

    fn family(&mut self, name: &str, help: &str, kind: &'static str) -> &mut Family {
        let i = match self.index.get(name) {
            Some(i) => *i,
            None => {
                self.families.push(Family {
                    name: name.to_string(),
                    help: help.to_string(),
                    kind,
                    body: String::new(),
                });
                let i = self.families.len() - 1;
                self.index.insert(name.to_string(), i);
                i
            }
        };
        let f = &mut self.families[i];
        if f.help.is_empty() && !help.is_empty() {
            f.help = help.to_string();
        }
        f
    }

    fn labels_text(&self, labels: &Labels) -> String {
        let mut out = String::from("{");
        let mut first = true;
        if let Some(inst) = &self.instance
            && !labels.contains_key("instance")
        {
            let _ = write!(out, "instance=\"{}\"", escape_label(inst));
            first = false;
        }
        for (k, v) in labels {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
        out
    }

    fn line(&mut self, family: &str, suffix: &str, labels: &Labels, value: &str) {
        let text = self.labels_text(labels);
        if let Some(i) = self.index.get(family).copied() {
            let f = &mut self.families[i];
            let _ = writeln!(f.body, "{}{}{} {}", family, suffix, text, value);
        }
    }

    /// The exposition text.
    pub fn finish(self) -> String {
        let mut out = String::new();
        for f in self.families {
            let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(&f.help));
            let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
            out.push_str(&f.body);
        }
        out
    }
}

struct PromSink<'a, 'b> {
    w: &'a mut PromWriter,
    base: &'b [(&'b str, &'b str)],
}

impl PromSink<'_, '_> {
    fn labels(&self, s: &Scope<'_>) -> Labels {
        let mut m = Labels::new();
        for (k, v) in self.base.iter().chain(s.labels.iter()) {
            m.insert((*k).to_string(), (*v).to_string());
        }
        m
    }

    fn gauge(&mut self, d: &Desc, s: &Scope<'_>, value: u64) {
        let name = d.family();
        self.w.family(&name, d.help, "gauge");
        let labels = self.labels(s);
        self.w.line(&name, "", &labels, &value.to_string());
    }

    fn summary(&mut self, d: &Desc, s: &Scope<'_>, dist: &Distribution, integer: bool) {
        if dist.is_empty() {
            return;
        }
        let name = d.family();
        self.w.family(&name, d.help, "summary");
        let mut labels = self.labels(s);
        for (q, _, label) in QUANTILES {
            let v = if integer {
                dist.quantile_u64(q).map(|v| v.to_string())
            } else {
                dist.quantile(q).map(prom_f64)
            };
            if let Some(v) = v {
                labels.insert("quantile".to_string(), label.to_string());
                self.w.line(&name, "", &labels, &v);
            }
        }
        labels.remove("quantile");
        let max = dist.max().unwrap_or(0.0);
        let max_text = if integer {
            (max.round() as u64).to_string()
        } else {
            prom_f64(max)
        };
        self.w.line(&name, "_sum", &labels, &max_text);
        self.w
            .line(&name, "_count", &labels, &dist.count().to_string());
    }
}

impl MetricSink for PromSink<'_, '_> {
    fn counter(&mut self, d: &Desc, s: &Scope<'_>, value: u64) {
        self.gauge(d, s, value);
    }

    fn cardinality(&mut self, d: &Desc, s: &Scope<'_>, value: u64) {
        self.gauge(d, s, value);
    }

    fn quantiles(&mut self, d: &Desc, s: &Scope<'_>, dist: &Distribution, integer: bool) {
        self.summary(d, s, dist, integer);
    }

    fn rate(&mut self, d: &Desc, s: &Scope<'_>, rate: &Rate, _live: Option<u64>) {
        self.summary(d, s, rate.samples(), true);
    }

    fn histogram(&mut self, d: &Desc, s: &Scope<'_>, dist: &Distribution, integer: bool) {
        if dist.is_empty() {
            return;
        }
        let name = d.family();
        self.w.family(&name, d.help, "histogram");
        let mut labels = self.labels(s);
        let bins: Vec<(String, f64)> = if integer {
            histogram::cumulative_u64(dist, true)
                .into_iter()
                .map(|(b, c)| (b.to_string(), c))
                .collect()
        } else {
            histogram::cumulative_f64(dist)
                .into_iter()
                .map(|(b, c)| (to_string_f64(b), c))
                .collect()
        };
        for (bound, cum) in bins {
            labels.insert("le".to_string(), bound);
            self.w.line(&name, "_bucket", &labels, &prom_f64(cum));
        }
        labels.insert("le".to_string(), "+Inf".to_string());
        self.w
            .line(&name, "_bucket", &labels, &dist.count().to_string());
        labels.remove("le");
        self.w
            .line(&name, "_count", &labels, &dist.count().to_string());
    }

    fn topn(&mut self, d: &Desc, s: &Scope<'_>, item_label: &str, items: &[TopEntry]) {
        let name = d.family();
        self.w.family(&name, d.help, "gauge");
        for e in items {
            let mut labels = self.labels(s);
            labels.insert(item_label.to_string(), e.name.clone());
            if let Some((lat, lon)) = &e.lat_lon {
                labels.insert("lat".to_string(), lat.clone());
                labels.insert("lon".to_string(), lon.clone());
            }
            self.w.line(&name, "", &labels, &e.estimate.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::Period;
    use std::any::Any;

    #[derive(Clone)]
    struct Fake;
    const UDP: Desc = Desc {
        schema: "packets",
        path: &["udp"],
        help: "Count of UDP packets",
        otel: crate::metric::otel::sum("pktvisor.test", "{packet}"),
    };
    const SIZE: Desc = Desc {
        schema: "packets",
        path: &["payload_size"],
        help: "Quantiles of payload sizes, in bytes",
        otel: crate::metric::otel::sum("pktvisor.test", "{packet}"),
    };
    const TOP: Desc = Desc {
        schema: "packets",
        path: &["top_ipv4"],
        help: "Top IPv4 IP addresses",
        otel: crate::metric::otel::sum("pktvisor.test", "{packet}"),
    };
    impl Snapshot for Fake {
        fn schema_key(&self) -> &'static str {
            "packets"
        }
        fn period(&self) -> Period {
            Period::default()
        }
        fn visit(&self, sink: &mut dyn MetricSink) {
            sink.counter(&UDP, &Scope::ROOT, 140);
            let mut d = Distribution::new();
            for v in [60u64, 70, 80] {
                d.record_u64(v);
            }
            sink.quantiles(&SIZE, &Scope::ROOT, &d, true);
            let e = TopEntry {
                name: "1.2.3.4".into(),
                estimate: 7,
                lat_lon: None,
            };
            sink.topn(&TOP, &Scope::ROOT, "ipv4", &[e]);
        }
        fn merge_from(&mut self, _: &dyn Snapshot) -> bool {
            false
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
        fn clone_box(&self) -> Box<dyn Snapshot> {
            Box::new(self.clone())
        }
    }

    #[test]
    fn families_group_and_labels_sort_with_instance_first() {
        let mut w = PromWriter::new(Some("node"));
        w.write_snapshot(&Fake, &[("policy", "p1"), ("handler", "h1"), ("tap", "t")]);
        w.write_snapshot(&Fake, &[("policy", "p2"), ("handler", "h2"), ("tap", "t")]);
        let text = w.finish();
        let expected_head = "# HELP packets_udp Count of UDP packets\n# TYPE packets_udp gauge\n\
packets_udp{instance=\"node\",handler=\"h1\",policy=\"p1\",tap=\"t\"} 140\n\
packets_udp{instance=\"node\",handler=\"h2\",policy=\"p2\",tap=\"t\"} 140\n";
        assert!(text.starts_with(expected_head), "{text}");
        assert!(text.contains(
            "packets_payload_size{instance=\"node\",handler=\"h1\",policy=\"p1\",quantile=\"0.5\",tap=\"t\"} 70\n"
        ));
        assert!(text.contains("packets_payload_size_sum{instance=\"node\",handler=\"h1\",policy=\"p1\",tap=\"t\"} 80\n"));
        assert!(text.contains("packets_payload_size_count{instance=\"node\",handler=\"h1\",policy=\"p1\",tap=\"t\"} 3\n"));
        assert!(text.contains("packets_top_ipv4{instance=\"node\",handler=\"h2\",ipv4=\"1.2.3.4\",policy=\"p2\",tap=\"t\"} 7\n"));
        assert_eq!(text.matches("# TYPE packets_udp").count(), 1);
    }

    #[test]
    fn no_labels_print_braces() {
        let mut w = PromWriter::new(None);
        w.write_snapshot(&Fake, &[]);
        assert!(w.finish().contains("packets_udp{} 140\n"));
    }
}
