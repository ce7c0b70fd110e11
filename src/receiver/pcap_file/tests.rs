//! Tests of the capture reader on real and hand-made captures.

use super::*;
use std::path::PathBuf;
use std::process::Command;

fn fixtures() -> Option<PathBuf> {
    crate::testdata::pktvisor_fixtures()
}

use crate::testdata::have_tool;

/// A temporary folder removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "pktvisor-pcapfile-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An owned copy of a record.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Owned {
    ts: Timespec,
    linktype: u16,
    caplen: u32,
    origlen: u32,
    data: Vec<u8>,
}

/// All records of a file, whether it ended truncated, and the reader.
fn read_all(path: &Path) -> (Vec<Owned>, PcapFileReader) {
    let mut r = PcapFileReader::open(path).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    while let Some(rec) = r.next_record().unwrap_or_else(|e| panic!("{e}")) {
        assert_eq!(rec.caplen as usize, rec.data.len());
        out.push(Owned {
            ts: rec.ts,
            linktype: rec.linktype,
            caplen: rec.caplen,
            origlen: rec.origlen,
            data: rec.data.to_vec(),
        });
    }
    assert_eq!(r.packets_read(), out.len() as u64);
    (out, r)
}

const FIXTURE_COUNTS: &[(&str, usize, u16)] = &[
    ("bgp.pcap", 22, 1),
    ("dhcp-flow.pcap", 8, 1),
    ("dhcpv6.pcap", 12, 1),
    ("dns_ipv4_tcp.pcap", 2100, 1),
    ("dns_ipv4_udp.pcap", 140, 1),
    ("dns_ipv6_tcp.pcap", 1800, 1),
    ("dns_ipv6_udp.pcap", 140, 1),
    ("dns_udp_mixed_rcode.pcap", 24, 1),
    ("dns_udp_tcp_random.pcap", 16147, 1),
    ("dnssec.pcap", 14, 1),
    ("ecs.pcap", 66, 1),
    ("ipfix.pcap", 43, 113),
    ("nf1.pcap", 1, 1),
    ("nf5.pcap", 2, 1),
    ("nf7.pcap", 1, 1),
    ("nf9.pcap", 5, 1),
    ("sflow_ipv6.pcap", 1, 1),
    ("sflow_keyed.pcap", 1, 1),
];

#[test]
fn every_fixture_reads_with_its_frame_count() {
    let Some(dir) = fixtures() else { return };
    for &(name, count, linktype) in FIXTURE_COUNTS {
        let path = dir.join(name);
        let (recs, r) = read_all(&path);
        assert_eq!(recs.len(), count, "{name}");
        assert!(recs.iter().all(|x| x.linktype == linktype), "{name}");
        assert!(recs.iter().all(|x| x.origlen >= x.caplen), "{name}");
        assert!(!r.truncated(), "{name}");
        assert!(!r.is_gzip());
        let size = std::fs::metadata(&path).unwrap().len();
        assert_eq!(r.total_bytes(), Some(size), "{name}");
        assert_eq!(r.bytes_read(), size, "{name}");
    }
}

#[test]
fn fixture_timestamps() {
    let Some(dir) = fixtures() else { return };
    let (udp, _) = read_all(&dir.join("dns_ipv4_udp.pcap"));
    assert_eq!(
        udp[0].ts,
        Timespec {
            sec: 1_567_706_414,
            nsec: 599_964_000
        }
    );
    assert_eq!(
        udp.last().unwrap().ts,
        Timespec {
            sec: 1_567_706_420,
            nsec: 602_866_000
        }
    );
    let (tcp, _) = read_all(&dir.join("dns_ipv4_tcp.pcap"));
    assert_eq!(
        tcp[0].ts,
        Timespec {
            sec: 1_567_706_433,
            nsec: 56_403_000
        }
    );
    // nf9.pcap uses the nanosecond magic: sub-microsecond digits survive.
    let (nf9, _) = read_all(&dir.join("nf9.pcap"));
    assert_eq!(
        nf9[0].ts,
        Timespec {
            sec: 1_508_409_869,
            nsec: 575_718_995
        }
    );
    assert!(nf9.iter().any(|r| r.ts.nsec % 1000 != 0));
}

