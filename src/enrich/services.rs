//! The IANA service-name registry that names ports (pktvisor §13.2).
//!
//! Loaded from IANA's `service-names-port-numbers.csv` (or pktvisor's custom file with port
//! ranges). Entries are kept per transport, keyed by the upper bound of their port range;
//! the first CSV row wins for a duplicate key. A lookup takes the first entry whose key is
//! at least the port and answers its name when the port falls in the entry's range,
//! otherwise the decimal port.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry as MapEntry;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// Transport protocol of a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// Errors loading a service registry.
#[derive(thiserror::Error, Debug)]
pub enum ServicesError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read IANA service registry: {source}")]
    Read {
        /// The file (or `<input>` for a reader).
        path: String,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// The CSV is malformed beyond single rows (for example an I/O error mid-file).
    #[error("{path}: invalid IANA service registry CSV: {source}")]
    Csv {
        /// The file (or `<input>` for a reader).
        path: String,
        /// The CSV reader's error.
        source: csv::Error,
    },
    /// The header lacks a required column.
    #[error("{path}: IANA service registry CSV header lacks column(s): {missing}")]
    MissingColumns {
        /// The file (or `<input>` for a reader).
        path: String,
        /// The missing column names, comma-separated.
        missing: String,
    },
}

const COL_NAME: &str = "Service Name";
const COL_PORT: &str = "Port Number";
const COL_PROTO: &str = "Transport Protocol";

/// One registry entry: a port range `start..=upper` and its service name.
#[derive(Clone, Debug)]
struct Entry {
    upper: u16,
    start: u16,
    name: Box<str>,
}

/// Entries of one transport, sorted by `upper` (unique).
type Table = Arc<[Entry]>;

/// The port → service-name registry. Cloning is cheap (shared tables); an empty registry
/// (the `Default`) names every port by its decimal number.
#[derive(Clone, Debug, Default)]
pub struct ServiceRegistry {
    tcp: Table,
    udp: Table,
    skipped: u64,
}

impl ServiceRegistry {
    /// Loads the CSV at `path`: a regular file of at most
    /// [`MAX_SERVICE_REGISTRY_BYTES`](crate::files::MAX_SERVICE_REGISTRY_BYTES) (read with
    /// that cap even if it grows). An unreadable, oversized or non-regular file, or a header
    /// without the `Service Name`, `Port Number` and `Transport Protocol` columns, is an
    /// error naming the path.
    pub fn load(path: &Path) -> Result<Self, ServicesError> {
        use std::io::Read as _;
        let name = path.display().to_string();
        let max = crate::files::MAX_SERVICE_REGISTRY_BYTES;
        let file = crate::files::open_regular(path, max).map_err(|e| ServicesError::Read {
            path: name.clone(),
            source: e.into(),
        })?;
        Self::parse(io::BufReader::with_capacity(1 << 16, file.take(max)), &name)
    }

    /// Loads the CSV from a reader (errors name the input `<input>`).
    pub fn from_reader<R: io::Read>(r: R) -> Result<Self, ServicesError> {
        Self::parse(r, "<input>")
    }

    fn parse<R: io::Read>(r: R, name: &str) -> Result<Self, ServicesError> {
        let csv_err = |source: csv::Error| ServicesError::Csv {
            path: name.to_string(),
            source,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(r);
        let header = reader.byte_headers().map_err(csv_err)?.clone();
        let find = |want: &str| {
            header.iter().position(|h| {
                let h = h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h);
                h.trim_ascii() == want.as_bytes()
            })
        };
        let (name_col, port_col, proto_col) =
            match (find(COL_NAME), find(COL_PORT), find(COL_PROTO)) {
                (Some(a), Some(b), Some(c)) => (a, b, c),
                (a, b, c) => {
                    let missing: Vec<&str> = [(a, COL_NAME), (b, COL_PORT), (c, COL_PROTO)]
                        .iter()
                        .filter(|(col, _)| col.is_none())
                        .map(|(_, n)| *n)
                        .collect();
                    return Err(ServicesError::MissingColumns {
                        path: name.to_string(),
                        missing: missing.join(", "),
                    });
                }
            };

        let mut tcp: BTreeMap<u16, Entry> = BTreeMap::new();
        let mut udp: BTreeMap<u16, Entry> = BTreeMap::new();
        let mut skipped = 0u64;
        let mut record = csv::ByteRecord::new();
        while reader.read_byte_record(&mut record).map_err(csv_err)? {
            let field = |i: usize| record.get(i).unwrap_or_default().trim_ascii();
            let (service, port, proto) = (field(name_col), field(port_col), field(proto_col));
            if service.is_empty() || port.is_empty() {
                continue;
            }
            let table = if proto.eq_ignore_ascii_case(b"tcp") {
                &mut tcp
            } else if proto.eq_ignore_ascii_case(b"udp") {
                &mut udp
            } else {
                continue;
            };
            let Some((start, upper)) = parse_port_range(port) else {
                skipped += 1;
                continue;
            };
            if let MapEntry::Vacant(slot) = table.entry(upper) {
                slot.insert(Entry {
                    upper,
                    start,
                    name: String::from_utf8_lossy(service).into(),
                });
            }
        }
        Ok(ServiceRegistry {
            tcp: tcp.into_values().collect(),
            udp: udp.into_values().collect(),
            skipped,
        })
    }

