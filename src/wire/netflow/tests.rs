//! Real datagrams from pktvisor's flow fixtures (nf1, nf5, nf7, nf9, ipfix), with the
//! values tshark's cflow dissector shows for them.

use std::net::IpAddr;

use super::data::records;
use super::fixed::FixedDatagram;
use super::template::templates;
use super::*;
use crate::wire::testutil::{hex, no_panic};

const NF1: &str = "000100023c59ab106a0b5a8a00000000c000020ac0000214c000020100010002000000640000fa00000003e8000007d004000050000006001800000000000000c000021ec0000228c000020100010002000000640000fa00000003e8000007d001bb8240000011000000000000000000";
const NF5: &str = "00050002004c14ee5f1887401bb6ea040000000000000000c0a80c01c0a80c020000000000000000000000010000005c000000000000000002080208000011c00000000000000000c0a80c010a00000200000000000000000000001b00000468000000000000000054050017000006c00000000000000000";
const NF7: &str = "000700023c59ab106a0b5a8a000000000000000100000000c633640ac6336414c6336401000300040000002a000005dc000001f4000005dc0401001600100600fbf4fbf51818000001020304c633641ec6336428c6336401000300040000002a000005dc000001f4000005dc01bb824100001100fbf4fbf51818000001020304";
const NF9_TEMPLATE: &str = "00090001243cbaa059e8822100000424000000080000005c01a8001500080004000c0004000500010004000100070002000b000200200002000a0004001000040011000400120004000e000400010004000200040016000400150004000f000400090001000d000100060001003c0001";
const NF9_OPTIONS: &str =
    "00090001243cbaa059e8822100000425000000080001001801a9000400080005000200240002002500020000";
const IPFIX_OPTIONS: &str = "000a002263b8a1f1000002f9000000000003001201ce000200010090000400a70008";
const IPFIX_OPTIONS_DATA: &str = "000a002063b8a1f1000002f90000000001ce001000000001000000000000000f";

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn v5_records_match_tshark() {
    let b = hex(NF5);
    let d = FixedDatagram::new_checked(&b).unwrap();
    assert_eq!((d.version(), d.count(), d.sampling_interval()), (5, 2, 0));
    assert!(!d.truncated());
    let r: Vec<_> = d.records().collect();
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].packets, r[0].bytes, r[0].protocol), (1, 92, 17));
    assert_eq!((r[0].src_port, r[0].dst_port, r[0].tos), (520, 520, 0xc0));
    assert_eq!((r[1].packets, r[1].bytes), (27, 1128));
    assert_eq!(
        (r[1].src_port, r[1].dst_port, r[1].protocol),
        (21509, 23, 6)
    );
    assert_eq!(r[1].src_ip, ip("192.168.12.1"));
    assert_eq!(r[1].dst_ip, ip("10.0.0.2"));
    // cut short: the first record only
    let d = FixedDatagram::new_checked(&b[..24 + 50]).unwrap();
    assert!(d.truncated());
    assert_eq!(d.records().count(), 1);
}

#[test]
fn v1_and_v7_records() {
    let b = hex(NF1);
    let d = FixedDatagram::new_checked(&b).unwrap();
    let r: Vec<_> = d.records().collect();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].src_ip, ip("192.0.2.10"));
    assert_eq!((r[0].in_if, r[0].out_if), (1, 2));
    assert_eq!((r[0].packets, r[0].bytes), (100, 64000));
    assert_eq!((r[0].src_port, r[0].dst_port, r[0].protocol), (1024, 80, 6));
    assert_eq!((r[1].dst_port, r[1].protocol), (33344, 17));
    let b = hex(NF7);
    let d = FixedDatagram::new_checked(&b).unwrap();
    let r: Vec<_> = d.records().collect();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].src_ip, ip("198.51.100.10"));
    assert_eq!(
        (r[0].in_if, r[0].out_if, r[0].packets, r[0].bytes),
        (3, 4, 42, 1500)
    );
    assert_eq!((r[0].src_port, r[0].dst_port, r[0].protocol), (1025, 22, 6));
    assert_eq!(
        FixedDatagram::new_checked(&hex(NF9_TEMPLATE)).unwrap_err(),
        WireError::BadVersion
    );
}

#[test]
fn v9_template_and_options_template() {
    let b = hex(NF9_TEMPLATE);
    let (h, area) = v9_header(&b).unwrap();
    assert_eq!((h.version, h.domain, h.sequence), (9, 8, 0x424));
    let all: Vec<_> = sets(area, 9).collect::<Result<_, _>>().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].kind, SetKind::Template);
    let ts: Vec<_> = templates(all[0].body, false, false)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ts.len(), 1);
    assert_eq!(
        (ts[0].id, ts[0].fields.len(), ts[0].fixed_len),
        (424, 21, Some(60))
    );
    let b = hex(NF9_OPTIONS);
    let (_, area) = v9_header(&b).unwrap();
    let set = sets(area, 9).next().unwrap().unwrap();
    assert_eq!(set.kind, SetKind::OptionsTemplate);
    let ts: Vec<_> = templates(set.body, false, true)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ts.len(), 1);
    assert_eq!(
        (ts[0].id, ts[0].scope_fields, ts[0].fields.len()),
        (425, 1, 3)
    );
    assert!(ts[0].options);
    assert_eq!(ts[0].fields[0].kind, fields::FieldKind::Skip);
}

