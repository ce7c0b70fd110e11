//! The decoder over pktvisor's flow captures: events, records, template handling and
//! failure counting (numbers from tshark's cflow/sFlow dissectors on the same files).

use std::path::PathBuf;

use super::file::read_udp_payloads;
use super::*;

/// Decodes every UDP datagram of a capture in order, handing each decoded one to `f`.
fn decode_capture(
    path: &std::path::Path,
    dec: &mut FlowDecoder,
    mut f: impl FnMut(&FlowDatagram<'_>),
) {
    for (i, (from, data)) in read_udp_payloads(path, None).unwrap().iter().enumerate() {
        if let Some(dg) = dec.decode(*from, data, Timespec::new(1_700_000_000 + i as i64, 0)) {
            f(&dg);
        }
    }
}

fn fixture(name: &str) -> Option<PathBuf> {
    crate::testdata::pktvisor_fixtures().map(|d| d.join(name))
}

/// (events, records per event, devices) of a run.
fn run(name: &str, t: FlowType) -> Option<(Vec<(IpAddr, usize)>, FlowDecoder)> {
    let path = fixture(name)?;
    let mut dec = FlowDecoder::new(t);
    let mut seen = Vec::new();
    decode_capture(&path, &mut dec, |f| seen.push((f.device, f.records.len())));
    Some((seen, dec))
}

#[test]
fn netflow_fixtures() {
    let Some((ev, dec)) = run("nf9.pcap", FlowType::Netflow) else {
        return;
    };
    assert_eq!(ev, vec![("192.168.100.1".parse().unwrap(), 24)]);
    assert_eq!(dec.stats().total_errors(), 0);
    assert_eq!(dec.templates().len(), 3);
    let s = dec.stats().get(&"192.168.100.10".parse().unwrap()).unwrap();
    assert_eq!((s.datagrams, s.options_records, s.records), (2, 1, 0));
    let (ev, _) = run("nf5.pcap", FlowType::Netflow).unwrap();
    assert_eq!(ev.iter().map(|e| e.1).collect::<Vec<_>>(), [2, 1]);
    let (ev, _) = run("nf1.pcap", FlowType::Netflow).unwrap();
    assert_eq!(ev.iter().map(|e| e.1).collect::<Vec<_>>(), [2]);
    let (ev, _) = run("nf7.pcap", FlowType::Netflow).unwrap();
    assert_eq!(ev.iter().map(|e| e.1).collect::<Vec<_>>(), [2]);
    let (ev, dec) = run("ipfix.pcap", FlowType::Netflow).unwrap();
    // 23 data sets of template 300, none lost (tshark: frames 21-43)
    assert_eq!(ev.len(), 23);
    assert_eq!(dec.stats().total_errors(), 0);
}

#[test]
fn sflow_fixtures() {
    let Some((ev, dec)) = run("sflow_keyed.pcap", FlowType::Sflow) else {
        return;
    };
    assert_eq!(ev, vec![("10.0.0.77".parse().unwrap(), 2)]);
    assert_eq!(dec.stats().total_errors(), 0);
    let (ev, _) = run("sflow_ipv6.pcap", FlowType::Sflow).unwrap();
    assert_eq!(ev, vec![("10.0.0.99".parse().unwrap(), 1)]);
    // the wrong decoder counts every datagram as a bad version
    let (ev, dec) = run("sflow_keyed.pcap", FlowType::Netflow).unwrap();
    assert!(ev.is_empty());
    assert_eq!(dec.stats().total_errors(), 1);
}

#[test]
fn sampled_ipv6_header_is_decoded() {
    let Some(path) = fixture("sflow_ipv6.pcap") else {
        return;
    };
    let mut dec = FlowDecoder::new(FlowType::Sflow);
    let mut rec = None;
    decode_capture(&path, &mut dec, |f| rec = f.records.first().copied());
    let r = rec.unwrap();
    assert!(r.ipv6);
    assert_eq!(r.src_ip, Some("2001:db8::1".parse().unwrap()));
    assert_eq!(
        (r.protocol, r.src_port, r.dst_port, r.bytes),
        (17, 12345, 53, 62)
    );
}

#[test]
fn data_before_its_template_is_counted_and_later_data_decodes() {
    let Some(path) = fixture("nf9.pcap") else {
        return;
    };
    // collect the datagrams, then feed the data first
    let mut reader = crate::receiver::pcap_file::PcapFileReader::open(&path).unwrap();
    let mut dgs = Vec::new();
    let mut dec = crate::decode::Decoder::new();
    while let Ok(Some(r)) = reader.next_record() {
        let p = dec.decode(r.linktype, r.ts, r.data, r.origlen);
        dgs.push((p.src_ip.unwrap(), p.payload.to_vec(), r.ts));
    }
    let mut f = FlowDecoder::new(FlowType::Netflow);
    let (ip, data, ts) = &dgs[3];
    assert!(f.decode(*ip, data, *ts).is_none());
    assert_eq!(
        f.stats().get(ip).unwrap().error(FlowDropReason::NoTemplate),
        1
    );
    let (tip, tdata, tts) = &dgs[0];
    assert!(f.decode(*tip, tdata, *tts).is_none());
    assert_eq!(f.decode(*ip, data, *ts).unwrap().records.len(), 24);
    // the same template id from another exporter does not apply
    let other: IpAddr = "192.0.2.99".parse().unwrap();
    assert!(f.decode(other, data, *ts).is_none());
    // templates time out
    let mut f = FlowDecoder::with_limits(
        FlowType::Netflow,
        TemplateLimits {
            timeout_secs: 60,
            ..TemplateLimits::default()
        },
        16,
    );
    f.decode(*tip, tdata, *tts);
    let late = Timespec::new(ts.sec + 3600, 0);
    assert!(f.decode(*ip, data, late).is_none());
    assert_eq!(f.templates().stats().expired, 1);
}
