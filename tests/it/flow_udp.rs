//! The flow UDP listener with real exporters' datagrams: the exports pmacctd (nfprobe,
//! sfprobe) and softflowd sent (`fixtures/flow/`) are re-sent over loopback from
//! 127.0.0.1 to a `FlowUdpListener`, decoded from its batches and counted by the flow
//! processor; the totals must equal what a real collector stored (nfcapd / sfcapd read back
//! with nfdump: `fixtures/flow/expected/`), with no datagram lost or dropped. And pmacctd
//! exporting live to the listener from a capture of real traffic, checked against tshark's
//! reading of that capture.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use pktvisor::config::value::{ConfigMap, ConfigValue};
use pktvisor::event::Event;
use pktvisor::processor::{self, ProcessorContext, Select};
use pktvisor::receiver::flow::file::read_udp_payloads;
use pktvisor::receiver::flow::udp::{FlowUdpListener, decode_batch};
use pktvisor::receiver::flow::{FlowDecoder, FlowInput, FlowSource, FlowType};
use pktvisor::time::Timespec;
use serde_json::Value;

use crate::common::own_fixture;
use crate::flow::{assert_collector_totals, dir_totals, expected};

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
    listen_while(flow_type, |to, received| {
        // from 127.0.0.1, as the exporters sent them; a window of 200 datagrams in flight
        let sender = UdpSocket::bind("127.0.0.1:0").expect("sender");
        for (i, d) in payloads.iter().enumerate() {
            sender.send_to(d, to).expect("send");
            if i % 200 == 199 {
                let deadline = Instant::now() + Duration::from_secs(10);
                while received() + 100 < i as u64 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        Some(payloads.len() as u64)
    })
}

/// Runs a fresh listener on 127.0.0.1 while `send(address, datagrams received so far)`
/// exports to it, then waits for the datagrams `send` says it sent (or, when it cannot
/// know, until none has arrived for half a second) and returns the flow processor's
/// `devices` JSON and the listener's counters.
fn listen_while(
    flow_type: FlowType,
    send: impl FnOnce(SocketAddr, &dyn Fn() -> u64) -> Option<u64>,
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
    let received = || stats.snapshot().datagrams;
    let sent = send(to, &received);
    let deadline = Instant::now() + Duration::from_secs(10);
    match sent {
        Some(n) => {
            while received() < n && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        None => {
            let (mut last, mut since) = (received(), Instant::now());
            while since.elapsed() < Duration::from_millis(500) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
                if received() != last {
                    (last, since) = (received(), Instant::now());
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    recv.join().expect("listener thread").expect("listener");
    let devices = consumer.join().expect("consumer");
    (devices, stats.snapshot())
}

#[test]
fn listener_totals_match_the_collectors() {
    for (name, flow_type) in CAPTURES {
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
        assert_collector_totals(name, &devices, &expected(name));
    }
}

/// IP packets and bytes (IP total length) of a capture, IPv4 then IPv6, as tshark reads
/// them.
fn tshark_ip_totals(capture: &Path) -> [(u64, u64); 2] {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(capture)
        .args(["-T", "fields", "-E", "separator=,", "-E", "aggregator=/"])
        .args(["-e", "ip.len", "-e", "ipv6.plen"])
        .output()
        .expect("tshark runs");
    assert!(out.status.success(), "tshark: {out:?}");
    let mut totals = [(0u64, 0u64); 2];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut fields = line.split(',');
        let first = |f: Option<&str>| f.and_then(|f| f.split('/').next()?.parse::<u64>().ok());
        let (v4, v6) = (first(fields.next()), first(fields.next()));
        match (v4, v6) {
            (Some(len), _) => (totals[0].0, totals[0].1) = (totals[0].0 + 1, totals[0].1 + len),
            (None, Some(plen)) => {
                (totals[1].0, totals[1].1) = (totals[1].0 + 1, totals[1].1 + plen + 40)
            }
            (None, None) => {}
        }
    }
    totals
}

/// pmacctd reads a capture of real resolver traffic (`fixtures/dnstap/unbound.pcap`: UDP
/// and TCP over IPv4 and IPv6) and exports it live to the listener over loopback with its
/// nfprobe plugin (NetFlow v5, v9, IPFIX). What the listener counts must equal the
/// capture's IP packets and bytes as tshark reads them (NetFlow v5 carries IPv4 only).
///
/// sFlow is not in this test: pmacctd's sfprobe, even at sampling rate 1, exports 2,030
/// samples of the capture's 2,032 packets (its own sample sequence numbers run 1–2,030),
/// so the capture's totals are not its export's; its exports are checked against sfcapd
/// and tshark in `listener_totals_match_the_collectors` and `flow.rs`.
#[test]
fn pmacctd_exports_live_to_the_listener() {
    if !pktvisor::testdata::have_tool("pmacctd", "pmacct")
        || !pktvisor::testdata::have_tool("tshark", "tshark")
    {
        return;
    }
    let capture = own_fixture("dnstap/unbound.pcap");
    let [v4, v6] = tshark_ip_totals(&capture);
    assert!(v4.0 > 1000 && v6.0 > 100, "{v4:?} {v6:?}");
    let all = (v4.0 + v6.0, v4.1 + v6.1);
    let dir = std::env::temp_dir().join(format!("pktvisor-it-pmacctd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // (name, nfprobe_version, expected packets and bytes)
    let cases = [("nf5", 5, v4), ("nf9", 9, all), ("ipfix", 10, all)];
    for (name, version, (packets, bytes)) in cases {
        let conf = dir.join(format!("{name}.conf"));
        let (devices, s) = listen_while(FlowType::Netflow, |to, _| {
            let text = format!(
                "daemonize: false\npcap_savefile: {}\npcap_savefile_wait: false\n\
                 plugins: nfprobe[p]\nnfprobe_version[p]: {version}\nnfprobe_receiver[p]: {to}\n",
                capture.display()
            );
            std::fs::write(&conf, text).expect("pmacctd config");
            let out = Command::new("pmacctd")
                .arg("-f")
                .arg(&conf)
                .output()
                .expect("pmacctd runs");
            // (its exit status is not checked: when the plugin finishes its flush before the
            // core notices, pmacctd logs "connection lost" and exits 1; the totals below
            // show whether everything was exported)
            let log = String::from_utf8_lossy(&out.stderr);
            assert!(log.contains("Exporting flows to"), "{name}: pmacctd: {log}");
            None
        });
        assert!(s.datagrams > 0, "{name}: nothing arrived: {s:?}");
        assert_eq!(
            (s.kernel_drops, s.queue_drops, s.truncated),
            (0, 0, 0),
            "{name}"
        );
        let (got_packets, got_bytes) = dir_totals(&devices, "in")
            .values()
            .fold((0, 0), |t, v| (t.0 + v.0, t.1 + v.1));
        assert_eq!(got_packets, packets, "{name}: packets; {devices}");
        assert_eq!(got_bytes, bytes, "{name}: bytes");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
