//! DHCPv4 / BOOTP messages (RFC 2131) and their options (RFC 2132).
//!
//! [`DhcpMessage`] reads the fixed BOOTP part and iterates the options field
//! after the magic cookie with [`DhcpOptions`], which stops cleanly on END, on
//! the end of the data, or on an option that overruns it (remembering that as
//! `malformed`). Options carried in `sname`/`file` (option overload, 52) are
//! not iterated.

use std::fmt::Write;
use std::net::Ipv4Addr;
use std::ops::Range;

use super::{WireError, clamped, read_array, read_u8, read_u16, read_u32, rest};

/// DHCP message types (option 53).
pub mod message_type {
    /// DHCPDISCOVER.
    pub const DISCOVER: u8 = 1;
    /// DHCPOFFER.
    pub const OFFER: u8 = 2;
    /// DHCPREQUEST.
    pub const REQUEST: u8 = 3;
    /// DHCPDECLINE.
    pub const DECLINE: u8 = 4;
    /// DHCPACK.
    pub const ACK: u8 = 5;
    /// DHCPNAK.
    pub const NAK: u8 = 6;
    /// DHCPRELEASE.
    pub const RELEASE: u8 = 7;
    /// DHCPINFORM.
    pub const INFORM: u8 = 8;
}

/// BOOTP operation codes (`op()`).
pub mod op {
    /// Client to server.
    pub const BOOTREQUEST: u8 = 1;
    /// Server to client.
    pub const BOOTREPLY: u8 = 2;
}

/// Option codes used by the helpers.
pub mod option {
    /// Padding, no length byte.
    pub const PAD: u8 = 0;
    /// Subnet mask.
    pub const SUBNET_MASK: u8 = 1;
    /// Routers.
    pub const ROUTER: u8 = 3;
    /// Domain name servers.
    pub const DNS_SERVER: u8 = 6;
    /// Host name.
    pub const HOSTNAME: u8 = 12;
    /// Requested IP address.
    pub const REQUESTED_IP: u8 = 50;
    /// IP address lease time (seconds).
    pub const LEASE_TIME: u8 = 51;
    /// Option overload.
    pub const OVERLOAD: u8 = 52;
    /// DHCP message type.
    pub const MESSAGE_TYPE: u8 = 53;
    /// Server identifier.
    pub const SERVER_ID: u8 = 54;
    /// Parameter request list.
    pub const PARAM_REQUEST_LIST: u8 = 55;
    /// Client identifier.
    pub const CLIENT_ID: u8 = 61;
    /// End of options, no length byte.
    pub const END: u8 = 255;
}

const OP: usize = 0;
const HTYPE: usize = 1;
const HLEN: usize = 2;
const HOPS: usize = 3;
const XID: Range<usize> = 4..8;
const SECS: Range<usize> = 8..10;
const FLAGS: Range<usize> = 10..12;
const CIADDR: Range<usize> = 12..16;
const YIADDR: Range<usize> = 16..20;
const SIADDR: Range<usize> = 20..24;
const GIADDR: Range<usize> = 24..28;
const CHADDR: usize = 28;
const CHADDR_LEN: usize = 16;
const SNAME: Range<usize> = 44..108;
const FILE: Range<usize> = 108..236;
const MAGIC: Range<usize> = 236..240;
const OPTIONS: usize = 240;

/// Length of the fixed BOOTP part (before the magic cookie).
pub const FIXED_LEN: usize = 236;

/// The DHCP magic cookie, 99.130.83.99.
pub const MAGIC_COOKIE: u32 = 0x6382_5363;

const FLAG_BROADCAST: u16 = 0x8000;

/// Formats hardware-address bytes as lowercase colon-separated hex ("78:4f:43:78:19:bc").
pub fn format_mac(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// An iterator over `(code, data)` of DHCPv4 options.
///
/// Skips PAD, stops at END or at the end of the data, and stops (setting
/// [`DhcpOptions::malformed`]) when a length byte is missing or overruns.
#[derive(Clone, Debug)]
pub struct DhcpOptions<'a> {
    data: &'a [u8],
    done: bool,
    malformed: bool,
    saw_end: bool,
}

impl<'a> DhcpOptions<'a> {
    /// Iterates the options encoded in `data`.
    pub fn new(data: &'a [u8]) -> Self {
        DhcpOptions {
            data,
            done: false,
            malformed: false,
            saw_end: false,
        }
    }

    /// Whether iteration stopped on an option that overran the data.
    pub fn malformed(&self) -> bool {
        self.malformed
    }

    /// Whether iteration stopped on the END option.
    pub fn saw_end(&self) -> bool {
        self.saw_end
    }

    fn stop(&mut self, malformed: bool) -> Option<(u8, &'a [u8])> {
        self.done = true;
        self.malformed = malformed;
        None
    }
}

