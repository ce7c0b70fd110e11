//! The UDP payloads of a capture of flow exports, for replaying them to a listener (tests,
//! benchmarks, examples). The flow input's own capture-file mode is its receiver
//! (`receiver::FlowFileReceiver`).

use std::net::IpAddr;
use std::path::Path;

use crate::decode::{Decoder, L4};
use crate::receiver::pcap_file::{PcapFileError, PcapFileReader};

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
