//! Tests of the DNS view with real bytes from captures.

use super::name::{all_plain, is_plain};
use super::tables::{QTYPE_NAMES, RCODE_NAMES};
use super::*;
use crate::wire::testutil::{Rng, hex, no_panic};

// ---- pktvisor fixtures (UDP payloads, extracted with
// `tshark -r FILE -Y frame.number==N -T fields -e udp.payload`) ----

// dns_ipv4_udp.pcap, frame 1: AAAA query for utadwnME.POJwOc9R.KtfO.test.com, with OPT.
const V4_QUERY: &str = "\
    c6d6010000010000000000010875746164776e4d4508504f4a774f633952044b\
    74664f047465737403636f6d00001c000100002904d0000000000000";
// dns_ipv4_udp.pcap, frame 2: its response, NOTIMP, no records.
const V4_RESPONSE: &str = "\
    c6d6810400010000000000000875746164776e4d4508504f4a774f633952044b\
    74664f047465737403636f6d00001c0001";
// dns_ipv6_udp.pcap, frame 1: AAAA query over IPv6.
const V6_QUERY: &str = "\
    2c2701000001000000000001074c4f4a35507132095f456d704c754150520650\
    504c496f70073146384a32523105654d567135047465737403636f6d00001c00\
    0100002904d0000000000000";
// dns_ipv6_udp.pcap, frame 2: its response.
const V6_RESPONSE: &str = "\
    2c2781040001000000000000074c4f4a35507132095f456d704c754150520650\
    504c496f70073146384a32523105654d567135047465737403636f6d00001c00\
    01";
// dns_udp_mixed_rcode.pcap, frame 2: NXDOMAIN for nonexistent.google.com, SOA in authority.
const NXDOMAIN: &str = "\
    0606840300010000000100010b6e6f6e6578697374656e7406676f6f676c6503\
    636f6d0000010001c018000600010000003c0026036e7331c01809646e732d61\
    646d696ec018169ac6b10000038400000384000007080000003c000029020000\
    0080000000";
// dns_udp_mixed_rcode.pcap, frame 16: NODATA (HTTPS sirius.mwbsys.com, SOA only).
const NODATA: &str = "\
    d5188180000100000001000006736972697573066d776273797303636f6d0000\
    410001c0130006000100000001003d066e732d32313909617773646e732d3237\
    c01a036f70730c6d616c776172656279746573036f7267000c0a4b9400001c20\
    000003840012750000015180";
// dns_udp_mixed_rcode.pcap, frame 17: 8 A answers, 4 NS, OPT.
const EIGHT_A: &str = "\
    2ec78420000100080004000106736972697573066d776273797303636f6d0000\
    010001c00c000100010000003c00043436f480c00c000100010000003c000436\
    e1b2a7c00c000100010000003c000436a05b6dc00c000100010000003c000412\
    d1bb17c00c000100010000003c00040357b4a8c00c000100010000003c000434\
    1695dac00c000100010000003c000422e077d0c00c000100010000003c000403\
    d89c9fc0130002000100000e100017076e732d3134343509617773646e732d35\
    32036f726700c0130002000100000e100019076e732d3135353809617773646e\
    732d303202636f02756b00c0130002000100000e100013066e732d3231390961\
    7773646e732d3237c01ac0130002000100000e100016066e732d393537096177\
    73646e732d3535036e6574000000291000000080000000";
// dns_udp_mixed_rcode.pcap, frame 20: REFUSED for refused.com.
const REFUSED: &str = "\
    d33081050001000000000001077265667573656403636f6d0000010001000029\
    04d0000000000000";
// ecs.pcap, frame 4: AAAA query for pa.weberlab.de, CD set, OPT with DO and
// Client Subnet 2001:470:1f0b:16xx::/56.
const ECS_QUERY: &str = "\
    e9c4001000010000000000010270610877656265726c616202646500001c0001\
    000029100000008000000f0008000b00023800200104701f0b16";
// ecs.pcap, frame 21: AAAA response for fg2-mgmt.weberlab.de (1/2/5), OPT with a cookie.
const ECS_RESPONSE: &str = "\
    b9c885000001000100020005086667322d6d676d740877656265726c61620264\
    6500001c0001c00c001c00010000003c0010200104701f0b16b0000000000000\
    0001c015000200010000003c000f036e7331087765626572646e73c01ec01500\
    0200010000003c0006036e7332c052c04e001c000100000e1000102001047076\
    5b0000000000000a250053c069001c000100000e100010200104701f0b16b000\
    0000000a260053c04e0001000100000e100004c118e3eec0690001000100000e\
    100004c2f7050e000029100000000000001c000a00189c9f2193c4a2cfb86451\
    e9255ced1943f2d12053a311cf67";
// dnssec.pcap, frame 2: A www.ietf.org with its RRSIG (AD set, DO set).
const DNSSEC_A: &str = "\
    501281a00001000200000001037777770469657466036f72670000010001c00c\
    00010001000004d8000440aa621ec00c002e0001000004d8011c000105030000\
    070852d071c750ef30af9e040469657466036f72670088303c6c99eb004cf78e\
    0627c85466e7aedaefaaa5bf55740aac4e49dfe8f67be73741a564b695a039ae\
    5e96886a8ca96c6c70cf080afcb63a095da4e9258ac227019a910d2f6ea1c328\
    e41733c35bc917de26c586d7ec39bf2961eee7063df6e9a72da7fee21be0d1b8\
    398f9e46018dafb00d893ad5da13b64a99839edf9f7892f7bb6334f082f42f64\
    9d102e0d8506f9d5716a56b34b062ba6f63dedd502d47daca43d20e14743c826\
    c6038ea6a2e67818fccd31ec207fde3cab1ae753ca563e4de7416e5380b5641a\
    85a0728da8c1f2c4941a9feab2782ceb30ba16b0f08a53b66c3716c8b1c532d0\
    bca384e677ed7759cc85041df426878e828d014133e50000290fa00000800000\
    00";

// dns_ipv4_tcp.pcap, TCP payloads (length prefix included) of
// frame 91 (stream 0, query), frame 93 (stream 1, query) and frame 97
// (stream 0, response).
const TCP_QUERY_0: &str = "\
    003a4c22010000010000000000010268780733467351526836096f6c6c616837\
    304e61047465737403636f6d00001c000100002904d0000000000000";
const TCP_QUERY_1: &str = "\
    00357d6b0100000100000000000104624156420a664b75664755614847670474\
    65737403636f6d00000f000100002904d0000000000000";
const TCP_RESPONSE_0: &str = "\
    002f4c22810400010000000000000268780733467351526836096f6c6c616837\
    304e61047465737403636f6d00001c0001";

// ---- Own captures: `unbound` 1.17.1 on 127.0.0.1:5399 with a static local
// zone example.test, queried with `dig` 9.18 and captured with
// `tcpdump -i lo`; payloads extracted with tshark. ----

// `dig www.example.test A` (RD, AD, OPT with a client cookie) ...
const OWN_QUERY: &str = "\
    f70c0120000100000000000103777777076578616d706c650474657374000001\
    000100002904d000000000000c000a00086ae76e225bd03340";
// ... and the answer: two A records named by a pointer to the question.
const OWN_TWO_A: &str = "\
    f70c8580000100020000000103777777076578616d706c650474657374000001\
    0001c00c000100010000012c0004c000020bc00c000100010000012c0004c000\
    020a00002904d0000000000000";
// `dig WwW.ExAmPlE.TeSt AAAA`: mixed case kept by the server.
const OWN_MIXED_QUERY: &str = "\
    24a80120000100000000000103577757074578416d506c45045465537400001c\
    000100002904d000000000000c000a0008c006a06c6106f647";
const OWN_MIXED_RESPONSE: &str = "\
    24a88580000100010000000103577757074578416d506c45045465537400001c\
    0001c00c001c00010000012c001020010db80000000000000000000000100000\
    2904d0000000000000";
// `dig alias.example.test`: CNAME www.example.test, target compressed (www + pointer).
const OWN_CNAME: &str = "\
    c7ed8580000100010000000105616c696173076578616d706c65047465737400\
    00010001c00c000500010000012c000603777777c01200002904d00000000000\
    00";
