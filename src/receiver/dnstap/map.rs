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
use crate::decode::L3;
use crate::event::{DnsTransport, DnstapEvent, MsgType};
use crate::time::Timespec;

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::hostspec::Direction;
    use crate::event::MsgFamily;

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
