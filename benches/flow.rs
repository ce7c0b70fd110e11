//! Criterion benchmarks of flow decoding and aggregation: NetFlow v9 and IPFIX datagrams
//! (templates first, then 30 records per datagram, with a realistic spread of hosts, ports,
//! protocols and interfaces, a fifth of the datagrams IPv6, generated here
//! deterministically) through `FlowDecoder` alone,
//! and through the decoder and the flow processor with its default groups (and with
//! `top_ips_ports` off, the most expensive group on high-cardinality traffic).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pktvisor::config::value::{ConfigMap, ConfigValue};
use pktvisor::event::Event;
use pktvisor::processor::{self, ProcessorContext};
use pktvisor::receiver::flow::{FlowDecoder, FlowType};
use pktvisor::time::Timespec;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const FIELDS: [(u16, u16); 10] = [
    (8, 4),
    (12, 4),
    (7, 2),
    (11, 2),
    (4, 1),
    (5, 1),
    (10, 4),
    (14, 4),
    (1, 8),
    (2, 8),
];
/// The IPv6 template: the same fields with IPv6 addresses (27, 28).
const FIELDS6: [(u16, u16); 10] = {
    let mut f = FIELDS;
    f[0] = (27, 16);
    f[1] = (28, 16);
    f
};
const PER_DATAGRAM: usize = 30;

fn template(sets: &mut Vec<u8>, ipfix: bool, id: u16, fields: &[(u16, u16)]) {
    sets.extend_from_slice(&(if ipfix { 2u16 } else { 0 }).to_be_bytes());
    sets.extend_from_slice(&(8 + 4 * fields.len() as u16).to_be_bytes());
    sets.extend_from_slice(&id.to_be_bytes());
    sets.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    for (fid, len) in fields {
        sets.extend_from_slice(&fid.to_be_bytes());
        sets.extend_from_slice(&len.to_be_bytes());
    }
}

fn datagram(
    ipfix: bool,
    seq: u32,
    with_template: bool,
    rng: &mut Rng,
    hosts: &[[u8; 4]],
    hosts6: &[[u8; 16]],
) -> Vec<u8> {
    let mut sets = Vec::new();
    if with_template {
        template(&mut sets, ipfix, 256, &FIELDS);
        template(&mut sets, ipfix, 257, &FIELDS6);
    }
    let v6 = rng.below(5) == 0;
    let mut body = Vec::new();
    for _ in 0..PER_DATAGRAM {
        if v6 {
            // uniform over the IPv6 hosts
            body.extend_from_slice(&hosts6[rng.below(hosts6.len() as u64) as usize]);
            body.extend_from_slice(&hosts6[rng.below(hosts6.len() as u64) as usize]);
        } else {
            // Zipf-like popularity: a squared uniform picks low indexes more often
            let pick = |rng: &mut Rng| {
                let u = rng.below(1 << 16) as f64 / 65536.0;
                hosts[((u * u) * hosts.len() as f64) as usize]
            };
            let (s, d) = (pick(rng), pick(rng));
            body.extend_from_slice(&s);
            body.extend_from_slice(&d);
        }
        let proto = [6u8, 6, 6, 17, 17, 1][rng.below(6) as usize];
        let service = [53u16, 443, 80, 123, 22][rng.below(5) as usize];
        let (sp, dp) = match proto {
            1 => (0, 0x0800),
            _ if rng.below(2) == 0 => (49152 + rng.below(16384) as u16, service),
            _ => (service, 1024 + rng.below(64000) as u16),
        };
        let pk = 1 + rng.below(200);
        body.extend_from_slice(&sp.to_be_bytes());
        body.extend_from_slice(&dp.to_be_bytes());
        body.push(proto);
        body.push([0u8, 0, 0xb8, 0x28][rng.below(4) as usize]);
        body.extend_from_slice(&(1 + rng.below(4) as u32).to_be_bytes());
        body.extend_from_slice(&(1 + rng.below(4) as u32).to_be_bytes());
        body.extend_from_slice(&(pk * (40 + rng.below(1460))).to_be_bytes());
        body.extend_from_slice(&pk.to_be_bytes());
    }
    sets.extend_from_slice(&(if v6 { 257u16 } else { 256 }).to_be_bytes());
    sets.extend_from_slice(&(4 + body.len() as u16).to_be_bytes());
    sets.extend_from_slice(&body);
    let mut out = Vec::new();
    if ipfix {
        out.extend_from_slice(&10u16.to_be_bytes());
        out.extend_from_slice(&(16 + sets.len() as u16).to_be_bytes());
        out.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&1u32.to_be_bytes());
    } else {
        out.extend_from_slice(&9u16.to_be_bytes());
        out.extend_from_slice(&(PER_DATAGRAM as u16).to_be_bytes());
        out.extend_from_slice(&1000u32.to_be_bytes());
        out.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&1u32.to_be_bytes());
    }
    out.extend_from_slice(&sets);
    out
}