    /// The service name for `port`/`proto`, or the decimal port when no entry covers it.
    pub fn name(&self, port: u16, proto: Transport) -> Cow<'_, str> {
        let table = match proto {
            Transport::Tcp => &self.tcp,
            Transport::Udp => &self.udp,
        };
        let idx = table.partition_point(|e| e.upper < port);
        match table.get(idx) {
            Some(e) if e.upper == port || port >= e.start => Cow::Borrowed(&e.name),
            _ => Cow::Owned(port.to_string()),
        }
    }

    /// Number of entries (TCP and UDP together).
    pub fn len(&self) -> usize {
        self.tcp.len() + self.udp.len()
    }

    /// True when no entry is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows with a tcp/udp protocol and a name that were skipped because their port field
    /// was malformed (not a number, over 65535, or a range `N-M` with `N > M`). Rows skipped
    /// for an empty name/port or another protocol are not counted.
    pub fn skipped_rows(&self) -> u64 {
        self.skipped
    }
}

/// `N` or `N-M` (both `u16`, `N <= M`) as `(start, upper)`.
fn parse_port_range(field: &[u8]) -> Option<(u16, u16)> {
    fn number(s: &[u8]) -> Option<u16> {
        let s = s.trim_ascii();
        if s.is_empty() || s.len() > 5 || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        s.iter()
            .try_fold(0u32, |acc, d| Some(acc * 10 + u32::from(d - b'0')))
            .and_then(|v| u16::try_from(v).ok())
    }
    match field.iter().position(|&b| b == b'-') {
        Some(dash) => {
            let start = number(&field[..dash])?;
            let upper = number(&field[dash + 1..])?;
            (start <= upper).then_some((start, upper))
        }
        None => number(field).map(|p| (p, p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixtures() -> Option<PathBuf> {
        crate::testdata::pktvisor_fixtures()
    }

    #[test]
    fn official_iana_file() {
        let Some(dir) = fixtures() else { return };
        let reg = ServiceRegistry::load(&dir.join("service-names-port-numbers.csv")).unwrap();
        assert_eq!(reg.name(53, Transport::Tcp), "domain");
        assert_eq!(reg.name(53, Transport::Udp), "domain");
        assert_eq!(reg.name(80, Transport::Tcp), "http");
        assert_eq!(reg.name(443, Transport::Udp), "https");
        assert!(reg.len() > 10_000, "{}", reg.len());
        assert!(!reg.is_empty());
        // Quoted fields with commas and newlines must not derail the columns: every stored
        // name is a single token without separators.
        for e in reg.tcp.iter().chain(reg.udp.iter()) {
            assert!(!e.name.contains([',', '\n', '"']), "{:?}", e.name);
            assert!(e.start <= e.upper);
        }
    }

    #[test]
    fn pktvisor_custom_file_with_ranges() {
        let Some(dir) = fixtures() else { return };
        let reg = ServiceRegistry::load(&dir.join("pktvisor-port-service-names.csv")).unwrap();
        assert_eq!(reg.name(53, Transport::Tcp), "domain");
        assert_eq!(reg.name(11000, Transport::Tcp), "registered-10k");
        assert_eq!(reg.name(25227, Transport::Udp), "registered-20k");
        assert_eq!(reg.name(5001, Transport::Tcp), "commplex-link");
        assert_eq!(reg.name(5001, Transport::Udp), "commplex-link");
        assert_eq!(reg.name(60000, Transport::Udp), "dynamic-client");
        assert_eq!(reg.name(65535, Transport::Tcp), "dynamic-client");
        // Port 0 has no row in this file (the official "Reserved" rows have no name) and
        // no range covers it.
        assert_eq!(reg.name(0, Transport::Tcp), "0");
        assert_eq!(reg.skipped_rows(), 0);
    }

    #[test]
    fn port_without_entry_is_decimal() {
        let Some(dir) = fixtures() else { return };
        let reg = ServiceRegistry::load(&dir.join("service-names-port-numbers.csv")).unwrap();
        // Port 0 rows have an empty service name and are skipped; port 1 is tcpmux, so the
        // lookup for 0 lands on key 1 whose range starts at 1 > 0.
        assert_eq!(reg.name(0, Transport::Udp), "0");
        // Find a port with no TCP entry at all and check it comes back as its number.
        let free = (1..=u16::MAX)
            .find(|p| !reg.tcp.iter().any(|e| e.start <= *p && *p <= e.upper))
            .expect("some port is unassigned");
        assert_eq!(reg.name(free, Transport::Tcp), free.to_string());
    }

    #[test]
    fn empty_registry_names_ports_by_number() {
        let reg = ServiceRegistry::default();
        assert!(reg.is_empty());
        assert_eq!(reg.len(), 0);
        assert_eq!(reg.name(53, Transport::Udp), "53");
        assert_eq!(reg.name(65535, Transport::Tcp), "65535");
    }

    #[test]
    fn first_row_wins_and_range_rules() {
        let csv = "Description,Transport Protocol,Port Number,Service Name\n\
                   first,tcp,80,web-first\n\
                   second,TCP,80,web-second\n\
                   \"quoted, with comma\nand newline\",udp,100-200,\"span\"\n\
                   overlapping,udp,150-200,later-same-key\n\
                   other,sctp,300,sctp-only\n\
                   noname,tcp,301,\n\
                   noport,tcp,,noport\n\
                   bad,tcp,abc,bad-number\n\
                   bad,tcp,70000,too-big\n\
                   bad,udp,500-400,reversed\n\
                   bad,udp,1-99999,range-too-big\n\
                   short row\n";
        let reg = ServiceRegistry::from_reader(csv.as_bytes()).unwrap();
        assert_eq!(reg.name(80, Transport::Tcp), "web-first");
        assert_eq!(reg.name(80, Transport::Udp), "80");
        assert_eq!(reg.name(150, Transport::Udp), "span");
        assert_eq!(reg.name(100, Transport::Udp), "span");
        assert_eq!(reg.name(200, Transport::Udp), "span");
        // Below the range start: the first key >= 99 is 200, but 99 < 100.
        assert_eq!(reg.name(99, Transport::Udp), "99");
        assert_eq!(reg.name(201, Transport::Udp), "201");
        assert_eq!(reg.name(300, Transport::Tcp), "300");
        assert_eq!(reg.name(301, Transport::Tcp), "301");
        assert_eq!(reg.len(), 2);
        assert_eq!(reg.skipped_rows(), 4);
    }

    #[test]
    fn errors_name_the_path() {
        let missing = Path::new("/nonexistent/services.csv");
        let err = ServiceRegistry::load(missing).unwrap_err().to_string();
        assert!(err.starts_with("/nonexistent/services.csv: "), "{err}");

        let err = ServiceRegistry::from_reader("Service Name,Port\nx,1\n".as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("Port Number, Transport Protocol"), "{err}");

        let err = ServiceRegistry::from_reader(&b""[..])
            .unwrap_err()
            .to_string();
        assert!(err.contains("lacks column"), "{err}");

        let Some(dir) = fixtures() else { return };
        // A binary file is not a registry: no header columns.
        let pcap = dir.join("dns_ipv4_udp.pcap");
        let err = ServiceRegistry::load(&pcap).unwrap_err().to_string();
        assert!(err.starts_with(&pcap.display().to_string()), "{err}");
        assert!(err.contains("lacks column"), "{err}");
    }
}
