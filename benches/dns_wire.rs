//! Criterion benchmarks of the DNS wire view on the per-packet path: the
//! header plus the first question's lower-cased name (what every DNS packet
//! costs), and a full walk of all records plus the OPT record and its options
//! (what a response costs at most), over the DNS payloads of real captures.
//!
//! The same two jobs are also done with `simple-dns` (the crate the design card
//! named for DNS) on the same payloads, in the same group, so the choice of our
//! own borrowed view (`wire::dns`) stays measured: `simple-dns` parses every
//! section into owned vectors before anything can be read, our view reads the
//! header and the first question in place and walks records only when asked.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pktvisor::decode::{Decoder, L4};
use pktvisor::receiver::pcap_file::PcapFileReader;
use pktvisor::wire::dns::{ClientSubnet, DNS_PORTS, DnsMessage, opt_code};

/// The UDP DNS payloads of a fixture capture (empty when it is missing).
fn load(name: &str) -> Vec<Vec<u8>> {
    let Some(dir) = pktvisor::testdata::pktvisor_fixtures() else {
        return Vec::new();
    };
    let path = dir.join(name);
    let Ok(mut r) = PcapFileReader::open(&path) else {
        eprintln!("{} not found; benchmark skipped", path.display());
        return Vec::new();
    };
    let mut dec = Decoder::new();
    let mut out = Vec::new();
    while let Ok(Some(rec)) = r.next_record() {
        let info = dec.decode(rec.linktype, rec.ts, rec.data, rec.origlen);
        let dns = DNS_PORTS.contains(&info.src_port) || DNS_PORTS.contains(&info.dst_port);
        if info.l4 == L4::Udp && info.has_payload() && dns {
            out.push(info.payload.to_vec());
        }
    }
    out
}

fn bench_dns(c: &mut Criterion) {
    for name in ["dns_ipv4_udp.pcap", "ecs.pcap"] {
        let msgs = load(name);
        if msgs.is_empty() {
            continue;
        }
        let mut group = c.benchmark_group(format!("dns_wire/{name}"));
        group.throughput(Throughput::Elements(msgs.len() as u64));

        group.bench_function("header+qname", |b| {
            let mut qname = String::with_capacity(256);
            b.iter(|| {
                let mut acc = 0usize;
                for m in &msgs {
                    let Ok(msg) = DnsMessage::new_checked(m) else {
                        continue;
                    };
                    acc += usize::from(msg.id()) + usize::from(msg.rcode());
                    acc += usize::from(msg.is_response());
                    if let Ok(Some(q)) = msg.first_question()
                        && q.name.write_to(&mut qname, true).is_ok()
                    {
                        acc += qname.len() + usize::from(q.qtype);
                    }
                }
                black_box(acc)
            })
        });

        group.bench_function("records+opt", |b| {
            b.iter(|| {
                let mut acc = 0usize;
                for m in &msgs {
                    let Ok(msg) = DnsMessage::new_checked(m) else {
                        continue;
                    };
                    for r in msg.records() {
                        let Ok(r) = r else { break };
                        acc += usize::from(r.rtype) + r.rdata.len();
                    }
                    if let Some(opt) = msg.opt() {
                        acc += usize::from(opt.udp_payload_size());
                        for (code, data) in opt.options() {
                            if code == opt_code::CLIENT_SUBNET
                                && let Ok(s) = ClientSubnet::parse(data)
                            {
                                acc += usize::from(s.source_prefix);
                            }
                        }
                    }
                }
                black_box(acc)
            })
        });
        group.bench_function("simple-dns header+qname", |b| {
            let mut qname = String::with_capacity(256);
            b.iter(|| {
                let mut acc = 0usize;
                for m in &msgs {
                    let Ok(p) = simple_dns::Packet::parse(m) else {
                        continue;
                    };
                    acc += usize::from(p.id()) + p.rcode() as usize;
                    acc += usize::from(p.has_flags(simple_dns::PacketFlag::RESPONSE));
                    if let Some(q) = p.questions.first() {
                        qname.clear();
                        let _ = write!(qname, "{}", q.qname);
                        qname.make_ascii_lowercase();
                        acc += qname.len() + usize::from(u16::from(q.qtype));
                    }
                }
                black_box(acc)
            })
        });

        group.bench_function("simple-dns records+opt", |b| {
            b.iter(|| {
                let mut acc = 0usize;
                for m in &msgs {
                    let Ok(p) = simple_dns::Packet::parse(m) else {
                        continue;
                    };
                    let sections = [&p.answers, &p.name_servers, &p.additional_records];
                    for r in sections.into_iter().flatten() {
                        acc += usize::from(u16::from(r.rdata.type_code())) + r.ttl as usize;
                    }
                    if let Some(opt) = p.opt() {
                        acc += usize::from(opt.udp_packet_size);
                        for o in &opt.opt_codes {
                            if o.code == opt_code::CLIENT_SUBNET
                                && let Ok(s) = ClientSubnet::parse(&o.data)
                            {
                                acc += usize::from(s.source_prefix);
                            }
                        }
                    }
                }
                black_box(acc)
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench_dns);
criterion_main!(benches);
