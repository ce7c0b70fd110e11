//! pktvisor metric names → OpenTelemetry names, units and attributes.
//!
//! This file owns the naming rules (the generated table in `docs/otel-metrics.md` is their
//! output). Every name lives in the `pktvisor.<handler>` namespace (`net` for pktvisor's
//! `packets`/`payload`/`net` schemas). The dimensions pktvisor folds into metric names
//! become attributes, and a metric never mixes a total with its slices, so summing a metric
//! over an attribute never double counts:
//!
//! - totals keep a plain name (`pktvisor.net.packets`), slices of a total get a
//!   `.by_<dimension>` name with the dimension as an attribute
//!   (`pktvisor.net.packets.by_transport{network.transport=udp}`);
//! - `network.transport` (`udp`, `tcp`, `other`, and DNS's `dot`, `doh`, `doq`,
//!   `dnscrypt_udp`, `dnscrypt_tcp`), `network.type` (`ipv4`, `ipv6`), `direction` (`in`,
//!   `out`, `unknown`), `rcode` (`NOERROR`, …), `dhcp.message.type`, `bgp.message.type`;
//! - quantile and histogram views of one distribution become one histogram (so dns v1's
//!   `xact_in_quantiles_us` and `xact_in_histogram_us` are one metric);
//! - rates become histograms of per-second samples (`…rate`, unit `{packet}/s`);
//! - top-N lists become `pktvisor.<handler>.top.<list>` gauges, one point per item, the item
//!   under its pktvisor label (`qname` becomes `dns.question.name`); lists of DNS
//!   transactions (dns v2, slow transactions) are `pktvisor.dns.xacts.top.<list>`, flow's
//!   lists by bytes and by packets `pktvisor.flow.io.top.<list>` / `…flow.packets.top.<list>`;
//! - netprobe: `attempts`, `successes`, `failures` (`error.type` = `connect`,
//!   `dns_lookup`, `timeout`) as sums of probes, the response time as one histogram in
//!   seconds (`pktvisor.netprobe.response.duration`, its min and max are pktvisor's
//!   `response_min_us` / `response_max_us`, which get no points of their own);
//! - units follow UCUM: `{packet}`, `{event}`, `{transaction}`, `{probe}`, `By`, `us`, `s`, `1`.

use crate::metric::Desc;

/// The kind of value a pktvisor metric carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A u64 counter.
    Counter,
    /// A distinct-count estimate.
    Cardinality,
    /// A distribution (pktvisor quantiles or histogram).
    Distribution,
    /// Per-second rate samples.
    Rate,
    /// A top-N list.
    TopN,
}

impl Kind {
    /// The OTLP data type it is exported as.
    pub fn otlp_type(self, explicit_histograms: bool) -> &'static str {
        match self {
            Kind::Counter => "Sum (monotonic)",
            Kind::Cardinality | Kind::TopN => "Gauge",
            Kind::Distribution | Kind::Rate if explicit_histograms => "Histogram",
            Kind::Distribution | Kind::Rate => "ExponentialHistogram",
        }
    }
}

/// How a pktvisor value is carried over OTLP besides its name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Carry {
    /// As it is.
    #[default]
    Plain,
    /// A distribution in microseconds exported in seconds (values scaled by 1e-6).
    MicrosAsSeconds,
    /// The minimum or maximum of a distribution that is exported as a histogram point,
    /// whose `min` and `max` fields carry it: no point of its own.
    InHistogram,
}

/// An OpenTelemetry identity of a pktvisor metric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtelName {
    /// Metric name.
    pub name: String,
    /// UCUM unit.
    pub unit: &'static str,
    /// Attributes folded out of the pktvisor name.
    pub attrs: Vec<(&'static str, String)>,
    /// How the value is carried.
    pub carry: Carry,
}

/// The handler part of the namespace for a schema.
pub fn handler_ns(schema: &str) -> &str {
    match schema {
        "packets" | "payload" | "net" => "net",
        "resources" | "base" => "input_resources",
        other => other,
    }
}

