//! The flow processor on hand-made datagrams: direction accounting, device map, filters,
//! summarization, sampling, dynamic-port folding, conversations, group switches and the
//! Prometheus labels.

use std::net::IpAddr;

use serde_json::Value;

use pktvisor::config::value::{ConfigMap, ConfigValue};
use pktvisor::event::{Event, FlowDatagram, FlowProtocol};
use pktvisor::export::json::snapshot_value;
use pktvisor::export::prometheus::PromWriter;
use pktvisor::processor::flow::Flow;
use pktvisor::processor::{Processor, ProcessorContext, Select};
use pktvisor::time::Timespec;
use pktvisor::wire::flow::FlowRecord;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn rec(src: &str, sp: u16, dst: &str, dp: u16, proto: u8, inf: u32, outf: u32) -> FlowRecord {
    FlowRecord {
        src_ip: Some(ip(src)),
        dst_ip: Some(ip(dst)),
        src_port: sp,
        dst_port: dp,
        protocol: proto,
        ipv6: src.contains(':'),
        packets: 10,
        bytes: 1000,
        in_if: inf,
        out_if: outf,
        ..FlowRecord::default()
    }
}

fn cfg(yaml: &str) -> ConfigMap {
    let mut c = if yaml.is_empty() {
        ConfigMap::new()
    } else {
        let v: serde_norway::Value = serde_norway::from_str(yaml).unwrap();
        ConfigMap::from_yaml(v.as_mapping().unwrap()).unwrap()
    };
    c.set("num_periods", ConfigValue::U64(1));
    c
}

fn run(
    yaml: &str,
    protocol: FlowProtocol,
    device: &str,
    records: &[FlowRecord],
) -> (Value, String) {
    let mut p = Flow::new(&cfg(yaml), &ProcessorContext::default()).unwrap();
    let f = FlowDatagram {
        device: ip(device),
        exporter: ip(device),
        ts: Timespec::new(1_700_000_000, 0),
        export_time: None,
        protocol,
        records,
    };
    p.handle(&Event::Flow(&f));
    let snap = p
        .snapshot(Select::Bucket(0), Timespec::new(1_700_000_001, 0))
        .unwrap();
    let json = snapshot_value(snap.as_ref());
    let mut w = PromWriter::new(None);
    w.write_snapshot(snap.as_ref(), &[]);
    (json["flow"]["devices"].clone(), w.finish())
}

const NF: FlowProtocol = FlowProtocol::Netflow(9);

#[test]
fn records_count_on_input_and_output_interfaces() {
    let recs = [
        rec("10.0.0.1", 40000, "192.0.2.1", 443, 6, 1, 2),
        rec("2001:db8::1", 5353, "2001:db8::2", 53, 17, 2, 1),
    ];
    let (d, prom) = run("", NF, "192.0.2.254", &recs);
    let dev = &d["192.0.2.254"];
    assert_eq!(dev["records_flows"], 2);
    let (i1, i2) = (&dev["interfaces"]["1"], &dev["interfaces"]["2"]);
    assert_eq!(
        (i1["in_tcp_bytes"].as_u64(), i1["in_ipv4_packets"].as_u64()),
        (Some(1000), Some(10))
    );
    assert_eq!(
        (i1["out_udp_bytes"].as_u64(), i1["out_ipv6_bytes"].as_u64()),
        (Some(1000), Some(1000))
    );
    assert_eq!(i2["in_udp_packets"], 10);
    assert_eq!(i2["out_tcp_packets"], 10);
    assert_eq!(i1["top_in_src_ips_bytes"][0]["name"], "10.0.0.1");
    assert_eq!(
        i1["top_out_dst_ip_ports_bytes"][0]["name"],
        "2001:db8::2:53"
    );
    assert_eq!(i2["top_in_dst_ports_packets"][0]["name"], "53");
    assert_eq!(i1["cardinality"]["src_ips_in"], 2);
    // groups off by default are absent
    assert!(i1.get("top_in_dscp_bytes").is_none() && i1.get("top_conversations_bytes").is_none());
    assert!(dev.get("top_in_interfaces_bytes").is_none());
    assert!(
        prom.contains(
            "flow_in_tcp_bytes{device=\"192.0.2.254\",device_interface=\"192.0.2.254|1\"} 1000"
        ),
        "{prom}"
    );
    assert!(
        prom.contains("flow_records_flows{device=\"192.0.2.254\"} 2"),
        "{prom}"
    );
}