/// Byte-swaps a little-endian classic pcap into a big-endian one.
fn to_big_endian_pcap(src: &[u8]) -> Vec<u8> {
    let mut out = src.to_vec();
    let swap32 = |b: &mut [u8], at: usize| b[at..at + 4].reverse();
    swap32(&mut out, 0);
    out[4..6].reverse();
    out[6..8].reverse();
    for at in [8, 12, 16, 20] {
        swap32(&mut out, at);
    }
    let mut at = 24;
    while at + 16 <= out.len() {
        let caplen = u32::from_le_bytes(out[at + 8..at + 12].try_into().unwrap()) as usize;
        for f in 0..4 {
            swap32(&mut out, at + 4 * f);
        }
        at += 16 + caplen;
    }
    out
}

#[test]
fn pcapng_gzip_and_big_endian_variants_are_identical() {
    let Some(dir) = fixtures() else { return };
    if !have_tool("editcap", "wireshark-common") || !have_tool("gzip", "gzip") {
        return;
    }
    let tmp = TempDir::new("variants");
    for name in [
        "dns_ipv4_udp.pcap",
        "ipfix.pcap",
        "nf9.pcap",
        "dns_udp_tcp_random.pcap",
    ] {
        let src = dir.join(name);
        let (base, _) = read_all(&src);
        let ng = tmp.path(&format!("{name}.pcapng"));
        run(Command::new("editcap")
            .args(["-F", "pcapng"])
            .arg(&src)
            .arg(&ng));
        let modified = tmp.path(&format!("{name}.mod.pcap"));
        run(Command::new("editcap")
            .args(["-F", "modpcap"])
            .arg(&src)
            .arg(&modified));
        let nsec = tmp.path(&format!("{name}.nsec.pcap"));
        run(Command::new("editcap")
            .args(["-F", "nsecpcap"])
            .arg(&src)
            .arg(&nsec));
        let be = tmp.path(&format!("{name}.be.pcap"));
        std::fs::write(&be, to_big_endian_pcap(&std::fs::read(&src).unwrap())).unwrap();
        let plain = tmp.path(name);
        std::fs::copy(&src, &plain).unwrap();
        run(Command::new("gzip").arg("-k").arg("-f").arg(&plain));
        run(Command::new("gzip").arg("-k").arg("-f").arg(&ng));
        let gz = tmp.path(&format!("{name}.gz"));
        let nggz = tmp.path(&format!("{name}.pcapng.gz"));
        for variant in [&ng, &modified, &nsec, &be, &gz, &nggz] {
            let (recs, r) = read_all(variant);
            assert_eq!(recs.len(), base.len(), "{}", variant.display());
            // The modified format only has microseconds: nf9's nanoseconds get cut.
            let expected: Vec<Owned> = if variant == &modified {
                base.iter()
                    .map(|r| Owned {
                        ts: Timespec {
                            sec: r.ts.sec,
                            nsec: r.ts.nsec / 1000 * 1000,
                        },
                        ..r.clone()
                    })
                    .collect()
            } else {
                base.clone()
            };
            assert!(
                recs == expected,
                "{} differs from {name}",
                variant.display()
            );
            assert!(!r.truncated(), "{}", variant.display());
            let size = std::fs::metadata(variant).unwrap().len();
            assert_eq!(r.bytes_read(), size, "{}", variant.display());
            assert_eq!(
                r.is_gzip(),
                variant.extension().is_some_and(|e| e == "gz"),
                "{}",
                variant.display()
            );
        }
    }
}