// `dig long.example.test TXT`: one TXT record of 490 bytes (strings of 239 and 249).
const OWN_LONG_TXT: &str = "\
    f98885800001000100000001046c6f6e67076578616d706c6504746573740000\
    100001c00c001000010000012c01eaef22616161616161616161616161616161\
    6161616161616161616161616161616161616161616161616161616161616161\
    6161616161616161616161616161616161616161616161616161616161616161\
    6161616161616161616161616161616161616161616161616161616161616161\
    6161616161616161616161616161616161616161616161616161616161616161\
    6161616161616161616161616161616161616161616161616161616161616161\
    6161616161616161616161616161616161616161616161616161616161616161\
    61616161616161616161616161616161616161616161616161616161616122f9\
    2262626262626262626262626262626262626262626262626262626262626262\
    6262626262626262626262626262626262626262626262626262626262626262\
    6262626262626262626262626262626262626262626262626262626262626262\
    6262626262626262626262626262626262626262626262626262626262626262\
    6262626262626262626262626262626262626262626262626262626262626262\
    6262626262626262626262626262626262626262626262626262626262626262\
    6262626262626262626262626262626262626262626262626262626262626262\
    6262626262626262626262626262626262626262626262622200002904d00000\
    00000000";
// `dig 'odd\.dot\032sp\200\001.example.test'`: a label with '.', space,
// 0xc8 and 0x01 (dig prints it as odd\.dot\032sp\200\001.example.test).
const OWN_ODD_QUERY: &str = "\
    94b8012000010000000000010c6f64642e646f74207370c801076578616d706c\
    650474657374000001000100002904d000000000000c000a00084527da7c4b13\
    4500";
const OWN_ODD_RESPONSE: &str = "\
    94b8858000010001000000010c6f64642e646f74207370c801076578616d706c\
    6504746573740000010001c00c000100010000012c0004c000026300002904d0\
    000000000000";
// `dig www.example.test +subnet=192.0.2.0/24`: ECS IPv4 /24 and a cookie.
const OWN_ECS4: &str = "\
    0d590120000100000000000103777777076578616d706c650474657374000001\
    000100002904d00000000000170008000700011800c00002000a0008d403a098\
    ea1f9bae";
// `dig www.example.test AAAA +subnet=2001:db8:1::/48`.
const OWN_ECS6: &str = "\
    aeab0120000100000000000103777777076578616d706c65047465737400001c\
    000100002904d000000000001a0008000a0002300020010db80001000a000883\
    a493e69684d9c5";
// `dig example.test SOA +dnssec` (DO set) and its answer (MNAME and RNAME compressed).
const OWN_DO_QUERY: &str = "\
    601801200001000000000001076578616d706c65047465737400000600010000\
    2904d000008000000c000a0008ee42ab462bee52ab";
const OWN_SOA: &str = "\
    601885800001000100000001076578616d706c6504746573740000060001c00c\
    0006000100000e100027036e7331c00c0a686f73746d6173746572c00c78a3f1\
    7500001c2000000e10001275000000012c00002904d0000080000000";
// `dig nx.example.test`: NXDOMAIN, SOA owner is a pointer into the question name.
const OWN_NXDOMAIN: &str = "\
    57fd85830001000000010001026e78076578616d706c65047465737400000100\
    01c00f000600010000012c0027036e7331c00f0a686f73746d6173746572c00f\
    78a3f17500001c2000000e10001275000000012c00002904d0000000000000";
// `dig _sip._tcp.example.test SRV`: target sip.example.test uncompressed.
const OWN_SRV: &str = "\
    58dc85800001000100000001045f736970045f746370076578616d706c650474\
    6573740000210001c00c002100010000012c0018000a003c13c4037369700765\
    78616d706c6504746573740000002904d0000000000000";
// `dig example.test MX`: exchange mail + pointer.
const OWN_MX: &str = "\
    048185800001000100000001076578616d706c65047465737400000f0001c00c\
    000f00010000012c0009000a046d61696cc00c00002904d0000000000000";
// `dig -x 192.0.2.1`: PTR www.example.test.
const OWN_PTR: &str = "\
    d2b7858000010001000000010131013201300331393207696e2d616464720461\
    72706100000c0001c00c000c00010000012c001203777777076578616d706c65\
    04746573740000002904d0000000000000";
// `dig www.example.test +noedns +nocookie`: no OPT record at all.
const OWN_NOEDNS_QUERY: &str = "\
    ab970120000100000000000003777777076578616d706c650474657374000001\
    0001";
const OWN_NOEDNS_RESPONSE: &str = "\
    ab978580000100020000000003777777076578616d706c650474657374000001\
    0001c00c000100010000012c0004c000020ac00c000100010000012c0004c000\
    020b";
// `dig +tcp +keepopen www.example.test ns1.example.test example.test NS`:
// the client's three TCP segments on one connection (length prefix included).
const OWN_TCP_QUERIES: [&str; 3] = [
    "003968c20120000100000000000103777777076578616d706c65047465737400\
     0001000100002904d000000000000c000a0008c82f78ef752dcc78",
    "0039487b01200001000000000001036e7331076578616d706c65047465737400\
     0001000100002904d000000000000c000a0008c82f78ef752dcc78",
    "0035774f01200001000000000001076578616d706c6504746573740000020001\
     00002904d000000000000c000a0008c82f78ef752dcc78",
];

/// Every UDP message vector above.
const ALL: [&str; 32] = [
    V4_QUERY,
    V4_RESPONSE,
    V6_QUERY,
    V6_RESPONSE,
    NXDOMAIN,
    NODATA,
    EIGHT_A,
    REFUSED,
    ECS_QUERY,
    ECS_RESPONSE,
    DNSSEC_A,
    OWN_QUERY,
    OWN_TWO_A,
    OWN_MIXED_QUERY,
    OWN_MIXED_RESPONSE,
    OWN_CNAME,
    OWN_LONG_TXT,
    OWN_ODD_QUERY,
    OWN_ODD_RESPONSE,
    OWN_ECS4,
    OWN_ECS6,
    OWN_DO_QUERY,
    OWN_SOA,
    OWN_NXDOMAIN,
    OWN_SRV,
    OWN_MX,
    OWN_PTR,
    OWN_NOEDNS_QUERY,
    OWN_NOEDNS_RESPONSE,
    // The TCP vectors without their prefix.
    "4c22010000010000000000010268780733467351526836096f6c6c616837\
     304e61047465737403636f6d00001c000100002904d0000000000000",
    "7d6b0100000100000000000104624156420a664b75664755614847670474\
     65737403636f6d00000f000100002904d0000000000000",
    "4c22810400010000000000000268780733467351526836096f6c6c616837\
     304e61047465737403636f6d00001c0001",
];

fn msg(b: &[u8]) -> DnsMessage<'_> {
    DnsMessage::new_checked(b).unwrap()
}

fn qname(b: &[u8]) -> String {
    msg(b)
        .first_question()
        .unwrap()
        .unwrap()
        .name
        .to_string_lossless()
        .unwrap()
}

fn all_records(b: &[u8]) -> Vec<Record<'_>> {
    msg(b).records().collect::<Result<_, _>>().unwrap()
}

/// A query header (ID 0x1234, RD, one question) followed by `body`.
fn query_with(body: &[u8]) -> Vec<u8> {
    let mut m = hex("123401000001000000000000");
    m.extend_from_slice(body);
    m
}

#[test]
fn header_flags() {
    let b = hex(OWN_QUERY);
    let m = msg(&b);
    assert_eq!(m.as_bytes(), b.as_slice());
    assert_eq!(m.id(), 0xf70c);
    assert_eq!(m.flags(), 0x0120);
    assert!(!m.is_response() && m.rd() && m.ad());
    assert!(!m.aa() && !m.tc() && !m.ra() && !m.cd());
    assert_eq!(m.opcode(), opcode::QUERY);
    assert_eq!(m.rcode(), rcode::NOERROR);
    assert_eq!(
        (m.qdcount(), m.ancount(), m.nscount(), m.arcount()),
        (1, 0, 0, 1)
    );

    let b = hex(OWN_TWO_A);
    let m = msg(&b);
    assert!(m.is_response() && m.aa() && m.rd() && m.ra());
    assert!(!m.tc() && !m.ad() && !m.cd());
    assert_eq!((m.ancount(), m.arcount()), (2, 1));

    let b = hex(NXDOMAIN);
    let m = msg(&b);
    assert!(m.is_response() && m.aa() && !m.rd());
    assert_eq!(m.rcode(), rcode::NXDOMAIN);
    assert_eq!(rcode_name(m.rcode().into()), Some("NXDOMAIN"));

    let b = hex(REFUSED);
    assert_eq!(msg(&b).rcode(), rcode::REFUSED);
    let b = hex(V4_RESPONSE);
    assert_eq!(msg(&b).rcode(), rcode::NOTIMP);
    let b = hex(OWN_NXDOMAIN);
    assert_eq!(msg(&b).rcode(), rcode::NXDOMAIN);

    // dnssec.pcap: QR RD RA AD.
    let b = hex(DNSSEC_A);
    let m = msg(&b);
    assert_eq!(m.flags(), 0x81a0);
    assert!(m.is_response() && m.rd() && m.ra() && m.ad() && !m.cd());
    // ecs.pcap query: CD only.
    let b = hex(ECS_QUERY);
    let m = msg(&b);
    assert!(m.cd() && !m.rd() && !m.ad() && !m.is_response());

    // Opcode and the remaining bits, on a modified header.
    let mut b = hex(OWN_QUERY);
    b[2] = 0x2a | 0x80; // QR, opcode 5 (UPDATE), TC
    b[3] = 0x0f;
    let m = msg(&b);
    assert_eq!(m.opcode(), opcode::UPDATE);
    assert!(m.is_response() && m.tc() && !m.rd());
    assert_eq!(m.rcode(), 15);

    assert_eq!(DnsMessage::new_checked(&b[..11]), Err(WireError::Truncated));
    let m = DnsMessage::new_checked(&b[..12]).unwrap();
    assert_eq!(m.first_question().err(), Some(WireError::Truncated));
}