#[test]
fn device_map_groups_and_conversations() {
    let recs = [
        rec("10.0.0.1", 40000, "10.0.0.2", 443, 6, 1, 2),
        rec("10.0.0.2", 443, "10.0.0.1", 40000, 6, 2, 1),
    ];
    let (d, prom) = run(
        "device_map: {192.0.2.254: {name: edge, interfaces: {1: {name: wan}, 2: {name: lan}}}}
enable: [conversations, top_interfaces, top_tos]
disable: [by_packets]",
        NF,
        "192.0.2.254",
        &recs,
    );
    let dev = &d["edge"];
    assert_eq!(dev["top_in_interfaces_bytes"].as_array().unwrap().len(), 2);
    assert!(dev.get("top_in_interfaces_packets").is_none());
    let wan = &dev["interfaces"]["wan"];
    assert!(wan.get("in_packets").is_none());
    // both directions of the connection are one conversation, ordered as strings
    assert_eq!(
        wan["top_conversations_bytes"][0]["name"],
        "10.0.0.1:40000/10.0.0.2:443"
    );
    assert_eq!(wan["top_conversations_bytes"][0]["estimate"], 2000);
    assert_eq!(wan["cardinality"]["conversations"], 1);
    assert_eq!(wan["top_in_dscp_bytes"][0]["name"], "CS0");
    assert_eq!(wan["top_in_ecn_bytes"][0]["name"], "Not-ECT");
    // pktvisor's quirk: the conversations cardinality has the device label only
    assert!(
        prom.contains("flow_cardinality_conversations{device=\"edge\"} 1"),
        "{prom}"
    );
    assert!(
        prom.contains("flow_top_in_interfaces_bytes{device=\"edge\",interface=\"wan\"} 1000"),
        "{prom}"
    );
    let (d, _) = run(
        "enrichment: false\ndevice_map: {192.0.2.254: {name: edge, interfaces: {}}}",
        NF,
        "192.0.2.254",
        &recs,
    );
    assert!(d.get("192.0.2.254").is_some());
}

#[test]
fn filters() {
    let recs = [
        rec("10.0.0.1", 40000, "192.0.2.1", 443, 6, 1, 2),
        rec("10.9.0.1", 40000, "192.0.2.1", 22, 6, 1, 2),
        rec("2001:db8::1", 5353, "2001:db8::2", 53, 17, 3, 1),
    ];
    let count = |y: &str| {
        let (d, _) = run(y, NF, "192.0.2.254", &recs);
        let dev = d["192.0.2.254"].clone();
        (
            dev["records_flows"].as_u64().unwrap(),
            dev["records_filtered"].as_u64().unwrap(),
            dev,
        )
    };
    assert_eq!(count("only_ports: ['400-500']").0, 1);
    assert_eq!(count("only_ports: ['22', '53']").0, 2);
    assert_eq!(count("only_ips: [10.0.0.0/16]").0, 1);
    // IPv6 records match IPv6 prefixes (pktvisor filters them all: a bug we do not keep)
    assert_eq!(count("only_ips: ['2001:db8::/32']").0, 1);
    let (n, f, dev) = count("only_directions: [out]");
    assert_eq!((n, f), (3, 0));
    // only output interfaces: 3 (input only) never appears, 1 and 2 count no input
    assert!(dev["interfaces"].get("3").is_none(), "{dev}");
    assert_eq!(dev["interfaces"]["1"]["in_bytes"], 0);
    assert_eq!(dev["interfaces"]["2"]["out_bytes"], 2000);
    let (n, f, dev) = count("only_device_interfaces: {192.0.2.254: ['2-3']}");
    assert_eq!((n, f), (3, 0));
    assert!(dev["interfaces"].get("1").is_none(), "{dev}");
    assert_eq!(count("only_device_interfaces: {192.0.2.254: ['9']}").1, 3);
    // another device: the whole datagram is filtered
    assert_eq!(count("only_device_interfaces: {192.0.2.1: ['*']}").1, 3);
}

#[test]
fn summarization() {
    let recs = [
        rec("10.1.2.3", 40000, "192.0.2.1", 443, 6, 1, 2),
        rec("10.1.9.9", 40001, "198.51.100.7", 443, 6, 1, 2),
        rec("172.16.5.5", 40002, "2001:db8:aa::1", 443, 6, 1, 2),
    ];
    let (d, _) = run(
        "subnets_for_summarization: [10.0.0.0/8, 0.0.0.0/16, '::/32']
exclude_ips_from_summarization: [198.51.100.7/32]",
        NF,
        "192.0.2.254",
        &recs,
    );
    let i = &d["192.0.2.254"]["interfaces"]["1"];
    let names = |k: &str| -> Vec<String> {
        i[k].as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };
    let src = names("top_in_src_ips_bytes");
    assert_eq!(src, ["10.0.0.0/8", "172.16.0.0/16"]);
    let mut dst = names("top_in_dst_ips_bytes");
    dst.sort();
    assert_eq!(dst, ["192.0.0.0/16", "198.51.100.7", "2001:db8::/32"]);
    assert_eq!(i["top_in_src_ips_bytes"][0]["estimate"], 2000);
    assert!(names("top_in_src_ip_ports_bytes").contains(&"10.0.0.0/8:40000".to_string()));
}

