//! Criterion benchmarks of reading a whole capture file: our reader
//! (`receiver::pcap_file`) against `pcap-file` (the crate the design card named
//! for capture files) on the same files, pcap and pcapng, each yielding every
//! packet's bytes and lengths. We keep our own reader because it also reads
//! gzip, nanosecond and swapped-endian pcap, every pcapng interface's link type
//! and time resolution in one borrowed record type, and counts a truncated tail
//! instead of failing; this bench keeps that choice measured.

use std::fs::File;
use std::hint::black_box;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pktvisor::receiver::pcap_file::PcapFileReader;

/// Captures to read: pktvisor's largest fixture, our DNS benchmark fixture and a
/// pcapng capture (missing files are skipped).
fn captures() -> Vec<PathBuf> {
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut out = Vec::new();
    if let Some(dir) = pktvisor::testdata::pktvisor_fixtures() {
        out.push(dir.join("dns_udp_tcp_random.pcap"));
    }
    out.push(ours.join("dns/dns-perf.pcap"));
    out.push(ours.join("mixed-lo.pcapng"));
    out.retain(|p| p.exists());
    out
}

/// Every packet through our reader: (packets, captured bytes).
fn read_ours(path: &Path) -> (u64, u64) {
    let mut r = PcapFileReader::open(path).expect("open");
    let (mut n, mut bytes) = (0u64, 0u64);
    while let Ok(Some(rec)) = r.next_record() {
        n += 1;
        bytes += rec.data.len() as u64 + u64::from(rec.origlen) + u64::from(rec.linktype);
        bytes += rec.ts.sec as u64;
    }
    (n, bytes)
}

/// Every packet through `pcap-file` (borrowing reads, as its README advises).
fn read_pcap_file(path: &Path) -> (u64, u64) {
    let file = BufReader::new(File::open(path).expect("open"));
    let (mut n, mut bytes) = (0u64, 0u64);
    if path.extension().is_some_and(|e| e == "pcapng") {
        let mut r = PcapNgReader::new(file).expect("pcapng header");
        let mut linktypes = Vec::new();
        while let Some(Ok(block)) = r.next_block() {
            match block {
                Block::InterfaceDescription(i) => linktypes.push(u32::from(i.linktype)),
                Block::EnhancedPacket(p) => {
                    let linktype = linktypes.get(p.interface_id as usize).copied();
                    n += 1;
                    bytes += p.data.len() as u64 + u64::from(p.original_len);
                    bytes += u64::from(linktype.unwrap_or(0)) + p.timestamp.as_secs();
                }
                _ => {}
            }
        }
    } else {
        let mut r = PcapReader::new(file).expect("pcap header");
        let linktype = r.header().datalink;
        while let Some(Ok(p)) = r.next_packet() {
            n += 1;
            bytes += p.data.len() as u64 + u64::from(p.orig_len);
            bytes += u64::from(u32::from(linktype)) + p.timestamp.as_secs();
        }
    }
    (n, bytes)
}

fn bench_read(c: &mut Criterion) {
    for path in captures() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (packets, _) = read_ours(&path);
        let (theirs, _) = read_pcap_file(&path);
        assert_eq!(packets, theirs, "{name}: both readers see every packet");
        let mut group = c.benchmark_group(format!("pcap_reader/{name}"));
        group.throughput(Throughput::Elements(packets));
        group.bench_function("ours", |b| b.iter(|| black_box(read_ours(&path))));
        group.bench_function("pcap-file", |b| b.iter(|| black_box(read_pcap_file(&path))));
        group.finish();
    }
}

criterion_group!(benches, bench_read);
criterion_main!(benches);
