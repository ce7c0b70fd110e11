//! sFlow datagrams into flow records: one record per flow sample (counter samples are
//! counted and skipped). A raw packet header record is decoded with the packet decoder
//! (Ethernet, IPv4 or IPv6 headers) for addresses, protocol, ports and TOS; IPv4/IPv6
//! data records give the same directly (the last record of a sample wins). The sample's
//! packet length is the header record's frame length or the data record's length.

use std::net::IpAddr;

use super::{FlowDecoder, FlowDropReason};
use crate::decode::{L3, L4, linktype};
use crate::event::FlowProtocol;
use crate::time::Timespec;
use crate::wire::flow::FlowRecord;
use crate::wire::sflow::{FlowData, Sample, SflowDatagram};

type Decoded = (IpAddr, FlowProtocol, Option<Timespec>);

/// The header protocols of sFlow raw packet header records we decode.
fn header_linktype(protocol: u32) -> Option<u16> {
    match protocol {
        1 => Some(linktype::ETHERNET),
        11 => Some(linktype::IPV4),
        12 => Some(linktype::IPV6),
        _ => None,
    }
}

fn l4_number(l4: L4) -> u8 {
    match l4 {
        L4::None => 0,
        L4::Tcp => 6,
        L4::Udp => 17,
        L4::Icmp => 1,
        L4::Icmpv6 => 58,
        L4::Other(n) => n,
    }
}

pub(super) fn decode(
    d: &mut FlowDecoder,
    exporter: IpAddr,
    buf: &[u8],
    ts: Timespec,
) -> Option<Decoded> {
    let dg = match SflowDatagram::new_checked(buf) {
        Ok(dg) => dg,
        Err(e) => {
            d.drop_datagram(exporter, ts, e.into());
            return None;
        }
    };
    let device = dg.agent().unwrap_or(exporter);
    for s in dg.samples() {
        let f = match s {
            Ok(Sample::Flow(f)) => f,
            Ok(Sample::Counter) => {
                d.stats.exporter(exporter, ts.sec).counter_samples += 1;
                continue;
            }
            Ok(Sample::Unknown(_)) => continue,
            Err(e) => {
                d.fail(exporter, ts, e.into());
                break;
            }
        };
        let mut rec = FlowRecord {
            packets: 1,
            sampling: f.sampling_rate,
            in_if: if f.input_format == 0 { f.input } else { 0 },
            out_if: if f.output_format == 0 { f.output } else { 0 },
            ..FlowRecord::default()
        };
        for r in f.records() {
            match r {
                Ok(FlowData::RawHeader {
                    protocol,
                    frame_length,
                    header,
                    ..
                }) => {
                    rec.bytes = u64::from(frame_length);
                    let Some(lt) = header_linktype(protocol) else {
                        d.fail(exporter, ts, FlowDropReason::SampledHeader);
                        continue;
                    };
                    let len = u32::try_from(header.len()).unwrap_or(u32::MAX);
                    let p = d.headers.decode(lt, ts, header, len);
                    if p.l3 == L3::None {
                        continue;
                    }
                    rec.src_ip = p.src_ip;
                    rec.dst_ip = p.dst_ip;
                    rec.ipv6 = p.l3 == L3::Ipv6;
                    rec.tos = p.tos;
                    rec.protocol = l4_number(p.l4);
                    rec.src_port = p.src_port;
                    rec.dst_port = p.dst_port;
                }
                Ok(FlowData::Ip {
                    length,
                    protocol,
                    src,
                    dst,
                    src_port,
                    dst_port,
                    tos,
                    ..
                }) => {
                    rec.bytes = u64::from(length);
                    rec.src_ip = Some(src);
                    rec.dst_ip = Some(dst);
                    rec.ipv6 = src.is_ipv6();
                    rec.protocol = protocol as u8;
                    rec.src_port = src_port as u16;
                    rec.dst_port = dst_port as u16;
                    rec.tos = tos as u8;
                }
                Ok(_) => {}
                Err(e) => {
                    d.fail(exporter, ts, e.into());
                    break;
                }
            }
        }
        d.records.push(rec);
    }
    Some((device, FlowProtocol::Sflow(dg.version()), None))
}