#[test]
fn sampling_and_dynamic_ports() {
    let mut s = rec("10.0.0.1", 50000, "192.0.2.1", 443, 6, 1, 2);
    s.packets = 1;
    s.bytes = 1500;
    s.sampling = 100;
    let mut s2 = s;
    s2.src_port = 60000;
    let sflow = FlowProtocol::Sflow(5);
    let (d, _) = run("", sflow, "192.0.2.254", &[s, s2]);
    let i = &d["192.0.2.254"]["interfaces"]["1"];
    assert_eq!(
        (i["in_packets"].as_u64(), i["in_bytes"].as_u64()),
        (Some(200), Some(300_000))
    );
    assert_eq!(i["top_in_src_ports_packets"].as_array().unwrap().len(), 2);
    let (d, _) = run(
        "sample_rate_scaling: false\nfold_dynamic_ports: true",
        sflow,
        "192.0.2.254",
        &[s, s2],
    );
    let i = &d["192.0.2.254"]["interfaces"]["1"];
    assert_eq!(
        (i["in_packets"].as_u64(), i["in_bytes"].as_u64()),
        (Some(2), Some(3000))
    );
    assert_eq!(i["top_in_src_ports_packets"][0]["name"], "dynamic");
    assert_eq!(i["top_in_src_ports_packets"][0]["estimate"], 2);
    assert_eq!(
        i["top_in_src_ip_ports_packets"][0]["name"],
        "10.0.0.1:dynamic"
    );
    // NetFlow records with an announced sampling interval are scaled too (pktvisor: not)
    let mut n = rec("10.0.0.1", 50000, "192.0.2.1", 443, 6, 1, 2);
    n.sampling = 10;
    let (d, _) = run("", NF, "192.0.2.254", &[n]);
    assert_eq!(d["192.0.2.254"]["interfaces"]["1"]["in_packets"], 100);
    let (d, _) = run("sample_rate_scaling: false", NF, "192.0.2.254", &[n]);
    assert_eq!(d["192.0.2.254"]["interfaces"]["1"]["in_packets"], 10);
}

#[test]
fn config_errors_and_extra_key() {
    let ctx = ProcessorContext::default();
    let mut c = cfg("fold_dynamic_ports: true");
    assert!(Flow::new(&c, &ctx).is_ok());
    c.set("bogus", ConfigValue::Bool(true));
    let err = Flow::new(&c, &ctx).err().unwrap().to_string();
    assert!(err.starts_with("bogus is an invalid/unsupported config or filter. The valid configs/filters are: device_map, "), "{err}");
    assert!(!err.contains("fold_dynamic_ports"));
    let c = cfg("enable: [nope]");
    assert_eq!(
        Flow::new(&c, &ctx).err().unwrap().to_string(),
        "nope is an invalid/unsupported metric group. The valid groups are: all, by_bytes, by_packets, cardinality, conversations, counters, top_geo, top_interfaces, top_ips, top_ips_ports, top_ports, top_tos"
    );
}