#[test]
fn first_question_v4_v6_and_case() {
    let b = hex(V4_QUERY);
    let q = msg(&b).first_question().unwrap().unwrap();
    assert_eq!(q.qtype, rtype::AAAA);
    assert_eq!(q.qclass, class::IN);
    assert_eq!(
        q.name.to_string_lossless().unwrap(),
        "utadwnME.POJwOc9R.KtfO.test.com"
    );
    assert_eq!(
        q.name.to_lowercase_string().unwrap(),
        "utadwnme.pojwoc9r.ktfo.test.com"
    );
    assert_eq!(q.name.label_count(), Ok(5));
    assert_eq!(q.name.encoded_len(), Ok(33));
    assert_eq!(q.name.uncompressed_len(), Ok(33));
    assert_eq!(q.name.offset(), 12);
    let b = hex(V4_RESPONSE);
    assert_eq!(qname(&b), "utadwnME.POJwOc9R.KtfO.test.com");

    let b = hex(V6_QUERY);
    assert_eq!(qname(&b), "LOJ5Pq2._EmpLuAPR.PPLIop.1F8J2R1.eMVq5.test.com");
    let b = hex(V6_RESPONSE);
    let q = msg(&b).first_question().unwrap().unwrap();
    assert_eq!(
        q.name.to_lowercase_string().unwrap(),
        "loj5pq2._empluapr.ppliop.1f8j2r1.emvq5.test.com"
    );
    assert_eq!(q.qtype, rtype::AAAA);

    // Mixed case as sent by dig, kept by unbound.
    for v in [OWN_MIXED_QUERY, OWN_MIXED_RESPONSE] {
        let b = hex(v);
        let q = msg(&b).first_question().unwrap().unwrap();
        assert_eq!(q.name.to_string_lossless().unwrap(), "WwW.ExAmPlE.TeSt");
        assert_eq!(q.name.to_lowercase_string().unwrap(), "www.example.test");
        let mut s = String::from("stale contents");
        q.name.write_to(&mut s, true).unwrap();
        assert_eq!(s, "www.example.test");
        q.name.write_to(&mut s, false).unwrap();
        assert_eq!(s, "WwW.ExAmPlE.TeSt");
        assert_eq!(format!("{:?}", q.name), "Name(\"WwW.ExAmPlE.TeSt\")");
    }

    // Every question of every vector, through questions() too.
    for v in ALL {
        let b = hex(v);
        let m = msg(&b);
        let qs: Vec<Question<'_>> = m.questions().collect::<Result<_, _>>().unwrap();
        assert_eq!(qs.len(), usize::from(m.qdcount()));
        let first = m.first_question().unwrap().unwrap();
        assert_eq!(qs[0].name.offset(), first.name.offset());
        assert_eq!(qs[0].qtype, first.qtype);
    }

    // No question.
    let mut b = hex(OWN_QUERY);
    b[5] = 0;
    assert!(msg(&b).first_question().unwrap().is_none());
    assert_eq!(msg(&b).questions().count(), 0);
    // The type and class missing.
    let b = hex(OWN_NOEDNS_QUERY);
    let cut = &b[..b.len() - 1];
    assert_eq!(msg(cut).first_question().err(), Some(WireError::Truncated));
    let got: Vec<_> = msg(cut).questions().collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].as_ref().err(), Some(&WireError::Truncated));
}

#[test]
fn root_name() {
    // A query for the root (". NS"), as priming queries send.
    let b = query_with(&hex("0000020001"));
    let q = msg(&b).first_question().unwrap().unwrap();
    assert_eq!(q.name.to_string_lossless().unwrap(), ".");
    assert_eq!(q.name.to_lowercase_string().unwrap(), ".");
    assert_eq!(q.name.label_count(), Ok(0));
    assert_eq!(q.name.encoded_len(), Ok(1));
    assert_eq!(q.name.uncompressed_len(), Ok(1));
    assert_eq!(q.qtype, rtype::NS);
    // The OPT owner of a real message is the root too.
    let b = hex(ECS_QUERY);
    let opt_owner = msg(&b).records().last().unwrap().unwrap().name;
    assert_eq!(opt_owner.to_string_lossless().unwrap(), ".");
}

#[test]
fn compression_pointers() {
    // Answers pointing at the question name (c00c).
    let b = hex(OWN_MIXED_RESPONSE);
    let rr = all_records(&b);
    assert_eq!(rr[0].name.to_string_lossless().unwrap(), "WwW.ExAmPlE.TeSt");
    assert_eq!(rr[0].name.encoded_len(), Ok(2));
    assert_eq!(rr[0].name.uncompressed_len(), Ok(18));
    assert_eq!(rr[0].name.label_count(), Ok(3));
    assert_eq!(rr[0].rdata, hex("20010db8000000000000000000000010"));

    let b = hex(OWN_TWO_A);
    for r in all_records(&b).iter().take(2) {
        assert_eq!(r.name.to_lowercase_string().unwrap(), "www.example.test");
        assert_eq!((r.rtype, r.class, r.ttl), (rtype::A, class::IN, 300));
    }

    // CNAME target "www" + pointer to "example.test" inside the question.
    let b = hex(OWN_CNAME);
    let rr = all_records(&b);
    assert_eq!(rr[0].rtype, rtype::CNAME);
    let target = rr[0].rdata_name(0).unwrap();
    assert_eq!(target.to_string_lossless().unwrap(), "www.example.test");
    assert_eq!(target.encoded_len(), Ok(rr[0].rdata.len()));
    assert_eq!(rr[0].rdata_name(6).err(), Some(WireError::Truncated));

    // SOA: owner, MNAME and RNAME all compressed.
    let b = hex(OWN_SOA);
    let rr = all_records(&b);
    assert_eq!(rr[0].rtype, rtype::SOA);
    let mname = rr[0].rdata_name(0).unwrap();
    assert_eq!(mname.to_string_lossless().unwrap(), "ns1.example.test");
    let rname = rr[0].rdata_name(mname.encoded_len().unwrap()).unwrap();
    assert_eq!(
        rname.to_string_lossless().unwrap(),
        "hostmaster.example.test"
    );

    // NXDOMAIN: the SOA owner points into the middle of the question name.
    let b = hex(OWN_NXDOMAIN);
    let rr = all_records(&b);
    assert_eq!(rr[0].section, Section::Authority);
    assert_eq!(rr[0].name.to_string_lossless().unwrap(), "example.test");
    let b = hex(NXDOMAIN);
    let rr = all_records(&b);
    assert_eq!(rr[0].name.to_string_lossless().unwrap(), "google.com");
    let mname = rr[0].rdata_name(0).unwrap();
    assert_eq!(mname.to_string_lossless().unwrap(), "ns1.google.com");

    // MX exchange at RDATA offset 2, SRV target at 6, PTR at 0.
    let b = hex(OWN_MX);
    let rr = all_records(&b);
    let mx = rr[0].rdata_name(2).unwrap();
    assert_eq!(mx.to_string_lossless().unwrap(), "mail.example.test");
    let b = hex(OWN_SRV);
    let rr = all_records(&b);
    assert_eq!(
        rr[0].name.to_string_lossless().unwrap(),
        "_sip._tcp.example.test"
    );
    let srv = rr[0].rdata_name(6).unwrap();
    assert_eq!(srv.to_string_lossless().unwrap(), "sip.example.test");
    let b = hex(OWN_PTR);
    let rr = all_records(&b);
    assert_eq!(qname(&b), "1.2.0.192.in-addr.arpa");
    let ptr = rr[0].rdata_name(0).unwrap();
    assert_eq!(ptr.to_string_lossless().unwrap(), "www.example.test");

    // NS names chained through several pointers (EIGHT_A: ns-219.awsdns-27 + pointer).
    let b = hex(EIGHT_A);
    let ns: Vec<String> = all_records(&b)
        .iter()
        .filter(|r| r.rtype == rtype::NS)
        .map(|r| r.rdata_name(0).unwrap().to_string_lossless().unwrap())
        .collect();
    assert_eq!(
        ns,
        [
            "ns-1445.awsdns-52.org",
            "ns-1558.awsdns-02.co.uk",
            "ns-219.awsdns-27.com",
            "ns-957.awsdns-55.net"
        ]
    );
    // name_at reaches the same names.
    let m = msg(&b);
    assert_eq!(
        m.name_at(12).to_string_lossless().unwrap(),
        "sirius.mwbsys.com"
    );
}

