//! DNS messages (RFC 1035 §4): header, questions, resource records, EDNS0
//! (RFC 6891) with Client Subnet (RFC 7871), and a framer for DNS over TCP.
//!
//! Everything is lazy so the per-packet path stays cheap: [`DnsMessage`] only
//! checks that a header is present; the first question, the records and the
//! OPT record are found when asked for, and a [`Name`] is just a position that
//! is decoded (following compression pointers) on demand. Malformed input is
//! reported as a [`WireError`], never a panic:
//!
//! * a compression pointer must point strictly before itself, so decoding a
//!   name cannot loop; a name is at most 255 octets uncompressed and follows
//!   at most [`MAX_POINTERS`] pointers; label types `0x40` and `0x80` are
//!   `Malformed`;
//! * running out of bytes is `Truncated`.
//!
//! [`TcpDnsFramer`] splits one direction of a TCP stream into messages
//! (RFC 1035 §4.2.2, 2-byte length prefix). The tables [`rcode_name`] and
//! [`qtype_name`] (and their inverses) are pktvisor's (`visor_dns/dns.h`).
//!
//! Why our own view rather than the `simple-dns` crate the design card named: `simple-dns`
//! parses every section into owned vectors before anything can be read, while the per-packet
//! path needs the header and the first question only. `benches/dns_wire.rs` runs both on
//! the same payloads, so the choice stays measured.

use std::fmt;
use std::iter::FusedIterator;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use super::{WireError, clamped, read_u8, read_u16, read_u32, rest};

const ID: Range<usize> = 0..2;
const FLAGS: Range<usize> = 2..4;
const QDCOUNT: Range<usize> = 4..6;
const ANCOUNT: Range<usize> = 6..8;
const NSCOUNT: Range<usize> = 8..10;
const ARCOUNT: Range<usize> = 10..12;

/// Length of the message header.
pub const HEADER_LEN: usize = 12;

/// Longest name in wire format, uncompressed, terminating zero included (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;

/// Most compression pointers followed while decoding one name: as many as a
/// name can have labels (127) plus one. Only pointers that point at pointers
/// can exceed it; they are `Malformed`.
pub const MAX_POINTERS: usize = 128;

/// Largest message a 2-byte TCP length prefix can announce.
pub const MAX_MESSAGE_LEN: usize = 65535;

/// UDP and TCP ports pktvisor treats as DNS (a packet is DNS if either port is one of them).
pub const DNS_PORTS: [u16; 4] = [53, 5353, 5355, 53000];

const FLAG_QR: u16 = 0x8000;
const OPCODE_SHIFT: u16 = 11;
const FLAG_AA: u16 = 0x0400;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const FLAG_RA: u16 = 0x0080;
const FLAG_AD: u16 = 0x0020;
const FLAG_CD: u16 = 0x0010;
const RCODE_MASK: u16 = 0x000f;

// Label length octet: the two top bits give the label type.
const LABEL_TYPE_MASK: u8 = 0xc0;
const LABEL_NORMAL: u8 = 0x00;
const LABEL_POINTER: u8 = 0xc0;
const POINTER_HIGH_MASK: u8 = 0x3f;
/// Octets of a name before its terminating zero (255 minus the root octet).
const MAX_LABEL_OCTETS: usize = MAX_NAME_LEN - 1;

// The fixed part after a question's name.
const Q_TYPE: Range<usize> = 0..2;
const Q_CLASS: Range<usize> = 2..4;
const Q_FIXED_LEN: usize = 4;

// The fixed part after a record's owner name.
const RR_TYPE: Range<usize> = 0..2;
const RR_CLASS: Range<usize> = 2..4;
const RR_TTL: Range<usize> = 4..8;
const RR_RDLENGTH: Range<usize> = 8..10;
const RR_FIXED_LEN: usize = 10;