#[test]
fn ipfix_options_template_and_data() {
    let b = hex(IPFIX_OPTIONS);
    let (h, area) = v9_header(&b).unwrap();
    assert_eq!((h.version, h.domain, h.header_len), (10, 0, 16));
    let set = sets(area, 10).next().unwrap().unwrap();
    assert_eq!(set.kind, SetKind::OptionsTemplate);
    let t = templates(set.body, true, true).next().unwrap().unwrap();
    assert_eq!((t.id, t.scope_fields, t.fixed_len), (462, 1, Some(12)));
    let b = hex(IPFIX_OPTIONS_DATA);
    let (_, area) = v9_header(&b).unwrap();
    let set = sets(area, 10).next().unwrap().unwrap();
    assert_eq!(set.kind, SetKind::Data(462));
    let recs: Vec<_> = records(set.body, &t).collect::<Result<_, _>>().unwrap();
    assert_eq!(recs.len(), 1);
    assert!(!recs[0].has_flow_fields);
}

/// An IPFIX template with an enterprise field and a variable-length field, and a data set
/// using it (both length encodings), written by hand after RFC 7011 §3.2 and §7.
#[test]
fn ipfix_enterprise_and_variable_length_fields() {
    let template = hex("000a0034 00000000 00000001 00000007
         0002 0024 0100 0006
         0008 0004 000c 0004 0004 0001
         8001 0004 00007a69
         0052 ffff
         0001 0004");
    let (_, area) = v9_header(&template).unwrap();
    let set = sets(area, 10).next().unwrap().unwrap();
    let t = templates(set.body, true, false).next().unwrap().unwrap();
    assert_eq!(t.fields[3].enterprise, 31337);
    assert_eq!(t.fixed_len, None);
    let body = hex("0a000001 0a000002 11 deadbeef 03616263 000005dc
         0a000003 0a000004 06 00000000 ff0003787979 00000064");
    let recs: Vec<_> = records(&body, &t).collect::<Result<_, _>>().unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].flow.src_ip, ip("10.0.0.1"));
    assert_eq!((recs[0].flow.protocol, recs[0].flow.bytes), (17, 1500));
    assert_eq!((recs[1].flow.protocol, recs[1].flow.bytes), (6, 100));
    assert_eq!(recs[1].flow.dst_ip, ip("10.0.0.4"));
    // a record cut in its variable field
    let cut: Vec<_> = records(&body[..40], &t).collect();
    assert!(cut[1].is_err());
}

#[test]
fn sets_reject_bad_lengths() {
    let mut b = hex(NF9_TEMPLATE);
    b[22..24].copy_from_slice(&2u16.to_be_bytes());
    let (_, area) = v9_header(&b).unwrap();
    assert_eq!(sets(area, 9).next(), Some(Err(WireError::BadLength)));
    let mut b = hex(NF9_TEMPLATE);
    b[22..24].copy_from_slice(&500u16.to_be_bytes());
    let (_, area) = v9_header(&b).unwrap();
    assert_eq!(sets(area, 9).next(), Some(Err(WireError::Truncated)));
    assert_eq!(v9_header(&hex(NF5)).unwrap_err(), WireError::BadVersion);
}

#[test]
fn never_panics() {
    let vectors: Vec<Vec<u8>> = [
        NF1,
        NF5,
        NF7,
        NF9_TEMPLATE,
        NF9_OPTIONS,
        IPFIX_OPTIONS,
        IPFIX_OPTIONS_DATA,
    ]
    .iter()
    .map(|s| hex(s))
    .collect();
    let refs: Vec<&[u8]> = vectors.iter().map(|v| v.as_slice()).collect();
    let t = {
        let b = hex(NF9_TEMPLATE);
        let (_, area) = v9_header(&b).unwrap();
        let s = sets(area, 9).next().unwrap().unwrap();
        templates(s.body, false, false).next().unwrap().unwrap()
    };
    no_panic(&refs, |buf| {
        if let Ok(d) = FixedDatagram::new_checked(buf) {
            let _ = d.records().count();
        }
        if let Ok((h, area)) = v9_header(buf) {
            for s in sets(area, h.version).flatten() {
                for opt in [false, true] {
                    let _ = templates(s.body, h.version == 10, opt).count();
                }
                let _ = records(s.body, &t).count();
            }
        }
        let _ = records(buf, &t).count();
    });
}
