//! The dns processors (v1 `dns`, v2 `dns` per direction) and what they share: turning UDP
//! packets and TCP stream bytes into DNS messages with their flow facts, the per-connection
//! TCP framing state and the first question decoded once.
//!
//! Both versions are one engine (`engine`) over a metric layout (`v1`: per message, one
//! flat bucket; `v2`: per transaction, per direction). The rest: `config` (options and
//! their pktvisor error texts), `filter` (the filters, by message side), `metrics` (the
//! counters and top lists both versions keep), `schema` (groups and metric names of both),
//! `qname` (QNAME aggregation) and `xact` (the pending-transaction table).
//!
//! A UDP packet is DNS when either port is a DNS port (53, 5353, 5355, 53000); DNS over TCP
//! arrives as reassembled stream bytes, framed by the 2-byte length prefix per direction.
//! A TCP message shorter than 17 bytes (too short to hold a question) marks that direction
//! of the connection invalid, as pktvisor does. dnstap messages carry their DNS message
//! with the dnstap facts (`DnsPacket::from_dnstap`).

pub mod config;
pub mod engine;
pub mod filter;
pub mod metrics;
pub mod qname;
pub mod schema;
pub mod v1;
pub mod v2;
pub mod xact;

/// The dns v1 processor: per-message counters in one flat bucket.
pub type DnsV1 = engine::Dns<v1::V1>;
/// The dns v1 handler's configuration.
pub type DnsV1Config = crate::processor::net::family::Config<DnsV1>;
/// The dns v2 processor: per-transaction counters per direction.
pub type DnsV2 = engine::Dns<v2::V2>;
/// The dns v2 handler's configuration.
pub type DnsV2Config = crate::processor::net::family::Config<DnsV2>;

use std::collections::HashMap;
use std::net::IpAddr;

use crate::config::hostspec::Direction;
use crate::decode::shard::mix64;
use crate::decode::tcp_stream::{PortSet, TcpFlow};
use crate::decode::{L3, L4, PacketInfo};
use crate::event::{DnsTransport, DnstapEvent, MsgFamily};
use crate::time::Timespec;
use crate::wire::dns::{DNS_PORTS, DnsMessage, TcpDnsFramer};

/// What a DNS message from dnstap carries besides the packet facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnstapInfo {
    /// The message type's family (`dnstap_msg_type` matches it).
    pub family: MsgFamily,
    /// The initiator's port (pktvisor's "metric port" for dnstap), 0 when absent.
    pub query_port: u16,
    /// Whether `socket_protocol` was present (else no transport counter moves).
    pub has_transport: bool,
}

/// One DNS message with the facts of the packet or stream that carried it.
#[derive(Clone, Copy)]
pub struct DnsPacket<'a> {
    /// When it was seen.
    pub ts: Timespec,
    /// The message.
    pub msg: DnsMessage<'a>,
    /// Message length in bytes.
    pub size: usize,
    /// Transport.
    pub transport: DnsTransport,
    /// Network layer.
    pub l3: L3,
    /// Host direction of the packet.
    pub direction: Direction,
    /// Sender address.
    pub src_ip: Option<IpAddr>,
    /// Receiver address.
    pub dst_ip: Option<IpAddr>,
    /// Sender port.
    pub src_port: u16,
    /// Receiver port.
    pub dst_port: u16,
    /// Set when the message came from dnstap.
    pub dnstap: Option<DnstapInfo>,
}

/// Whether `port` is one of pktvisor's DNS ports.
pub fn is_dns_port(port: u16) -> bool {
    DNS_PORTS.contains(&port)
}

/// The DNS ports as a set (TCP reassembly interest).
pub fn dns_port_set() -> PortSet {
    let mut s = PortSet::default();
    for p in DNS_PORTS {
        s.insert(p);
    }
    s
}

fn ip_key(ip: Option<IpAddr>) -> u128 {
    match ip {
        Some(IpAddr::V4(a)) => u128::from(u32::from(a)) | (1u128 << 127),
        Some(IpAddr::V6(a)) => u128::from(a),
        None => 0,
    }
}