/// The OTel attribute key of a pktvisor label (scope labels and top-N item labels).
pub fn attribute_key(label: &str) -> &str {
    match label {
        "qname" => "dns.question.name",
        other => other,
    }
}

fn transport_value(w: &str) -> Option<&'static str> {
    Some(match w {
        "udp" => "udp",
        "tcp" => "tcp",
        "other_l4" => "other",
        "dot" => "dot",
        "doh" => "doh",
        "doq" => "doq",
        "dnscrypt_udp" => "dnscrypt_udp",
        "dnscrypt_tcp" => "dnscrypt_tcp",
        _ => return None,
    })
}

fn rcode_value(w: &str) -> Option<&'static str> {
    Some(match w {
        "noerror" => "NOERROR",
        "nxdomain" => "NXDOMAIN",
        "refused" => "REFUSED",
        "srvfail" => "SRVFAIL",
        _ => return None,
    })
}

fn direction_value(w: &str) -> Option<&'static str> {
    Some(match w {
        "in" => "in",
        "out" => "out",
        "unknown_dir" => "unknown",
        _ => return None,
    })
}

/// `geoLoc` → `geo_loc`, `ASN` → `asn`.
fn snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else {
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            out.push(c);
        }
    }
    out
}

fn n(ns: &str, stem: &str, unit: &'static str) -> OtelName {
    OtelName {
        name: format!("pktvisor.{ns}.{stem}"),
        unit,
        attrs: Vec::new(),
        carry: Carry::Plain,
    }
}

fn with(mut o: OtelName, key: &'static str, value: &str) -> OtelName {
    o.attrs.push((key, value.to_string()));
    o
}

/// Maps one pktvisor metric to its OpenTelemetry identity.
pub fn map(d: &Desc, kind: Kind) -> OtelName {
    let ns = handler_ns(d.schema);
    let rest = snake(&d.path.join("_"));
    if ns == "netprobe"
        && let Some(o) = netprobe(kind, &rest)
    {
        return o;
    }
    let mapped = match kind {
        Kind::Counter => counter(d.schema, ns, &rest),
        Kind::Cardinality => Some(cardinality(ns, &rest)),
        Kind::Distribution => distribution(ns, &rest),
        Kind::Rate => rate(d.schema, ns, &rest),
        Kind::TopN => Some(topn(d.schema, ns, &rest)),
    };
    mapped.unwrap_or_else(|| n(ns, &rest, "1"))
}

/// Splits flow's `in_udp_bytes` style names: (direction, middle, aggregator unit).
fn flow_parts(rest: &str) -> Option<(&'static str, &str, &'static str, &'static str)> {
    let (dir, tail) = if let Some(t) = rest.strip_prefix("in_") {
        ("in", t)
    } else if let Some(t) = rest.strip_prefix("out_") {
        ("out", t)
    } else {
        ("", rest)
    };
    let (mid, noun, unit) = if let Some(m) = tail.strip_suffix("bytes") {
        (m, "io", "By")
    } else if let Some(m) = tail.strip_suffix("packets") {
        (m, "packets", "{packet}")
    } else {
        return None;
    };
    Some((dir, mid.trim_end_matches('_'), noun, unit))
}

