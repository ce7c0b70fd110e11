//! Fuzz target: any bytes as a DNS message through every lazy accessor of
//! `wire::dns` (header, first question and both name decodings, the full
//! record walk with owner and RDATA names, the OPT record, its options and
//! every Client Subnet option), and as a DNS-over-TCP stream through the
//! framer, in one push and in pieces. Nothing may panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pktvisor::wire::dns::{
    ClientSubnet, DnsMessage, HEADER_LEN, MAX_MESSAGE_LEN, TcpDnsFramer, opt_code,
};

fn walk(buf: &[u8], name: &mut String) {
    let Ok(m) = DnsMessage::new_checked(buf) else {
        return;
    };
    let _ = (m.id(), m.is_response(), m.opcode(), m.rcode(), m.flags());
    let _ = (m.aa(), m.tc(), m.rd(), m.ra(), m.ad(), m.cd());
    if let Ok(Some(q)) = m.first_question() {
        if q.name.write_to(name, true).is_ok() {
            assert!(name.is_ascii());
            assert!(!name.bytes().any(|b| b.is_ascii_uppercase()));
        }
        let lossless = q.name.to_string_lossless();
        if let Ok(s) = &lossless {
            assert_eq!(s.to_ascii_lowercase(), *name);
        }
        let _ = (q.name.label_count(), q.name.uncompressed_len());
        assert!(q.name.encoded_len().is_ok());
    }
    for q in m.questions() {
        if q.is_err() {
            break;
        }
    }
    let max = usize::from(m.ancount()) + usize::from(m.nscount()) + usize::from(m.arcount());
    let mut n = 0;
    for r in m.records() {
        n += 1;
        let Ok(r) = r else { break };
        let _ = r.name.write_to(name, false);
        if let Ok(len) = r.name.uncompressed_len() {
            assert!(len <= 255);
        }
        if let Ok(target) = r.rdata_name(0) {
            let _ = target.write_to(name, true);
        }
    }
    assert!(n <= max);
    if let Some(opt) = m.opt() {
        let _ = (opt.udp_payload_size(), opt.extended_rcode(), opt.version());
        let _ = (opt.dnssec_ok(), opt.flags(), opt.full_rcode(m.rcode()));
        for (code, data) in opt.options() {
            if code == opt_code::CLIENT_SUBNET {
                let _ = ClientSubnet::parse(data);
            }
        }
        let _ = opt.client_subnet();
    }
}

fuzz_target!(|data: &[u8]| {
    let mut name = String::new();
    walk(data, &mut name);

    // The input as one direction of a TCP stream: in one push, then in
    // pieces whose sizes come from the input itself.
    let check = |m: &[u8]| {
        assert!(m.len() >= HEADER_LEN && m.len() <= MAX_MESSAGE_LEN);
    };
    let mut whole = TcpDnsFramer::new();
    let mut a = Vec::new();
    whole.push(data, &mut |m| {
        check(m);
        a.push(m.to_vec());
    });
    let mut pieces = TcpDnsFramer::new();
    let mut b = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = (usize::from(data[i % data.len()]) % 64 + 1).min(rest.len());
        let (head, tail) = rest.split_at(n);
        pieces.push(head, &mut |m| {
            check(m);
            b.push(m.to_vec());
        });
        rest = tail;
        i += 1;
    }
    // Without framing errors, the split must not change what is emitted.
    if whole.errors() == 0 && pieces.errors() == 0 {
        assert_eq!(a, b);
    }
    for m in &a {
        walk(m, &mut name);
    }
});