#[test]
fn bad_pointers_are_malformed() {
    // Forward pointer: the question name points past itself.
    let b = query_with(&hex("c00e 00 00010001"));
    let q = msg(&b).first_question();
    assert_eq!(q.err(), Some(WireError::Malformed));
    let n = msg(&b).name_at(12);
    assert_eq!(n.to_string_lossless(), Err(WireError::Malformed));
    // A pointer to itself.
    let b = query_with(&hex("c00c 00010001"));
    assert_eq!(msg(&b).first_question().err(), Some(WireError::Malformed));
    assert_eq!(msg(&b).name_at(12).label_count(), Err(WireError::Malformed));
    // Two pointers pointing at each other (the first one is forward).
    let b = query_with(&hex("c00e c00c 00010001"));
    assert_eq!(msg(&b).name_at(14).encoded_len(), Ok(2));
    assert_eq!(
        msg(&b).name_at(14).to_string_lossless(),
        Err(WireError::Malformed)
    );
    // A backward pointer that loops through a label ("a" then back to it):
    // every lap adds 2 octets, so the 255-octet bound stops it.
    let b = query_with(&hex("0161 c00c 00010001"));
    assert_eq!(
        msg(&b)
            .first_question()
            .unwrap()
            .unwrap()
            .name
            .encoded_len(),
        Ok(4)
    );
    let n = msg(&b).name_at(12);
    assert_eq!(n.to_string_lossless(), Err(WireError::Malformed));
    assert_eq!(n.label_count(), Err(WireError::Malformed));
    assert_eq!(n.labels().filter(Result::is_ok).count(), 127);
    // In a real response: point the first answer's owner forward.
    let mut b = hex(OWN_TWO_A);
    b[35] = 0x40; // c00c -> c040
    let mut rr = msg(&b).records();
    assert_eq!(rr.next().unwrap().err(), Some(WireError::Malformed));
    assert!(rr.next().is_none());
    // Pointer at the last byte.
    let b = query_with(&hex("c0"));
    assert_eq!(msg(&b).first_question().err(), Some(WireError::Truncated));
    assert_eq!(
        msg(&b).name_at(12).to_string_lossless(),
        Err(WireError::Truncated)
    );

    // A chain of pointers to pointers: each is backward, but only
    // MAX_POINTERS are followed.
    let mut body = vec![0u8]; // root at 12
    for i in 0..200u16 {
        let target = 12 + if i == 0 { 0 } else { 1 + 2 * (i - 1) };
        body.extend_from_slice(&(0xc000 | target).to_be_bytes());
    }
    let b = query_with(&body);
    let m = msg(&b);
    let at = |i: usize| m.name_at(13 + 2 * i);
    assert_eq!(at(0).to_string_lossless().unwrap(), ".");
    assert_eq!(at(MAX_POINTERS - 1).to_string_lossless().unwrap(), ".");
    assert_eq!(
        at(MAX_POINTERS).to_string_lossless(),
        Err(WireError::Malformed)
    );
    assert_eq!(at(199).label_count(), Err(WireError::Malformed));
}

#[test]
fn long_names_are_malformed() {
    let label = |n: usize| {
        let mut l = vec![n as u8];
        l.extend(std::iter::repeat_n(b'x', n));
        l
    };
    // 300 octets: four 63-byte labels and a 43-byte one, then the root.
    let mut name: Vec<u8> = [63, 63, 63, 63, 43]
        .iter()
        .flat_map(|&n| label(n))
        .collect();
    assert_eq!(name.len(), 300);
    name.push(0);
    let mut body = name.clone();
    body.extend_from_slice(&hex("00010001"));
    let b = query_with(&body);
    assert_eq!(msg(&b).first_question().err(), Some(WireError::Malformed));
    assert_eq!(
        msg(&b).name_at(12).to_string_lossless(),
        Err(WireError::Malformed)
    );
    assert_eq!(
        msg(&b).name_at(12).uncompressed_len(),
        Err(WireError::Malformed)
    );

    // Exactly 255 octets is fine; 256 is not.
    let mut name: Vec<u8> = [63, 63, 63, 61].iter().flat_map(|&n| label(n)).collect();
    name.push(0);
    assert_eq!(name.len(), 255);
    let mut body = name.clone();
    body.extend_from_slice(&hex("00010001"));
    let b = query_with(&body);
    let q = msg(&b).first_question().unwrap().unwrap();
    assert_eq!(q.name.uncompressed_len(), Ok(255));
    assert_eq!(q.name.encoded_len(), Ok(255));
    assert_eq!(q.name.to_string_lossless().unwrap().len(), 63 * 3 + 61 + 3);
    let mut name: Vec<u8> = [63, 63, 63, 62].iter().flat_map(|&n| label(n)).collect();
    name.push(0);
    let mut body = name;
    body.extend_from_slice(&hex("00010001"));
    let b = query_with(&body);
    assert_eq!(msg(&b).first_question().err(), Some(WireError::Malformed));

    // Over 255 only once uncompressed: 200 octets at 12, then a name of
    // 60 more octets pointing at it.
    let mut body: Vec<u8> = [63, 63, 70 - 2].iter().flat_map(|&n| label(n)).collect();
    body.push(0);
    body.extend_from_slice(&hex("00010001"));
    let second = 12 + body.len();
    body.extend(label(59));
    body.extend_from_slice(&hex("c00c"));
    let b = query_with(&body);
    let n = msg(&b).name_at(second);
    assert_eq!(n.encoded_len(), Ok(62));
    assert_eq!(n.to_string_lossless(), Err(WireError::Malformed));
}

#[test]
fn label_types_0x40_0x80_are_malformed() {
    for bits in [0x40u8, 0x80] {
        let mut b = hex(OWN_QUERY);
        b[12] |= bits; // length 3 of "www"
        let m = msg(&b);
        assert_eq!(m.first_question().err(), Some(WireError::Malformed));
        assert_eq!(
            m.name_at(12).to_string_lossless(),
            Err(WireError::Malformed)
        );
        assert_eq!(m.name_at(12).label_count(), Err(WireError::Malformed));
        let got: Vec<_> = m.records().collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].as_ref().err(), Some(&WireError::Malformed));
        // Inside the question name, further on: skipping it fails too.
        let mut b = hex(OWN_TWO_A);
        b[16] |= bits; // length 7 of "example"
        assert_eq!(msg(&b).first_question().err(), Some(WireError::Malformed));
        assert_eq!(
            msg(&b).records().next().unwrap().err(),
            Some(WireError::Malformed)
        );
        // Reached only through a pointer: skipping the pointer works,
        // decoding fails.
        let tail = [bits | 1, b'c', 0, 0xc0, 19];
        let b = query_with(&[&hex("016100 00010001 0162"), &tail[..]].concat());
        let n = msg(&b).name_at(24);
        assert_eq!(n.encoded_len(), Ok(2));
        assert_eq!(n.to_string_lossless(), Err(WireError::Malformed));
        let labels: Vec<_> = n.labels().collect();
        assert_eq!(labels, [Ok(&b"b"[..]), Err(WireError::Malformed)]);
    }
}

#[test]
fn escaping_odd_bytes() {
    for v in [OWN_ODD_QUERY, OWN_ODD_RESPONSE] {
        let b = hex(v);
        let q = msg(&b).first_question().unwrap().unwrap();
        // dig prints odd\.dot\032sp\200\001.example.test; '.' inside a
        // label is escaped as \046 here.
        let want = r"odd\046dot\032sp\200\001.example.test";
        assert_eq!(q.name.to_string_lossless().unwrap(), want);
        assert_eq!(q.name.to_lowercase_string().unwrap(), want);
        assert_eq!(q.name.label_count(), Ok(3));
    }
    let b = hex(OWN_ODD_RESPONSE);
    let rr = all_records(&b);
    assert_eq!(
        rr[0].name.to_string_lossless().unwrap(),
        r"odd\046dot\032sp\200\001.example.test"
    );
    // Backslash, DEL, 0xff, upper case next to escapes.
    let b = query_with(&hex("055c41ff7f42 0378595a 00 00010001"));
    let n = msg(&b).name_at(12);
    assert_eq!(n.to_string_lossless().unwrap(), r"\092A\255\127B.xYZ");
    assert_eq!(n.to_lowercase_string().unwrap(), r"\092a\255\127b.xyz");
    let raw: Vec<&[u8]> = n.labels().map(Result::unwrap).collect();
    assert_eq!(raw, [&b"\\A\xff\x7fB"[..], b"xYZ"]);
}

