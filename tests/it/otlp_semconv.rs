//! Every metric the OTLP encoder exports follows the OpenTelemetry semantic conventions:
//! the processors' walk with every metric group on (`otlp_docs::walk_everything`) goes
//! through the real encoder (rate histograms on, so they are checked too) and each metric
//! and point is checked: no unit `1` on a count (Sums and Gauges count things: a
//! curly-brace annotation or `By`), no `us`/`ms` unit (durations are seconds), every
//! attribute key a semantic-convention key we allow or `pktvisor.*`, `network.transport`
//! only `tcp`/`udp`/`quic`/`unix`/`pipe`, `network.type` only `ipv4`/`ipv6`, rcodes as
//! IANA mnemonics, ports as integers (service names go to `pktvisor.port.name`). Without
//! the option no rate histogram is exported.

use std::collections::BTreeSet;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric::Data};
use opentelemetry_proto::tonic::resource::v1::Resource;
use pktvisor::export::otlp::{
    EncodeOptions, HistogramAggregation, SnapshotRef, Temporality, encode_snapshots,
};
use pktvisor::metric::otel::{SEMCONV_KEYS, TRANSPORTS, allowed_key, key};
use pktvisor::time::Timespec;

use crate::otlp_docs::{Walked, walk_everything};

/// Encodes the walk's snapshots with `opts`.
pub fn encode_walk(walked: &[Walked], opts: &EncodeOptions) -> ExportMetricsServiceRequest {
    let items: Vec<SnapshotRef<'_>> = walked
        .iter()
        .map(|w| SnapshotRef {
            policy: "test",
            tap: "test",
            handler: &w.handler,
            snapshot: w.snapshot.as_ref(),
            start: Timespec::new(1_700_000_000, 0),
            end: Timespec::new(1_700_000_060, 0),
        })
        .collect();
    encode_snapshots(opts, &Resource::default(), &items).request
}

/// Every metric of a request.
pub fn metrics_of(req: &ExportMetricsServiceRequest) -> Vec<&Metric> {
    req.resource_metrics
        .iter()
        .flat_map(|r| r.scope_metrics.iter())
        .flat_map(|s| s.metrics.iter())
        .collect()
}

/// The attribute lists of a metric's points.
pub fn point_attributes(m: &Metric) -> Vec<&[KeyValue]> {
    match &m.data {
        Some(Data::Sum(s)) => s.data_points.iter().map(|p| &p.attributes[..]).collect(),
        Some(Data::Gauge(g)) => g.data_points.iter().map(|p| &p.attributes[..]).collect(),
        Some(Data::Histogram(h)) => h.data_points.iter().map(|p| &p.attributes[..]).collect(),
        Some(Data::ExponentialHistogram(h)) => {
            h.data_points.iter().map(|p| &p.attributes[..]).collect()
        }
        _ => Vec::new(),
    }
}

