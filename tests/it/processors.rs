//! Processor options over real captures: deep sampling, top-N count and percentile
//! threshold, metric groups (and every group off), chains, and bucket rotation by packet
//! time.

use pktvisor::config::value::{ConfigMap, ConfigValue};
use pktvisor::processor::Select;
use serde_json::Value;

use crate::common::{context, handler_json, plan, run_plan, shared_fixtures};

fn cfg(pairs: &[(&str, ConfigValue)]) -> ConfigMap {
    let mut c = ConfigMap::new();
    c.set("recorded_stream", ConfigValue::Bool(true));
    c.set("num_periods", ConfigValue::U64(1));
    for (k, v) in pairs {
        c.set(k, v.clone());
    }
    c
}

fn list(v: &[&str]) -> ConfigValue {
    ConfigValue::List(v.iter().map(|s| s.to_string()).collect())
}

fn host(spec: &str) -> ConfigMap {
    let mut m = ConfigMap::new();
    m.set("host_spec", ConfigValue::Str(spec.into()));
    m
}

fn run_net(file: &str, version: &str, c: ConfigMap, input: ConfigMap) -> Value {
    let Some(dir) = shared_fixtures() else {
        return Value::Null;
    };
    let p = plan(&dir.join(file), &input, &[("n", "net", version, c)], false);
    let (pipeline, _) = run_plan(&p, &context(None, None)).expect("run");
    handler_json(&pipeline, 0, Select::Bucket(0))
}

#[test]
fn deep_sampling_samples_about_the_rate_but_counts_everything() {
    let doc = run_net(
        "dns_udp_tcp_random.pcap",
        "1.0",
        cfg(&[("deep_sample_rate", ConfigValue::U64(30))]),
        host("192.168.0.0/16"),
    );
    if doc.is_null() {
        return;
    }
    let p = &doc["packets"];
    let events = p["events"].as_u64().expect("events");
    let deep = p["deep_samples"].as_u64().expect("deep");
    assert_eq!(
        p["total"].as_u64(),
        Some(events),
        "counters see every packet"
    );
    let share = deep as f64 / events as f64;
    assert!((0.27..0.33).contains(&share), "deep share {share}");
}

#[test]
fn topn_count_and_percentile_threshold_shape_top_lists() {
    let doc = run_net(
        "dns_udp_tcp_random.pcap",
        "1.0",
        cfg(&[("topn_count", ConfigValue::U64(3))]),
        ConfigMap::new(),
    );
    if doc.is_null() {
        return;
    }
    let unknown_only = doc["packets"]["top_ipv4"].as_array().map(Vec::len);
    assert_eq!(
        unknown_only,
        Some(0),
        "no host spec: no per-address tops in v1"
    );
    let doc = run_net(
        "dns_udp_mixed_rcode.pcap",
        "2.0",
        cfg(&[("topn_count", ConfigValue::U64(3))]),
        ConfigMap::new(),
    );
    let top = doc["net"]["unknown"]["top_ipv4_packets"]
        .as_array()
        .expect("top list")
        .clone();
    assert_eq!(top.len(), 3);
    let all = run_net(
        "dns_udp_mixed_rcode.pcap",
        "2.0",
        cfg(&[("topn_count", ConfigValue::U64(100))]),
        ConfigMap::new(),
    );
    let all_top = all["net"]["unknown"]["top_ipv4_packets"]
        .as_array()
        .expect("list")
        .clone();
    assert!(all_top.len() > 3);
    assert_eq!(all_top[..3], top[..]);
    let estimates: Vec<u64> = all_top
        .iter()
        .filter_map(|e| e["estimate"].as_u64())
        .collect();
    assert!(
        estimates.windows(2).all(|w| w[0] >= w[1]),
        "sorted by estimate"
    );
    let thr = run_net(
        "dns_udp_mixed_rcode.pcap",
        "2.0",
        cfg(&[
            ("topn_count", ConfigValue::U64(100)),
            ("topn_percentile_threshold", ConfigValue::U64(90)),
        ]),
        ConfigMap::new(),
    );
    let kept = thr["net"]["unknown"]["top_ipv4_packets"]
        .as_array()
        .expect("list")
        .len();
    assert!(
        kept >= 1 && kept < all_top.len(),
        "threshold keeps the heaviest: {kept}"
    );
}