// An OPT record's TTL field (RFC 6891 §6.1.3).
const OPT_EXT_RCODE_SHIFT: u32 = 24;
const OPT_VERSION_SHIFT: u32 = 16;
const OPT_FLAG_DO: u32 = 0x8000;

// One EDNS option: code, length, data.
const OPTION_CODE: Range<usize> = 0..2;
const OPTION_LEN: Range<usize> = 2..4;
const OPTION_HEADER_LEN: usize = 4;

// The EDNS Client Subnet option data (RFC 7871 §6).
const ECS_FAMILY: Range<usize> = 0..2;
const ECS_SOURCE_PREFIX: usize = 2;
const ECS_SCOPE_PREFIX: usize = 3;
const ECS_ADDRESS: usize = 4;
const ECS_FAMILY_IPV4: u16 = 1;
const ECS_FAMILY_IPV6: u16 = 2;

// The TCP length prefix.
const TCP_LENGTH: Range<usize> = 0..2;
const TCP_PREFIX_LEN: usize = 2;
/// A framer buffer grown past this is freed rather than kept after use.
const FRAMER_KEEP_CAPACITY: usize = 4096;

mod edns;
mod name;
mod tables;
mod tcp;

pub use edns::{ClientSubnet, EdnsOptions, OptRecord};
use name::encoded_len;
pub use name::{Labels, Name};
pub use tables::{
    class, opcode, opt_code, qtype_from_name, qtype_name, rcode, rcode_from_name, rcode_name, rtype,
};
pub use tcp::TcpDnsFramer;

/// A DNS message (RFC 1035 §4), borrowed.
///
/// Only the 12-byte header is checked up front; everything else is parsed on
/// demand and may fail with a [`WireError`] then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsMessage<'a> {
    buf: &'a [u8],
}

