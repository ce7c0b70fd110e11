//! From a decoded dnstap `Message` to the facts the dns and net processors use: the wire DNS
//! message of the message's side, its message type, addresses and ports as source and
//! destination, transport, network layer, the host direction and the timestamp.
//!
//! pktvisor's rules (reference §5.1–§5.3): a `*_QUERY` carries `query_message` and goes from
//! `query_address` to `response_address`; a `*_RESPONSE` carries `response_message` and goes
//! the other way. The host (the DNS software that logged the message) receives
//! CLIENT_QUERY, AUTH_QUERY, UPDATE_QUERY and STUB/RESOLVER/FORWARDER/TOOL_RESPONSE
//! (`ToHost`); it sends the others (`FromHost`). The timestamp is `response_time` of a
//! response and `query_time` of a query; pktvisor does this only for the CLIENT, AUTH and
//! RESOLVER families and uses the wall clock for the others; here every family uses its own
//! time when the message carries it, and the caller's fallback clock otherwise.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::proto;
use crate::config::hostspec::Direction;
use crate::decode::L3;
use crate::processor::dns::DnsTransport;
use crate::time::Timespec;

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

/// Why a frame is not a usable dnstap message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The protobuf does not decode.
    #[error("invalid dnstap protobuf: {0}")]
    Protobuf(String),
    /// `Dnstap.type` is not MESSAGE or there is no message.
    #[error("dnstap frame is not a MESSAGE")]
    NotMessage,
    /// An unknown `Message.type`.
    #[error("unknown dnstap message type {0}")]
    UnknownType(i32),
}

fn address(b: Option<&bytes::Bytes>) -> Option<IpAddr> {
    let b = b?;
    if let Ok(a) = <[u8; 4]>::try_from(b.as_ref()) {
        return Some(IpAddr::V4(Ipv4Addr::from(a)));
    }
    <[u8; 16]>::try_from(b.as_ref())
        .ok()
        .map(|a| IpAddr::V6(Ipv6Addr::from(a)))
}

fn port(p: Option<u32>) -> u16 {
    p.and_then(|p| u16::try_from(p).ok()).unwrap_or(0)
}

fn time(sec: Option<u64>, nsec: Option<u32>) -> Option<Timespec> {
    let sec = i64::try_from(sec?).ok()?;
    Some(Timespec::new(sec, nsec.unwrap_or(0)))
}

/// Decodes one data frame into a dnstap message.
pub fn decode_frame(frame: bytes::Bytes) -> Result<proto::Dnstap, MapError> {
    let d = <proto::Dnstap as prost::Message>::decode(frame)
        .map_err(|e| MapError::Protobuf(e.to_string()))?;
    if d.r#type != proto::dnstap::Type::Message as i32 || d.message.is_none() {
        return Err(MapError::NotMessage);
    }
    Ok(d)
}