#[test]
fn truncated_tails_end_cleanly() {
    let Some(dir) = fixtures() else { return };
    let tmp = TempDir::new("trunc");
    let src = dir.join("dns_ipv4_udp.pcap");
    let bytes = std::fs::read(&src).unwrap();
    let (all, _) = read_all(&src);
    let last_len = 16 + all.last().unwrap().caplen as usize;
    // Inside the last record's body, right after its header, and inside its header.
    for cut in [10, last_len - 17, last_len - 8] {
        let path = tmp.path(&format!("cut{cut}.pcap"));
        std::fs::write(&path, &bytes[..bytes.len() - cut]).unwrap();
        let (recs, r) = read_all(&path);
        assert_eq!(recs.len(), all.len() - 1, "cut {cut}");
        assert_eq!(recs[..], all[..all.len() - 1], "cut {cut}");
        assert!(r.truncated(), "cut {cut}");
    }
    // Cut exactly at a record boundary: a clean end.
    let path = tmp.path("boundary.pcap");
    std::fs::write(&path, &bytes[..bytes.len() - last_len]).unwrap();
    let (recs, r) = read_all(&path);
    assert_eq!(recs.len(), all.len() - 1);
    assert!(!r.truncated());
    // Only the file header: no records, no error.
    let path = tmp.path("header.pcap");
    std::fs::write(&path, &bytes[..24]).unwrap();
    let (recs, r) = read_all(&path);
    assert!(recs.is_empty() && !r.truncated());
}

#[test]
fn truncated_pcapng_and_gzip_end_cleanly() {
    let Some(dir) = fixtures() else { return };
    if !have_tool("editcap", "wireshark-common") || !have_tool("gzip", "gzip") {
        return;
    }
    let tmp = TempDir::new("trunc-ng");
    let src = dir.join("dns_udp_tcp_random.pcap");
    let (all, _) = read_all(&src);
    let ng = tmp.path("x.pcapng");
    run(Command::new("editcap")
        .args(["-F", "pcapng"])
        .arg(&src)
        .arg(&ng));
    let bytes = std::fs::read(&ng).unwrap();
    let cut = tmp.path("cut.pcapng");
    std::fs::write(&cut, &bytes[..bytes.len() - 30]).unwrap();
    let (recs, r) = read_all(&cut);
    assert_eq!(recs[..], all[..all.len() - 1]);
    assert!(r.truncated());

    // A gzip file cut in the middle: a prefix of the records, truncated, no error.
    let plain = tmp.path("y.pcap");
    std::fs::copy(&src, &plain).unwrap();
    run(Command::new("gzip").arg("-f").arg(&plain));
    let gz = std::fs::read(tmp.path("y.pcap.gz")).unwrap();
    let cut_gz = tmp.path("cut.pcap.gz");
    std::fs::write(&cut_gz, &gz[..gz.len() / 2]).unwrap();
    let (recs, r) = read_all(&cut_gz);
    assert!(r.truncated());
    assert!(r.is_gzip());
    assert!(!recs.is_empty() && recs.len() < all.len(), "{}", recs.len());
    assert_eq!(recs[..], all[..recs.len()]);
}

