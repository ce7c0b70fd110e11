//! The flow UDP listener with real exporters' datagrams: the exports pmacctd (nfprobe,
//! sfprobe) and softflowd sent (`fixtures/flow/`) are re-sent over loopback from
//! 127.0.0.1 to a `FlowUdpListener`, decoded from its batches and counted by the flow
//! processor; the totals must equal what a real collector stored (nfcapd / sfcapd read back
//! with nfdump: `fixtures/flow/expected/`), with no datagram lost or dropped.

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use pktvisor::config::value::{ConfigMap, ConfigValue};
use pktvisor::processor::{self, Event, ProcessorContext, Select};
use pktvisor::receiver::flow::file::read_udp_payloads;
use pktvisor::receiver::flow::udp::{FlowUdpListener, decode_batch};
use pktvisor::receiver::flow::{FlowDecoder, FlowInput, FlowSource, FlowType};
use pktvisor::time::Timespec;
use serde_json::Value;

use crate::common::own_fixture;

const CAPTURES: [(&str, FlowType); 6] = [
    ("pmacct-nf5.pcap", FlowType::Netflow),
    ("pmacct-nf9.pcap", FlowType::Netflow),
    ("pmacct-ipfix.pcap", FlowType::Netflow),
    ("pmacct-sflow.pcap", FlowType::Sflow),
    ("softflowd-nf9.pcap", FlowType::Netflow),
    ("softflowd-ipfix.pcap", FlowType::Netflow),
];

/// Sends `payloads` to a fresh listener and returns the flow processor's `devices` JSON
/// and the listener's counters.
fn listen_and_count(
    payloads: &[Vec<u8>],
    flow_type: FlowType,
) -> (Value, pktvisor::receiver::flow::udp::UdpStatsSnapshot) {
    let input = FlowInput {
        flow_type,
        flow_type_defaulted: false,
        source: FlowSource::Listen {
            bind: "127.0.0.1".into(),
            port: 0,
        },
    };
    let listener = FlowUdpListener::bind(&input).expect("bind 127.0.0.1");
    let to = listener.local_addr();
    let stats = listener.stats();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = sync_channel(1024);
    let recv = listener.spawn(tx, Arc::clone(&stop)).expect("thread");
    // the consumer: decode and count (one fixed bucket time: totals, not times, are checked)
    let consumer = std::thread::spawn(move || {
        let mut cfg = ConfigMap::new();
        cfg.set("num_periods", ConfigValue::U64(1));
        cfg.set("recorded_stream", ConfigValue::Bool(true));
        let mut p = processor::build("flow", "1.0", &cfg, &ProcessorContext::default())
            .expect("flow processor");
        let t0 = Timespec::new(1_700_000_000, 0);
        p.handle(&Event::Start(t0));
        let mut dec = FlowDecoder::new(flow_type);
        for batch in rx {
            decode_batch(&mut dec, &batch, |dg| {
                let mut dg = *dg;
                dg.ts = t0;
                p.handle(&Event::Flow(&dg));
            });
        }
        let snap = p
            .snapshot(Select::Bucket(0), t0.plus_secs(1))
            .expect("snapshot");
        pktvisor::export::json::snapshot_value(snap.as_ref())["flow"]["devices"].clone()
    });
    // from 127.0.0.1, as the exporters sent them; a window of 200 datagrams in flight
    let sender = UdpSocket::bind("127.0.0.1:0").expect("sender");
    for (i, d) in payloads.iter().enumerate() {
        sender.send_to(d, to).expect("send");
        if i % 200 == 199 {
            let deadline = Instant::now() + Duration::from_secs(10);
            while stats.snapshot().datagrams + 100 < i as u64 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.snapshot().datagrams < payloads.len() as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    recv.join().expect("listener thread").expect("listener");
    let devices = consumer.join().expect("consumer");
    (devices, stats.snapshot())
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn listener_totals_match_the_collectors() {
    for (name, flow_type) in CAPTURES {
        let want: Value = serde_json::from_str(
            &std::fs::read_to_string(own_fixture(&format!("flow/expected/{name}.json")))
                .expect("expected json"),
        )
        .expect("json");
        let payloads: Vec<Vec<u8>> = read_udp_payloads(&own_fixture(&format!("flow/{name}")), None)
            .expect("fixture capture")
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        assert!(!payloads.is_empty(), "{name}");
        let (devices, s) = listen_and_count(&payloads, flow_type);
        assert_eq!(s.datagrams, payloads.len() as u64, "{name}: {s:?}");
        assert_eq!(
            (s.kernel_drops, s.queue_drops, s.truncated),
            (0, 0, 0),
            "{name}"
        );
        assert_eq!(
            s.bytes,
            payloads.iter().map(|p| p.len() as u64).sum::<u64>()
        );
        let devices = devices.as_object().expect("devices");
        let exporters = want["exporters"].as_object().expect("exporters");
        assert_eq!(devices.len(), exporters.len(), "{name}: devices");
        for (ip, e) in exporters {
            assert_eq!(
                devices[ip]["records_flows"], e["records"],
                "{name}: {ip} records"
            );
        }
        for (dir, key) in [("in", "in_interfaces"), ("out", "out_interfaces")] {
            let mut got: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for dev in devices.values() {
                for (ifname, i) in dev["interfaces"].as_object().expect("interfaces") {
                    let e = got.entry(ifname.clone()).or_default();
                    e.0 += i[format!("{dir}_packets")].as_u64().unwrap_or(0);
                    e.1 += i[format!("{dir}_bytes")].as_u64().unwrap_or(0);
                }
            }
            let exp: BTreeMap<String, (u64, u64)> = want[key]
                .as_object()
                .expect("interfaces")
                .iter()
                .map(|(k, v)| (k.clone(), (u(&v["packets"]), u(&v["bytes"]))))
                .collect();
            assert_eq!(got, exp, "{name}: {dir} interfaces (packets, bytes)");
        }
    }
}