#[test]
fn metric_groups_remove_their_metrics_and_all_off_removes_the_handler() {
    let doc = run_net(
        "dns_ipv4_tcp.pcap",
        "1.0",
        cfg(&[("disable", list(&["counters", "top_ips"]))]),
        host("127.0.0.0/24"),
    );
    if doc.is_null() {
        return;
    }
    let p = &doc["packets"];
    assert!(p["tcp"].is_null() && p["top_ipv4"].is_null());
    assert!(p["cardinality"]["src_ips_in"].is_u64());
    assert!(p["events"].is_u64() && p["payload_size"]["p50"].is_u64());
    let none = run_net(
        "dns_ipv4_tcp.pcap",
        "1.0",
        cfg(&[("disable", list(&["all"]))]),
        ConfigMap::new(),
    );
    assert_eq!(
        none,
        serde_json::json!({}),
        "every group off: nothing, not even the period"
    );
    let back = run_net(
        "dns_ipv4_tcp.pcap",
        "2.0",
        cfg(&[("disable", list(&["all"])), ("enable", list(&["counters"]))]),
        ConfigMap::new(),
    );
    assert_eq!(back["net"]["unknown"]["tcp_packets"], 2100);
    assert!(back["net"]["unknown"]["cardinality"].is_null());
}

#[test]
fn a_chain_passes_only_what_the_previous_handler_kept() {
    let Some(dir) = shared_fixtures() else { return };
    let city = dir.join("GeoIP2-City-Test.mmdb");
    let ctx = context(Some(&city), None);
    // The first handler keeps only remote addresses located in the US; the test database
    // knows none of this capture's addresses, so nothing passes to the second.
    let p = plan(
        &dir.join("dns_udp_mixed_rcode.pcap"),
        &host("192.168.0.0/24"),
        &[
            (
                "first",
                "net",
                "1.0",
                cfg(&[("only_geoloc_prefix", list(&["NA/United States"]))]),
            ),
            ("second", "net", "2.0", cfg(&[])),
        ],
        true,
    );
    let (pipeline, _) = run_plan(&p, &ctx).expect("run");
    let first = handler_json(&pipeline, 0, Select::Bucket(0));
    let second = handler_json(&pipeline, 1, Select::Bucket(0));
    assert_eq!(first["packets"]["filtered"], 24);
    assert_eq!(second["net"]["observed_packets"], 0);
    // geoloc_notfound keeps them all and the second handler sees all 24.
    let p = plan(
        &dir.join("dns_udp_mixed_rcode.pcap"),
        &host("192.168.0.0/24"),
        &[
            (
                "first",
                "net",
                "1.0",
                cfg(&[("geoloc_notfound", ConfigValue::Bool(true))]),
            ),
            ("second", "net", "2.0", cfg(&[])),
        ],
        true,
    );
    let (pipeline, _) = run_plan(&p, &ctx).expect("run");
    assert_eq!(
        handler_json(&pipeline, 1, Select::Bucket(0))["net"]["observed_packets"],
        24
    );
}

#[test]
fn buckets_rotate_on_packet_time() {
    let Some(dir) = shared_fixtures() else { return };
    // dns_udp_tcp_random spans a few minutes: with several periods it rotates.
    let mut c = cfg(&[]);
    c.set("num_periods", ConfigValue::U64(10));
    let p = plan(
        &dir.join("dns_udp_tcp_random.pcap"),
        &ConfigMap::new(),
        &[("n", "net", "1.0", c)],
        false,
    );
    let (pipeline, report) = run_plan(&p, &context(None, None)).expect("run");
    let span = report.last_ts.expect("last").sec - report.first_ts.expect("first").sec;
    let buckets = (0..10)
        .take_while(|i| {
            pipeline.handlers[0]
                .processor
                .snapshot(Select::Bucket(*i), pktvisor::time::Timespec::now())
                .is_ok()
        })
        .count() as i64;
    assert_eq!(
        buckets,
        (span / 60 + 1).min(10),
        "one bucket per started minute of packet time"
    );
    let merged = handler_json(&pipeline, 0, Select::Window(10));
    assert_eq!(merged["packets"]["events"].as_u64(), Some(report.packets));
    let newest = handler_json(&pipeline, 0, Select::Bucket(0));
    assert!(newest["packets"]["events"].as_u64() < Some(report.packets) || buckets == 1);
}