#[test]
fn empty_garbage_and_missing_files_are_clear_errors() {
    let tmp = TempDir::new("bad");
    let missing = tmp.path("missing.pcap");
    let e = PcapFileReader::open(&missing).unwrap_err();
    assert!(matches!(e, PcapFileError::Open { .. }));
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "Cannot open pcap/pcapng file: {}: ",
            missing.display()
        )),
        "{text}"
    );

    let empty = tmp.path("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let e = PcapFileReader::open(&empty).unwrap_err();
    assert!(matches!(e, PcapFileError::Empty { .. }), "{e}");
    assert!(e.to_string().contains("empty"));

    let garbage = tmp.path("garbage.pcap");
    std::fs::write(&garbage, b"this is not a capture file at all\n").unwrap();
    let e = PcapFileReader::open(&garbage).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: not a pcap or pcapng file", garbage.display())
    );

    let tiny = tmp.path("tiny.pcap");
    std::fs::write(&tiny, b"ab").unwrap();
    let e = PcapFileReader::open(&tiny).unwrap_err();
    assert!(matches!(e, PcapFileError::UnknownFormat { .. }), "{e}");

    // A pcapng section header magic without a byte-order magic, or cut short.
    let ng_garbage = tmp.path("garbage.pcapng");
    std::fs::write(&ng_garbage, b"\x0a\x0d\x0d\x0a\x1c\0\0\0garbage!").unwrap();
    let e = PcapFileReader::open(&ng_garbage).unwrap_err();
    assert!(matches!(e, PcapFileError::UnknownFormat { .. }), "{e}");
    std::fs::write(&ng_garbage, b"\x0a\x0d\x0d\x0a\x1c\0").unwrap();
    let e = PcapFileReader::open(&ng_garbage).unwrap_err();
    assert!(matches!(e, PcapFileError::Corrupt { offset: 0, .. }), "{e}");

    // A pcap magic followed by too few header bytes.
    let short = tmp.path("short.pcap");
    std::fs::write(&short, [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]).unwrap();
    let e = PcapFileReader::open(&short).unwrap_err();
    assert!(matches!(e, PcapFileError::Corrupt { offset: 0, .. }), "{e}");

    // gzip of garbage and an empty gzip stream.
    let gz_garbage = tmp.path("garbage.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    io::Write::write_all(&mut enc, b"garbage garbage").unwrap();
    std::fs::write(&gz_garbage, enc.finish().unwrap()).unwrap();
    let e = PcapFileReader::open(&gz_garbage).unwrap_err();
    assert!(matches!(e, PcapFileError::UnknownFormat { .. }), "{e}");
    let gz_empty = tmp.path("empty.gz");
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::fs::write(&gz_empty, enc.finish().unwrap()).unwrap();
    let e = PcapFileReader::open(&gz_empty).unwrap_err();
    assert!(matches!(e, PcapFileError::Empty { .. }), "{e}");
    // A gzip magic followed by junk, or by a cut header: read (decompression) errors.
    for (i, junk) in [
        &[0x1f, 0x8b, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4][..],
        &[0x1f, 0x8b, 0xff, 0xff, 0xff, 0x00, 0x01, 0x02][..],
        &[0x1f, 0x8b][..],
    ]
    .into_iter()
    .enumerate()
    {
        let gz_bad = tmp.path(&format!("bad{i}.gz"));
        std::fs::write(&gz_bad, junk).unwrap();
        let e = PcapFileReader::open(&gz_bad).unwrap_err();
        assert!(matches!(e, PcapFileError::Read { .. }), "{i}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("{}: read error: ", gz_bad.display()))
        );
    }
}