fn text(kv: &KeyValue) -> Option<String> {
    match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

/// Units that are durations in something else than seconds.
const NOT_SECONDS: [&str; 5] = ["us", "ms", "ns", "min", "h"];

fn opts(rates: bool) -> EncodeOptions {
    EncodeOptions {
        temporality: Temporality::Cumulative,
        histograms: HistogramAggregation::default(),
        rate_histograms: rates,
    }
}

#[test]
fn every_exported_metric_follows_the_semantic_conventions() {
    let walked = walk_everything();
    let req = encode_walk(&walked, &opts(true));
    let ms = metrics_of(&req);
    assert!(ms.len() > 100, "only {} metrics exported", ms.len());
    let mut problems = Vec::new();
    let mut keys_seen = BTreeSet::new();
    for m in &ms {
        let name = &m.name;
        if !name.starts_with("pktvisor.")
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._".contains(&b))
        {
            problems.push(format!("{name}: not a pktvisor.* OTel name"));
        }
        let main_unit = m.unit.split('/').next().unwrap_or("");
        if NOT_SECONDS.contains(&main_unit) || NOT_SECONDS.contains(&m.unit.as_str()) {
            problems.push(format!("{name}: unit {} is not seconds", m.unit));
        }
        let counts = matches!(m.data, Some(Data::Sum(_)) | Some(Data::Gauge(_)));
        if counts && !(m.unit == "By" || (m.unit.starts_with('{') && m.unit.ends_with('}'))) {
            problems.push(format!(
                "{name}: a count needs a curly-brace unit or By, not {:?}",
                m.unit
            ));
        }
        if m.unit.is_empty() {
            problems.push(format!("{name}: no unit"));
        }
        for attrs in point_attributes(m) {
            for kv in attrs {
                keys_seen.insert(kv.key.clone());
                if !allowed_key(&kv.key) {
                    problems.push(format!("{name}: attribute {} is not allowed", kv.key));
                }
                let v = text(kv).unwrap_or_default();
                let bad_value = match kv.key.as_str() {
                    key::TRANSPORT => !TRANSPORTS.contains(&v.as_str()),
                    key::NETWORK_TYPE => !["ipv4", "ipv6"].contains(&v.as_str()),
                    key::DNS_RCODE => v == "SRVFAIL" || v.to_ascii_uppercase() != v,
                    key::DIRECTION => !["in", "out", "unknown"].contains(&v.as_str()),
                    key::DNS_PROTOCOL => {
                        !["do53", "dot", "doh", "doq", "dnscrypt"].contains(&v.as_str())
                    }
                    _ => false,
                };
                if bad_value {
                    problems.push(format!("{name}: {}={v}", kv.key));
                }
                let int = matches!(
                    kv.value.as_ref().and_then(|x| x.value.as_ref()),
                    Some(any_value::Value::IntValue(_))
                );
                if kv.key.ends_with(".port") && !int {
                    problems.push(format!("{name}: {}={v} is not an integer", kv.key));
                }
            }
        }
    }
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // the walk reaches the attributes that matter
    for k in [
        key::POLICY,
        key::HANDLER,
        key::TAP,
        key::DIRECTION,
        key::TRANSPORT,
        key::NETWORK_TYPE,
        key::DNS_RCODE,
        key::DNS_PROTOCOL,
        key::QNAME,
        key::DNS_QNAME2,
        key::INTERFACE,
        key::FLOW_DEVICE,
        key::SOURCE_ADDRESS,
        key::SOURCE_PORT,
    ] {
        assert!(keys_seen.contains(k), "no point carries {k}: {keys_seen:?}");
    }
    assert!(keys_seen.iter().all(|k| allowed_key(k)));
    assert!(SEMCONV_KEYS.iter().all(|k| !k.starts_with("pktvisor.")));
    // DNS transaction times are seconds, and plausible ones
    let dur = ms
        .iter()
        .find(|m| m.name == "pktvisor.dns.xact.duration")
        .expect("transaction durations");
    assert_eq!(dur.unit, "s");
    let Some(Data::ExponentialHistogram(h)) = &dur.data else {
        panic!("{dur:?}")
    };
    for p in &h.data_points {
        let max = p.max.expect("max");
        assert!(max > 0.0 && max < 30.0, "{max} s");
    }
}

#[test]
fn rate_histograms_are_exported_only_on_request() {
    let walked = walk_everything();
    let names = |rates| -> BTreeSet<String> {
        metrics_of(&encode_walk(&walked, &opts(rates)))
            .iter()
            .map(|m| m.name.clone())
            .collect()
    };
    let (off, on) = (names(false), names(true));
    let rates: Vec<&String> = on.difference(&off).collect();
    assert!(
        rates.iter().any(|n| *n == "pktvisor.net.packet.rate")
            && rates.iter().any(|n| *n == "pktvisor.dns.event.rate"),
        "{rates:?}"
    );
    assert!(
        rates
            .iter()
            .all(|n| n.ends_with(".rate") || n.contains(".rate.")),
        "{rates:?}"
    );
    assert!(off.iter().all(|n| !n.ends_with(".rate")), "{off:?}");
    assert!(off.is_subset(&on));
}
