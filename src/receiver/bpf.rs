//! BPF filters for offline capture records, compiled by libpcap (through the `pcap` crate).
//!
//! [`BpfFilter`] is one compiled program for one link type; [`BpfFilterSet`] compiles the
//! same expression lazily for each link type it meets, since a pcapng file may mix link
//! types. Both are `Send` but not `Sync` (libpcap's compiled program is a raw allocation);
//! each lives in the one worker thread that filters its records.

use pcap::{Capture, Linktype};

/// Errors compiling a BPF expression.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum BpfError {
    /// libpcap rejected the expression for this link type. Display is pktvisor's message
    /// plus libpcap's reason: `Cannot set BPF filter to pcap file: <libpcap error>`.
    #[error("Cannot set BPF filter to pcap file: {message}")]
    Compile {
        /// The link type (`LINKTYPE_` value) compiled for.
        linktype: u16,
        /// The expression.
        expression: String,
        /// libpcap's error text.
        message: String,
    },
}

/// Maps a `LINKTYPE_` value (as stored in capture files) to the `DLT_` value libpcap's
/// compiler expects. They are equal except for a few historical values below 104.
fn linktype_to_dlt(linktype: u16) -> i32 {
    match linktype {
        100 => 11, // LINKTYPE_ATM_RFC1483 -> DLT_ATM_RFC1483
        101 => 12, // LINKTYPE_RAW -> DLT_RAW (12 everywhere but OpenBSD)
        102 => 15, // LINKTYPE_SLIP_BSDOS -> DLT_SLIP_BSDOS
        103 => 16, // LINKTYPE_PPP_BSDOS -> DLT_PPP_BSDOS
        other => i32::from(other),
    }
}

fn pcap_message(e: pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) => s,
        other => other.to_string(),
    }
}

/// A BPF program compiled (optimized) for one link type.
///
/// `Send`, not `Sync`: keep it in the thread that filters.
pub struct BpfFilter {
    linktype: u16,
    program: pcap::BpfProgram,
}

impl std::fmt::Debug for BpfFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BpfFilter")
            .field("linktype", &self.linktype)
            .field("instructions", &self.program.get_instructions().len())
            .finish()
    }
}

impl BpfFilter {
    /// Compiles `expr` for records of `linktype` (a `LINKTYPE_` value).
    pub fn compile(linktype: u16, expr: &str) -> Result<Self, BpfError> {
        let err = |message: String| BpfError::Compile {
            linktype,
            expression: expr.to_string(),
            message,
        };
        let dead =
            Capture::dead(Linktype(linktype_to_dlt(linktype))).map_err(|e| err(pcap_message(e)))?;
        let program = dead.compile(expr, true).map_err(|e| err(pcap_message(e)))?;
        Ok(BpfFilter { linktype, program })
    }

    /// True when the packet bytes (starting at the link-layer header) pass the filter.
    pub fn matches(&self, data: &[u8]) -> bool {
        self.program.filter(data)
    }

    /// The link type this program was compiled for.
    pub fn linktype(&self) -> u16 {
        self.linktype
    }
}

/// One expression compiled lazily per link type, for files that mix link types.
///
/// An empty (or blank) expression matches everything without compiling. A link type the
/// expression cannot be compiled for keeps answering the same error. `Send`, not `Sync`.
#[derive(Debug)]
pub struct BpfFilterSet {
    expression: String,
    /// Per link type, in order of first sight (a file has very few, so a scan beats
    /// hashing).
    filters: Vec<(u16, Result<BpfFilter, BpfError>)>,
}

impl BpfFilterSet {
    /// A set for `expr`; nothing is compiled until the first record of each link type.
    /// Use [`BpfFilterSet::validate`] to report a bad expression at start-up.
    pub fn new(expr: &str) -> Self {
        BpfFilterSet {
            expression: expr.trim().to_string(),
            filters: Vec::new(),
        }
    }

    /// The expression (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// Compiles the expression for `linktype` now (e.g. the first record's), so that a bad
    /// expression fails before any packet is processed.
    pub fn validate(&mut self, linktype: u16) -> Result<(), BpfError> {
        if self.expression.is_empty() {
            return Ok(());
        }
        self.filter_for(linktype).map(|_| ())
    }

    fn filter_for(&mut self, linktype: u16) -> Result<&BpfFilter, BpfError> {
        let idx = match self.filters.iter().position(|(lt, _)| *lt == linktype) {
            Some(i) => i,
            None => {
                let compiled = BpfFilter::compile(linktype, &self.expression);
                self.filters.push((linktype, compiled));
                self.filters.len() - 1
            }
        };
        match &self.filters[idx].1 {
            Ok(f) => Ok(f),
            Err(e) => Err(e.clone()),
        }
    }

