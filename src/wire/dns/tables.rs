//! DNS code points and pktvisor's name tables (RCODE and QTYPE names, §13.4).

/// Record (and question) types.
pub mod rtype {
    /// IPv4 host address.
    pub const A: u16 = 1;
    /// Authoritative name server.
    pub const NS: u16 = 2;
    /// Canonical name of an alias.
    pub const CNAME: u16 = 5;
    /// Start of a zone of authority.
    pub const SOA: u16 = 6;
    /// Null record.
    pub const NULL: u16 = 10;
    /// Domain name pointer.
    pub const PTR: u16 = 12;
    /// Host information.
    pub const HINFO: u16 = 13;
    /// Mail exchange.
    pub const MX: u16 = 15;
    /// Text strings.
    pub const TXT: u16 = 16;
    /// Responsible person.
    pub const RP: u16 = 17;
    /// AFS database location.
    pub const AFSDB: u16 = 18;
    /// Signature (obsolete, SIG(0) and TSIG-like uses).
    pub const SIG: u16 = 24;
    /// Key (obsolete, SIG(0)).
    pub const KEY: u16 = 25;
    /// IPv6 host address.
    pub const AAAA: u16 = 28;
    /// Location information.
    pub const LOC: u16 = 29;
    /// Server selection.
    pub const SRV: u16 = 33;
    /// Naming authority pointer.
    pub const NAPTR: u16 = 35;
    /// Key exchanger.
    pub const KX: u16 = 36;
    /// Certificate.
    pub const CERT: u16 = 37;
    /// Delegation name.
    pub const DNAME: u16 = 39;
    /// EDNS0 pseudo-record (RFC 6891).
    pub const OPT: u16 = 41;
    /// Address prefix list.
    pub const APL: u16 = 42;
    /// Delegation signer.
    pub const DS: u16 = 43;
    /// SSH key fingerprint.
    pub const SSHFP: u16 = 44;
    /// IPsec key.
    pub const IPSECKEY: u16 = 45;
    /// DNSSEC signature.
    pub const RRSIG: u16 = 46;
    /// Next secure record.
    pub const NSEC: u16 = 47;
    /// DNSSEC public key.
    pub const DNSKEY: u16 = 48;
    /// DHCP identifier.
    pub const DHCID: u16 = 49;
    /// Next secure record, hashed.
    pub const NSEC3: u16 = 50;
    /// NSEC3 parameters.
    pub const NSEC3PARAM: u16 = 51;
    /// TLS certificate association.
    pub const TLSA: u16 = 52;
    /// S/MIME certificate association.
    pub const SMIMEA: u16 = 53;
    /// Host identity protocol.
    pub const HIP: u16 = 55;
    /// Child DS.
    pub const CDS: u16 = 59;
    /// Child DNSKEY.
    pub const CDNSKEY: u16 = 60;
    /// OpenPGP key.
    pub const OPENPGPKEY: u16 = 61;
    /// Child-to-parent synchronisation.
    pub const CSYNC: u16 = 62;
    /// Zone message digest.
    pub const ZONEMD: u16 = 63;
    /// Service binding.
    pub const SVCB: u16 = 64;
    /// Service binding for HTTPS.
    pub const HTTPS: u16 = 65;
    /// Sender policy framework (obsolete).
    pub const SPF: u16 = 99;
    /// Transaction key.
    pub const TKEY: u16 = 249;
    /// Transaction signature.
    pub const TSIG: u16 = 250;
    /// Incremental zone transfer.
    pub const IXFR: u16 = 251;
    /// Full zone transfer.
    pub const AXFR: u16 = 252;
    /// Any type (`*`).
    pub const ANY: u16 = 255;
    /// Uniform resource identifier.
    pub const URI: u16 = 256;
    /// Certification authority authorization.
    pub const CAA: u16 = 257;
}

/// Record classes.
pub mod class {
    /// Internet.
    pub const IN: u16 = 1;
    /// Chaos.
    pub const CH: u16 = 3;
    /// Hesiod.
    pub const HS: u16 = 4;
    /// None (dynamic update).
    pub const NONE: u16 = 254;
    /// Any class.
    pub const ANY: u16 = 255;
}

