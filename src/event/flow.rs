//! A decoded flow export datagram (sFlow, NetFlow, IPFIX) as the flow processor sees it:
//! the device it describes, who sent it, when, and its flow records.

use std::net::IpAddr;

use crate::time::Timespec;
use crate::wire::flow::FlowRecord;

/// Which protocol (and version) a datagram used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowProtocol {
    /// sFlow of this version.
    Sflow(u32),
    /// NetFlow of this version (10 = IPFIX).
    Netflow(u16),
}

/// One decoded datagram: the event flow processors receive.
#[derive(Clone, Copy, Debug)]
pub struct FlowDatagram<'a> {
    /// The device the records describe: the sFlow agent address, else the exporter.
    pub device: IpAddr,
    /// The UDP sender.
    pub exporter: IpAddr,
    /// When it was received (capture time in file mode).
    pub ts: Timespec,
    /// The exporter's own clock (NetFlow/IPFIX header), if any.
    pub export_time: Option<Timespec>,
    /// Protocol and version.
    pub protocol: FlowProtocol,
    /// The flow records.
    pub records: &'a [FlowRecord],
}
