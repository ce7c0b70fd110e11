//! The flow input's capture-file mode (`pcap_file`): the UDP datagrams of a capture (all of
//! them, or those to one port) decoded as flow exports, in file order.
//!
//! Frames go through the packet decoder (so IP fragments of large exports are reassembled)
//! and each UDP payload through `FlowDecoder`; the caller receives the events: the
//! stream's start (first frame time), one `Event::Flow` per decoded datagram, its end.
//! Receive times are the capture's timestamps.

use std::net::IpAddr;
use std::path::Path;

use crate::decode::{Decoder, L4};
use crate::event::Event;
use crate::receiver::pcap_file::{PcapFileError, PcapFileReader};
use crate::time::Timespec;

use super::FlowDecoder;

/// What a file run saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowFileReport {
    /// Frames read.
    pub frames: u64,
    /// UDP datagrams handed to the flow decoder.
    pub datagrams: u64,
    /// Frames that were not (complete) UDP datagrams, or went to another port.
    pub skipped: u64,
    /// Flow events delivered.
    pub events: u64,
    /// Flow records delivered.
    pub records: u64,
    /// The file ends inside a record.
    pub truncated: bool,
    /// A corrupt block that ended the run early (everything before was used).
    pub corrupt: Option<String>,
    /// First frame time.
    pub first_ts: Option<Timespec>,
    /// Last frame time.
    pub last_ts: Option<Timespec>,
}

/// Reads `path`, decoding every UDP datagram (to `port` when given) with `decoder`, and
/// hands the events to `emit`. `progress` gets (datagrams, bytes read, file size) now and
/// then. Errors only when the file cannot be opened or is not a capture.
pub fn run_flow_file(
    path: &Path,
    port: Option<u16>,
    decoder: &mut FlowDecoder,
    emit: &mut dyn FnMut(&Event<'_>),
    progress: &mut dyn FnMut(u64, u64, Option<u64>),
) -> Result<FlowFileReport, PcapFileError> {
    let mut reader = PcapFileReader::open(path)?;
    let mut packets = Decoder::new();
    let mut report = FlowFileReport::default();
    loop {
        let rec = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                report.corrupt = Some(e.to_string());
                break;
            }
        };
        report.frames += 1;
        if report.first_ts.is_none() {
            report.first_ts = Some(rec.ts);
            emit(&Event::Start(rec.ts));
        }
        report.last_ts = Some(rec.ts);
        let p = packets.decode(rec.linktype, rec.ts, rec.data, rec.origlen);
        let exporter: Option<IpAddr> = p.src_ip;
        let wanted = port.is_none_or(|want| p.dst_port == want);
        let (Some(exporter), L4::Udp, true, true) = (exporter, p.l4, p.has_payload(), wanted)
        else {
            report.skipped += 1;
            continue;
        };
        report.datagrams += 1;
        if let Some(dg) = decoder.decode(exporter, p.payload, rec.ts) {
            report.events += 1;
            report.records += dg.records.len() as u64;
            emit(&Event::Flow(&dg));
        }
        if report.datagrams.is_multiple_of(4096) {
            progress(report.datagrams, reader.bytes_read(), reader.total_bytes());
        }
    }
    report.truncated = reader.truncated();
    if let Some(ts) = report.last_ts {
        emit(&Event::End(ts));
    }
    progress(report.datagrams, reader.bytes_read(), reader.total_bytes());
    Ok(report)
}

/// The UDP payloads of a capture (to `port` when given) with their senders, in file order,
/// IP fragments reassembled: what a replay sends to a listener.
pub fn read_udp_payloads(
    path: &Path,
    port: Option<u16>,
) -> Result<Vec<(IpAddr, Vec<u8>)>, PcapFileError> {
    let mut reader = PcapFileReader::open(path)?;
    let mut packets = Decoder::new();
    let mut out = Vec::new();
    while let Ok(Some(rec)) = reader.next_record() {
        let p = packets.decode(rec.linktype, rec.ts, rec.data, rec.origlen);
        if let (Some(src), L4::Udp, true, true) = (
            p.src_ip,
            p.l4,
            p.has_payload(),
            port.is_none_or(|want| p.dst_port == want),
        ) {
            out.push((src, p.payload.to_vec()));
        }
    }
    Ok(out)
}