/// Header opcodes.
pub mod opcode {
    /// Standard query.
    pub const QUERY: u8 = 0;
    /// Inverse query (obsolete).
    pub const IQUERY: u8 = 1;
    /// Server status request.
    pub const STATUS: u8 = 2;
    /// Zone change notification.
    pub const NOTIFY: u8 = 4;
    /// Dynamic update.
    pub const UPDATE: u8 = 5;
    /// DNS stateful operations.
    pub const DSO: u8 = 6;
}

/// Response codes (header RCODE, extended by EDNS0 and TSIG), as `u8` like
/// [`DnsMessage::rcode`] (values above 15 need [`OptRecord::full_rcode`]).
pub mod rcode {
    /// No error.
    pub const NOERROR: u8 = 0;
    /// Format error.
    pub const FORMERR: u8 = 1;
    /// Server failure (pktvisor's name: `SRVFAIL`).
    pub const SERVFAIL: u8 = 2;
    /// Non-existent domain.
    pub const NXDOMAIN: u8 = 3;
    /// Not implemented.
    pub const NOTIMP: u8 = 4;
    /// Query refused.
    pub const REFUSED: u8 = 5;
    /// Name exists when it should not.
    pub const YXDOMAIN: u8 = 6;
    /// RR set exists when it should not.
    pub const YXRRSET: u8 = 7;
    /// RR set that should exist does not.
    pub const NXRRSET: u8 = 8;
    /// Not authoritative / not authorized.
    pub const NOTAUTH: u8 = 9;
    /// Name not contained in zone.
    pub const NOTZONE: u8 = 10;
    /// DSO-TYPE not implemented.
    pub const DSOTYPENI: u8 = 11;
    /// Bad OPT version (EDNS0).
    pub const BADVERS: u8 = 16;
    /// TSIG signature failure (same value as `BADVERS`).
    pub const BADSIG: u8 = 16;
    /// Key not recognized.
    pub const BADKEY: u8 = 17;
    /// Signature out of time window.
    pub const BADTIME: u8 = 18;
    /// Bad TKEY mode.
    pub const BADMODE: u8 = 19;
    /// Duplicate key name.
    pub const BADNAME: u8 = 20;
    /// Algorithm not supported.
    pub const BADALG: u8 = 21;
    /// Bad truncation.
    pub const BADTRUNC: u8 = 22;
    /// Bad or missing server cookie.
    pub const BADCOOKIE: u8 = 23;
}

/// EDNS0 option codes.
pub mod opt_code {
    /// Long-lived queries.
    pub const LLQ: u16 = 1;
    /// Update lease.
    pub const UPDATE_LEASE: u16 = 2;
    /// Name server identifier.
    pub const NSID: u16 = 3;
    /// DNSSEC algorithm understood.
    pub const DAU: u16 = 5;
    /// DS hash understood.
    pub const DHU: u16 = 6;
    /// NSEC3 hash understood.
    pub const N3U: u16 = 7;
    /// Client subnet (RFC 7871).
    pub const CLIENT_SUBNET: u16 = 8;
    /// Zone expiry.
    pub const EXPIRE: u16 = 9;
    /// DNS cookie (RFC 7873).
    pub const COOKIE: u16 = 10;
    /// TCP keepalive.
    pub const TCP_KEEPALIVE: u16 = 11;
    /// Padding.
    pub const PADDING: u16 = 12;
    /// CHAIN query.
    pub const CHAIN: u16 = 13;
    /// Key tag.
    pub const KEY_TAG: u16 = 14;
    /// Extended DNS error (RFC 8914).
    pub const EXTENDED_ERROR: u16 = 15;
}

/// pktvisor's RCODE names; 16 is `BADVERS` (`BADSIG` is only accepted as input).
pub(super) const RCODE_NAMES: &[(u16, &str)] = &[
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SRVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (6, "YXDOMAIN"),
    (7, "YXRRSET"),
    (8, "NXRRSET"),
    (9, "NOTAUTH"),
    (10, "NOTZONE"),
    (11, "DSOTYPENI"),
    (16, "BADVERS"),
    (17, "BADKEY"),
    (18, "BADTIME"),
    (19, "BADMODE"),
    (20, "BADNAME"),
    (21, "BADALG"),
    (22, "BADTRUNC"),
    (23, "BADCOOKIE"),
    (16, "BADSIG"),
];