    /// True when the record passes; compiles for `linktype` on first sight. The error is
    /// the compile error for a link type the expression does not apply to.
    #[inline]
    pub fn matches(&mut self, linktype: u16, data: &[u8]) -> Result<bool, BpfError> {
        if self.expression.is_empty() {
            return Ok(true);
        }
        Ok(self.filter_for(linktype)?.matches(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::pcap_file::PcapFileReader;
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::process::Command;

    fn fixtures() -> Option<PathBuf> {
        crate::testdata::pktvisor_fixtures()
    }

    use crate::testdata::have_tool;

    /// Count of records of `path` matching `expr` with one filter for its link type.
    fn count(path: &std::path::Path, expr: &str) -> (usize, usize) {
        let mut r = PcapFileReader::open(path).unwrap();
        let mut filter: Option<BpfFilter> = None;
        let (mut total, mut hits) = (0, 0);
        while let Some(rec) = r.next_record().unwrap() {
            let f = filter.get_or_insert_with(|| BpfFilter::compile(rec.linktype, expr).unwrap());
            assert_eq!(f.linktype(), rec.linktype);
            total += 1;
            hits += usize::from(f.matches(rec.data));
        }
        (total, hits)
    }

    #[test]
    fn udp_port_53_and_tcp_on_dns_ipv4_udp() {
        let Some(dir) = fixtures() else { return };
        let path = dir.join("dns_ipv4_udp.pcap");
        // This fixture's DNS server listens on port 53000, not 53 (tcpdump agrees: `udp port
        // 53` matches none of its frames), so both are checked.
        assert_eq!(count(&path, "udp"), (140, 140));
        assert_eq!(count(&path, "udp port 53000"), (140, 140));
        assert_eq!(count(&path, "udp port 53"), (140, 0));
        assert_eq!(count(&path, "tcp"), (140, 0));
        // A filter that splits the file: queries to the server vs responses from it.
        let (_, to_server) = count(&path, "udp dst port 53000");
        let (_, from_server) = count(&path, "udp src port 53000");
        assert_eq!(to_server + from_server, 140);
        assert!(to_server > 0 && from_server > 0);
    }

    #[test]
    fn bad_expression_error() {
        let e = BpfFilter::compile(1, "udp port").unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("Cannot set BPF filter to pcap file: "),
            "{text}"
        );
        assert!(
            text.len() > "Cannot set BPF filter to pcap file: ".len() + 3,
            "{text}"
        );
        let e = BpfFilter::compile(1, "not an expression (((").unwrap_err();
        assert!(matches!(e, BpfError::Compile { linktype: 1, .. }));
        let mut set = BpfFilterSet::new("nonsense port");
        let first = set.validate(1).unwrap_err();
        assert_eq!(set.matches(1, &[0u8; 60]).unwrap_err(), first);
        assert_eq!(set.filters.len(), 1);
        // An expression valid for Ethernet but not for a link type without MAC addresses.
        let mut set = BpfFilterSet::new("ether host 00:11:22:33:44:55");
        assert!(set.validate(1).is_ok());
        let e = set.matches(101, &[0x45; 20]).unwrap_err();
        assert!(matches!(e, BpfError::Compile { linktype: 101, .. }), "{e}");
    }

    #[test]
    fn agrees_with_tcpdump_on_fixtures() {
        let Some(dir) = fixtures() else { return };
        if !have_tool("tcpdump", "tcpdump") {
            return;
        }
        for (name, expr) in [
            ("dns_udp_tcp_random.pcap", "tcp and port 53"),
            ("dns_udp_tcp_random.pcap", "udp"),
            ("ipfix.pcap", "udp"),
            ("dns_ipv6_udp.pcap", "ip6 and udp"),
            ("dns_ipv4_udp.pcap", "udp port 53000"),
        ] {
            let path = dir.join(name);
            let out = Command::new("tcpdump")
                .args(["-nn", "-q", "-r"])
                .arg(&path)
                .arg(expr)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs = String::from_utf8_lossy(&out.stdout).lines().count();
            let (_, ours) = count(&path, expr);
            assert_eq!(ours, theirs, "{name}: {expr}");
            assert!(ours > 0, "{name}: {expr}");
        }
    }

    #[test]
    fn filter_set_handles_mixed_linktypes() {
        let Some(dir) = fixtures() else { return };
        // Ethernet (1) records, then the same IPv4 packets as LINKTYPE_RAW (101) with the
        // Ethernet header stripped, then SLL (113) records, through one set.
        let mut records: Vec<(u16, Vec<u8>)> = Vec::new();
        let mut r = PcapFileReader::open(&dir.join("dns_ipv4_udp.pcap")).unwrap();
        while let Some(rec) = r.next_record().unwrap() {
            records.push((1, rec.data.to_vec()));
            records.push((101, rec.data[14..].to_vec()));
        }
        let mut r = PcapFileReader::open(&dir.join("ipfix.pcap")).unwrap();
        while let Some(rec) = r.next_record().unwrap() {
            records.push((rec.linktype, rec.data.to_vec()));
        }
        let mut set = BpfFilterSet::new("udp");
        set.validate(1).unwrap();
        let mut per_linktype: HashMap<u16, usize> = HashMap::new();
        for (lt, data) in &records {
            if set.matches(*lt, data).unwrap() {
                *per_linktype.entry(*lt).or_default() += 1;
            }
        }
        assert_eq!(per_linktype.get(&1), Some(&140));
        assert_eq!(per_linktype.get(&101), Some(&140));
        assert_eq!(per_linktype.get(&113), Some(&43));
        assert_eq!(set.filters.len(), 3);

        let mut dns_only = BpfFilterSet::new("udp port 53000");
        let hits = records
            .iter()
            .filter(|(lt, d)| dns_only.matches(*lt, d).unwrap())
            .count();
        assert_eq!(hits, 280);

        let mut all = BpfFilterSet::new("  ");
        assert!(all.matches(1, b"").unwrap());
        assert!(all.filters.is_empty());
    }

    #[test]
    fn filters_are_send() {
        fn is_send<T: Send>() {}
        is_send::<BpfFilter>();
        is_send::<BpfFilterSet>();
    }
}
