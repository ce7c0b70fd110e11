//! The contract between receivers and processors: everything a receiver (or the stream
//! runner on its behalf) hands to a policy's processors. Receivers produce these events and
//! never know who consumes them; processors consume them and never know which receiver
//! made them. Both depend only on this module (and the decoded packet view of `decode`).
//!
//! - `Event`: one delivery (a decoded packet, TCP stream data, a dnstap message, a flow
//!   datagram, a probe result, capture statistics, stream start/heartbeat/end, topology changes).
//! - `dnstap`: a dnstap message as the dns and net processors see it.
//! - `flow`: a decoded sFlow / NetFlow / IPFIX datagram.
//! - `netprobe`: the result of one active probe (ping or TCP connect).

pub mod dnstap;
pub mod flow;
pub mod netprobe;

use crate::decode::PacketInfo;
use crate::decode::tcp_stream::{TcpFlow, TcpStreamEvent};
use crate::time::Timespec;

pub use dnstap::{DnsTransport, DnstapEvent, MsgFamily, MsgType};
pub use flow::{FlowDatagram, FlowProtocol};
pub use netprobe::{ProbeOutcome, ProbeResult, ProbeTest};

/// Cumulative capture-side counters, sent to processors by the receiver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packets the operating system dropped (libpcap `ps_drop`).
    pub os_drops: u64,
    /// Packets the interface dropped (libpcap `ps_ifdrop`).
    pub if_drops: u64,
    /// TCP segments the reassembler could not use (gaps given up on).
    pub tcp_reassembly_errors: u64,
}

/// A complete application message framed from a TCP stream by a processor (a DNS message),
/// forwarded to the processors chained after it.
#[derive(Debug)]
pub struct TcpMessage<'a> {
    /// The connection direction that carried it.
    pub flow: TcpFlow,
    /// When it became complete.
    pub ts: Timespec,
    /// The message bytes.
    pub data: &'a [u8],
}

/// How many user policies and handlers an input stream feeds (input_resources).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Topology {
    /// Policies attached, not counting the input's own resources policy.
    pub policies: usize,
    /// Their handlers (a chain counts as one).
    pub handlers: usize,
}

/// What a receiver hands to processors.
#[derive(Debug)]
pub enum Event<'a> {
    /// The stream's first timestamp (recorded streams: the first packet).
    Start(Timespec),
    /// One decoded frame.
    Packet(&'a PacketInfo<'a>),
    /// Reassembled TCP stream data or connection start/end.
    Tcp(&'a TcpStreamEvent<'a>),
    /// A message framed from a TCP stream by an earlier processor in a chain.
    TcpMessage(&'a TcpMessage<'a>),
    /// A dnstap message (dnstap input).
    Dnstap(&'a DnstapEvent<'a>),
    /// One decoded sFlow / NetFlow / IPFIX datagram (flow input).
    Flow(&'a FlowDatagram<'a>),
    /// The result of one active probe (netprobe input).
    Probe(&'a ProbeResult),
    /// The policies and handlers attached to the input changed.
    Topology(&'a Topology),
    /// Cumulative capture statistics.
    Stats(&'a CaptureStats),
    /// A heartbeat of a live stream (rotates buckets without traffic).
    Tick(Timespec),
    /// The stream's last timestamp (recorded streams: the last packet).
    End(Timespec),
    /// The stream's clock reached a time (a recording spread over several workers: every
    /// worker's windows move to the stream's time where one worker's packet moved it, so
    /// their buckets start at the same packets).
    Clock(Timespec),
}
