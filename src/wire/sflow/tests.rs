//! Real datagrams from pktvisor's sFlow fixtures (sflow_keyed, sflow_ipv6), with the values
//! tshark's sFlow dissector shows for them.

use super::*;
use crate::wire::testutil::{hex, no_panic};

const KEYED: &str = "00000005000000010a00004d00030d40000000013c78b84800000002000000010000004800000001000001000000000100000001000000000000000100000002000000010000000300000020000005dc00000006c000020ac000021400000400000000500000001800000000000000010000006000000002000001000000000100000001000000000000000100000002000000010000000400000038000005000000001120010db800000000000000000000000120010db8000000000000000000000002000001bb000082400000000000000000";
const IPV6_HEADER: &str = "00000005000000010a000063000186a0000000013c847430000000010000000100000068000000010000010000000001000000010000000000000001000000020000000100000001000000400000000c0000003e0000000e00000030600000000008114020010db800000000000000000000000120010db80000000000000000000000023039003500080000";

#[test]
fn keyed_ipv4_and_ipv6_records() {
    let b = hex(KEYED);
    let d = SflowDatagram::new_checked(&b).unwrap();
    assert_eq!(d.version(), 5);
    assert_eq!(d.agent(), Some("10.0.0.77".parse().unwrap()));
    assert_eq!(
        (d.sub_agent(), d.sequence(), d.num_samples()),
        (200_000, 1, 2)
    );
    let samples: Vec<_> = d.samples().collect::<Result<_, _>>().unwrap();
    assert_eq!(samples.len(), 2);
    let Sample::Flow(s) = samples[0] else {
        panic!("flow sample")
    };
    assert_eq!((s.sampling_rate, s.input, s.output), (1, 1, 2));
    let recs: Vec<_> = s.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(recs.len(), 1);
    let FlowData::Ip {
        length,
        protocol,
        src,
        dst_port,
        ..
    } = recs[0]
    else {
        panic!("ip")
    };
    assert_eq!((length, protocol, dst_port), (1500, 6, 80));
    assert_eq!(src, "192.0.2.10".parse::<std::net::IpAddr>().unwrap());
    let Sample::Flow(s) = samples[1] else {
        panic!("flow sample")
    };
    let recs: Vec<_> = s.records().collect::<Result<_, _>>().unwrap();
    let FlowData::Ip {
        length,
        protocol,
        dst,
        ..
    } = recs[0]
    else {
        panic!("ip")
    };
    assert_eq!((length, protocol), (1280, 17));
    assert_eq!(dst, "2001:db8::2".parse::<std::net::IpAddr>().unwrap());
}

#[test]
fn raw_header_record() {
    let b = hex(IPV6_HEADER);
    let d = SflowDatagram::new_checked(&b).unwrap();
    assert_eq!(d.agent(), Some("10.0.0.99".parse().unwrap()));
    let Some(Ok(Sample::Flow(s))) = d.samples().next() else {
        panic!("flow sample")
    };
    let recs: Vec<_> = s.records().collect::<Result<_, _>>().unwrap();
    let FlowData::RawHeader {
        protocol,
        frame_length,
        stripped,
        header,
    } = recs[0]
    else {
        panic!("header")
    };
    assert_eq!(
        (protocol, frame_length, stripped, header.len()),
        (12, 62, 14, 48)
    );
    assert_eq!(header[0] >> 4, 6);
}

#[test]
fn versions_and_truncation() {
    let mut b = hex(KEYED);
    b[3] = 3;
    assert_eq!(
        SflowDatagram::new_checked(&b).unwrap_err(),
        WireError::BadVersion
    );
    assert_eq!(version_of(&b), Ok(3));
    let b = hex(KEYED);
    let d = SflowDatagram::new_checked(&b[..120]).unwrap();
    let r: Vec<_> = d.samples().collect();
    assert!(r[0].is_ok() && r[1].is_err());
}

/// A v4 datagram written after the sFlow v4 spec (RFC 3176): one flow sample with IPv4
/// packet data, an extended switch and an extended router record, then a generic counter
/// sample.
#[test]
fn v4_flow_and_counter_samples() {
    let mut b = hex("00000004 00000001 c0000201 00000007 00000010 00000002
         00000001 00000001 00000005 00000100 00001000 00000000 00000003 00000004
         00000002 00000028 00000011 0a000001 0a000002 00000035 00001388 00000000 00000000
         00000002 00000001 0000000a 00000000 00000014 00000000
         00000002 00000001 0a0000fe 00000018 00000010
         00000002 00000002 00000005 0000000a 00000001");
    b.extend(std::iter::repeat_n(0u8, 88));
    let d = SflowDatagram::new_checked(&b).unwrap();
    assert_eq!(d.version(), 4);
    let samples: Vec<_> = d.samples().collect::<Result<_, _>>().unwrap();
    assert_eq!(samples.len(), 2);
    assert_eq!(samples[1], Sample::Counter);
    let Sample::Flow(s) = samples[0] else {
        panic!("flow")
    };
    assert_eq!((s.sampling_rate, s.input, s.output), (256, 3, 4));
    let recs: Vec<_> = s.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(recs.len(), 3);
    assert!(matches!(
        recs[0],
        FlowData::Ip {
            protocol: 17,
            dst_port: 5000,
            ..
        }
    ));
    assert!(matches!(
        recs[1],
        FlowData::Switch {
            src_vlan: 10,
            dst_vlan: 20
        }
    ));
    assert!(matches!(
        recs[2],
        FlowData::Router {
            src_mask: 24,
            dst_mask: 16,
            ..
        }
    ));
}

#[test]
fn never_panics() {
    let vectors: Vec<Vec<u8>> = [KEYED, IPV6_HEADER].iter().map(|s| hex(s)).collect();
    let refs: Vec<&[u8]> = vectors.iter().map(|v| v.as_slice()).collect();
    no_panic(&refs, |buf| {
        if let Ok(d) = SflowDatagram::new_checked(buf) {
            for s in d.samples().flatten() {
                if let Sample::Flow(f) = s {
                    let _ = f.records().count();
                }
            }
        }
    });
}
