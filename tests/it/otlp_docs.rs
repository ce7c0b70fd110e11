//! `docs/otel-metrics.md` is generated from the code: every processor runs a capture with
//! every metric group enabled, a recording sink collects every metric its walk emits with
//! the OTel identity its `Desc` declares, and the table is rendered from those identities.
//! The test fails when the committed table differs (regenerate with
//! `PKTVISOR_UPDATE_DOCS=1`), and when an identity is missing or inconsistent: a name
//! outside `pktvisor.`, an instrument that does not fit how the metric is emitted, two
//! units or instruments for one name, a top-N list without an item attribute, or two
//! pktvisor metrics on the same point (unless they are two views of one distribution).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use pktvisor::config::value::{ConfigMap, ConfigValue};
use pktvisor::event::{Event, ProbeOutcome, ProbeResult, ProbeTest};
use pktvisor::export::otlp::{HistogramAggregation, otlp_type};
use pktvisor::metric::otel::{Convert, Instrument, Item};
use pktvisor::metric::{Desc, MetricSink, Scope, Snapshot, TopEntry};
use pktvisor::processor::Select;
use pktvisor::service::pipeline::PolicyPipeline;
use pktvisor::sketch::{Distribution, Rate};
use pktvisor::time::Timespec;

use crate::common::{context, own_fixture, plan, run_flow_capture, run_plan};

/// How a metric was emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `MetricSink::counter`.
    Counter,
    /// `MetricSink::cardinality`.
    Cardinality,
    /// `MetricSink::quantiles` or `histogram`.
    Distribution,
    /// `MetricSink::rate`.
    Rate,
    /// `MetricSink::topn`.
    TopN,
}

/// One metric as a walk emitted it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Its description (with its OTel identity).
    pub desc: Desc,
    /// How it was emitted.
    pub kind: Kind,
    /// Scope attribute keys.
    pub attrs: Vec<String>,
    /// The handler that emitted it.
    pub handler: String,
}

/// Every metric walked, by (Prometheus family, kind).
#[derive(Default)]
pub struct Recorder {
    /// The metrics.
    pub seen: BTreeMap<(String, Kind), Seen>,
    handler: String,
}

impl Recorder {
    fn note(&mut self, d: &Desc, s: &Scope<'_>, kind: Kind) {
        let e = Seen {
            desc: *d,
            kind,
            attrs: s.attrs.iter().map(|(k, _)| (*k).to_string()).collect(),
            handler: self.handler.clone(),
        };
        self.seen.entry((d.family(), kind)).or_insert(e);
    }
}

impl MetricSink for Recorder {
    fn counter(&mut self, d: &Desc, s: &Scope<'_>, _: u64) {
        self.note(d, s, Kind::Counter);
    }
    fn cardinality(&mut self, d: &Desc, s: &Scope<'_>, _: u64) {
        self.note(d, s, Kind::Cardinality);
    }
    fn quantiles(&mut self, d: &Desc, s: &Scope<'_>, _: &Distribution, _: bool) {
        self.note(d, s, Kind::Distribution);
    }
    fn rate(&mut self, d: &Desc, s: &Scope<'_>, _: &Rate, _: Option<u64>) {
        self.note(d, s, Kind::Rate);
    }
    fn histogram(&mut self, d: &Desc, s: &Scope<'_>, _: &Distribution, _: bool) {
        self.note(d, s, Kind::Distribution);
    }
    fn topn(&mut self, d: &Desc, s: &Scope<'_>, _: &str, _: &[TopEntry]) {
        self.note(d, s, Kind::TopN);
    }
}

fn all_groups() -> ConfigMap {
    let mut c = ConfigMap::new();
    c.set("enable", ConfigValue::List(vec!["all".into()]));
    c.set("recorded_stream", ConfigValue::Bool(true));
    c
}

/// One handler's snapshot from the walk.
pub struct Walked {
    /// Handler instance name.
    pub handler: String,
    /// Its bucket 0 (a recording summarised in one bucket).
    pub snapshot: Box<dyn Snapshot>,
}

fn snapshots(p: &PolicyPipeline, out: &mut Vec<Walked>) {
    for h in &p.handlers {
        let snapshot = h
            .processor
            .snapshot(Select::Bucket(0), Timespec::now())
            .expect("snapshot");
        out.push(Walked {
            handler: h.name.clone(),
            snapshot,
        });
    }
}

