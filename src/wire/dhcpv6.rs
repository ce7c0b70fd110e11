//! DHCPv6 messages (RFC 8415): client/server and relay layouts and their options.
//!
//! Client/server messages are type + 3-byte transaction ID + options; relay
//! messages (RELAY-FORW, RELAY-REPL) are type + hop count + link address +
//! peer address + options. [`Dhcpv6Options`] iterates `(code, data)` and stops
//! cleanly, remembering `malformed`, when an option overruns the message.

use std::net::Ipv6Addr;
use std::ops::Range;

use super::{WireError, read_array, read_u8, read_u16, read_u24, rest};

/// DHCPv6 message types.
pub mod message_type {
    /// SOLICIT.
    pub const SOLICIT: u8 = 1;
    /// ADVERTISE.
    pub const ADVERTISE: u8 = 2;
    /// REQUEST.
    pub const REQUEST: u8 = 3;
    /// CONFIRM.
    pub const CONFIRM: u8 = 4;
    /// RENEW.
    pub const RENEW: u8 = 5;
    /// REBIND.
    pub const REBIND: u8 = 6;
    /// REPLY.
    pub const REPLY: u8 = 7;
    /// RELEASE.
    pub const RELEASE: u8 = 8;
    /// DECLINE.
    pub const DECLINE: u8 = 9;
    /// RECONFIGURE.
    pub const RECONFIGURE: u8 = 10;
    /// INFORMATION-REQUEST.
    pub const INFORMATION_REQUEST: u8 = 11;
    /// RELAY-FORW.
    pub const RELAY_FORW: u8 = 12;
    /// RELAY-REPL.
    pub const RELAY_REPL: u8 = 13;
}

/// Option codes used by the helpers.
pub mod option {
    /// Client Identifier (DUID).
    pub const CLIENTID: u16 = 1;
    /// Server Identifier (DUID).
    pub const SERVERID: u16 = 2;
    /// Identity Association for Non-temporary Addresses.
    pub const IA_NA: u16 = 3;
    /// Identity Association for Temporary Addresses.
    pub const IA_TA: u16 = 4;
    /// IA Address.
    pub const IAADDR: u16 = 5;
    /// Option Request.
    pub const ORO: u16 = 6;
    /// Preference.
    pub const PREFERENCE: u16 = 7;
    /// Elapsed Time.
    pub const ELAPSED_TIME: u16 = 8;
    /// Relay Message (the relayed message, in relay messages).
    pub const RELAY_MSG: u16 = 9;
    /// Status Code.
    pub const STATUS_CODE: u16 = 13;
    /// Interface-Id.
    pub const INTERFACE_ID: u16 = 18;
    /// Identity Association for Prefix Delegation.
    pub const IA_PD: u16 = 25;
    /// IA Prefix.
    pub const IAPREFIX: u16 = 26;
}

const MSG_TYPE: usize = 0;
const TRANSACTION_ID: Range<usize> = 1..4;
const CLIENT_OPTIONS: usize = 4;
const HOP_COUNT: usize = 1;
const LINK_ADDRESS: Range<usize> = 2..18;
const PEER_ADDRESS: Range<usize> = 18..34;
const RELAY_OPTIONS: usize = 34;

/// Length of a client/server message header.
pub const HEADER_LEN: usize = CLIENT_OPTIONS;

/// Length of a relay message header.
pub const RELAY_HEADER_LEN: usize = RELAY_OPTIONS;

/// An iterator over `(code, data)` of DHCPv6 options.
///
/// Stops at the end of the data, or (setting [`Dhcpv6Options::malformed`])
/// when an option header or its data runs past it.
#[derive(Clone, Debug)]
pub struct Dhcpv6Options<'a> {
    data: &'a [u8],
    malformed: bool,
}

impl<'a> Dhcpv6Options<'a> {
    /// Iterates the options encoded in `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Dhcpv6Options {
            data,
            malformed: false,
        }
    }

    /// Whether iteration stopped on an option that overran the data.
    pub fn malformed(&self) -> bool {
        self.malformed
    }
}