fn counter(schema: &str, ns: &str, rest: &str) -> Option<OtelName> {
    if ns == "flow" {
        return match rest {
            "records_flows" => Some(n(ns, "records", "{record}")),
            "records_filtered" => Some(n(ns, "records.filtered", "{record}")),
            _ => {
                let (dir, mid, noun, unit) = flow_parts(rest)?;
                let base = if mid.is_empty() {
                    n(ns, noun, unit)
                } else if let Some(t) = transport_value(mid) {
                    with(
                        n(ns, &format!("{noun}.by_transport"), unit),
                        "network.transport",
                        t,
                    )
                } else {
                    with(
                        n(ns, &format!("{noun}.by_network_type"), unit),
                        "network.type",
                        mid,
                    )
                };
                Some(with(base, "direction", dir))
            }
        };
    }
    if ns == "pcap" {
        return Some(match rest {
            "tcp_reassembly_errors" => n(ns, "tcp_reassembly_errors", "{segment}"),
            other => n(ns, other, "{packet}"),
        });
    }
    // dns v2 counts transactions (`…_xacts`); everything else counts packets.
    let (key, base, unit) = if rest == "xacts" {
        ("total", "xacts", "{transaction}")
    } else if let Some(k) = rest.strip_suffix("_xacts") {
        (k, "xacts", "{transaction}")
    } else {
        let k = rest.strip_prefix("wire_packets_").unwrap_or(rest);
        let k = k.strip_suffix("_packets").unwrap_or(k);
        let k = if schema == "net" && k == "total" {
            "total"
        } else {
            k
        };
        (k, "packets", "{packet}")
    };
    Some(match key {
        "events" | "observed" => n(ns, "events", "{event}"),
        "deep_samples" | "deep_sampled" => n(ns, "deep_samples", "{event}"),
        "filtered" => n(ns, "filtered", "{event}"),
        "total" => n(ns, base, unit),
        "queries" => n(ns, "queries", "{packet}"),
        "replies" => n(ns, "replies", "{packet}"),
        "query_ecs" => n(ns, "queries.ecs", "{packet}"),
        "nodata" if base == "packets" => n(ns, "replies.nodata", unit),
        "nodata" => n(ns, "xacts.nodata", unit),
        "protocol_tcp_syn" | "tcp_syn" => n(ns, "tcp.syn", "{packet}"),
        "xact_counts_total" => n(ns, "xacts", "{transaction}"),
        "xact_counts_timed_out" | "timeout_queries" => n(ns, "xacts.timed_out", "{transaction}"),
        "orphan_responses" => n(ns, "orphan_responses", "{packet}"),
        "xact_in_total" => with(
            n(ns, "xacts.by_direction", "{transaction}"),
            "direction",
            "in",
        ),
        "xact_out_total" => with(
            n(ns, "xacts.by_direction", "{transaction}"),
            "direction",
            "out",
        ),
        "ecs" | "authenticated_data" | "authoritative_answer" | "checking_disabled" => {
            n(ns, &format!("xacts.{key}"), unit)
        }
        k => {
            if let Some(t) = transport_value(k) {
                with(
                    n(ns, &format!("{base}.by_transport"), unit),
                    "network.transport",
                    t,
                )
            } else if k == "ipv4" || k == "ipv6" {
                with(
                    n(ns, &format!("{base}.by_network_type"), unit),
                    "network.type",
                    k,
                )
            } else if let Some(dir) = direction_value(k) {
                with(
                    n(ns, &format!("{base}.by_direction"), unit),
                    "direction",
                    dir,
                )
            } else if let Some(rc) = rcode_value(k) {
                let stem = if base == "packets" { "replies" } else { base };
                with(n(ns, &format!("{stem}.by_rcode"), unit), "rcode", rc)
            } else if ns == "dhcp" {
                with(
                    n(ns, "packets.by_message_type", unit),
                    "dhcp.message.type",
                    k,
                )
            } else if ns == "bgp" {
                with(
                    n(ns, "packets.by_message_type", unit),
                    "bgp.message.type",
                    k,
                )
            } else {
                return None;
            }
        }
    })
}

/// netprobe: `attempts`, `successes` and `failures` (by `error.type`) as sums of probes,
/// the response time as one histogram in seconds whose min and max are pktvisor's
/// `response_min_us` / `response_max_us`.
fn netprobe(kind: Kind, rest: &str) -> Option<OtelName> {
    let ns = "netprobe";
    let failure = |t: &str| with(n(ns, "failures", "{probe}"), "error.type", t);
    let duration = |carry: Carry| OtelName {
        carry,
        ..n(ns, "response.duration", "s")
    };
    Some(match (kind, rest) {
        (Kind::Counter, "attempts") => n(ns, "attempts", "{probe}"),
        (Kind::Counter, "successes") => n(ns, "successes", "{probe}"),
        (Kind::Counter, "connect_failures") => failure("connect"),
        (Kind::Counter, "dns_lookup_failures") => failure("dns_lookup"),
        (Kind::Counter, "packets_timeout") => failure("timeout"),
        (Kind::Counter, "response_min_us" | "response_max_us") => duration(Carry::InHistogram),
        (Kind::Distribution, "response_histogram_us" | "response_quantiles_us") => {
            duration(Carry::MicrosAsSeconds)
        }
        _ => return None,
    })
}

