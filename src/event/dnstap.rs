//! A dnstap message as processors see it: its type (family and side), the wire DNS message
//! of its side, addresses and ports as initiator/responder, transport and network layer,
//! and its timestamp. The receiver (`receiver::dnstap::map`) builds it from the protobuf.

use std::net::IpAddr;

use crate::config::hostspec::Direction;
use crate::decode::L3;
use crate::time::Timespec;

/// How a DNS message travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DnsTransport {
    /// Plain UDP.
    Udp,
    /// Plain TCP.
    Tcp,
    /// DNS over TLS.
    Dot,
    /// DNS over HTTPS.
    Doh,
    /// DNSCrypt over UDP.
    DnscryptUdp,
    /// DNSCrypt over TCP.
    DnscryptTcp,
    /// DNS over QUIC.
    Doq,
}

/// The family of a dnstap message type (`dnstap_msg_type` names them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MsgFamily {
    /// AUTH_QUERY / AUTH_RESPONSE.
    Auth,
    /// CLIENT_QUERY / CLIENT_RESPONSE.
    Client,
    /// FORWARDER_QUERY / FORWARDER_RESPONSE.
    Forwarder,
    /// RESOLVER_QUERY / RESOLVER_RESPONSE.
    Resolver,
    /// STUB_QUERY / STUB_RESPONSE.
    Stub,
    /// TOOL_QUERY / TOOL_RESPONSE.
    Tool,
    /// UPDATE_QUERY / UPDATE_RESPONSE.
    Update,
}

impl MsgFamily {
    /// The `dnstap_msg_type` name (`client`, …).
    pub fn name(self) -> &'static str {
        match self {
            MsgFamily::Auth => "auth",
            MsgFamily::Client => "client",
            MsgFamily::Forwarder => "forwarder",
            MsgFamily::Resolver => "resolver",
            MsgFamily::Stub => "stub",
            MsgFamily::Tool => "tool",
            MsgFamily::Update => "update",
        }
    }

    /// From a `dnstap_msg_type` name.
    pub fn from_name(name: &str) -> Option<MsgFamily> {
        Some(match name {
            "auth" => MsgFamily::Auth,
            "client" => MsgFamily::Client,
            "forwarder" => MsgFamily::Forwarder,
            "resolver" => MsgFamily::Resolver,
            "stub" => MsgFamily::Stub,
            "tool" => MsgFamily::Tool,
            "update" => MsgFamily::Update,
            _ => return None,
        })
    }
}

/// A dnstap message type: family and side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MsgType {
    /// Which family.
    pub family: MsgFamily,
    /// `*_RESPONSE` (else `*_QUERY`).
    pub response: bool,
}

impl MsgType {
    /// From the protobuf enum value (1 AUTH_QUERY … 14 UPDATE_RESPONSE).
    pub fn from_code(v: i32) -> Option<MsgType> {
        let family = match v {
            1 | 2 => MsgFamily::Auth,
            3 | 4 => MsgFamily::Resolver,
            5 | 6 => MsgFamily::Client,
            7 | 8 => MsgFamily::Forwarder,
            9 | 10 => MsgFamily::Stub,
            11 | 12 => MsgFamily::Tool,
            13 | 14 => MsgFamily::Update,
            _ => return None,
        };
        Some(MsgType {
            family,
            response: v % 2 == 0,
        })
    }

    /// Whether the logging host received this message.
    pub fn to_host(self) -> bool {
        match self.family {
            MsgFamily::Client | MsgFamily::Auth | MsgFamily::Update => !self.response,
            MsgFamily::Stub | MsgFamily::Resolver | MsgFamily::Forwarder | MsgFamily::Tool => {
                self.response
            }
        }
    }

    /// The host direction of the message.
    pub fn direction(self) -> Direction {
        if self.to_host() {
            Direction::ToHost
        } else {
            Direction::FromHost
        }
    }

    /// The two-letter mnemonic (`CQ`, `CR`, `AQ`, …).
    pub fn mnemonic(self) -> &'static str {
        match (self.family, self.response) {
            (MsgFamily::Auth, false) => "AQ",
            (MsgFamily::Auth, true) => "AR",
            (MsgFamily::Client, false) => "CQ",
            (MsgFamily::Client, true) => "CR",
            (MsgFamily::Forwarder, false) => "FQ",
            (MsgFamily::Forwarder, true) => "FR",
            (MsgFamily::Resolver, false) => "RQ",
            (MsgFamily::Resolver, true) => "RR",
            (MsgFamily::Stub, false) => "SQ",
            (MsgFamily::Stub, true) => "SR",
            (MsgFamily::Tool, false) => "TQ",
            (MsgFamily::Tool, true) => "TR",
            (MsgFamily::Update, false) => "UQ",
            (MsgFamily::Update, true) => "UR",
        }
    }
}

/// A dnstap message ready for the processors.
#[derive(Clone, Copy, Debug)]
pub struct DnstapEvent<'a> {
    /// When it happened (see the module doc).
    pub ts: Timespec,
    /// Its type.
    pub msg_type: MsgType,
    /// Bytes of the whole dnstap frame (pktvisor's size for the net handler).
    pub frame_len: usize,
    /// The wire DNS message of this side (`query_message` or `response_message`).
    pub wire: Option<&'a [u8]>,
    /// Transport from `socket_protocol`.
    pub transport: Option<DnsTransport>,
    /// Network layer from `socket_family` (else from the address length).
    pub l3: L3,
    /// Initiator address.
    pub query_address: Option<IpAddr>,
    /// Responder address.
    pub response_address: Option<IpAddr>,
    /// Initiator port (0 when absent).
    pub query_port: u16,
    /// Responder port (0 when absent).
    pub response_port: u16,
}

impl DnstapEvent<'_> {
    /// The host direction.
    pub fn direction(&self) -> Direction {
        self.msg_type.direction()
    }

    /// Sender address of this message.
    pub fn src_ip(&self) -> Option<IpAddr> {
        if self.msg_type.response {
            self.response_address
        } else {
            self.query_address
        }
    }

    /// Receiver address of this message.
    pub fn dst_ip(&self) -> Option<IpAddr> {
        if self.msg_type.response {
            self.query_address
        } else {
            self.response_address
        }
    }

    /// Sender port.
    pub fn src_port(&self) -> u16 {
        if self.msg_type.response {
            self.response_port
        } else {
            self.query_port
        }
    }

    /// Receiver port.
    pub fn dst_port(&self) -> u16 {
        if self.msg_type.response {
            self.query_port
        } else {
            self.response_port
        }
    }
}