impl<'a> Iterator for DhcpOptions<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let Some((&code, after_code)) = self.data.split_first() else {
                return self.stop(false);
            };
            match code {
                option::PAD => self.data = after_code,
                option::END => {
                    self.saw_end = true;
                    return self.stop(false);
                }
                _ => {
                    let Some((&len, after_len)) = after_code.split_first() else {
                        return self.stop(true);
                    };
                    let Some((data, after)) = after_len.split_at_checked(usize::from(len)) else {
                        return self.stop(true);
                    };
                    self.data = after;
                    return Some((code, data));
                }
            }
        }
    }
}

/// A read-only view of a DHCPv4 (BOOTP) message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DhcpMessage<'a> {
    buf: &'a [u8],
}

impl<'a> DhcpMessage<'a> {
    /// Validates the fixed part and the magic cookie.
    ///
    /// Errors: `Truncated` (fewer than 240 bytes: fixed part plus cookie),
    /// `Malformed` (cookie is not 99.130.83.99).
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        if buf.len() < OPTIONS {
            return Err(WireError::Truncated);
        }
        if read_u32(buf, MAGIC) != MAGIC_COOKIE {
            return Err(WireError::Malformed);
        }
        Ok(DhcpMessage { buf })
    }

    /// Operation: 1 = BOOTREQUEST, 2 = BOOTREPLY (see [`op`]).
    pub fn op(&self) -> u8 {
        read_u8(self.buf, OP)
    }

    /// Hardware type (1 = Ethernet).
    pub fn htype(&self) -> u8 {
        read_u8(self.buf, HTYPE)
    }

    /// Hardware address length.
    pub fn hlen(&self) -> u8 {
        read_u8(self.buf, HLEN)
    }

    /// Relay hops.
    pub fn hops(&self) -> u8 {
        read_u8(self.buf, HOPS)
    }

    /// Transaction ID.
    pub fn xid(&self) -> u32 {
        read_u32(self.buf, XID)
    }

    /// Seconds since the client began.
    pub fn secs(&self) -> u16 {
        read_u16(self.buf, SECS)
    }

    /// The flags field.
    pub fn flags(&self) -> u16 {
        read_u16(self.buf, FLAGS)
    }

    /// The broadcast flag.
    pub fn broadcast(&self) -> bool {
        self.flags() & FLAG_BROADCAST != 0
    }

    /// Client IP address.
    pub fn ciaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array::<4>(self.buf, CIADDR))
    }

    /// "Your" (offered / assigned) IP address.
    pub fn yiaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array::<4>(self.buf, YIADDR))
    }

    /// Next-server IP address.
    pub fn siaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array::<4>(self.buf, SIADDR))
    }

    /// Relay agent IP address.
    pub fn giaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array::<4>(self.buf, GIADDR))
    }

    /// Client hardware address: the first min(hlen, 16) bytes of chaddr.
    pub fn chaddr(&self) -> &'a [u8] {
        let len = usize::from(self.hlen()).min(CHADDR_LEN);
        clamped(self.buf, CHADDR, CHADDR + len)
    }

    /// The server host name field (64 bytes, NUL padded).
    pub fn sname(&self) -> &'a [u8] {
        clamped(self.buf, SNAME.start, SNAME.end)
    }

    /// The boot file name field (128 bytes, NUL padded).
    pub fn file(&self) -> &'a [u8] {
        clamped(self.buf, FILE.start, FILE.end)
    }

    /// The raw options field after the magic cookie.
    pub fn options_bytes(&self) -> &'a [u8] {
        rest(self.buf, OPTIONS)
    }

    /// Iterates the options.
    pub fn options(&self) -> DhcpOptions<'a> {
        DhcpOptions::new(self.options_bytes())
    }

    /// Whether the options field has an option that overruns it.
    pub fn options_malformed(&self) -> bool {
        let mut it = self.options();
        it.by_ref().for_each(drop);
        it.malformed()
    }

    /// The data of the first option with `code`.
    pub fn option(&self, code: u8) -> Option<&'a [u8]> {
        self.options().find(|&(c, _)| c == code).map(|(_, d)| d)
    }

    /// DHCP message type (option 53; see [`message_type`]).
    pub fn message_type(&self) -> Option<u8> {
        self.option(option::MESSAGE_TYPE)
            .and_then(|d| d.first().copied())
    }

    /// Host name (option 12).
    pub fn hostname(&self) -> Option<&'a [u8]> {
        self.option(option::HOSTNAME)
    }

    /// Server identifier (option 54).
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        self.option(option::SERVER_ID).and_then(ipv4_option)
    }

    /// Requested IP address (option 50).
    pub fn requested_ip(&self) -> Option<Ipv4Addr> {
        self.option(option::REQUESTED_IP).and_then(ipv4_option)
    }

    /// Lease time in seconds (option 51).
    pub fn lease_time(&self) -> Option<u32> {
        self.option(option::LEASE_TIME)
            .filter(|d| d.len() == 4)
            .map(|d| read_u32(d, 0..4))
    }

    /// Client identifier (option 61).
    pub fn client_id(&self) -> Option<&'a [u8]> {
        self.option(option::CLIENT_ID)
    }
}

