//! Criterion benchmarks of the per-packet hot path: decoding real frames, and decoding plus
//! the net v1 processor (the reader's main work per packet).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pktvisor::config::value::{ConfigMap, ConfigValue};
use pktvisor::decode::Decoder;
use pktvisor::event::Event;
use pktvisor::processor::{self, ProcessorContext};
use pktvisor::receiver::pcap_file::PcapFileReader;
use pktvisor::time::Timespec;

struct Frame {
    linktype: u16,
    ts: Timespec,
    data: Vec<u8>,
    origlen: u32,
}

fn load(name: &str) -> Vec<Frame> {
    let Some(dir) = pktvisor::testdata::pktvisor_fixtures() else {
        return Vec::new();
    };
    let path = dir.join(name);
    let mut out = Vec::new();
    let Ok(mut r) = PcapFileReader::open(&path) else {
        eprintln!("{} not found; benchmark skipped", path.display());
        return out;
    };
    while let Ok(Some(rec)) = r.next_record() {
        out.push(Frame {
            linktype: rec.linktype,
            ts: rec.ts,
            data: rec.data.to_vec(),
            origlen: rec.origlen,
        });
    }
    out
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for name in [
        "dns_ipv4_udp.pcap",
        "dns_ipv6_tcp.pcap",
        "dns_udp_tcp_random.pcap",
    ] {
        let frames = load(name);
        if frames.is_empty() {
            continue;
        }
        group.throughput(Throughput::Elements(frames.len() as u64));
        group.bench_function(name, |b| {
            let mut dec = Decoder::new();
            b.iter(|| {
                for f in &frames {
                    let info = dec.decode(f.linktype, f.ts, &f.data, f.origlen);
                    black_box(info.l4);
                }
            })
        });
    }
    group.finish();
}

fn bench_net(c: &mut Criterion) {
    let frames = load("dns_udp_tcp_random.pcap");
    if frames.is_empty() {
        return;
    }
    let mut group = c.benchmark_group("decode+net_v1");
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function("dns_udp_tcp_random.pcap", |b| {
        let mut cfg = ConfigMap::new();
        cfg.set("num_periods", ConfigValue::U64(1));
        cfg.set("recorded_stream", ConfigValue::Bool(true));
        let mut net = processor::build("net", "1.0", &cfg, &ProcessorContext::default())
            .expect("net processor");
        let mut dec = Decoder::new();
        b.iter(|| {
            for f in &frames {
                let info = dec.decode(f.linktype, f.ts, &f.data, f.origlen);
                black_box(net.handle(&Event::Packet(&info)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_decode, bench_net);
criterion_main!(benches);