impl<'a> Iterator for Dhcpv6Options<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        let parsed = self.data.split_at_checked(4).and_then(|(head, after)| {
            let code = read_u16(head, 0..2);
            let len = usize::from(read_u16(head, 2..4));
            after
                .split_at_checked(len)
                .map(|(data, after)| (code, data, after))
        });
        match parsed {
            Some((code, data, after)) => {
                self.data = after;
                Some((code, data))
            }
            None => {
                self.data = &[];
                self.malformed = true;
                None
            }
        }
    }
}

/// A read-only view of a DHCPv6 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dhcpv6Message<'a> {
    buf: &'a [u8],
}

impl<'a> Dhcpv6Message<'a> {
    /// Checks the header: `Truncated` when shorter than 4 bytes, or than the
    /// 34-byte relay header for RELAY-FORW / RELAY-REPL.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        if buf.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let msg = Dhcpv6Message { buf };
        if msg.is_relay() && buf.len() < RELAY_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(msg)
    }

    /// Message type (see [`message_type`]).
    pub fn msg_type(&self) -> u8 {
        read_u8(self.buf, MSG_TYPE)
    }

    /// Whether this is a RELAY-FORW or RELAY-REPL message.
    pub fn is_relay(&self) -> bool {
        matches!(
            self.msg_type(),
            message_type::RELAY_FORW | message_type::RELAY_REPL
        )
    }

    /// The 24-bit transaction ID (0 for relay messages, which have none).
    pub fn transaction_id(&self) -> u32 {
        if self.is_relay() {
            0
        } else {
            read_u24(self.buf, TRANSACTION_ID)
        }
    }

    /// Hop count of a relay message.
    pub fn hop_count(&self) -> Option<u8> {
        self.is_relay().then(|| read_u8(self.buf, HOP_COUNT))
    }

    /// Link address of a relay message.
    pub fn link_address(&self) -> Option<Ipv6Addr> {
        self.is_relay()
            .then(|| Ipv6Addr::from(read_array::<16>(self.buf, LINK_ADDRESS)))
    }

    /// Peer address of a relay message.
    pub fn peer_address(&self) -> Option<Ipv6Addr> {
        self.is_relay()
            .then(|| Ipv6Addr::from(read_array::<16>(self.buf, PEER_ADDRESS)))
    }

    /// The raw options area (after the client/server or relay header).
    pub fn options_bytes(&self) -> &'a [u8] {
        let start = if self.is_relay() {
            RELAY_OPTIONS
        } else {
            CLIENT_OPTIONS
        };
        rest(self.buf, start)
    }

    /// Iterates the top-level options.
    pub fn options(&self) -> Dhcpv6Options<'a> {
        Dhcpv6Options::new(self.options_bytes())
    }

    /// Whether the options area has an option that overruns it.
    pub fn options_malformed(&self) -> bool {
        let mut it = self.options();
        it.by_ref().for_each(drop);
        it.malformed()
    }

    /// The data of the first top-level option with `code`.
    pub fn option(&self, code: u16) -> Option<&'a [u8]> {
        self.options().find(|&(c, _)| c == code).map(|(_, d)| d)
    }

    /// Client Identifier DUID (option 1).
    pub fn client_id(&self) -> Option<&'a [u8]> {
        self.option(option::CLIENTID)
    }

    /// Server Identifier DUID (option 2).
    pub fn server_id(&self) -> Option<&'a [u8]> {
        self.option(option::SERVERID)
    }

    /// The relayed message (option 9) of a relay message; parse it with
    /// [`Dhcpv6Message::new_checked`] again.
    pub fn relay_message(&self) -> Option<&'a [u8]> {
        self.option(option::RELAY_MSG)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{hex, no_panic};

    // UDP payloads of pktvisor fixture dhcpv6.pcap; client DUID
    // 00010001 1c39cf88 080027fe8f95, server DUID 00010001 1c3825e8 080027d410bb.

    // Packet 2: SOLICIT, transaction 0x100874.
    const D6_SOLICIT: &str = "\
        011008740001000e000100011c39cf88080027fe8f9500060004001700180008\
        000200000019000c27fe8f9500000e1000001518";

    // Packet 5: ADVERTISE (IA_PD with prefix 2001:0:0:fe00::/64).
    const D6_ADVERTISE: &str = "\
        021008740019002927fe8f950000000000000000001a00190000119400001c20\
        40200100000000fe0000000000000000000001000e000100011c39cf88080027\
        fe8f950002000e000100011c3825e8080027d410bb";

    // Packet 7: REQUEST, transaction 0x49174e.
    const D6_REQUEST: &str = "\
        0349174e0001000e000100011c39cf88080027fe8f950002000e000100011c38\
        25e8080027d410bb00060004001700180008000200000019002927fe8f950000\
        0e1000001518001a001900001c2000001d4c40200100000000fe000000000000\
        000000";

    // Packet 8: REPLY.
    const D6_REPLY: &str = "\
        0749174e0019002927fe8f950000000000000000001a00190000119400001c20\
        40200100000000fe0000000000000000000001000e000100011c39cf88080027\
        fe8f950002000e000100011c3825e8080027d410bb";

    const ALL: [&str; 4] = [D6_SOLICIT, D6_ADVERTISE, D6_REQUEST, D6_REPLY];

    const CLIENT_DUID: &str = "000100011c39cf88080027fe8f95";
    const SERVER_DUID: &str = "000100011c3825e8080027d410bb";

    /// Crafted: the real SOLICIT wrapped in a RELAY-FORW (hop count 1, link
    /// 2001:db8::1, peer fe80::a00:27ff:fefe:8f95) with an Interface-Id option.
    fn relay_forw() -> Vec<u8> {
        let inner = hex(D6_SOLICIT);
        let mut v = vec![message_type::RELAY_FORW, 1];
        v.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        v.extend_from_slice(
            &"fe80::a00:27ff:fefe:8f95"
                .parse::<Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        v.extend_from_slice(&[0, 18, 0, 4, b'e', b't', b'h', b'0']);
        v.extend_from_slice(&option::RELAY_MSG.to_be_bytes());
        v.extend_from_slice(&(inner.len() as u16).to_be_bytes());
        v.extend_from_slice(&inner);
        v
    }

    #[test]
    fn solicit() {
        let b = hex(D6_SOLICIT);
        let m = Dhcpv6Message::new_checked(&b).unwrap();
        assert_eq!(m.msg_type(), message_type::SOLICIT);
        assert!(!m.is_relay());
        assert_eq!(m.transaction_id(), 0x100874);
        assert_eq!(m.client_id(), Some(hex(CLIENT_DUID).as_slice()));
        assert_eq!(m.server_id(), None);
        assert_eq!(m.hop_count(), None);
        assert_eq!(m.link_address(), None);
        let codes: Vec<u16> = m.options().map(|(c, _)| c).collect();
        assert_eq!(
            codes,
            [
                option::CLIENTID,
                option::ORO,
                option::ELAPSED_TIME,
                option::IA_PD
            ]
        );
        assert!(!m.options_malformed());
    }

    #[test]
    fn advertise_request_reply() {
        let b = hex(D6_ADVERTISE);
        let m = Dhcpv6Message::new_checked(&b).unwrap();
        assert_eq!(m.msg_type(), message_type::ADVERTISE);
        assert_eq!(m.transaction_id(), 0x100874);
        assert_eq!(m.server_id(), Some(hex(SERVER_DUID).as_slice()));
        assert_eq!(m.client_id(), Some(hex(CLIENT_DUID).as_slice()));
        // Options nest: IA_PD holds an IA Prefix after IAID, T1, T2.
        let ia_pd = m.option(option::IA_PD).unwrap();
        assert_eq!(ia_pd.len(), 41);
        let inner: Vec<(u16, usize)> = Dhcpv6Options::new(&ia_pd[12..])
            .map(|(c, d)| (c, d.len()))
            .collect();
        assert_eq!(inner, [(option::IAPREFIX, 25)]);

        let b = hex(D6_REQUEST);
        let m = Dhcpv6Message::new_checked(&b).unwrap();
        assert_eq!(m.msg_type(), message_type::REQUEST);
        assert_eq!(m.transaction_id(), 0x49174e);
        assert_eq!(m.server_id(), Some(hex(SERVER_DUID).as_slice()));

        let b = hex(D6_REPLY);
        let m = Dhcpv6Message::new_checked(&b).unwrap();
        assert_eq!(m.msg_type(), message_type::REPLY);
        assert_eq!(m.transaction_id(), 0x49174e);
        assert_eq!(m.options().count(), 3);
    }

    #[test]
    fn relay_forward() {
        let b = relay_forw();
        let m = Dhcpv6Message::new_checked(&b).unwrap();
        assert!(m.is_relay());
        assert_eq!(m.msg_type(), message_type::RELAY_FORW);
        assert_eq!(m.transaction_id(), 0);
        assert_eq!(m.hop_count(), Some(1));
        assert_eq!(m.link_address(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(
            m.peer_address(),
            Some("fe80::a00:27ff:fefe:8f95".parse().unwrap())
        );
        assert_eq!(m.option(option::INTERFACE_ID), Some(&b"eth0"[..]));
        let inner = Dhcpv6Message::new_checked(m.relay_message().unwrap()).unwrap();
        assert_eq!(inner.msg_type(), message_type::SOLICIT);
        assert_eq!(inner.transaction_id(), 0x100874);
        // A relay message shorter than its header.
        assert_eq!(
            Dhcpv6Message::new_checked(&b[..33]),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn overruns_and_truncation() {
        let b = hex(D6_REQUEST);
        assert_eq!(
            Dhcpv6Message::new_checked(&b[..3]),
            Err(WireError::Truncated)
        );
        let m = Dhcpv6Message::new_checked(&b[..4]).unwrap();
        assert_eq!(m.options().count(), 0);
        assert!(!m.options_malformed());
        // Cut in the middle of the server id option.
        let m = Dhcpv6Message::new_checked(&b[..30]).unwrap();
        let mut it = m.options();
        assert_eq!(it.next().map(|(c, _)| c), Some(option::CLIENTID));
        assert_eq!(it.next(), None);
        assert!(it.malformed());
        assert_eq!(it.next(), None);
        assert_eq!(m.server_id(), None);
        // A lying length on the first option.
        let mut lying = b.clone();
        lying[6..8].copy_from_slice(&0xffffu16.to_be_bytes());
        let m = Dhcpv6Message::new_checked(&lying).unwrap();
        assert_eq!(m.client_id(), None);
        assert!(m.options_malformed());
    }

    #[test]
    fn never_panics() {
        let mut vectors: Vec<Vec<u8>> = ALL.iter().map(|s| hex(s)).collect();
        vectors.push(relay_forw());
        let refs: Vec<&[u8]> = vectors.iter().map(|v| v.as_slice()).collect();
        no_panic(&refs, |buf| {
            let mut it = Dhcpv6Options::new(buf);
            it.by_ref().for_each(drop);
            let _ = it.malformed();
            if let Ok(m) = Dhcpv6Message::new_checked(buf) {
                let _ = (
                    m.msg_type(),
                    m.is_relay(),
                    m.transaction_id(),
                    m.hop_count(),
                );
                let _ = (m.link_address(), m.peer_address(), m.options_malformed());
                let _ = (m.client_id(), m.server_id(), m.relay_message());
                assert!(m.options_bytes().len() <= buf.len());
            }
        });
    }
}