/// An option holding exactly one IPv4 address.
fn ipv4_option(data: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(data).ok().map(Ipv4Addr::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{hex, no_panic};

    // UDP payloads of pktvisor fixture dhcp-flow.pcap, packets 3..=6
    // (transaction 0x978a1b11 of client 78:4f:43:78:19:bc).

    // Packet 3: DISCOVER.
    const DHCP_DISCOVER: &str = "\
        01010600978a1b110002000000000000000000000000000000000000784f4378\
        19bc000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        00000000000000000000000063825363350101370b017903060f7277fc5f2c2e\
        390205dc3d0701784f437819bc33040076a7000c0c5368616e6e6f6e732d4d42\
        50ff00000000000000000000";

    // Packet 4: OFFER of 192.168.2.205 from server 192.168.2.1.
    const DHCP_OFFER: &str = "\
        02010600978a1b110002000000000000c0a802cdc0a8020100000000784f4378\
        19bc000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        000000000000000000000000638253633501023604c0a8020133040000a8c03a\
        04000054603b04000093a80104ffffff001c04c0a802ff0304c0a802010604c0\
        a80201ff0000000000000000";

    // Packet 5: REQUEST for 192.168.2.205.
    const DHCP_REQUEST: &str = "\
        01010600978a1b110003000000000000000000000000000000000000784f4378\
        19bc000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        00000000000000000000000063825363350103370b017903060f7277fc5f2c2e\
        390205dc3d0701784f437819bc3204c0a802cd3604c0a802010c0c5368616e6e\
        6f6e732d4d4250ff00000000";

    // Packet 6: ACK.
    const DHCP_ACK: &str = "\
        02010600978a1b110003000000000000c0a802cdc0a8020100000000784f4378\
        19bc000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        000000000000000000000000638253633501053604c0a8020133040000a8c03a\
        04000054603b04000093a80104ffffff001c04c0a802ff0304c0a802010604c0\
        a80201ff0000000000000000";

    const ALL: [&str; 4] = [DHCP_DISCOVER, DHCP_OFFER, DHCP_REQUEST, DHCP_ACK];

    const CLIENT_MAC: [u8; 6] = [0x78, 0x4f, 0x43, 0x78, 0x19, 0xbc];

    #[test]
    fn discover() {
        let b = hex(DHCP_DISCOVER);
        let m = DhcpMessage::new_checked(&b).unwrap();
        assert_eq!(m.op(), op::BOOTREQUEST);
        assert_eq!((m.htype(), m.hlen(), m.hops()), (1, 6, 0));
        assert_eq!(m.xid(), 0x978a1b11);
        assert_eq!(m.secs(), 2);
        assert!(!m.broadcast());
        assert_eq!(m.ciaddr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(m.chaddr(), &CLIENT_MAC);
        assert_eq!(format_mac(m.chaddr()), "78:4f:43:78:19:bc");
        assert_eq!(m.message_type(), Some(message_type::DISCOVER));
        assert_eq!(m.hostname(), Some(&b"Shannons-MBP"[..]));
        assert_eq!(m.server_id(), None);
        assert_eq!(m.requested_ip(), None);
        assert_eq!(m.lease_time(), Some(0x0076a700));
        assert_eq!(
            m.client_id(),
            Some(&[1, 0x78, 0x4f, 0x43, 0x78, 0x19, 0xbc][..])
        );
        assert!(m.sname().iter().all(|&c| c == 0));
        assert_eq!(m.file().len(), 128);
        let codes: Vec<u8> = m.options().map(|(c, _)| c).collect();
        assert_eq!(codes, [53, 55, 57, 61, 51, 12]);
        let mut it = m.options();
        assert_eq!(it.by_ref().count(), 6);
        assert!(it.saw_end() && !it.malformed());
        assert!(!m.options_malformed());
    }

    #[test]
    fn offer_request_ack() {
        let b = hex(DHCP_OFFER);
        let m = DhcpMessage::new_checked(&b).unwrap();
        assert_eq!(m.op(), op::BOOTREPLY);
        assert_eq!(m.message_type(), Some(message_type::OFFER));
        assert_eq!(m.yiaddr(), Ipv4Addr::new(192, 168, 2, 205));
        assert_eq!(m.siaddr(), Ipv4Addr::new(192, 168, 2, 1));
        assert_eq!(m.giaddr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(m.server_id(), Some(Ipv4Addr::new(192, 168, 2, 1)));
        assert_eq!(m.lease_time(), Some(43200));
        assert_eq!(m.option(option::SUBNET_MASK), Some(&[255, 255, 255, 0][..]));
        assert_eq!(m.hostname(), None);

        let b = hex(DHCP_REQUEST);
        let m = DhcpMessage::new_checked(&b).unwrap();
        assert_eq!(m.message_type(), Some(message_type::REQUEST));
        assert_eq!(m.requested_ip(), Some(Ipv4Addr::new(192, 168, 2, 205)));
        assert_eq!(m.server_id(), Some(Ipv4Addr::new(192, 168, 2, 1)));
        assert_eq!(m.hostname(), Some(&b"Shannons-MBP"[..]));

        let b = hex(DHCP_ACK);
        let m = DhcpMessage::new_checked(&b).unwrap();
        assert_eq!(m.message_type(), Some(message_type::ACK));
        assert_eq!(m.xid(), 0x978a1b11);
        assert_eq!(m.yiaddr(), Ipv4Addr::new(192, 168, 2, 205));
        assert_eq!(format_mac(m.chaddr()), "78:4f:43:78:19:bc");
    }

    #[test]
    fn errors() {
        let b = hex(DHCP_DISCOVER);
        assert_eq!(
            DhcpMessage::new_checked(&b[..235]),
            Err(WireError::Truncated)
        );
        assert_eq!(
            DhcpMessage::new_checked(&b[..239]),
            Err(WireError::Truncated)
        );
        let mut bad = b.clone();
        bad[236] = 0;
        assert_eq!(DhcpMessage::new_checked(&bad), Err(WireError::Malformed));
        // Cookie but no options at all.
        let m = DhcpMessage::new_checked(&b[..240]).unwrap();
        assert_eq!(m.options().count(), 0);
        assert_eq!(m.message_type(), None);
    }

    #[test]
    fn overrunning_option_stops_iteration() {
        let b = hex(DHCP_REQUEST);
        // Cut inside the hostname option (12, len 12 "Shannons-MBP").
        let m = DhcpMessage::new_checked(&b[..b.len() - 12]).unwrap();
        let mut it = m.options();
        let codes: Vec<u8> = it.by_ref().map(|(c, _)| c).collect();
        assert_eq!(codes, [53, 55, 57, 61, 50, 54]);
        assert!(it.malformed() && !it.saw_end());
        assert_eq!(it.next(), None);
        assert!(m.options_malformed());
        assert_eq!(m.hostname(), None);
        // A lying length byte on the first option.
        let mut lying = b.clone();
        lying[241] = 255;
        let m = DhcpMessage::new_checked(&lying).unwrap();
        assert_eq!(m.options().count(), 0);
        assert!(m.options_malformed());
        // Missing length byte at the very end.
        let m = DhcpMessage::new_checked(&b[..241]).unwrap();
        assert!(m.options_malformed());
        // PADs then no END: clean stop, not malformed.
        let mut pads = b[..240].to_vec();
        pads.extend_from_slice(&[0, 0, 53, 1, 7, 0]);
        let m = DhcpMessage::new_checked(&pads).unwrap();
        assert_eq!(m.message_type(), Some(message_type::RELEASE));
        assert!(!m.options_malformed());
    }

    #[test]
    fn hlen_is_capped() {
        let mut b = hex(DHCP_ACK);
        b[2] = 200;
        let m = DhcpMessage::new_checked(&b).unwrap();
        assert_eq!(m.chaddr().len(), 16);
        b[2] = 0;
        let m = DhcpMessage::new_checked(&b).unwrap();
        assert!(m.chaddr().is_empty());
        assert_eq!(format_mac(m.chaddr()), "");
    }

    #[test]
    fn never_panics() {
        let vectors: Vec<Vec<u8>> = ALL.iter().map(|s| hex(s)).collect();
        let refs: Vec<&[u8]> = vectors.iter().map(|v| v.as_slice()).collect();
        no_panic(&refs, |buf| {
            // Also run the option iterator over arbitrary bytes.
            let mut it = DhcpOptions::new(buf);
            it.by_ref().for_each(drop);
            let _ = it.malformed();
            if let Ok(m) = DhcpMessage::new_checked(buf) {
                let _ = (m.op(), m.htype(), m.hlen(), m.hops(), m.xid(), m.secs());
                let _ = (m.flags(), m.broadcast(), m.ciaddr(), m.yiaddr());
                let _ = (m.siaddr(), m.giaddr(), m.sname(), m.file());
                let _ = format_mac(m.chaddr());
                let _ = (m.message_type(), m.hostname(), m.server_id());
                let _ = (m.requested_ip(), m.lease_time(), m.client_id());
                let _ = m.options_malformed();
                for (_, d) in m.options() {
                    assert!(d.len() <= 255);
                }
            }
        });
    }
}