impl<'a> DnstapEvent<'a> {
    /// Maps a message; `fallback` is the time used when the message carries none for its side.
    pub fn from_message(
        m: &'a proto::Message,
        frame_len: usize,
        fallback: Timespec,
    ) -> Result<DnstapEvent<'a>, MapError> {
        let msg_type = MsgType::from_code(m.r#type).ok_or(MapError::UnknownType(m.r#type))?;
        let query_address = address(m.query_address.as_ref());
        let response_address = address(m.response_address.as_ref());
        let l3 = match m.socket_family {
            Some(1) => L3::Ipv4,
            Some(2) => L3::Ipv6,
            _ => match query_address.or(response_address) {
                Some(IpAddr::V4(_)) => L3::Ipv4,
                Some(IpAddr::V6(_)) => L3::Ipv6,
                None => L3::None,
            },
        };
        let transport = match m.socket_protocol {
            Some(1) => Some(DnsTransport::Udp),
            Some(2) => Some(DnsTransport::Tcp),
            Some(3) => Some(DnsTransport::Dot),
            Some(4) => Some(DnsTransport::Doh),
            Some(5) => Some(DnsTransport::DnscryptUdp),
            Some(6) => Some(DnsTransport::DnscryptTcp),
            Some(7) => Some(DnsTransport::Doq),
            _ => None,
        };
        let (wire, ts) = if msg_type.response {
            (
                m.response_message.as_deref(),
                time(m.response_time_sec, m.response_time_nsec),
            )
        } else {
            (
                m.query_message.as_deref(),
                time(m.query_time_sec, m.query_time_nsec),
            )
        };
        Ok(DnstapEvent {
            ts: ts.unwrap_or(fallback),
            msg_type,
            frame_len,
            wire: wire.filter(|w| !w.is_empty()),
            transport,
            l3,
            query_address,
            response_address,
            query_port: port(m.query_port),
            response_port: port(m.response_port),
        })
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(t: i32) -> proto::Message {
        proto::Message {
            r#type: t,
            socket_family: Some(1),
            socket_protocol: Some(1),
            query_address: Some(bytes::Bytes::from_static(&[192, 168, 0, 54])),
            response_address: Some(bytes::Bytes::from_static(&[192, 168, 0, 55])),
            query_port: Some(47173),
            response_port: Some(53),
            query_time_sec: Some(100),
            query_time_nsec: Some(5),
            response_time_sec: Some(101),
            response_time_nsec: Some(7),
            query_message: Some(bytes::Bytes::from_static(b"q")),
            response_message: Some(bytes::Bytes::from_static(b"r")),
            ..Default::default()
        }
    }

    #[test]
    fn sides_directions_and_times() {
        let now = Timespec::new(1, 0);
        let cq = msg(5);
        let e = DnstapEvent::from_message(&cq, 10, now).unwrap();
        assert_eq!(e.msg_type.mnemonic(), "CQ");
        assert_eq!(e.direction(), Direction::ToHost);
        assert_eq!(e.wire, Some(&b"q"[..]));
        assert_eq!(e.ts, Timespec::new(100, 5));
        assert_eq!(e.src_ip(), Some("192.168.0.54".parse().unwrap()));
        assert_eq!((e.src_port(), e.dst_port()), (47173, 53));
        let cr = msg(6);
        let e = DnstapEvent::from_message(&cr, 10, now).unwrap();
        assert_eq!(e.direction(), Direction::FromHost);
        assert_eq!(e.wire, Some(&b"r"[..]));
        assert_eq!(e.ts, Timespec::new(101, 7));
        assert_eq!(e.src_ip(), Some("192.168.0.55".parse().unwrap()));
        let rr = msg(4);
        let e = DnstapEvent::from_message(&rr, 10, now).unwrap();
        assert_eq!(e.direction(), Direction::ToHost);
        let mut sq = msg(9);
        sq.query_time_sec = None;
        let e = DnstapEvent::from_message(&sq, 10, now).unwrap();
        assert_eq!((e.direction(), e.ts), (Direction::FromHost, now));
        assert_eq!(
            DnstapEvent::from_message(&msg(15), 1, now).unwrap_err(),
            MapError::UnknownType(15)
        );
    }

    #[test]
    fn families_and_odd_fields() {
        for (code, dir) in [
            (1, Direction::ToHost),
            (2, Direction::FromHost),
            (3, Direction::FromHost),
            (7, Direction::FromHost),
            (8, Direction::ToHost),
            (10, Direction::ToHost),
            (11, Direction::FromHost),
            (12, Direction::ToHost),
            (13, Direction::ToHost),
            (14, Direction::FromHost),
        ] {
            assert_eq!(MsgType::from_code(code).unwrap().direction(), dir, "{code}");
        }
        let mut m = msg(5);
        m.socket_family = None;
        m.socket_protocol = Some(99);
        m.query_address = Some(bytes::Bytes::from_static(&[1, 2, 3]));
        m.response_address = Some(bytes::Bytes::from(vec![0u8; 16]));
        m.query_port = Some(70_000);
        let e = DnstapEvent::from_message(&m, 1, Timespec::default()).unwrap();
        assert_eq!((e.l3, e.transport, e.query_port), (L3::Ipv6, None, 0));
        assert_eq!(e.query_address, None);
        assert_eq!(
            MsgFamily::from_name("tool").map(MsgFamily::name),
            Some("tool")
        );
    }
}