#[test]
fn corrupt_record_in_the_middle_is_an_error_after_earlier_records() {
    let Some(dir) = fixtures() else { return };
    let mut bytes = std::fs::read(dir.join("dns_ipv4_udp.pcap")).unwrap();
    // Walk to the 11th record header and give it an impossible captured length.
    let mut at = 24;
    for _ in 0..10 {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        at += 16 + caplen as usize;
    }
    bytes[at + 8..at + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut r = PcapFileReader::from_reader(Box::new(Cursor::new(bytes)), None, "mem").unwrap();
    for _ in 0..10 {
        assert!(r.next_record().unwrap().is_some());
    }
    match r.next_record() {
        Err(PcapFileError::Corrupt { offset, reason }) => {
            assert_eq!(offset, at as u64);
            assert!(reason.contains("exceeds"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(r.next_record().unwrap().is_none());
    assert_eq!(r.packets_read(), 10);
    assert_eq!(r.total_bytes(), None);
}

/// Little builder for hand-made pcapng blocks.
fn block(be: bool, btype: u32, body: &[u8]) -> Vec<u8> {
    let p32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let padded = body.len().div_ceil(4) * 4;
    let len = (12 + padded) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&p32(btype));
    out.extend_from_slice(&p32(len));
    out.extend_from_slice(body);
    out.resize(8 + padded, 0);
    out.extend_from_slice(&p32(len));
    out
}

fn shb(be: bool) -> Vec<u8> {
    let mut body = Vec::new();
    if be {
        body.extend_from_slice(&PCAPNG_BOM.to_be_bytes());
        body.extend_from_slice(&1u16.to_be_bytes());
        body.extend_from_slice(&0u16.to_be_bytes());
    } else {
        body.extend_from_slice(&PCAPNG_BOM.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
    }
    body.extend_from_slice(&[0xff; 8]);
    block(be, PCAPNG_SHB, &body)
}

fn idb(be: bool, linktype: u16, snaplen: u32, tsresol: Option<u8>, tsoffset: i64) -> Vec<u8> {
    let p16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let p32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut body = Vec::new();
    body.extend_from_slice(&p16(linktype));
    body.extend_from_slice(&p16(0));
    body.extend_from_slice(&p32(snaplen));
    // An unrelated option first (if_name), then the two that matter.
    body.extend_from_slice(&p16(2));
    body.extend_from_slice(&p16(3));
    body.extend_from_slice(b"eth\0");
    if let Some(r) = tsresol {
        body.extend_from_slice(&p16(9));
        body.extend_from_slice(&p16(1));
        body.extend_from_slice(&[r, 0, 0, 0]);
    }
    if tsoffset != 0 {
        body.extend_from_slice(&p16(14));
        body.extend_from_slice(&p16(8));
        let v = tsoffset as u64;
        body.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
    }
    body.extend_from_slice(&[0; 4]);
    block(be, PCAPNG_IDB, &body)
}

fn epb(be: bool, iface: u32, ts: u64, data: &[u8], origlen: u32) -> Vec<u8> {
    let p32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut body = Vec::new();
    body.extend_from_slice(&p32(iface));
    body.extend_from_slice(&p32((ts >> 32) as u32));
    body.extend_from_slice(&p32(ts as u32));
    body.extend_from_slice(&p32(data.len() as u32));
    body.extend_from_slice(&p32(origlen));
    body.extend_from_slice(data);
    block(be, PCAPNG_EPB, &body)
}

/// Two sections (little- then big-endian), interfaces with decimal, binary and offset
/// clocks, EPB / SPB / obsolete PB, and skipped unknown blocks.
fn handmade_pcapng() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(shb(false));
    f.extend(idb(false, 1, 12, None, 0)); // µs default, snaplen 12
    f.extend(idb(false, 113, 0, Some(9), 0)); // ns
    f.extend(block(false, 0x0000_0005, &[0u8; 20])); // interface statistics: skipped
    f.extend(epb(false, 0, 1_600_000_000_123_456, b"first-packet", 100));
    f.extend(epb(false, 1, 1_600_000_001_987_654_321, b"second", 6));
    f.extend(block(false, 0x8000_0001, b"custom local block"));
    // Simple Packet Block on interface 0 (no timestamp), origlen beyond the data.
    let mut spb = 64u32.to_le_bytes().to_vec();
    spb.extend_from_slice(b"simple-data!");
    f.extend(block(false, PCAPNG_SPB, &spb));
    // Obsolete Packet Block, interface 1, 2 drops.
    let mut pb = Vec::new();
    pb.extend_from_slice(&1u16.to_le_bytes());
    pb.extend_from_slice(&2u16.to_le_bytes());
    let ts: u64 = 1_600_000_002_000_000_001;
    pb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
    pb.extend_from_slice(&(ts as u32).to_le_bytes());
    pb.extend_from_slice(&3u32.to_le_bytes());
    pb.extend_from_slice(&3u32.to_le_bytes());
    pb.extend_from_slice(b"old");
    f.extend(block(false, PCAPNG_PB, &pb));
    // Second section, big-endian; interfaces restart at 0.
    f.extend(shb(true));
    // Binary resolution 2^-20 with a one-hour offset.
    f.extend(idb(true, 101, 0, Some(0x80 | 20), 3600));
    f.extend(epb(true, 0, (1_600_000_000u64 << 20) | (1 << 19), b"be", 2));
    f
}

#[test]
fn handmade_pcapng_sections_interfaces_and_blocks() {
    let bytes = handmade_pcapng();
    let mut r =
        PcapFileReader::from_reader(Box::new(Cursor::new(bytes.clone())), None, "mem").unwrap();
    let mut got = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        got.push((
            rec.ts,
            rec.linktype,
            rec.caplen,
            rec.origlen,
            rec.data.to_vec(),
        ));
    }
    assert!(!r.truncated());
    assert_eq!(r.bytes_read(), bytes.len() as u64);
    let ts = |sec, nsec| Timespec { sec, nsec };
    assert_eq!(
        got,
        vec![
            (
                ts(1_600_000_000, 123_456_000),
                1,
                12,
                100,
                b"first-packet".to_vec()
            ),
            (
                ts(1_600_000_001, 987_654_321),
                113,
                6,
                6,
                b"second".to_vec()
            ),
            (ts(0, 0), 1, 12, 64, b"simple-data!".to_vec()),
            (ts(1_600_000_002, 1), 113, 3, 3, b"old".to_vec()),
            (ts(1_600_003_600, 500_000_000), 101, 2, 2, b"be".to_vec()),
        ]
    );
}

#[test]
fn handmade_pcapng_timestamps_agree_with_tshark() {
    if !have_tool("tshark", "tshark") {
        return;
    }
    let tmp = TempDir::new("tshark");
    let path = tmp.path("handmade.pcapng");
    std::fs::write(&path, handmade_pcapng()).unwrap();
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(&path)
        .args([
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "frame.cap_len",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let theirs: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let mut it = l.split('\t');
            (
                it.next().unwrap().to_string(),
                it.next().unwrap_or("").to_string(),
            )
        })
        .collect();
    let (recs, _) = {
        let mut r = PcapFileReader::open(&path).unwrap();
        let mut v = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            v.push((rec.ts, rec.caplen));
        }
        (v, r)
    };
    assert_eq!(theirs.len(), recs.len());
    let mut compared = 0;
    for ((epoch, caplen), (ts, ours_caplen)) in theirs.iter().zip(&recs) {
        assert_eq!(caplen, &ours_caplen.to_string());
        // tshark prints no time for the Simple Packet Block (ours: the epoch).
        if epoch.is_empty() {
            assert_eq!(*ts, Timespec::default());
            continue;
        }
        let (sec, frac) = epoch.split_once('.').expect("epoch with fraction");
        assert_eq!(sec, ts.sec.to_string());
        assert_eq!(format!("{frac:0<9}"), format!("{:09}", ts.nsec));
        compared += 1;
    }
    assert_eq!(compared, 4);
}

#[test]
fn corrupt_pcapng_blocks() {
    let good = handmade_pcapng();
    // A total length that is not a multiple of 4 in the third block.
    let mut bad = good.clone();
    let third = shb(false).len() + idb(false, 1, 12, None, 0).len();
    let fourth = third + idb(false, 113, 0, Some(9), 0).len();
    bad[third + 4] = 0x1e;
    let mut r = PcapFileReader::from_reader(Box::new(Cursor::new(bad)), None, "m").unwrap();
    assert!(matches!(
        r.next_record(),
        Err(PcapFileError::Corrupt { offset, .. }) if offset == third as u64
    ));
    // A packet for an interface that does not exist.
    let mut bad = good.clone();
    let epb_at = fourth + block(false, 5, &[0u8; 20]).len();
    bad[epb_at + 8] = 7;
    let mut r = PcapFileReader::from_reader(Box::new(Cursor::new(bad)), None, "m").unwrap();
    let e = r.next_record().unwrap_err();
    assert!(e.to_string().contains("interface 7"), "{e}");
    // A captured length overrunning its block.
    let mut bad = good;
    bad[epb_at + 20] = 200;
    let mut r = PcapFileReader::from_reader(Box::new(Cursor::new(bad)), None, "m").unwrap();
    let e = r.next_record().unwrap_err();
    assert!(e.to_string().contains("overruns"), "{e}");
}

#[test]
fn mixed_linktype_pcapng_from_mergecap() {
    let Some(dir) = fixtures() else { return };
    if !have_tool("mergecap", "wireshark-common") {
        return;
    }
    let tmp = TempDir::new("merge");
    let eth = dir.join("dns_ipv4_udp.pcap");
    let sll = dir.join("ipfix.pcap");
    let merged = tmp.path("merged.pcapng");
    run(Command::new("mergecap")
        .arg("-w")
        .arg(&merged)
        .arg(&eth)
        .arg(&sll));
    let (recs, _) = read_all(&merged);
    let (eth_recs, _) = read_all(&eth);
    let (sll_recs, _) = read_all(&sll);
    let of = |lt: u16| {
        recs.iter()
            .filter(|r| r.linktype == lt)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(recs.len(), 140 + 43);
    assert_eq!(of(1), eth_recs);
    assert_eq!(of(113), sll_recs);
    // mergecap interleaves by time.
    assert!(recs.windows(2).all(|w| w[0].ts <= w[1].ts));
}

#[test]
fn hostile_mutations_never_panic() {
    let Some(dir) = fixtures() else { return };
    let pcap = std::fs::read(dir.join("dns_ipv4_udp.pcap")).unwrap();
    let inputs = [pcap, handmade_pcapng()];
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut outcomes = [0usize; 3];
    for round in 0..600 {
        let mut bytes = inputs[round % 2].clone();
        for _ in 0..1 + next() % 6 {
            let at = (next() as usize) % bytes.len();
            bytes[at] = next() as u8;
        }
        if round % 5 == 0 {
            let keep = (next() as usize) % bytes.len();
            bytes.truncate(keep);
        }
        let Ok(mut r) = PcapFileReader::from_reader(Box::new(Cursor::new(bytes)), None, "f") else {
            outcomes[0] += 1;
            continue;
        };
        let mut n = 0;
        loop {
            match r.next_record() {
                Ok(Some(rec)) => {
                    assert_eq!(rec.caplen as usize, rec.data.len());
                    n += 1;
                }
                Ok(None) => {
                    outcomes[1] += 1;
                    break;
                }
                Err(_) => {
                    outcomes[2] += 1;
                    break;
                }
            }
        }
        assert_eq!(r.packets_read(), n);
    }
    // The mutations exercise all three outcomes.
    assert!(outcomes.iter().all(|&c| c > 0), "{outcomes:?}");
}

#[test]
fn reader_is_send() {
    fn is_send<T: Send>() {}
    is_send::<PcapFileReader>();
}

/// A source that hands out at most `step` bytes per read (as a pipe or a decompressor may).
struct Trickle {
    data: Vec<u8>,
    at: usize,
    step: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn records_handed_on_in_the_shared_buffer_stay_intact() {
    // A classic pcap of several read buffers' worth of records of varied sizes, each
    // record's bytes derived from its number.
    let body = |i: u32| -> Vec<u8> { (0..40 + i % 1400).map(|k| (i ^ k) as u8).collect() };
    let mut file = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    file.extend_from_slice(&[0xff, 0xff, 0, 0, 1, 0, 0, 0]);
    let records = 6000u32;
    for i in 0..records {
        let b = body(i);
        for v in [i, 0, b.len() as u32, b.len() as u32] {
            file.extend_from_slice(&v.to_le_bytes());
        }
        file.extend_from_slice(&b);
    }
    assert!(file.len() > 4 * BUFFER_SIZE);
    for step in [usize::MAX, 7_001] {
        let src = Trickle {
            data: file.clone(),
            at: 0,
            step,
        };
        let mut r = PcapFileReader::from_reader(Box::new(src), None, "mem").unwrap();
        // Hold every record's buffer as a batch in flight would, then check them all.
        let mut held = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            let (at, len) = (rec.offset, rec.data.len());
            assert_eq!(rec.data, &body(rec.ts.sec as u32)[..]);
            held.push((rec.ts.sec as u32, Arc::clone(r.buffer()), at, len));
            if held.len() == 2500 {
                for (i, buf, at, len) in held.drain(..) {
                    assert_eq!(&buf[at..at + len], &body(i)[..], "record {i} changed");
                }
            }
        }
        for (i, buf, at, len) in held.drain(..) {
            assert_eq!(&buf[at..at + len], &body(i)[..], "record {i} changed");
        }
        assert_eq!(r.packets_read(), u64::from(records));
        assert!(!r.truncated());
        // Once nobody holds them, earlier buffers are reused, not piled up.
        assert!(r.spare.len() <= SPARE_BUFFERS);
    }
}