#[test]
fn plain_byte_check_is_exact() {
    let plain: Vec<u8> = (0..=255u8).filter(|&b| is_plain(b)).collect();
    assert_eq!(plain.len(), 94 - 2);
    assert!(!is_plain(b' ') && !is_plain(b'.') && !is_plain(b'\\') && !is_plain(0x7f));
    for len in 0..=20 {
        assert!(all_plain(&vec![b'Z'; len]));
        for at in 0..len {
            for b in 0..=255u8 {
                let mut label = vec![b'm'; len];
                label[at] = b;
                assert_eq!(all_plain(&label), is_plain(b), "len {len} at {at} byte {b}");
            }
        }
    }
}

#[test]
fn record_counts_match_headers() {
    for v in ALL {
        let b = hex(v);
        let m = msg(&b);
        let rr = all_records(&b);
        let (an, ns, ar) = (
            usize::from(m.ancount()),
            usize::from(m.nscount()),
            usize::from(m.arcount()),
        );
        assert_eq!(rr.len(), an + ns + ar, "{v}");
        let sections: Vec<Section> = rr.iter().map(|r| r.section).collect();
        let want: Vec<Section> = std::iter::repeat_n(Section::Answer, an)
            .chain(std::iter::repeat_n(Section::Authority, ns))
            .chain(std::iter::repeat_n(Section::Additional, ar))
            .collect();
        assert_eq!(sections, want);
        // Records end where the message ends (none of these has trailing bytes).
        let last = rr.last().map_or(0, |r| r.rdata_offset + r.rdata.len());
        if !rr.is_empty() {
            assert_eq!(last, b.len());
        }
        for r in &rr {
            assert!(r.name.to_string_lossless().is_ok());
        }
    }

    let b = hex(EIGHT_A);
    let types: Vec<u16> = all_records(&b).iter().map(|r| r.rtype).collect();
    assert_eq!(types, [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 41]);
    let a = all_records(&b)[0];
    assert_eq!(a.rdata, [0x34, 0x36, 0xf4, 0x80]); // 52.54.244.128
    assert_eq!(a.ttl, 60);
    let b = hex(NODATA);
    let rr = all_records(&b);
    assert_eq!(rr.len(), 1);
    assert_eq!(
        (rr[0].section, rr[0].rtype),
        (Section::Authority, rtype::SOA)
    );
    assert_eq!(
        msg(&b).first_question().unwrap().unwrap().qtype,
        rtype::HTTPS
    );
    let b = hex(ECS_RESPONSE);
    let types: Vec<u16> = all_records(&b).iter().map(|r| r.rtype).collect();
    assert_eq!(types, [28, 2, 2, 28, 28, 1, 1, 41]);

    // Long TXT: one record of 490 bytes holding two character-strings.
    let b = hex(OWN_LONG_TXT);
    let rr = all_records(&b);
    assert_eq!(rr[0].rtype, rtype::TXT);
    assert_eq!(rr[0].rdata.len(), 490);
    assert_eq!(rr[0].rdata[0], 239);
    assert_eq!(rr[0].rdata[240], 249);
    assert_eq!(rr[1].rtype, rtype::OPT);

    // A message ending before the counts promise: one error, then nothing.
    let b = hex(OWN_TWO_A);
    let cut = &b[..b.len() - 5];
    let got: Vec<_> = msg(cut).records().collect();
    assert_eq!(got.len(), 3);
    assert!(got[0].is_ok() && got[1].is_ok());
    assert_eq!(got[2].as_ref().err(), Some(&WireError::Truncated));
    // An inflated count.
    let mut b = hex(OWN_TWO_A);
    b[7] = 3;
    let got: Vec<_> = msg(&b).records().collect();
    assert_eq!(got.len(), 4);
    assert!(got[3].is_err());
    // Several questions ("a" A, "b" A) are all skipped before the answer.
    let mut b = query_with(&hex(
        "0161 00 00010001 0162 00 00010001 c00c 0001 0001 0000003c 0004 c0000201",
    ));
    b[5] = 2; // QDCOUNT
    b[7] = 1; // ANCOUNT
    let rr = all_records(&b);
    assert_eq!(rr.len(), 1);
    assert_eq!(rr[0].name.to_string_lossless().unwrap(), "a");
    assert_eq!(rr[0].rdata, [192, 0, 2, 1]);
    let names: Vec<String> = msg(&b)
        .questions()
        .map(|q| q.unwrap().name.to_string_lossless().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn opt_and_client_subnet() {
    // ecs.pcap query: OPT 4096, DO, ECS 2001:470:1f0b:16xx::/56.
    let b = hex(ECS_QUERY);
    let opt = msg(&b).opt().unwrap();
    assert_eq!(opt.udp_payload_size(), 4096);
    assert!(opt.dnssec_ok());
    assert_eq!((opt.version(), opt.extended_rcode()), (0, 0));
    assert_eq!(opt.flags(), 0x8000);
    assert_eq!(opt.full_rcode(msg(&b).rcode()), 0);
    let options: Vec<(u16, &[u8])> = opt.options().collect();
    assert_eq!(options.len(), 1);
    assert_eq!(options[0].0, opt_code::CLIENT_SUBNET);
    let ecs = ClientSubnet::parse(options[0].1).unwrap();
    assert_eq!(ecs.family, 2);
    assert_eq!((ecs.source_prefix, ecs.scope_prefix), (56, 0));
    assert_eq!(
        ecs.address,
        "2001:470:1f0b:1600::".parse::<IpAddr>().unwrap()
    );
    assert_eq!(opt.client_subnet(), Some(Ok(ecs)));

    // Own captures: IPv4 /24 and IPv6 /48, each with a client cookie after it.
    let b = hex(OWN_ECS4);
    let opt = msg(&b).opt().unwrap();
    assert_eq!(opt.udp_payload_size(), 1232);
    assert!(!opt.dnssec_ok());
    let codes: Vec<u16> = opt.options().map(|(c, _)| c).collect();
    assert_eq!(codes, [opt_code::CLIENT_SUBNET, opt_code::COOKIE]);
    let ecs = opt.client_subnet().unwrap().unwrap();
    assert_eq!(
        (ecs.family, ecs.source_prefix, ecs.scope_prefix),
        (1, 24, 0)
    );
    assert_eq!(ecs.address, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)));
    assert_eq!(opt.options().nth(1).unwrap().1.len(), 8);
    let b = hex(OWN_ECS6);
    let ecs = msg(&b).opt().unwrap().client_subnet().unwrap().unwrap();
    assert_eq!((ecs.family, ecs.source_prefix), (2, 48));
    assert_eq!(ecs.address, "2001:db8:1::".parse::<IpAddr>().unwrap());

    // DO in query and response of `dig +dnssec`; no OPT with +noedns.
    assert!(msg(&hex(OWN_DO_QUERY)).opt().unwrap().dnssec_ok());
    assert!(msg(&hex(OWN_SOA)).opt().unwrap().dnssec_ok());
    assert!(msg(&hex(OWN_NOEDNS_QUERY)).opt().is_none());
    assert!(msg(&hex(OWN_NOEDNS_RESPONSE)).opt().is_none());
    assert!(msg(&hex(V4_RESPONSE)).opt().is_none());
    // A cookie only; the OPT after 4 NS and 4 A records.
    let b = hex(ECS_RESPONSE);
    let opt = msg(&b).opt().unwrap();
    assert!(opt.client_subnet().is_none());
    let codes: Vec<u16> = opt.options().map(|(c, _)| c).collect();
    assert_eq!(codes, [opt_code::COOKIE]);
    assert_eq!(opt.options().next().unwrap().1.len(), 24);
    // No OPT when a record before it is malformed.
    let b = hex(OWN_TWO_A);
    assert!(msg(&b).opt().is_some());
    assert!(msg(&b[..b.len() - 12]).opt().is_none());

    // Extended RCODE and version on a modified OPT (BADVERS = 16, version 1).
    let mut b = hex(OWN_TWO_A);
    let ttl_at = b.len() - 6;
    b[ttl_at] = 1;
    b[ttl_at + 1] = 1;
    let opt = msg(&b).opt().unwrap();
    assert_eq!((opt.extended_rcode(), opt.version()), (1, 1));
    assert_eq!(opt.full_rcode(msg(&b).rcode()), u16::from(rcode::BADVERS));

    // Options stop cleanly at a truncated one.
    let data = hex("000a0008 0102030405060708 0008 000b 0002");
    let mut it = EdnsOptions::new(&data);
    assert_eq!(it.next().map(|(c, d)| (c, d.len())), Some((10, 8)));
    assert_eq!(it.next(), None);
    assert!(it.truncated());
    assert_eq!(it.next(), None);
    let data = hex("000c");
    let mut it = EdnsOptions::new(&data);
    assert_eq!(it.next(), None);
    assert!(it.truncated());
    let mut it = EdnsOptions::new(&[]);
    assert_eq!(it.next(), None);
    assert!(!it.truncated());
    let data = hex("000c0000");
    let opts: Vec<_> = EdnsOptions::new(&data).collect();
    assert_eq!(opts, [(12, &[][..])]);

    // ClientSubnet errors.
    assert_eq!(
        ClientSubnet::parse(&hex("000118")),
        Err(WireError::Truncated)
    );
    assert_eq!(
        ClientSubnet::parse(&hex("00031800c00002")),
        Err(WireError::Malformed)
    );
    assert_eq!(
        ClientSubnet::parse(&hex("00012000c0000201ff")),
        Err(WireError::Malformed)
    );
    let v6_17 = format!("00028000{}", "20".repeat(17));
    assert_eq!(ClientSubnet::parse(&hex(&v6_17)), Err(WireError::Malformed));
    let ecs = ClientSubnet::parse(&hex("00010000")).unwrap();
    assert_eq!(ecs.address, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let ecs = ClientSubnet::parse(&hex("00012018c0000201")).unwrap();
    assert_eq!(ecs.address, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(ecs.scope_prefix, 0x18);
}

#[test]
fn rrsig_in_dnssec_answers() {
    let b = hex(DNSSEC_A);
    let m = msg(&b);
    assert_eq!(qname(&b), "www.ietf.org");
    let rr = all_records(&b);
    let answers: Vec<u16> = rr
        .iter()
        .filter(|r| r.section == Section::Answer)
        .map(|r| r.rtype)
        .collect();
    assert_eq!(answers, [rtype::A, rtype::RRSIG]);
    assert_eq!(rr[1].rdata.len(), 284);
    // The RRSIG covers A and was signed by ietf.org (uncompressed in RDATA at 18).
    assert_eq!(
        u16::from_be_bytes([rr[1].rdata[0], rr[1].rdata[1]]),
        rtype::A
    );
    let signer = rr[1].rdata_name(18).unwrap();
    assert_eq!(signer.to_string_lossless().unwrap(), "ietf.org");
    let opt = m.opt().unwrap();
    assert_eq!(opt.udp_payload_size(), 4000);
    assert!(opt.dnssec_ok());
}

/// The DNS messages of a pcap fixture as (frame number, message), UDP
/// datagrams (reassembled when fragmented) and messages framed from TCP
/// streams (reassembled by the crate's TCP reassembler), for DNS ports.
fn fixture_messages(name: &str, with_tcp: bool) -> Option<Vec<(usize, Vec<u8>)>> {
    use crate::decode::tcp_stream::{PortSet, TcpReassembler, TcpStreamEvent};
    use crate::decode::{Decoder, L4};
    use crate::receiver::pcap_file::PcapFileReader;
    use std::collections::HashMap;

    let path = crate::testdata::pktvisor_fixtures()?.join(name);
    let mut reader = PcapFileReader::open(&path).unwrap();
    let mut dec = Decoder::new();
    let mut ports = PortSet::default();
    for p in DNS_PORTS {
        ports.insert(p);
    }
    let mut tcp = TcpReassembler::new(1024, ports);
    let mut framers: HashMap<(u64, u16), TcpDnsFramer> = HashMap::new();
    let mut out = Vec::new();
    let mut frame = 0;
    while let Some(rec) = reader.next_record().unwrap() {
        frame += 1;
        let info = dec.decode(rec.linktype, rec.ts, rec.data, rec.origlen);
        let dns_port = DNS_PORTS.contains(&info.src_port) || DNS_PORTS.contains(&info.dst_port);
        if info.l4 == L4::Udp && info.has_payload() && dns_port {
            out.push((frame, info.payload.to_vec()));
        }
        if !with_tcp {
            continue;
        }
        tcp.process(&info, &mut |ev| {
            if let TcpStreamEvent::Data {
                flow,
                data,
                after_gap,
                ..
            } = ev
            {
                let f = framers.entry((flow.conn_id, flow.src_port)).or_default();
                if after_gap {
                    f.reset();
                }
                f.push(data, &mut |m| out.push((frame, m.to_vec())));
            }
        });
    }
    Some(out)
}

#[test]
fn fixture_files_ecs_and_rrsig() {
    let Some(ecs) = fixture_messages("ecs.pcap", true) else {
        return;
    };
    let mut with_ecs = 0;
    for (frame, m) in &ecs {
        let m = msg(m);
        assert_eq!(
            m.records().filter(Result::is_err).count(),
            0,
            "frame {frame}"
        );
        if let Some(Ok(s)) = m.opt().and_then(|o| o.client_subnet()) {
            assert_eq!((s.family, s.source_prefix), (2, 56), "frame {frame}");
            assert_eq!(s.address, "2001:470:1f0b:1600::".parse::<IpAddr>().unwrap());
            with_ecs += 1;
        }
    }
    // tshark -r ecs.pcap -Y dns.opt.client.family | wc -l
    assert_eq!(with_ecs, 10);

    let dnssec = fixture_messages("dnssec.pcap", true).unwrap();
    let rrsigs: Vec<usize> = dnssec
        .iter()
        .map(|(_, b)| msg(b))
        .filter(DnsMessage::is_response)
        .map(|m| {
            m.records()
                .map(Result::unwrap)
                .filter(|r| r.section == Section::Answer && r.rtype == rtype::RRSIG)
                .count()
        })
        .collect();
    assert_eq!(rrsigs, [1, 2, 1, 2, 1, 1, 0]);
}

/// One line of `tshark -T fields` output, split into fields and their occurrences.
struct SharkLine(Vec<Vec<String>>);

impl SharkLine {
    fn all(&self, i: usize) -> &[String] {
        self.0.get(i).map_or(&[], |v| v.as_slice())
    }
    fn one(&self, i: usize) -> Option<&str> {
        self.all(i).first().map(String::as_str)
    }
}

const SHARK_FIELDS: [&str; 25] = [
    "frame.number",
    "dns.id",
    "dns.flags.response",
    "dns.flags.opcode",
    "dns.flags.authoritative",
    "dns.flags.truncated",
    "dns.flags.recdesired",
    "dns.flags.recavail",
    "dns.flags.authenticated",
    "dns.flags.checkdisable",
    "dns.flags.rcode",
    "dns.count.queries",
    "dns.count.answers",
    "dns.count.auth_rr",
    "dns.count.add_rr",
    "dns.qry.name",
    "dns.qry.type",
    "dns.resp.name",
    "dns.resp.type",
    "dns.resp.len",
    "dns.rr.udp_payload_size",
    "dns.resp.z.do",
    "dns.opt.client.family",
    "dns.opt.client.netmask",
    "dns.opt.client.addr4",
];

fn tshark(path: &std::path::Path, filter: &str) -> Vec<SharkLine> {
    let mut cmd = std::process::Command::new("tshark");
    cmd.arg("-r").arg(path);
    for p in DNS_PORTS {
        cmd.args(["-d", &format!("udp.port=={p},dns")]);
        cmd.args(["-d", &format!("tcp.port=={p},dns")]);
    }
    cmd.args(["-Y", filter, "-T", "fields", "-E", "aggregator=|"]);
    for f in SHARK_FIELDS {
        cmd.args(["-e", f]);
    }
    cmd.args(["-e", "dns.opt.client.addr6", "-e", "dns.opt.client.scope"]);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            SharkLine(
                l.split('\t')
                    .map(|f| {
                        if f.is_empty() {
                            Vec::new()
                        } else {
                            f.split('|').map(str::to_string).collect()
                        }
                    })
                    .collect(),
            )
        })
        .collect()
}