/// (exporter, datagram) pairs: `n` datagrams alternating v9 and IPFIX exporters.
fn datagrams(n: usize) -> Vec<(IpAddr, Vec<u8>)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let hosts: Vec<[u8; 4]> = (0..4000)
        .map(|_| {
            let v = rng.next();
            [10, v as u8, (v >> 8) as u8, 1 + (v >> 16) as u8 % 254]
        })
        .collect();
    let hosts6: Vec<[u8; 16]> = (0..1000)
        .map(|_| {
            let (a, b) = (rng.next(), rng.next());
            let mut h = [0u8; 16];
            h[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            h[4..12].copy_from_slice(&a.to_be_bytes());
            h[12..].copy_from_slice(&b.to_be_bytes()[..4]);
            h
        })
        .collect();
    (0..n)
        .map(|i| {
            let ipfix = i % 2 == 1;
            let seq = (i / 2) as u32;
            let exporter = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1 + ipfix as u8));
            (
                exporter,
                datagram(
                    ipfix,
                    seq,
                    seq.is_multiple_of(1000),
                    &mut rng,
                    &hosts,
                    &hosts6,
                ),
            )
        })
        .collect()
}

fn flow_config(disable: &[&str]) -> ConfigMap {
    let mut c = ConfigMap::new();
    c.set("num_periods", ConfigValue::U64(1));
    c.set("recorded_stream", ConfigValue::Bool(true));
    if !disable.is_empty() {
        c.set(
            "disable",
            ConfigValue::List(disable.iter().map(|s| s.to_string()).collect()),
        );
    }
    c
}

fn bench(c: &mut Criterion) {
    let dgs = datagrams(20_000);
    let records = (dgs.len() * PER_DATAGRAM) as u64;
    let ts = Timespec::new(1_700_000_000, 0);
    // every generated record decodes (both templates reach the decoder first)
    let mut dec = FlowDecoder::new(FlowType::Netflow);
    let mut decoded = 0usize;
    for (ip, d) in &dgs {
        if let Some(f) = dec.decode(*ip, d, ts) {
            decoded += f.records.len();
        }
    }
    assert_eq!(
        decoded as u64, records,
        "generated records that did not decode"
    );
    let mut g = c.benchmark_group("flow");
    g.throughput(Throughput::Elements(records));
    g.sample_size(10);
    g.bench_function("decode_v9_ipfix", |b| {
        b.iter(|| {
            let mut dec = FlowDecoder::new(FlowType::Netflow);
            let mut n = 0usize;
            for (ip, d) in &dgs {
                if let Some(f) = dec.decode(*ip, d, ts) {
                    n += f.records.len();
                }
            }
            black_box(n)
        })
    });
    for (name, disable) in [
        ("decode_aggregate_default_groups", &[][..]),
        (
            "decode_aggregate_without_top_ips_ports",
            &["top_ips_ports"][..],
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let ctx = ProcessorContext::default();
                let mut p = processor::build("flow", "1.0", &flow_config(disable), &ctx)
                    .expect("flow processor");
                let mut dec = FlowDecoder::new(FlowType::Netflow);
                p.handle(&Event::Start(ts));
                for (ip, d) in &dgs {
                    if let Some(f) = dec.decode(*ip, d, ts) {
                        p.handle(&Event::Flow(&f));
                    }
                }
                black_box(p.schema_key())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
