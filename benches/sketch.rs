//! Criterion benchmarks of the per-packet hot paths of the metric sketches:
//! `Distribution::record_u64`, `TopN::update`, `Cardinality::insert_hash` /
//! `insert`, and `Rate::add`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pktvisor::sketch::{Cardinality, Distribution, Rate, TopN};

/// SplitMix64: deterministic input generation.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Number of pre-generated inputs (a power of two, cycled through).
const INPUTS: usize = 1 << 16;

fn inputs(seed: u64, f: impl Fn(u64) -> u64) -> Vec<u64> {
    let mut s = seed;
    (0..INPUTS).map(|_| f(splitmix(&mut s))).collect()
}

fn bench_distribution(c: &mut Criterion) {
    let sizes = inputs(1, |x| 1 + x % 1500);
    let latencies = inputs(2, |x| 10 + (x % 1_000_000) * (x >> 60) / 16);
    let mut group = c.benchmark_group("distribution");
    for (name, values) in [
        ("record_u64_sizes", &sizes),
        ("record_u64_latencies", &latencies),
    ] {
        group.bench_function(name, |b| {
            let mut d = Distribution::new();
            let mut i = 0usize;
            b.iter(|| {
                d.record_u64(black_box(values[i & (INPUTS - 1)]));
                i = i.wrapping_add(1);
            });
            black_box(d.count());
        });
    }
    group.finish();
}

fn bench_topn(c: &mut Criterion) {
    let mut group = c.benchmark_group("topn");
    for distinct in [1_000u64, 100_000] {
        // IPv4-like u32 keys drawn from a pool of `distinct` addresses.
        let keys: Vec<u32> = inputs(3 + distinct, |x| x % distinct)
            .into_iter()
            .map(|k| 0x0A00_0000 | (k as u32).wrapping_mul(2_654_435_761) >> 8)
            .collect();
        group.bench_function(format!("update_u32_{distinct}_distinct"), |b| {
            let mut t: TopN<u32> = TopN::new();
            let mut i = 0usize;
            b.iter(|| {
                t.update(black_box(keys[i & (INPUTS - 1)]));
                i = i.wrapping_add(1);
            });
            black_box(t.len());
        });
    }
    group.finish();
}

fn bench_cardinality(c: &mut Criterion) {
    let hashes = inputs(4, |x| x);
    let ips: Vec<u32> = inputs(5, |x| x).into_iter().map(|x| x as u32).collect();
    let mut group = c.benchmark_group("cardinality");
    group.bench_function("insert_hash_dense", |b| {
        let mut card = Cardinality::new();
        for &h in &hashes[..4096] {
            card.insert_hash(h);
        }
        assert!(!card.is_sparse());
        let mut i = 0usize;
        b.iter(|| {
            card.insert_hash(black_box(hashes[i & (INPUTS - 1)]));
            i = i.wrapping_add(1);
        });
        black_box(card.estimate());
    });
    group.bench_function("insert_u32_dense", |b| {
        let mut card = Cardinality::new();
        for ip in &ips[..4096] {
            card.insert(ip);
        }
        assert!(!card.is_sparse());
        let mut i = 0usize;
        b.iter(|| {
            card.insert(black_box(&ips[i & (INPUTS - 1)]));
            i = i.wrapping_add(1);
        });
        black_box(card.estimate());
    });
    group.bench_function("insert_u32_sparse", |b| {
        let mut card = Cardinality::new();
        let mut i = 0usize;
        b.iter(|| {
            card.insert(black_box(&ips[i & 1023]));
            i = i.wrapping_add(1);
        });
        black_box(card.estimate());
    });
    group.finish();
}

fn bench_rate(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate");
    group.bench_function("add", |b| {
        let mut r = Rate::new();
        let mut i = 0u64;
        b.iter(|| {
            // A new second every 1000 events.
            r.add(black_box((i / 1000) as i64), 1);
            i = i.wrapping_add(1);
        });
        black_box(r.live());
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_distribution,
    bench_topn,
    bench_cardinality,
    bench_rate
);
criterion_main!(benches);
