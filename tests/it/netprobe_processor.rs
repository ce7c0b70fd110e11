//! The netprobe processor on probe results: per-target counts, min/max from the
//! histogram, the transaction TTL, metric groups, its Prometheus labels and pktvisor's
//! config errors (JSON and Prometheus through the export layer, as the agent serves them).

use std::sync::Arc;

use pktvisor::config::value::{ConfigMap, ConfigValue};
use pktvisor::event::{Event, ProbeOutcome, ProbeResult, ProbeTest};
use pktvisor::export::json;
use pktvisor::export::prometheus::PromWriter;
use pktvisor::processor::netprobe::{Netprobe, NetprobeConfig};
use pktvisor::processor::{Processor, Select};
use pktvisor::time::Timespec;

fn result(target: &str, outcome: ProbeOutcome, attempted: bool, sec: i64) -> ProbeResult {
    ProbeResult {
        target: Arc::from(target),
        host: Arc::from("192.0.2.1"),
        port: None,
        address: Some("192.0.2.1".parse().unwrap()),
        test: ProbeTest::Ping,
        outcome,
        attempted,
        sent: Timespec::new(sec, 0),
        ts: Timespec::new(sec, 0),
        timeout_ms: 2000,
    }
}

fn feed(p: &mut Netprobe, rs: &[ProbeResult]) {
    p.handle(&Event::Start(Timespec::new(1000, 0)));
    for r in rs {
        p.handle(&Event::Probe(r));
    }
}

fn window_json(p: &Netprobe) -> serde_json::Value {
    let s = p
        .snapshot(Select::Bucket(0), Timespec::new(1001, 0))
        .unwrap();
    json::snapshot_value(s.as_ref())
}

#[test]
fn counts_per_target_and_min_max_from_the_histogram() {
    let mut p = Netprobe::new(&ConfigMap::new()).unwrap();
    let ok = |us: u64| ProbeOutcome::Success { rtt_ns: us * 1000 };
    feed(
        &mut p,
        &[
            result("a", ok(20_100), true, 1000),
            result("a", ok(20_500), true, 1000),
            result("a", ProbeOutcome::Timeout, true, 1000),
            result("b", ProbeOutcome::DnsLookupFailure, false, 1000),
        ],
    );
    let v = window_json(&p);
    let a = &v["netprobe"]["targets"]["a"];
    assert_eq!(a["attempts"], 3);
    assert_eq!(a["successes"], 2);
    assert_eq!(a["packets_timeout"], 1);
    assert_eq!(a["response_min_us"], 20_100);
    assert_eq!(a["response_max_us"], 20_500);
    assert_eq!(a["response_histogram_us"]["buckets"]["+Inf"], 2.0);
    assert!(a.get("response_quantiles_us").is_none(), "{a}");
    let b = &v["netprobe"]["targets"]["b"];
    assert_eq!(b["attempts"], 0);
    assert_eq!(b["dns_lookup_failures"], 1);
    assert!(b.get("response_min_us").is_none(), "{b}");
    assert!(b.get("response_histogram_us").is_none(), "{b}");
}

#[test]
fn ttl_makes_slow_answers_timeouts_and_groups_apply() {
    let mut c = ConfigMap::new();
    c.set("xact_ttl_ms", ConfigValue::U64(10));
    c.set("enable", ConfigValue::List(vec!["quantiles".into()]));
    c.set("disable", ConfigValue::List(vec!["histograms".into()]));
    let mut p = Netprobe::new(&c).unwrap();
    feed(
        &mut p,
        &[
            result("a", ProbeOutcome::Success { rtt_ns: 9_000_000 }, true, 1000),
            result(
                "a",
                ProbeOutcome::Success { rtt_ns: 11_000_000 },
                true,
                1000,
            ),
        ],
    );
    let v = window_json(&p);
    let a = &v["netprobe"]["targets"]["a"];
    assert_eq!(a["successes"], 1);
    assert_eq!(a["packets_timeout"], 1);
    assert_eq!(a["response_quantiles_us"]["p50"], 9000);
    assert_eq!(a["response_min_us"], 9000);
    assert!(a.get("response_histogram_us").is_none());
}

#[test]
fn prometheus_has_only_the_target_label() {
    let mut p = Netprobe::new(&ConfigMap::new()).unwrap();
    feed(
        &mut p,
        &[result(
            "a",
            ProbeOutcome::Success { rtt_ns: 1_000_000 },
            true,
            1000,
        )],
    );
    let s = p
        .snapshot(Select::Bucket(0), Timespec::new(1001, 0))
        .unwrap();
    let mut w = PromWriter::new(None);
    w.write_snapshot(s.as_ref(), &[("policy", "p")]);
    let text = w.finish();
    assert!(
        text.contains("netprobe_attempts{policy=\"p\",target=\"a\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "netprobe_response_histogram_us_bucket{le=\"1000\",policy=\"p\",target=\"a\"} 1\n"
        ),
        "{text}"
    );
    assert!(!text.contains("server"), "{text}");
}

#[test]
fn config_errors_are_pktvisors() {
    let mut c = ConfigMap::new();
    c.set("bogus", ConfigValue::U64(1));
    assert_eq!(
        NetprobeConfig::parse(&c).unwrap_err(),
        "bogus is an invalid/unsupported config or filter. The valid configs/filters are: recorded_stream, xact_ttl_secs, xact_ttl_ms, deep_sample_rate, num_periods, topn_count, topn_percentile_threshold"
    );
    let mut c = ConfigMap::new();
    c.set("enable", ConfigValue::List(vec!["top_x".into()]));
    assert_eq!(
        NetprobeConfig::parse(&c).unwrap_err(),
        "top_x is an invalid/unsupported metric group. The valid groups are: all, counters, histograms, quantiles"
    );
}

#[test]
fn nothing_is_output_with_every_group_disabled() {
    let mut c = ConfigMap::new();
    c.set("disable", ConfigValue::List(vec!["all".into()]));
    let p = Netprobe::new(&c).unwrap();
    let s = p
        .snapshot(Select::Bucket(0), Timespec::new(1001, 0))
        .unwrap();
    assert!(!s.has_output());
}
