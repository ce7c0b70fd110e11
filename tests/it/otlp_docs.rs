//! `docs/otel-metrics.md` is generated from the code: every processor runs a capture with
//! every metric group enabled, a recording sink collects every metric its walk emits, and
//! the OTLP naming rules map each one. The test fails when the committed table differs
//! (regenerate with `PKTVISOR_UPDATE_DOCS=1`), and checks the mapping is consistent: one
//! OTLP type and unit per OTel name, and no two pktvisor metrics on the same point unless
//! they are two views of one distribution.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use pktvisor::config::value::{ConfigMap, ConfigValue};
use pktvisor::event::{Event, ProbeOutcome, ProbeResult, ProbeTest};
use pktvisor::export::otlp::naming::{self, Carry, Kind};
use pktvisor::metric::{Desc, MetricSink, Scope, TopEntry};
use pktvisor::processor::Select;
use pktvisor::service::pipeline::PolicyPipeline;
use pktvisor::sketch::{Distribution, Rate};
use pktvisor::time::Timespec;

use crate::common::{context, own_fixture, plan, run_flow_capture, run_plan};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    family: String,
    kind: Kind,
    help: String,
    labels: Vec<String>,
    item: Option<String>,
    desc: (String, Vec<String>),
    handler: String,
}

#[derive(Default)]
struct Recorder(BTreeMap<(String, Kind), Seen>, String);

impl Recorder {
    fn note(&mut self, d: &Desc, s: &Scope<'_>, kind: Kind, item: Option<&str>) {
        let e = Seen {
            family: d.family(),
            kind,
            help: d.help.to_string(),
            labels: s.labels.iter().map(|(k, _)| (*k).to_string()).collect(),
            item: item.map(str::to_string),
            desc: (
                d.schema.to_string(),
                d.path.iter().map(|p| (*p).to_string()).collect(),
            ),
            handler: self.1.clone(),
        };
        self.0.entry((e.family.clone(), kind)).or_insert(e);
    }
}

impl MetricSink for Recorder {
    fn counter(&mut self, d: &Desc, s: &Scope<'_>, _: u64) {
        self.note(d, s, Kind::Counter, None);
    }
    fn cardinality(&mut self, d: &Desc, s: &Scope<'_>, _: u64) {
        self.note(d, s, Kind::Cardinality, None);
    }
    fn quantiles(&mut self, d: &Desc, s: &Scope<'_>, _: &Distribution, _: bool) {
        self.note(d, s, Kind::Distribution, None);
    }
    fn rate(&mut self, d: &Desc, s: &Scope<'_>, _: &Rate, _: Option<u64>) {
        self.note(d, s, Kind::Rate, None);
    }
    fn histogram(&mut self, d: &Desc, s: &Scope<'_>, _: &Distribution, _: bool) {
        self.note(d, s, Kind::Distribution, None);
    }
    fn topn(&mut self, d: &Desc, s: &Scope<'_>, item_label: &str, _: &[TopEntry]) {
        self.note(d, s, Kind::TopN, Some(item_label));
    }
}

fn all_groups() -> ConfigMap {
    let mut c = ConfigMap::new();
    c.set("enable", ConfigValue::List(vec!["all".into()]));
    c.set("recorded_stream", ConfigValue::Bool(true));
    c
}

fn visit(p: &PolicyPipeline, rec: &mut Recorder) {
    for h in &p.handlers {
        rec.1 = h.name.clone();
        let s = h
            .processor
            .snapshot(Select::Bucket(0), Timespec::now())
            .expect("snapshot");
        s.visit(rec);
    }
}