impl<'a> DnsMessage<'a> {
    /// Checks that a header is present.
    ///
    /// Errors: `Truncated` (fewer than 12 bytes). Bytes after the records are
    /// kept (and ignored).
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        if buf.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(DnsMessage { buf })
    }

    /// The whole message.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Transaction ID.
    pub fn id(&self) -> u16 {
        read_u16(self.buf, ID)
    }

    /// The 16-bit flags word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE).
    pub fn flags(&self) -> u16 {
        read_u16(self.buf, FLAGS)
    }

    /// QR: whether this is a response.
    pub fn is_response(&self) -> bool {
        self.flags() & FLAG_QR != 0
    }

    /// Opcode (see [`opcode`]).
    pub fn opcode(&self) -> u8 {
        ((self.flags() >> OPCODE_SHIFT) & 0x0f) as u8
    }

    /// AA: authoritative answer.
    pub fn aa(&self) -> bool {
        self.flags() & FLAG_AA != 0
    }

    /// TC: truncated.
    pub fn tc(&self) -> bool {
        self.flags() & FLAG_TC != 0
    }

    /// RD: recursion desired.
    pub fn rd(&self) -> bool {
        self.flags() & FLAG_RD != 0
    }

    /// RA: recursion available.
    pub fn ra(&self) -> bool {
        self.flags() & FLAG_RA != 0
    }

    /// AD: authentic data (RFC 4035).
    pub fn ad(&self) -> bool {
        self.flags() & FLAG_AD != 0
    }

    /// CD: checking disabled (RFC 4035).
    pub fn cd(&self) -> bool {
        self.flags() & FLAG_CD != 0
    }

    /// The 4-bit header RCODE (see [`rcode`]; the EDNS0 upper bits are in
    /// [`OptRecord::extended_rcode`]).
    pub fn rcode(&self) -> u8 {
        (self.flags() & RCODE_MASK) as u8
    }

    /// Number of questions.
    pub fn qdcount(&self) -> u16 {
        read_u16(self.buf, QDCOUNT)
    }

    /// Number of answer records.
    pub fn ancount(&self) -> u16 {
        read_u16(self.buf, ANCOUNT)
    }

    /// Number of authority records.
    pub fn nscount(&self) -> u16 {
        read_u16(self.buf, NSCOUNT)
    }

    /// Number of additional records (the OPT record included).
    pub fn arcount(&self) -> u16 {
        read_u16(self.buf, ARCOUNT)
    }

    /// The first question: `Ok(None)` when QDCOUNT is 0; `Truncated` or
    /// `Malformed` when its name cannot be skipped or its type and class are
    /// missing. The name itself is decoded only when asked.
    pub fn first_question(&self) -> Result<Option<Question<'a>>, WireError> {
        if self.qdcount() == 0 {
            return Ok(None);
        }
        parse_question(self.buf, HEADER_LEN).map(|(q, _)| Some(q))
    }

    /// All QDCOUNT questions, lazily; yields one `Err` and stops at the first
    /// malformed one.
    pub fn questions(&self) -> Questions<'a> {
        Questions {
            msg: self.buf,
            pos: HEADER_LEN,
            left: self.qdcount(),
        }
    }

    /// All records after the questions, in order (answer, authority,
    /// additional), lazily. The QDCOUNT questions are skipped on the first
    /// call to `next`. Yields one `Err` and then stops at the first malformed
    /// record (or question), or when the message ends before the counts
    /// promised (`Truncated`). Owner names are only skipped, not decoded.
    pub fn records(&self) -> Records<'a> {
        let an = u32::from(self.ancount());
        let ns = u32::from(self.nscount());
        let ar = u32::from(self.arcount());
        Records {
            msg: self.buf,
            pos: HEADER_LEN,
            questions: self.qdcount(),
            index: 0,
            answer_end: an,
            authority_end: an + ns,
            total: an + ns + ar,
            failed: false,
        }
    }

    /// The first OPT pseudo-record of the additional section (EDNS0,
    /// RFC 6891); `None` when there is none or a record before it is malformed.
    pub fn opt(&self) -> Option<OptRecord<'a>> {
        if self.arcount() == 0 {
            return None;
        }
        self.records()
            .map_while(Result::ok)
            .find(|r| r.section == Section::Additional && r.rtype == rtype::OPT)
            .map(|r| OptRecord {
                udp_payload_size: r.class,
                ttl: r.ttl,
                rdata: r.rdata,
            })
    }

    /// A name starting at byte `offset` of the message (e.g. inside RDATA);
    /// nothing is checked until it is decoded.
    pub fn name_at(&self, offset: usize) -> Name<'a> {
        Name {
            msg: self.buf,
            start: offset,
        }
    }
}

/// Parses the question at `pos`; returns it and the position after it.
fn parse_question(msg: &[u8], pos: usize) -> Result<(Question<'_>, usize), WireError> {
    let name_len = encoded_len(msg, pos)?;
    let fixed = pos + name_len;
    let Some(f) = msg.get(fixed..fixed + Q_FIXED_LEN) else {
        return Err(WireError::Truncated);
    };
    let q = Question {
        name: Name { msg, start: pos },
        qtype: read_u16(f, Q_TYPE),
        qclass: read_u16(f, Q_CLASS),
    };
    Ok((q, fixed + Q_FIXED_LEN))
}

/// One entry of the question section.
#[derive(Clone, Copy, Debug)]
pub struct Question<'a> {
    /// QNAME.
    pub name: Name<'a>,
    /// QTYPE (see [`rtype`]).
    pub qtype: u16,
    /// QCLASS (see [`class`]).
    pub qclass: u16,
}

/// Iterator over the question section; see [`DnsMessage::questions`].
#[derive(Clone, Debug)]
pub struct Questions<'a> {
    msg: &'a [u8],
    pos: usize,
    left: u16,
}

impl<'a> Iterator for Questions<'a> {
    type Item = Result<Question<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        match parse_question(self.msg, self.pos) {
            Ok((q, next)) => {
                self.left -= 1;
                self.pos = next;
                Some(Ok(q))
            }
            Err(e) => {
                self.left = 0;
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.left)))
    }
}