/// Every processor (every version) with every metric group on, over captures that make
/// them emit every metric: DNS and background traffic for net, dns, pcap, dhcp, bgp and
/// input_resources, an sFlow capture for flow, one probe of every outcome for netprobe.
pub fn walk_everything() -> Vec<Walked> {
    let ctx = context(None, None);
    let mut out = Vec::new();
    let handlers: Vec<(&str, &str, &str, ConfigMap)> = [
        ("net1", "net", "1.0"),
        ("net2", "net", "2.0"),
        ("dns1", "dns", "1.0"),
        ("dns2", "dns", "2.0"),
        ("pcap", "pcap", "1.0"),
        ("dhcp", "dhcp", "1.0"),
        ("bgp", "bgp", "1.0"),
        ("resources", "input_resources", "1.0"),
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
    snapshots(&p, &mut out);
    let file = own_fixture("flow/pmacct-sflow.pcap");
    let (f, _) = run_flow_capture(&file, "sflow", &all_groups(), &ctx).expect("flow run");
    snapshots(&f.pipelines[0], &mut out);
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
    out.push(Walked {
        handler: "netprobe".into(),
        snapshot: np.snapshot(Select::Bucket(0), t0).expect("snapshot"),
    });
    out
}

/// Every metric the walk emits, with its identity.
pub fn record(walked: &[Walked]) -> Recorder {
    let mut rec = Recorder::default();
    for w in walked {
        rec.handler = w.handler.clone();
        w.snapshot.visit(&mut rec);
    }
    rec
}

fn unit_cell(d: &Desc) -> String {
    match d.otel.convert {
        Convert::None => format!("`{}`", d.otel.unit),
        Convert::MicrosToSeconds => format!("`{}` (pktvisor: µs)", d.otel.unit),
        Convert::PercentToRatio => format!("`{}` (pktvisor: %)", d.otel.unit),
    }
}

fn render(rec: &Recorder) -> String {
    let exponential = HistogramAggregation::default();
    let mut rows: Vec<(String, String)> = Vec::new();
    for ((family, _), s) in &rec.seen {
        let o = &s.desc.otel;
        let mut attrs: Vec<String> = o.attrs.iter().map(|(k, v)| format!("`{k}={v}`")).collect();
        attrs.extend(s.attrs.iter().map(|k| format!("`{k}`")));
        attrs.extend(o.item.keys().iter().map(|k| format!("`{k}` (item)")));
        let kind = match s.kind {
            Kind::Counter => "counter",
            Kind::Cardinality => "cardinality",
            Kind::Distribution => "quantiles/histogram",
            Kind::Rate => "rate",
            Kind::TopN => "top-N",
        };
        let mut otlp = otlp_type(o.instrument, &exponential).to_string();
        if s.kind == Kind::Rate {
            otlp.push_str(" (only with `rate_histograms`)");
        }
        let ns = o.name.split('.').take(2).collect::<Vec<_>>().join(".");
        rows.push((
            ns,
            format!(
                "| `{family}` | {kind} | `{}` | {otlp} | {} | {} |",
                o.name,
                unit_cell(&s.desc),
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
How every pktvisor metric (its Prometheus family name) is exported over OTLP. Each metric's\n\
OTel identity is declared beside its `Desc` in the processor's source (`src/metric/otel.rs`\n\
has the vocabulary). Names live under `pktvisor.<handler>`; dimensions pktvisor folds into\n\
names become attributes, and slices of a total get a `.by_<dimension>` name so no metric\n\
mixes a total with its parts; quantile and histogram views of one distribution are one\n\
histogram. Units follow UCUM and the semantic conventions: durations in seconds, bytes in\n\
`By`, counts in curly-brace annotations.\n\n\
- **Every point** also carries `pktvisor.policy`, `pktvisor.handler` (instance name) and\n  \
`pktvisor.tap`.\n\
- **Sums** are monotonic, cumulative by default (start = first bucket start), or delta with\n  \
`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta` (one point per completed 60 s bucket).\n\
- **Histograms** are ExponentialHistograms (max 160 buckets per sign), or explicit-bucket\n  \
Histograms with `OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION=explicit_bucket_histogram`.\n\
- **Rates** (histograms of per-second samples) are not exported unless `rate_histograms: true`\n  \
(or `PKTVISOR_OTLP_RATE_HISTOGRAMS=true`): backends derive rates from the Sums.\n\
- **Gauges** (cardinality, top-N, attached policies/handlers) hold the value over the same\n  \
interval; top-N lists have one point per item, the item in the attributes marked (item).\n\
- Attributes in `key=value` form are fixed by the pktvisor name; bare keys vary per point\n  \
(`pktvisor.direction` = `in`/`out`/`unknown` for v2 handlers, `pktvisor.flow.device` and\n  \
`network.interface.name` for flow, `pktvisor.netprobe.target`, `server.address` and (TCP)\n  \
`server.port` for netprobe). `network.transport` is only `tcp`, `udp` or `quic`\n  \
(packets of other transports carry none); the DNS flavour is `pktvisor.dns.protocol`\n  \
(`do53`, `dot`, `doh`, `doq`, `dnscrypt`); rcodes are IANA mnemonics (`SERVFAIL`).\n\n\
| pktvisor name | pktvisor kind | OTel name | OTLP type | unit | attributes |\n\
|---|---|---|---|---|---|\n",
    );
    for (_, r) in rows {
        out.push_str(&r);
        out.push('\n');
    }
    out
}

/// (OTel name, fixed attributes, scope attribute keys, item keys).
type PointKey = (String, Vec<String>, Vec<String>, Vec<String>);

/// Checks every identity (see the module doc); panics with the first problem.
pub fn check_identities(rec: &Recorder) {
    let mut types: BTreeMap<&str, (Instrument, &str)> = BTreeMap::new();
    let mut points: BTreeMap<PointKey, (String, String)> = BTreeMap::new();
    let mut extremes = Vec::new();
    for ((family, _), s) in &rec.seen {
        let o = &s.desc.otel;
        assert!(
            o.name.starts_with("pktvisor.") && !o.unit.is_empty(),
            "{family} has no OTel identity: {o:?}"
        );
        let fits = match s.kind {
            Kind::Counter => matches!(
                o.instrument,
                Instrument::Sum | Instrument::Gauge | Instrument::InHistogram
            ),
            Kind::Cardinality | Kind::TopN => o.instrument == Instrument::Gauge,
            Kind::Distribution | Kind::Rate => o.instrument == Instrument::Histogram,
        };
        assert!(
            fits,
            "{family} ({:?}) declared as {:?}",
            s.kind, o.instrument
        );
        assert_eq!(
            s.kind == Kind::TopN,
            o.item != Item::None,
            "{family}: a top-N list needs an item attribute, nothing else has one"
        );
        if o.instrument == Instrument::InHistogram {
            // no point of its own: the histogram of the same name carries it
            extremes.push((family.clone(), o.name, o.unit));
            continue;
        }
        let t = (o.instrument, o.unit);
        let prev = types.entry(o.name).or_insert(t);
        assert_eq!(*prev, t, "{} has two instruments/units", o.name);
        let key = (
            o.name.to_string(),
            o.attrs.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            s.attrs.clone(),
            o.item.keys().iter().map(|k| (*k).to_string()).collect(),
        );
        if let Some(other) = points.insert(key, (family.clone(), s.handler.clone())) {
            let pair = [other.0.as_str(), family.as_str()];
            let same_distribution = s.kind == Kind::Distribution
                && pair
                    .iter()
                    .any(|f| f.contains("quantiles") || f.contains("time_us"))
                && pair.iter().any(|f| f.contains("histogram"));
            // v1 and v2 of a handler sharing a name is fine: different handlers
            let versions = other.1 != s.handler;
            assert!(
                same_distribution || versions,
                "{} and {family} map to the same point {}",
                other.0,
                o.name
            );
        }
    }
    for (family, name, unit) in extremes {
        assert_eq!(
            types.get(name),
            Some(&(Instrument::Histogram, unit)),
            "{family} is carried by histogram {name}, which is not exported"
        );
    }
}

#[test]
fn metric_mapping_doc_is_generated_from_the_code() {
    let rec = record(&walk_everything());
    let schemas: BTreeSet<&str> = rec.seen.values().map(|s| s.desc.schema).collect();
    for want in [
        "packets",
        "payload",
        "net",
        "dns",
        "pcap",
        "dhcp",
        "bgp",
        "flow",
        "base",
        "resources",
        "netprobe",
    ] {
        assert!(
            schemas.contains(want),
            "no {want} metrics walked: {schemas:?}"
        );
    }
    assert!(
        rec.seen.len() > 200,
        "only {} metrics walked",
        rec.seen.len()
    );
    check_identities(&rec);
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