fn shark_name(s: &str) -> String {
    if s == "<Root>" {
        ".".to_string()
    } else {
        s.to_string()
    }
}

fn bit(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

/// Whether `small` appears in order within `big`.
fn is_subsequence(small: &[String], big: &[String]) -> bool {
    let mut it = big.iter();
    small.iter().all(|s| it.any(|b| b == s))
}

/// Compares one message with tshark's fields for its frame; returns the
/// number of fields compared.
fn compare(frame: usize, m: &DnsMessage<'_>, t: &SharkLine) -> usize {
    let n = std::cell::Cell::new(0);
    let eq = |field: usize, got: String| {
        if let Some(want) = t.one(field) {
            let name = SHARK_FIELDS
                .get(field)
                .copied()
                .unwrap_or("dns.opt.client.*");
            assert_eq!(got, want, "frame {frame} field {name}");
            n.set(n.get() + 1);
        }
    };
    eq(1, format!("{:#06x}", m.id()));
    eq(2, bit(m.is_response()).into());
    eq(3, m.opcode().to_string());
    eq(4, bit(m.aa()).into());
    eq(5, bit(m.tc()).into());
    eq(6, bit(m.rd()).into());
    eq(7, bit(m.ra()).into());
    eq(8, bit(m.ad()).into());
    eq(9, bit(m.cd()).into());
    eq(10, m.rcode().to_string());
    eq(11, m.qdcount().to_string());
    eq(12, m.ancount().to_string());
    eq(13, m.nscount().to_string());
    eq(14, m.arcount().to_string());
    if let Ok(Some(q)) = m.first_question() {
        let name = q.name.to_string_lossless().unwrap();
        eq(15, if name == "." { "<Root>".into() } else { name });
        eq(16, q.qtype.to_string());
    }
    let rr: Vec<Record<'_>> = m.records().collect::<Result<_, _>>().unwrap();
    let names: Vec<String> = rr
        .iter()
        .map(|r| r.name.to_string_lossless().unwrap())
        .collect();
    let want: Vec<String> = t.all(17).iter().map(|s| shark_name(s)).collect();
    assert_eq!(names, want, "frame {frame} record names");
    let types: Vec<String> = rr.iter().map(|r| r.rtype.to_string()).collect();
    if rr
        .iter()
        .any(|r| r.rtype == rtype::NSEC || r.rtype == rtype::NSEC3)
    {
        // tshark reports NSEC type bitmaps in the same field.
        assert!(is_subsequence(&types, t.all(18)), "frame {frame} types");
    } else {
        assert_eq!(types, t.all(18), "frame {frame} types");
    }
    let lens: Vec<String> = rr.iter().map(|r| r.rdata.len().to_string()).collect();
    assert_eq!(lens, t.all(19), "frame {frame} rdata lengths");
    n.set(n.get() + 3);
    let opt = m.opt();
    if let Some(o) = opt {
        eq(20, o.udp_payload_size().to_string());
        eq(21, bit(o.dnssec_ok()).into());
    }
    match opt.and_then(|o| o.client_subnet()) {
        Some(Ok(s)) => {
            eq(22, s.family.to_string());
            eq(23, s.source_prefix.to_string());
            eq(26, s.scope_prefix.to_string());
            match s.address {
                IpAddr::V4(a) => eq(24, a.to_string()),
                IpAddr::V6(a) => eq(25, a.to_string()),
            }
        }
        _ => assert!(t.all(22).is_empty(), "frame {frame}: tshark sees ECS"),
    }
    n.get()
}

/// Every DNS message of pktvisor's DNS fixtures against tshark's dissection.
#[test]
fn fixtures_agree_with_tshark() {
    if !crate::testdata::have_tool("tshark", "tshark") {
        return;
    }
    let Some(dir) = crate::testdata::pktvisor_fixtures() else {
        return;
    };
    // (file, with TCP, messages). The TCP streams of dns_udp_tcp_random.pcap
    // have losses and retransmissions that tshark and the crate's
    // reassembler resolve differently, so only its UDP messages are compared.
    let files = [
        ("dns_ipv4_udp.pcap", true, 140),
        ("dns_ipv6_udp.pcap", true, 140),
        ("dns_ipv4_tcp.pcap", true, 420),
        ("dns_ipv6_tcp.pcap", true, 360),
        ("dns_udp_mixed_rcode.pcap", true, 24),
        ("ecs.pcap", true, 43),
        ("dnssec.pcap", true, 14),
        ("dns_udp_tcp_random.pcap", false, 2971),
    ];
    let mut total = 0;
    for (file, with_tcp, expected) in files {
        let msgs = fixture_messages(file, with_tcp).unwrap();
        let filter = if with_tcp { "dns" } else { "dns && udp" };
        let shark = tshark(&dir.join(file), filter);
        let mut by_frame: std::collections::BTreeMap<usize, Vec<&[u8]>> = Default::default();
        for (f, m) in &msgs {
            by_frame.entry(*f).or_default().push(m);
        }
        let mut checked = 0;
        let mut fields = 0;
        for t in &shark {
            let frame: usize = t.one(0).unwrap().parse().unwrap();
            let ours = by_frame.remove(&frame).unwrap_or_default();
            let theirs = t.all(1).len();
            assert_eq!(ours.len(), theirs, "{file} frame {frame}: message count");
            if let [m] = ours.as_slice() {
                fields += compare(frame, &msg(m), t);
                checked += 1;
            }
        }
        assert!(
            by_frame.is_empty(),
            "{file}: frames tshark has no DNS in: {by_frame:?}"
        );
        assert_eq!(checked, expected, "{file}");
        eprintln!("{file}: {checked} messages, {fields} fields agree with tshark");
        total += checked;
    }
    assert!(total > 1000);
}

#[test]
fn name_tables() {
    assert_eq!(rcode_name(0), Some("NOERROR"));
    assert_eq!(rcode_name(2), Some("SRVFAIL"));
    assert_eq!(rcode_name(3), Some("NXDOMAIN"));
    assert_eq!(rcode_name(11), Some("DSOTYPENI"));
    assert_eq!(rcode_name(16), Some("BADVERS"));
    assert_eq!(rcode_name(23), Some("BADCOOKIE"));
    assert_eq!(rcode_name(12), None);
    assert_eq!(rcode_name(24), None);
    assert_eq!(rcode_from_name("nxdomain"), Some(3));
    assert_eq!(rcode_from_name("SrvFail"), Some(2));
    assert_eq!(rcode_from_name("BADSIG"), Some(16));
    assert_eq!(rcode_from_name("badvers"), Some(16));
    assert_eq!(rcode_from_name("SERVFAIL"), None);
    assert_eq!(rcode_from_name(""), None);
    for (code, name) in RCODE_NAMES {
        assert_eq!(rcode_from_name(name), Some(*code));
        if *name != "BADSIG" {
            assert_eq!(rcode_name(*code), Some(*name));
        }
    }

    assert_eq!(QTYPE_NAMES.len(), 91);
    assert!(QTYPE_NAMES.windows(2).all(|w| w[0].0 < w[1].0));
    for (t, name) in QTYPE_NAMES {
        assert_eq!(qtype_name(*t), Some(*name));
        assert_eq!(qtype_from_name(name), Some(*t));
        assert_eq!(qtype_from_name(&name.to_lowercase()), Some(*t));
    }
    assert_eq!(qtype_name(0), Some("Reserved (0)"));
    assert_eq!(qtype_name(23), Some("NSAP-PTR"));
    assert_eq!(qtype_name(54), None);
    assert_eq!(qtype_name(65), Some("HTTPS"));
    assert_eq!(qtype_name(66), None);
    assert_eq!(qtype_name(255), Some("*"));
    assert_eq!(qtype_name(32769), Some("DLV"));
    assert_eq!(qtype_name(65535), Some("Reserved (65535)"));
    assert_eq!(qtype_from_name("aaaa"), Some(28));
    assert_eq!(qtype_from_name("nsap-ptr"), Some(23));
    assert_eq!(qtype_from_name("ANY"), None);
    assert_eq!(qtype_from_name(""), None);
    for (c, t) in [
        (rtype::A, "A"),
        (rtype::SOA, "SOA"),
        (rtype::OPT, "OPT"),
        (rtype::RRSIG, "RRSIG"),
        (rtype::SVCB, "SVCB"),
        (rtype::ANY, "*"),
        (rtype::CAA, "CAA"),
    ] {
        assert_eq!(qtype_name(c), Some(t));
    }
    assert_eq!(DNS_PORTS, [53, 5353, 5355, 53000]);
}

/// Feeds `chunks` to a fresh framer; returns the messages and the framer.
fn frame(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, TcpDnsFramer) {
    let mut f = TcpDnsFramer::new();
    let mut got = Vec::new();
    for c in chunks {
        f.push(c, &mut |m| got.push(m.to_vec()));
    }
    (got, f)
}

#[test]
fn tcp_framer_on_real_segments() {
    let q0 = hex(TCP_QUERY_0);
    let q1 = hex(TCP_QUERY_1);
    let r0 = hex(TCP_RESPONSE_0);

    // One segment, one message.
    let (got, f) = frame(&[&r0]);
    assert_eq!(got, [r0[2..].to_vec()]);
    assert_eq!((f.messages(), f.errors(), f.buffered()), (1, 0, 0));
    assert_eq!(qname(&got[0]), "hx.3FsQRh6.ollah70Na.test.com");

    // Two messages in one push.
    let both = [q0.as_slice(), q1.as_slice()].concat();
    let (got, f) = frame(&[&both]);
    assert_eq!(got, [q0[2..].to_vec(), q1[2..].to_vec()]);
    assert_eq!(f.messages(), 2);
    assert_eq!(msg(&got[1]).id(), 0x7d6b);

    // One message split over three pushes, at every pair of cut points.
    for a in 0..=r0.len() {
        for b in a..=r0.len() {
            let (got, f) = frame(&[&r0[..a], &r0[a..b], &r0[b..]]);
            assert_eq!(got, [r0[2..].to_vec()], "cuts {a} {b}");
            assert_eq!(f.buffered(), 0);
        }
    }
    // A partial message stays buffered (prefix included).
    let (got, f) = frame(&[&r0[..20]]);
    assert!(got.is_empty());
    assert_eq!(f.buffered(), 20);

    // Own capture: three pipelined queries on one connection, any split.
    let stream: Vec<u8> = OWN_TCP_QUERIES.iter().flat_map(|s| hex(s)).collect();
    for cut in 0..=stream.len() {
        let (got, f) = frame(&[&stream[..cut], &stream[cut..]]);
        assert_eq!(got.len(), 3, "cut {cut}");
        assert_eq!(f.errors(), 0);
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    let (got, _) = frame(&bytes);
    let names: Vec<String> = got.iter().map(|m| qname(m)).collect();
    assert_eq!(
        names,
        ["www.example.test", "ns1.example.test", "example.test"]
    );
}

#[test]
fn tcp_framer_bad_length_and_reset() {
    let q0 = hex(TCP_QUERY_0);
    let q1 = hex(TCP_QUERY_1);
    // A length below 12: counted, the rest of the push is dropped, and
    // the next push starts a new message.
    let bad = [&[0x00, 0x05, 1, 2, 3, 4, 5][..], &q0].concat();
    let (got, f) = frame(&[&bad, &q1]);
    assert_eq!(got, [q1[2..].to_vec()]);
    assert_eq!((f.errors(), f.messages(), f.buffered()), (1, 1, 0));
    // The same with the bad length split across pushes and after a good message.
    let (got, f) = frame(&[&q0, &[0x00], &[0x0b, 9, 9], &q1]);
    assert_eq!(got, [q0[2..].to_vec(), q1[2..].to_vec()]);
    assert_eq!(f.errors(), 1);
    let (got, f) = frame(&[&[0x00, 0x00]]);
    assert!(got.is_empty());
    assert_eq!((f.errors(), f.buffered()), (1, 0));

    // reset() after a gap drops the partial message; counters stay.
    let mut f = TcpDnsFramer::default();
    let mut n = 0;
    f.push(&q0[..30], &mut |_| n += 1);
    assert_eq!(f.buffered(), 30);
    f.reset();
    assert_eq!(f.buffered(), 0);
    f.push(&q1, &mut |_| n += 1);
    assert_eq!((n, f.messages(), f.errors()), (1, 1, 0));

    // The buffer holds at most one maximal message.
    let mut f = TcpDnsFramer::new();
    let mut sizes = Vec::new();
    f.push(&[0xff, 0xff], &mut |m| sizes.push(m.len()));
    let mut rng = Rng::new(11);
    for _ in 0..70 {
        f.push(&rng.bytes(1000), &mut |m| sizes.push(m.len()));
        assert!(f.buffered() <= MAX_MESSAGE_LEN + 2);
    }
    assert_eq!(sizes.first(), Some(&MAX_MESSAGE_LEN));
}

#[test]
fn never_panics() {
    let mut vectors: Vec<Vec<u8>> = ALL.iter().map(|s| hex(s)).collect();
    vectors.extend(
        [TCP_QUERY_0, TCP_QUERY_1, TCP_RESPONSE_0]
            .iter()
            .chain(OWN_TCP_QUERIES.iter())
            .map(|s| hex(s)),
    );
    let refs: Vec<&[u8]> = vectors.iter().map(|v| v.as_slice()).collect();
    let mut framer = TcpDnsFramer::new();
    let mut s = String::new();
    no_panic(&refs, |buf| {
        framer.push(buf, &mut |m| assert!(m.len() >= HEADER_LEN));
        assert!(framer.buffered() <= MAX_MESSAGE_LEN + 2);
        let _ = EdnsOptions::new(buf).count();
        let _ = ClientSubnet::parse(buf);
        let Ok(m) = DnsMessage::new_checked(buf) else {
            return;
        };
        let _ = (
            m.id(),
            m.opcode(),
            m.rcode(),
            m.aa(),
            m.tc(),
            m.rd(),
            m.ra(),
        );
        let _ = (
            m.ad(),
            m.cd(),
            m.qdcount(),
            m.ancount(),
            m.nscount(),
            m.arcount(),
        );
        if let Ok(Some(q)) = m.first_question() {
            if q.name.write_to(&mut s, true).is_ok() {
                assert!(s.is_ascii());
            }
            let _ = (q.name.to_string_lossless(), q.name.label_count());
            let _ = (q.name.uncompressed_len(), q.name.encoded_len());
        }
        let _ = m.questions().count();
        let mut n = 0;
        for r in m.records() {
            n += 1;
            if let Ok(r) = r {
                let _ = r.name.to_lowercase_string();
                let _ = r.rdata_name(0).map(|n| n.to_string_lossless());
            }
        }
        assert!(
            n <= usize::from(m.ancount()) + usize::from(m.nscount()) + usize::from(m.arcount())
        );
        if let Some(o) = m.opt() {
            let _ = (
                o.udp_payload_size(),
                o.version(),
                o.dnssec_ok(),
                o.extended_rcode(),
            );
            for (code, data) in o.options() {
                if code == opt_code::CLIENT_SUBNET {
                    let _ = ClientSubnet::parse(data);
                }
            }
        }
        for at in [0, 12, buf.len() / 2, buf.len()] {
            let _ = m.name_at(at).to_string_lossless();
            let _ = m.name_at(at).encoded_len();
        }
    });
}

/// The one-pass path of `write_to` (uncompressed plain names) gives exactly what the
/// label-by-label walk gives, for generated names of every kind: mixed case, escapes,
/// pointers (backward and forward), reserved label types, names too long, cut short.
#[test]
fn one_pass_names_match_the_label_walk() {
    let mut state = 0x5eed_u64;
    let mut next = move |n: u64| {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    };
    const BYTES: &[u8] = b"abcXYZ09-_.\\ \x00\x7f\x80\xff*";
    let (mut fast, mut errors) = (0, 0);
    for case in 0..20_000 {
        let mut m = query_with(&[]);
        let name_at = m.len();
        for _ in 0..next(8) {
            let len = match next(10) {
                0 => next(64) as usize,
                1 => 63,
                _ => 1 + next(12) as usize,
            };
            m.push(len as u8);
            for _ in 0..len {
                let b = if next(6) == 0 {
                    BYTES[next(BYTES.len() as u64) as usize]
                } else {
                    b'a' + next(26) as u8
                };
                m.push(b);
            }
        }
        match next(12) {
            0 => m.extend_from_slice(&[0xC0, 12]),
            1 => m.extend_from_slice(&[0xC0, 0xFF]),
            2 => m.push(0x40),
            3 => {}
            _ => m.push(0),
        }
        if next(10) == 0 {
            m.truncate(name_at + next((m.len() - name_at + 1) as u64) as usize);
        }
        m.extend_from_slice(&[0, 1, 0, 1]);
        let name = DnsMessage::new_checked(&m).unwrap().name_at(name_at);
        for lowercase in [true, false] {
            let mut got = String::from("stale");
            let got_r = name.write_to(&mut got, lowercase);
            let mut want = Vec::new();
            let want_r = name.write_labels(&mut want, lowercase);
            assert_eq!(got_r, want_r, "case {case}: {m:02x?}");
            assert_eq!(got.as_bytes(), &want[..], "case {case}: {m:02x?}");
            fast += usize::from(got_r.is_ok() && !got.contains('\\'));
            errors += usize::from(got_r.is_err());
        }
    }
    // Both paths are exercised: plain names (one pass) and the rest (escapes, errors).
    assert!(
        fast > 5_000 && errors > 5_000,
        "{fast} plain, {errors} errors"
    );
}