impl FusedIterator for Questions<'_> {}

/// The section a record belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Answer section (ANCOUNT records).
    Answer,
    /// Authority section (NSCOUNT records).
    Authority,
    /// Additional section (ARCOUNT records, OPT included).
    Additional,
}

/// One resource record, borrowed from its message.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// The section it was found in.
    pub section: Section,
    /// Owner name.
    pub name: Name<'a>,
    /// TYPE (see [`rtype`]).
    pub rtype: u16,
    /// CLASS (for OPT: the UDP payload size).
    pub class: u16,
    /// TTL (for OPT: extended RCODE, version and flags).
    pub ttl: u32,
    /// RDATA, exactly RDLENGTH bytes.
    pub rdata: &'a [u8],
    /// Offset of the RDATA in the message.
    rdata_offset: usize,
}

impl<'a> Record<'a> {
    /// The name at byte `skip` of the RDATA (e.g. 0 for CNAME, NS, PTR,
    /// DNAME and SOA's MNAME, 2 for MX, 6 for SRV); it may use compression
    /// pointers into the rest of the message. `Truncated` when `skip` is not
    /// inside the RDATA.
    pub fn rdata_name(&self, skip: usize) -> Result<Name<'a>, WireError> {
        if skip >= self.rdata.len() {
            return Err(WireError::Truncated);
        }
        Ok(Name {
            msg: self.name.msg,
            start: self.rdata_offset + skip,
        })
    }
}

/// Iterator over the records of a message; see [`DnsMessage::records`].
#[derive(Clone, Debug)]
pub struct Records<'a> {
    msg: &'a [u8],
    pos: usize,
    /// Questions still to skip before the first record.
    questions: u16,
    /// Records returned so far.
    index: u32,
    answer_end: u32,
    authority_end: u32,
    total: u32,
    failed: bool,
}

impl<'a> Records<'a> {
    fn fail(&mut self, e: WireError) -> Option<Result<Record<'a>, WireError>> {
        self.failed = true;
        Some(Err(e))
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.index >= self.total {
            return None;
        }
        while self.questions > 0 {
            match encoded_len(self.msg, self.pos) {
                Ok(n) => self.pos += n + Q_FIXED_LEN,
                Err(e) => return self.fail(e),
            }
            self.questions -= 1;
        }
        let name_len = match encoded_len(self.msg, self.pos) {
            Ok(n) => n,
            Err(e) => return self.fail(e),
        };
        let fixed = self.pos + name_len;
        let Some(f) = self.msg.get(fixed..fixed + RR_FIXED_LEN) else {
            return self.fail(WireError::Truncated);
        };
        let rdata_offset = fixed + RR_FIXED_LEN;
        let rdata_end = rdata_offset + usize::from(read_u16(f, RR_RDLENGTH));
        let Some(rdata) = self.msg.get(rdata_offset..rdata_end) else {
            return self.fail(WireError::Truncated);
        };
        let section = if self.index < self.answer_end {
            Section::Answer
        } else if self.index < self.authority_end {
            Section::Authority
        } else {
            Section::Additional
        };
        let record = Record {
            section,
            name: Name {
                msg: self.msg,
                start: self.pos,
            },
            rtype: read_u16(f, RR_TYPE),
            class: read_u16(f, RR_CLASS),
            ttl: read_u32(f, RR_TTL),
            rdata,
            rdata_offset,
        };
        self.index += 1;
        self.pos = rdata_end;
        Some(Ok(record))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.failed {
            return (0, Some(0));
        }
        // At most the remaining records, or one error item.
        let left = self.total.saturating_sub(self.index) as usize;
        (0, Some(left))
    }
}

impl FusedIterator for Records<'_> {}

#[cfg(test)]
mod tests;