fn walk_everything() -> Recorder {
    let mut rec = Recorder::default();
    let ctx = context(None, None);
    let handlers: Vec<(&str, &str, &str, ConfigMap)> = [
        ("net1", "net", "1.0"),
        ("net2", "net", "2.0"),
        ("dns1", "dns", "1.0"),
        ("dns2", "dns", "2.0"),
        ("pcap", "pcap", "1.0"),
        ("dhcp", "dhcp", "1.0"),
        ("bgp", "bgp", "1.0"),
    ]
    .into_iter()
    .map(|(n, t, v)| (n, t, v, all_groups()))
    .collect();
    let pl = plan(
        &own_fixture("dns/dns-mixed.pcap"),
        &ConfigMap::new(),
        &handlers,
        false,
    );
    let (p, _) = run_plan(&pl, &ctx).expect("run");
    visit(&p, &mut rec);
    // flow: an sFlow capture through the flow input
    let file = own_fixture("flow/pmacct-sflow.pcap");
    let (f, _) = run_flow_capture(&file, "sflow", &all_groups(), &ctx).expect("flow run");
    let pipelines = f.pipelines;
    visit(&pipelines[0], &mut rec);
    // netprobe: one probe of every outcome, ping and TCP
    let mut np = pktvisor::processor::build("netprobe", "1.0", &all_groups(), &ctx)
        .expect("netprobe processor");
    let t0 = Timespec::new(1_700_000_000, 0);
    np.handle(&Event::Start(t0));
    for (target, port, outcome) in [
        (
            "https",
            Some(443),
            ProbeOutcome::Success { rtt_ns: 20_000_000 },
        ),
        ("ping", None, ProbeOutcome::Timeout),
        ("https", Some(443), ProbeOutcome::ConnectFailure),
        ("https", Some(443), ProbeOutcome::DnsLookupFailure),
    ] {
        let r = ProbeResult {
            target: target.into(),
            host: "example.com".into(),
            port,
            address: None,
            test: if port.is_some() {
                ProbeTest::Tcp
            } else {
                ProbeTest::Ping
            },
            outcome,
            attempted: outcome != ProbeOutcome::DnsLookupFailure,
            sent: t0,
            ts: t0,
            timeout_ms: 2000,
        };
        np.handle(&Event::Probe(&r));
    }
    rec.1 = "netprobe".into();
    np.snapshot(Select::Bucket(0), t0)
        .expect("snapshot")
        .visit(&mut rec);
    rec
}

fn render(rec: &Recorder) -> String {
    let mut rows: Vec<(&str, String)> = Vec::new();
    for s in rec.0.values() {
        let d = Desc {
            schema: Box::leak(s.desc.0.clone().into_boxed_str()),
            path: Box::leak(
                s.desc
                    .1
                    .iter()
                    .map(|p| &*Box::leak(p.clone().into_boxed_str()))
                    .collect::<Vec<&str>>()
                    .into_boxed_slice(),
            ),
            help: "",
        };
        let o = naming::map(&d, s.kind);
        let mut attrs: Vec<String> = o.attrs.iter().map(|(k, v)| format!("`{k}={v}`")).collect();
        attrs.extend(
            s.labels
                .iter()
                .map(|l| format!("`{}`", naming::attribute_key(l))),
        );
        if let Some(i) = &s.item {
            attrs.push(format!("`{}` (item)", naming::attribute_key(i)));
            if i == "geo_loc" {
                attrs.push("`lat`, `lon` (when known)".into());
            }
        }
        let kind = match s.kind {
            Kind::Counter => "counter",
            Kind::Cardinality => "cardinality",
            Kind::Distribution => "quantiles/histogram",
            Kind::Rate => "rate",
            Kind::TopN => "top-N",
        };
        let otlp_type = if o.carry == Carry::InHistogram {
            "– (the histogram point's min/max)"
        } else {
            s.kind.otlp_type(false)
        };
        rows.push((
            naming::handler_ns(&s.desc.0),
            format!(
                "| `{}` | {} | `{}` | {} | `{}` | {} |",
                s.family,
                kind,
                o.name,
                otlp_type,
                o.unit,
                if attrs.is_empty() {
                    "–".into()
                } else {
                    attrs.join(", ")
                }
            ),
        ));
    }
    rows.sort();
    let mut out = String::from(
        "# pktvisor metrics in OpenTelemetry\n\n\
<!-- generated by tests/it/otlp_docs.rs from the processors' walks; do not edit:\n     \
PKTVISOR_UPDATE_DOCS=1 cargo nextest run --test it otlp_docs -->\n\n\
How every pktvisor metric (its Prometheus family name) is exported over OTLP. Rules (in\n\
`src/export/otlp/naming.rs`): names live under `pktvisor.<handler>`; dimensions pktvisor folds\n\
into names become attributes, and slices of a total get a `.by_<dimension>` name so no metric\n\
mixes a total with its parts; quantile and histogram views of one distribution are one\n\
histogram; rates are histograms of per-second samples; durations pktvisor keeps in\n\
microseconds stay `us`, except netprobe's response time, exported in seconds.\n\n\
- **Every point** also carries `policy`, `handler` (instance name) and `tap`.\n\
- **Sums** are monotonic, cumulative by default (start = first bucket start), or delta with\n  \
`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta` (one point per completed 60 s bucket).\n\
- **Histograms** are ExponentialHistograms (max 160 buckets per sign), or explicit-bucket\n  \
Histograms with `OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION=explicit_bucket_histogram`.\n\
- **Gauges** (cardinality, top-N) hold the value over the same interval; top-N lists have one\n  \
point per item, the item in the attribute marked (item).\n\
- Attributes in `key=value` form are fixed by the pktvisor name; bare keys vary per point\n  \
(`direction` = `in`/`out`/`unknown` for v2 handlers, `device`/`device_interface` for flow,\n  \
`target`, `server.address` and (TCP) `server.port` for netprobe).\n\n\
| pktvisor name | pktvisor kind | OTel name | OTLP type | unit | attributes |\n\
|---|---|---|---|---|---|\n",
    );
    for (_, r) in rows {
        out.push_str(&r);
        out.push('\n');
    }
    out
}