#[test]
fn geo_tops_and_notfound_filters() {
    let Some(dir) = pktvisor::testdata::pktvisor_fixtures() else {
        return;
    };
    let geo = pktvisor::enrich::geo::GeoDatabases::open(
        Some(&dir.join("GeoIP2-City-Test.mmdb")),
        Some(&dir.join("GeoIP2-ISP-Test.mmdb")),
    )
    .unwrap();
    let ctx = ProcessorContext {
        geo,
        geo_cache_size: 100,
        ..ProcessorContext::default()
    };
    // 89.160.20.112 is in both test databases; 10.0.0.1 in neither
    let recs = [
        rec("89.160.20.112", 443, "10.0.0.1", 40000, 6, 1, 2),
        rec("89.160.20.112", 443, "89.160.20.112", 40000, 6, 1, 2),
    ];
    let f = FlowDatagram {
        device: ip("192.0.2.254"),
        exporter: ip("192.0.2.254"),
        ts: Timespec::new(1, 0),
        export_time: None,
        protocol: NF,
        records: &recs,
    };
    let mut p = Flow::new(&cfg("enable: [top_geo]\ngeoloc_notfound: true"), &ctx).unwrap();
    p.handle(&Event::Flow(&f));
    let snap = p.snapshot(Select::Bucket(0), Timespec::new(2, 0)).unwrap();
    let j = snapshot_value(snap.as_ref());
    let dev = &j["flow"]["devices"]["192.0.2.254"];
    assert_eq!(
        (
            dev["records_flows"].as_u64(),
            dev["records_filtered"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let i = &dev["interfaces"]["1"];
    let geo: Vec<&str> = i["top_geo_loc_bytes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        geo.contains(&"Unknown") && geo.iter().any(|g| g.starts_with("EU/Sweden")),
        "{geo:?}"
    );
    assert!(
        i["top_asn_bytes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"].as_str().unwrap().starts_with("29518/")),
        "{i}"
    );
}

/// Found by the netflow fuzz target: 8-byte octet counts near u64::MAX overflowed the
/// interface counters.
#[test]
fn huge_counts_saturate_instead_of_overflowing() {
    let mut r = rec("10.0.0.1", 1, "10.0.0.2", 2, 6, 1, 1);
    r.bytes = u64::MAX - 1;
    r.packets = u64::MAX;
    let (d, _) = run("", NF, "192.0.2.254", &[r, r]);
    let i = &d["192.0.2.254"]["interfaces"]["1"];
    assert_eq!(i["in_bytes"], u64::MAX);
    assert_eq!(i["out_packets"], u64::MAX);
}

/// IPv6 endpoints take ids shared by the bucket's tables; once the ids are full they fall
/// back to each table's own side map, and merging buckets translates both kinds. Every
/// path must give the same top lists, bucket by bucket and over the window.
#[test]
fn shared_endpoint_ids_and_their_fallback_give_identical_results() {
    let minute = |m: i64| Timespec::new(1_700_000_000 + 60 * m, 0);
    let records = |minute: u32| -> Vec<FlowRecord> {
        (0..120u32)
            .map(|i| {
                let a = (i * 7 + minute) % 40;
                let b = (i * 11 + 3) % 40;
                let mut r = rec(
                    &format!("2001:db8::{a:x}"),
                    40000 + (i % 9) as u16,
                    &format!("2001:db8:1::{b:x}"),
                    [53u16, 443, 80][(i % 3) as usize],
                    [6u8, 17][(i % 2) as usize],
                    1 + i % 2,
                    2 - i % 2,
                );
                r.bytes = u64::from(100 + i * 13);
                r.packets = u64::from(1 + i % 5);
                r
            })
            .collect()
    };
    let run = |limit: Option<usize>| -> Vec<Value> {
        let mut c = cfg("");
        c.set("num_periods", ConfigValue::U64(2));
        let mut p = Flow::new(&c, &ProcessorContext::default()).unwrap();
        for m in 0..2 {
            if let Some(l) = limit {
                p.limit_live_endpoint_ids(minute(m.into()), l);
            }
            let recs = records(m);
            let f = FlowDatagram {
                device: ip("192.0.2.254"),
                exporter: ip("192.0.2.254"),
                ts: minute(m.into()),
                export_time: None,
                protocol: NF,
                records: &recs,
            };
            p.handle(&Event::Flow(&f));
        }
        if let Some(l) = limit {
            let ids = p
                .tables()
                .into_iter()
                .find(|t| t.name == "flow_endpoint_ids")
                .unwrap();
            assert_eq!((ids.len, ids.limit), (l, l));
            assert!(ids.evicted > 0, "the bound was reached");
        }
        [Select::Bucket(0), Select::Bucket(1), Select::Window(2)]
            .into_iter()
            .map(|sel| {
                let snap = p.snapshot(sel, minute(2)).unwrap();
                snapshot_value(snap.as_ref())["flow"]["devices"].clone()
            })
            .collect()
    };
    let shared = run(None);
    // the window equals one bucket that saw both minutes' records
    let mut p = Flow::new(&cfg(""), &ProcessorContext::default()).unwrap();
    for m in 0..2 {
        let recs = records(m);
        let f = FlowDatagram {
            device: ip("192.0.2.254"),
            exporter: ip("192.0.2.254"),
            ts: minute(0),
            export_time: None,
            protocol: NF,
            records: &recs,
        };
        p.handle(&Event::Flow(&f));
    }
    let whole = p.snapshot(Select::Bucket(0), minute(1)).unwrap();
    let whole = snapshot_value(whole.as_ref())["flow"]["devices"].clone();
    assert_eq!(shared[2], whole);
    let top = &shared[2]["192.0.2.254"]["interfaces"]["1"]["top_in_src_ip_ports_bytes"];
    assert_eq!(top.as_array().map(Vec::len), Some(10), "{top}");
    assert!(top.to_string().contains("2001:db8::"), "{top}");
    for limit in [0, 3, 30] {
        assert_eq!(run(Some(limit)), shared, "ids bounded at {limit}");
    }
}