/// pktvisor's QTYPE names, sorted by number.
pub(super) const QTYPE_NAMES: &[(u16, &str)] = &[
    (0, "Reserved (0)"),
    (1, "A"),
    (2, "NS"),
    (3, "MD"),
    (4, "MF"),
    (5, "CNAME"),
    (6, "SOA"),
    (7, "MB"),
    (8, "MG"),
    (9, "MR"),
    (10, "NULL"),
    (11, "WKS"),
    (12, "PTR"),
    (13, "HINFO"),
    (14, "MINFO"),
    (15, "MX"),
    (16, "TXT"),
    (17, "RP"),
    (18, "AFSDB"),
    (19, "X25"),
    (20, "ISDN"),
    (21, "RT"),
    (22, "NSAP"),
    (23, "NSAP-PTR"),
    (24, "SIG"),
    (25, "KEY"),
    (26, "PX"),
    (27, "GPOS"),
    (28, "AAAA"),
    (29, "LOC"),
    (30, "NXT"),
    (31, "EID"),
    (32, "NIMLOC"),
    (33, "SRV"),
    (34, "ATMA"),
    (35, "NAPTR"),
    (36, "KX"),
    (37, "CERT"),
    (38, "A6"),
    (39, "DNAME"),
    (40, "SINK"),
    (41, "OPT"),
    (42, "APL"),
    (43, "DS"),
    (44, "SSHFP"),
    (45, "IPSECKEY"),
    (46, "RRSIG"),
    (47, "NSEC"),
    (48, "DNSKEY"),
    (49, "DHCID"),
    (50, "NSEC3"),
    (51, "NSEC3PARAM"),
    (52, "TLSA"),
    (53, "SMIMEA"),
    (55, "HIP"),
    (56, "NINFO"),
    (57, "RKEY"),
    (58, "TALINK"),
    (59, "CDS"),
    (60, "CDNSKEY"),
    (61, "OPENPGPKEY"),
    (62, "CSYNC"),
    (63, "ZONEMD"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (99, "SPF"),
    (100, "UINFO"),
    (101, "UID"),
    (102, "GID"),
    (103, "UNSPEC"),
    (104, "NID"),
    (105, "L32"),
    (106, "L64"),
    (107, "LP"),
    (108, "EUI48"),
    (109, "EUI64"),
    (249, "TKEY"),
    (250, "TSIG"),
    (251, "IXFR"),
    (252, "AXFR"),
    (253, "MAILB"),
    (254, "MAILA"),
    (255, "*"),
    (256, "URI"),
    (257, "CAA"),
    (258, "AVC"),
    (259, "DOA"),
    (260, "AMTRELAY"),
    (32768, "TA"),
    (32769, "DLV"),
    (65535, "Reserved (65535)"),
];

/// pktvisor's name of an RCODE (`SRVFAIL` for 2, `BADVERS` for 16); `None`
/// for codes it has no name for (pktvisor then prints the number).
pub fn rcode_name(code: u16) -> Option<&'static str> {
    RCODE_NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| *name)
}

/// The RCODE of a pktvisor name, case-insensitively (`nxdomain` is 3,
/// `BADSIG` and `BADVERS` are 16).
pub fn rcode_from_name(name: &str) -> Option<u16> {
    RCODE_NAMES
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .map(|(c, _)| *c)
}

/// pktvisor's name of a QTYPE (`*` for 255, `Reserved (0)`, …); `None` for
/// types it has no name for (pktvisor then prints the number).
pub fn qtype_name(t: u16) -> Option<&'static str> {
    QTYPE_NAMES
        .binary_search_by_key(&t, |(c, _)| *c)
        .ok()
        .and_then(|i| QTYPE_NAMES.get(i))
        .map(|(_, name)| *name)
}

/// The QTYPE of a pktvisor name, case-insensitively (`aaaa` is 28, `*` is 255).
pub fn qtype_from_name(name: &str) -> Option<u16> {
    QTYPE_NAMES
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .map(|(c, _)| *c)
}
