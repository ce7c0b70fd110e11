//! Fuzz target: any bytes as a frame of any supported link type, through decode, fragment
//! reassembly, TCP stream reassembly and the net, dns (v1 and v2), dhcp and bgp
//! processors. Nothing may panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pktvisor::config::hostspec::HostSpec;
use pktvisor::decode::Decoder;
use pktvisor::decode::tcp_stream::{PortSet, TcpReassembler};
use pktvisor::processor::{self, ProcessorContext};
use pktvisor::event::Event;
use pktvisor::time::Timespec;

const LINKTYPES: [u16; 10] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let ctx = ProcessorContext::default();
    let cfg = pktvisor::config::value::ConfigMap::new();
    let mut procs: Vec<Box<dyn processor::Processor>> = ["net", "dns", "dhcp", "bgp"]
        .iter()
        .filter_map(|t| processor::build(t, "1.0", &cfg, &ctx).ok())
        .chain(processor::build("net", "2.0", &cfg, &ctx).ok())
        .chain(processor::build("dns", "2.0", &cfg, &ctx).ok())
        .collect();
    let host = HostSpec::parse("10.0.0.0/8,fd00::/8").unwrap_or_default();
    let mut ports = PortSet::default();
    ports.insert(179);
    ports.insert(53);
    let mut tcp = TcpReassembler::new(16, ports);
    let mut dec = Decoder::new();
    // The rest is a sequence of frames, each prefixed by a 2-byte big-endian length (the
    // last one takes whatever remains), so one input carries several frames and
    // fragments and TCP segments can interact.
    let mut frames = Vec::new();
    let mut cursor = rest;
    while !cursor.is_empty() {
        let (frame, next) = match cursor {
            [a, b, tail @ ..] => {
                let n = usize::from(u16::from_be_bytes([*a, *b])).min(tail.len());
                tail.split_at(n)
            }
            _ => (cursor, &[][..]),
        };
        frames.push(frame);
        cursor = next;
    }
    for (i, frame) in frames.into_iter().enumerate() {
        let linktype = LINKTYPES[(usize::from(selector) + i) % LINKTYPES.len()];
        let ts = Timespec::new(1_000 + i as i64, 0);
        let mut info = dec.decode(linktype, ts, frame, frame.len() as u32);
        if let (Some(s), Some(d)) = (info.src_ip, info.dst_ip) {
            info.direction = host.direction(&s, &d);
        }
        for p in procs.iter_mut() {
            p.handle(&Event::Packet(&info));
        }
        tcp.process(&info, &mut |ev| {
            for p in procs.iter_mut() {
                p.handle(&Event::Tcp(&ev));
            }
        });
    }
});