fn cardinality(ns: &str, rest: &str) -> OtelName {
    let k = rest.strip_prefix("cardinality_").unwrap_or(rest);
    if let Some(s) = k.strip_suffix("_in") {
        return with(n(ns, &format!("{s}.cardinality"), "1"), "direction", "in");
    }
    if let Some(s) = k.strip_suffix("_out") {
        return with(n(ns, &format!("{s}.cardinality"), "1"), "direction", "out");
    }
    n(ns, &format!("{k}.cardinality"), "1")
}

fn distribution(ns: &str, rest: &str) -> Option<OtelName> {
    Some(match rest {
        "payload_size" | "payload_size_bytes" => n(ns, "payload.size", "By"),
        "xact_in_quantiles_us" | "xact_in_histogram_us" => {
            with(n(ns, "xact.duration", "us"), "direction", "in")
        }
        "xact_out_quantiles_us" | "xact_out_histogram_us" => {
            with(n(ns, "xact.duration", "us"), "direction", "out")
        }
        "xact_time_us" | "xact_histogram_us" => n(ns, "xact.duration", "us"),
        "xact_ratio_quantiles" | "response_query_size_ratio" => n(ns, "xact.size_ratio", "1"),
        _ => {
            let k = rest
                .trim_end_matches("_us")
                .trim_end_matches("_quantiles")
                .trim_end_matches("_histogram");
            let unit = if rest.ends_with("_us") { "us" } else { "1" };
            n(ns, k, unit)
        }
    })
}

fn rate(schema: &str, ns: &str, rest: &str) -> Option<OtelName> {
    let k = rest.strip_prefix("rates_").unwrap_or(rest);
    Some(match (schema, k) {
        (_, "events" | "observed_pps" | "pps_events") => n(ns, "event.rate", "{event}/s"),
        ("payload", "bytes_total") => n(ns, "byte.rate", "By/s"),
        ("payload", "bytes_in") => with(n(ns, "byte.rate.by_direction", "By/s"), "direction", "in"),
        ("payload", "bytes_out") => {
            with(n(ns, "byte.rate.by_direction", "By/s"), "direction", "out")
        }
        (_, "pps_in") => with(
            n(ns, "packet.rate.by_direction", "{packet}/s"),
            "direction",
            "in",
        ),
        (_, "pps_out") => with(
            n(ns, "packet.rate.by_direction", "{packet}/s"),
            "direction",
            "out",
        ),
        (_, "total" | "pps" | "pps_total") => n(ns, "packet.rate", "{packet}/s"),
        (_, "bps") => n(ns, "bit.rate", "bit/s"),
        (_, "xact_rates") => n(ns, "xact.rate", "{transaction}/s"),
        _ => return None,
    })
}

