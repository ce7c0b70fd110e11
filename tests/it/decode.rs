//! Decoding whole real captures: every frame of every fixture decodes without a counted
//! failure, and IP fragment reassembly agrees with tshark's.

use std::path::Path;
use std::process::Command;

use pktvisor::decode::{Decoder, FragmentState, L3};
use pktvisor::receiver::pcap_file::PcapFileReader;

use crate::common::{own_fixture, shared_fixtures};

fn decode_all(path: &Path) -> (Decoder, Vec<(FragmentState, L3)>) {
    let mut reader = PcapFileReader::open(path).expect("open capture");
    let mut dec = Decoder::new();
    let mut frames = Vec::new();
    while let Some(r) = reader.next_record().expect("record") {
        let info = dec.decode(r.linktype, r.ts, r.data, r.origlen);
        frames.push((info.fragment, info.l3));
    }
    (dec, frames)
}

#[test]
fn every_fixture_frame_decodes_without_a_counted_failure() {
    let mut files = vec![own_fixture("mixed-lo.pcapng"), own_fixture("sll2-any.pcap")];
    if let Some(dir) = shared_fixtures() {
        for e in std::fs::read_dir(dir).expect("fixtures dir") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "pcap") {
                files.push(p);
            }
        }
    }
    for f in files {
        let (dec, frames) = decode_all(&f);
        assert!(!frames.is_empty(), "{}", f.display());
        assert_eq!(
            dec.stats().total_dropped(),
            0,
            "{}: {:?}",
            f.display(),
            dec.stats().nonzero()
        );
    }
}

fn tshark_count(file: &Path, args: &[&str], filter: &str) -> Option<usize> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(args)
        .args(["-Y", filter])
        .output();
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).lines().count()),
        _ => {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "tshark is required (scripts/setup-debian.sh --test)"
            );
            None
        }
    }
}

#[test]
fn fragments_reassemble_like_tshark() {
    let f = own_fixture("mixed-lo.pcapng");
    let (dec, frames) = decode_all(&f);
    let Some(reassembled) =
        tshark_count(&f, &[], "ip.reassembled.length or ipv6.reassembled.length")
    else {
        return;
    };
    let fragment_frames = tshark_count(
        &f,
        &["-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE"],
        "ip.flags.mf==1 or ip.frag_offset>0 or ipv6.fraghdr",
    )
    .expect("tshark");
    assert!(reassembled > 0 && fragment_frames > reassembled);
    assert_eq!(dec.stats().reassembled as usize, reassembled);
    let ours = frames
        .iter()
        .filter(|(s, _)| *s != FragmentState::Whole)
        .count();
    assert_eq!(ours, fragment_frames);
    let completed = frames
        .iter()
        .filter(|(s, _)| *s == FragmentState::Completed)
        .count();
    assert_eq!(completed, reassembled);
    assert!(
        frames
            .iter()
            .any(|(s, l3)| *s == FragmentState::Completed && *l3 == L3::Ipv6)
    );
    assert!(
        frames
            .iter()
            .any(|(s, l3)| *s == FragmentState::Completed && *l3 == L3::Ipv4)
    );
}