/// (OTel name, fixed attributes, scope labels, item label).
type PointKey = (String, Vec<String>, Vec<String>, Option<String>);

#[test]
fn metric_mapping_doc_is_generated_from_the_code() {
    let rec = walk_everything();
    let schemas: BTreeSet<&str> = rec.0.values().map(|s| s.desc.0.as_str()).collect();
    for want in [
        "packets", "payload", "net", "dns", "pcap", "dhcp", "bgp", "flow", "netprobe",
    ] {
        assert!(
            schemas.contains(want),
            "no {want} metrics walked: {schemas:?}"
        );
    }
    assert!(rec.0.len() > 200, "only {} metrics walked", rec.0.len());
    // one OTLP type and unit per name; distinct metrics land on distinct points
    let mut types: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    let mut points: BTreeMap<PointKey, (String, String)> = BTreeMap::new();
    for s in rec.0.values() {
        let d = Desc {
            schema: Box::leak(s.desc.0.clone().into_boxed_str()),
            path: Box::leak(
                s.desc
                    .1
                    .iter()
                    .map(|p| &*Box::leak(p.clone().into_boxed_str()))
                    .collect::<Vec<&str>>()
                    .into_boxed_slice(),
            ),
            help: "",
        };
        let o = naming::map(&d, s.kind);
        assert!(o.name.starts_with("pktvisor."), "{o:?}");
        if o.carry == Carry::InHistogram {
            // no point of its own: carried by the histogram point of the same name
            continue;
        }
        let t = (s.kind.otlp_type(false), o.unit);
        let prev = types.entry(o.name.clone()).or_insert(t);
        assert_eq!(*prev, t, "{} has two types/units", o.name);
        let key = (
            o.name.clone(),
            o.attrs.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            s.labels.clone(),
            s.item.clone(),
        );
        if let Some(other) = points.insert(key, (s.family.clone(), s.handler.clone())) {
            let pair = [other.0.as_str(), s.family.as_str()];
            let same_distribution = s.kind == Kind::Distribution
                && pair
                    .iter()
                    .any(|f| f.contains("quantiles") || f.contains("time_us"))
                && pair.iter().any(|f| f.contains("histogram"));
            // dns v1 and v2 (or net v1 and v2) sharing a name is fine: different handlers
            let versions = other.1 != s.handler;
            assert!(
                same_distribution || versions,
                "{} and {} map to the same point {}",
                other.0,
                s.family,
                o.name
            );
        }
    }
    let text = render(&rec);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/otel-metrics.md");
    if std::env::var("PKTVISOR_UPDATE_DOCS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "docs/otel-metrics.md is stale; regenerate: PKTVISOR_UPDATE_DOCS=1 cargo nextest run --test it otlp_docs"
    );
}