fn topn(schema: &str, ns: &str, rest: &str) -> OtelName {
    let k = rest.strip_prefix("top_").unwrap_or(rest);
    if ns == "flow"
        && let Some((dir, mid, noun, unit)) = flow_parts(k)
    {
        let o = n(ns, &format!("{noun}.top.{mid}"), unit);
        return if dir.is_empty() {
            o
        } else {
            with(o, "direction", dir)
        };
    }
    // transaction lists (dns v2, and dns v1's slow lists under xact.in / xact.out) count
    // transactions, not packets: they live under `xacts.top`
    if let Some(dir) = k
        .strip_prefix("xact_")
        .and_then(|t| t.strip_suffix("_top_slow"))
    {
        return with(n(ns, "xacts.top.slow", "{transaction}"), "direction", dir);
    }
    if let Some(s) = k.strip_suffix("_xacts") {
        return n(ns, &format!("xacts.top.{s}"), "{transaction}");
    }
    let (k, unit) = if let Some(s) = k.strip_suffix("_packets") {
        (s, "{packet}")
    } else if k.ends_with("bytes") {
        (k, "By")
    } else if schema == "dhcp" || schema == "dns" || ns == "net" {
        (k, "{packet}")
    } else {
        (k, "1")
    };
    n(ns, &format!("top.{k}"), unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(schema: &'static str, path: &'static [&'static str], kind: Kind) -> OtelName {
        map(
            &Desc {
                schema,
                path,
                help: "",
            },
            kind,
        )
    }

    #[test]
    fn folded_dimensions_become_attributes() {
        let o = m("packets", &["udp"], Kind::Counter);
        assert_eq!(o.name, "pktvisor.net.packets.by_transport");
        assert_eq!(o.attrs, vec![("network.transport", "udp".to_string())]);
        let o = m("net", &["other_l4_packets"], Kind::Counter);
        assert_eq!(o.name, "pktvisor.net.packets.by_transport");
        assert_eq!(o.attrs, vec![("network.transport", "other".to_string())]);
        let o = m("dns", &["wire_packets", "nxdomain"], Kind::Counter);
        assert_eq!(o.name, "pktvisor.dns.replies.by_rcode");
        assert_eq!(o.attrs, vec![("rcode", "NXDOMAIN".to_string())]);
        let o = m("flow", &["out_ipv6_bytes"], Kind::Counter);
        assert_eq!(o.name, "pktvisor.flow.io.by_network_type");
        assert_eq!(o.unit, "By");
        assert_eq!(
            o.attrs,
            vec![
                ("network.type", "ipv6".to_string()),
                ("direction", "out".to_string())
            ]
        );
    }

    #[test]
    fn netprobe_counts_probes_and_times_in_seconds() {
        let o = m("netprobe", &["connect_failures"], Kind::Counter);
        assert_eq!(o.name, "pktvisor.netprobe.failures");
        assert_eq!(o.attrs, vec![("error.type", "connect".to_string())]);
        assert_eq!(
            m("netprobe", &["attempts"], Kind::Counter).name,
            "pktvisor.netprobe.attempts"
        );
        let h = m("netprobe", &["response_histogram_us"], Kind::Distribution);
        assert_eq!(h.name, "pktvisor.netprobe.response.duration");
        assert_eq!((h.unit, h.carry), ("s", Carry::MicrosAsSeconds));
        let q = m("netprobe", &["response_quantiles_us"], Kind::Distribution);
        assert_eq!(h, q);
        let min = m("netprobe", &["response_min_us"], Kind::Counter);
        assert_eq!(min.carry, Carry::InHistogram);
    }

    #[test]
    fn totals_keep_plain_names_and_v1_v2_agree() {
        assert_eq!(
            m("packets", &["total"], Kind::Counter).name,
            "pktvisor.net.packets"
        );
        assert_eq!(
            m("net", &["total_packets"], Kind::Counter).name,
            "pktvisor.net.packets"
        );
        assert_eq!(
            m("dns", &["xacts"], Kind::Counter).name,
            "pktvisor.dns.xacts"
        );
        let a = m("dns", &["xact", "in", "quantiles_us"], Kind::Distribution);
        let b = m("dns", &["xact", "in", "histogram_us"], Kind::Distribution);
        assert_eq!(a, b);
        assert_eq!(a.unit, "us");
        assert_eq!(
            m("dns", &["top_qname2_xacts"], Kind::TopN).name,
            "pktvisor.dns.xacts.top.qname2"
        );
        assert_eq!(
            m("dns", &["top_qname2"], Kind::TopN).name,
            "pktvisor.dns.top.qname2"
        );
        assert_eq!(
            m("packets", &["top_geoLoc"], Kind::TopN).name,
            "pktvisor.net.top.geo_loc"
        );
    }
}