impl<'a> DnsPacket<'a> {
    /// The DNS message of a UDP packet on a DNS port, if it has a DNS header.
    pub fn from_udp(p: &PacketInfo<'a>) -> Option<DnsPacket<'a>> {
        if p.l4 != L4::Udp || !p.has_payload() {
            return None;
        }
        if !is_dns_port(p.src_port) && !is_dns_port(p.dst_port) {
            return None;
        }
        let msg = DnsMessage::new_checked(p.payload).ok()?;
        Some(DnsPacket {
            ts: p.ts,
            msg,
            size: p.payload.len(),
            transport: DnsTransport::Udp,
            l3: p.l3,
            direction: p.direction,
            src_ip: p.src_ip,
            dst_ip: p.dst_ip,
            src_port: p.src_port,
            dst_port: p.dst_port,
            dnstap: None,
        })
    }

    /// A DNS message framed from a TCP stream.
    pub fn from_tcp(flow: &TcpFlow, ts: Timespec, data: &'a [u8]) -> Option<DnsPacket<'a>> {
        let msg = DnsMessage::new_checked(data).ok()?;
        Some(DnsPacket {
            ts,
            msg,
            size: data.len(),
            transport: DnsTransport::Tcp,
            l3: flow.l3,
            direction: flow.direction,
            src_ip: Some(flow.src_ip),
            dst_ip: Some(flow.dst_ip),
            src_port: flow.src_port,
            dst_port: flow.dst_port,
            dnstap: None,
        })
    }

    /// The DNS message of a dnstap message, if it carries one with a DNS header.
    pub fn from_dnstap(ev: &DnstapEvent<'a>) -> Option<DnsPacket<'a>> {
        let wire = ev.wire?;
        let msg = DnsMessage::new_checked(wire).ok()?;
        Some(DnsPacket {
            ts: ev.ts,
            msg,
            size: wire.len(),
            transport: ev.transport.unwrap_or(DnsTransport::Udp),
            l3: ev.l3,
            direction: ev.direction(),
            src_ip: ev.src_ip(),
            dst_ip: ev.dst_ip(),
            src_port: ev.src_port(),
            dst_port: ev.dst_port(),
            dnstap: Some(DnstapInfo {
                family: ev.msg_type.family,
                query_port: ev.query_port,
                has_transport: ev.transport.is_some(),
            }),
        })
    }

    /// Whether a transport counter applies (dnstap messages without `socket_protocol` have
    /// no transport).
    pub fn transport_known(&self) -> bool {
        self.dnstap.is_none_or(|d| d.has_transport)
    }

    /// A hash of the conversation, equal for both directions: the ordered endpoints and
    /// the transport, mixed word by word (no buffer to fill).
    pub fn flow_hash(&self) -> u64 {
        let a = (ip_key(self.src_ip), self.src_port);
        let b = (ip_key(self.dst_ip), self.dst_port);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let transport: u64 = match self.transport {
            DnsTransport::Udp | DnsTransport::DnscryptUdp | DnsTransport::Doq => 17,
            _ => 6,
        };
        let ports = (u64::from(lo.1) << 32) | (u64::from(hi.1) << 16) | transport;
        [
            (lo.0 >> 64) as u64,
            lo.0 as u64,
            (hi.0 >> 64) as u64,
            hi.0 as u64,
            ports,
        ]
        .into_iter()
        .fold(0x9e37_79b9_7f4a_7c15, |h, w| mix64(h ^ w))
    }

    /// The port that is not the DNS port (pktvisor's "metric port": the client's; for
    /// dnstap the initiator's port).
    pub fn client_port(&self) -> u16 {
        if let Some(d) = self.dnstap {
            d.query_port
        } else if is_dns_port(self.dst_port) {
            self.src_port
        } else {
            self.dst_port
        }
    }
}

/// Per-direction DNS framing state of the TCP connections a processor follows.
#[derive(Debug, Default)]
pub struct TcpSessions {
    sessions: HashMap<(u64, u16), Session>,
    dropped: u64,
    invalid: u64,
}

#[derive(Debug, Default)]
struct Session {
    framer: TcpDnsFramer,
    invalid: bool,
}

/// Most connection directions framed at once.
pub const MAX_TCP_SESSIONS: usize = 65_536;

impl TcpSessions {
    /// Frames `data` of one direction of a connection; complete messages go to `out`.
    pub fn data(
        &mut self,
        flow: &TcpFlow,
        data: &[u8],
        after_gap: bool,
        out: &mut dyn FnMut(&[u8]),
    ) {
        if !is_dns_port(flow.src_port) && !is_dns_port(flow.dst_port) {
            return;
        }
        let key = (flow.conn_id, flow.src_port);
        if !self.sessions.contains_key(&key) && self.sessions.len() >= MAX_TCP_SESSIONS {
            self.dropped += 1;
            return;
        }
        let s = self.sessions.entry(key).or_default();
        if after_gap {
            s.framer.reset();
            s.invalid = false;
        }
        if s.invalid {
            return;
        }
        let mut invalid = false;
        s.framer.push(data, &mut |msg: &[u8]| {
            if invalid {
                return;
            }
            if msg.len() < 17 {
                invalid = true;
                return;
            }
            out(msg);
        });
        if invalid {
            s.invalid = true;
            self.invalid += 1;
        }
    }

    /// A connection ended: forget both directions.
    pub fn end(&mut self, flow: &TcpFlow) {
        self.sessions.remove(&(flow.conn_id, flow.src_port));
        self.sessions.remove(&(flow.conn_id, flow.dst_port));
    }

    /// Connection directions followed now.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether none is followed.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Directions not followed because the table was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Directions abandoned after a message too short to be DNS.
    pub fn invalid(&self) -> u64 {
        self.invalid
    }
}

/// The RCODE name pktvisor prints (the number when unknown).
pub fn rcode_label(code: u16) -> String {
    crate::wire::dns::rcode_name(code).map_or_else(|| code.to_string(), str::to_string)
}

/// The QTYPE name pktvisor prints (the number when unknown).
pub fn qtype_label(t: u16) -> String {
    crate::wire::dns::qtype_name(t).map_or_else(|| t.to_string(), str::to_string)
}

/// Decodes the first question's name, lower-cased, into `buf`; returns its QTYPE.
/// `None` (and an empty `buf`) when the message has no parsable question.
pub fn first_question(msg: &DnsMessage<'_>, buf: &mut String) -> Option<u16> {
    buf.clear();
    let q = msg.first_question().ok()??;
    if q.name.write_to(buf, true).is_err() {
        buf.clear();
        return None;
    }
    Some(q.qtype)
}

/// The first question's name as on the wire (original case).
pub fn qname_original(msg: &DnsMessage<'_>) -> Option<String> {
    let q = msg.first_question().ok()??;
    q.name.to_string_lossless().ok()
}

/// The EDNS Client Subnet address of a message, if it carries one.
pub fn ecs_address(msg: &DnsMessage<'_>) -> Option<IpAddr> {
    if msg.arcount() == 0 {
        return None;
    }
    let opt = msg.opt()?;
    opt.options()
        .find(|(code, _)| *code == crate::wire::dns::opt_code::CLIENT_SUBNET)
        .and_then(|(_, data)| crate::wire::dns::ClientSubnet::parse(data).ok())
        .map(|s| s.address)
}

/// Whether the answer section holds an RRSIG.
pub fn has_rrsig_answer(msg: &DnsMessage<'_>) -> bool {
    if msg.ancount() == 0 {
        return false;
    }
    msg.records()
        .map_while(Result::ok)
        .take_while(|r| r.section == crate::wire::dns::Section::Answer)
        .any(|r| r.rtype == crate::wire::dns::rtype::RRSIG)
}

/// The first question of the message being processed, decoded at most once.
#[derive(Debug, Default)]
pub struct QuestionCache {
    qname: String,
    qtype: Option<u16>,
    done: bool,
}

impl QuestionCache {
    /// Forgets the previous message.
    pub fn reset(&mut self) {
        self.done = false;
        self.qtype = None;
        self.qname.clear();
    }

    /// The QTYPE of the first question (decoding it and its lower-cased name on first use).
    pub fn qtype(&mut self, msg: &DnsMessage<'_>) -> Option<u16> {
        if !self.done {
            self.qtype = first_question(msg, &mut self.qname);
            self.done = true;
        }
        self.qtype
    }

    /// The lower-cased first QNAME ("" when there is none); call `qtype` first.
    pub fn name(&self) -> &str {
        &self.qname
    }

    /// Whether the message has a parsable question (decoding it if needed).
    pub fn has_question(&mut self, msg: &DnsMessage<'_>) -> bool {
        self.qtype(msg).is_some()
    }
}
