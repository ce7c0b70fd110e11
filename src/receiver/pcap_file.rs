//! Streaming reader of capture files: classic pcap and pcapng, plain or gzip-compressed.
//!
//! Owns everything between a capture file on disk and a packet record: format detection
//! (gzip magic `1f 8b`, pcap magics in both byte orders with microsecond, nanosecond and
//! the "modified" 24-byte record header, pcapng sections), the refill buffer, per-interface
//! link types and timestamp resolutions/offsets in pcapng, and the distinction between a
//! truncated tail (the normal end of a capture cut short: not an error) and a corrupt block
//! in the middle (an error after all records before it).
//!
//! Records are zero-copy slices into one large buffer (1 MiB, grown only for a record
//! larger than that); gzip input is decompressed on the fly with `MultiGzDecoder`, so the
//! whole file is never held in memory.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::time::Timespec;

/// Default size of the read buffer.
const BUFFER_SIZE: usize = 1 << 20;

/// The largest record (pcap) or packet block (pcapng) accepted, 16 MiB. libpcap's own limit
/// is 256 KiB for most link types; anything beyond this is treated as corruption so that a
/// hostile length cannot make the reader allocate without bound.
pub const MAX_RECORD_LEN: usize = 16 << 20;

const PCAP_HEADER_LEN: usize = 24;
const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
const PCAPNG_IDB: u32 = 0x0000_0001;
const PCAPNG_PB: u32 = 0x0000_0002;
const PCAPNG_SPB: u32 = 0x0000_0003;
const PCAPNG_EPB: u32 = 0x0000_0006;
const PCAPNG_BOM: u32 = 0x1A2B_3C4D;

/// One packet record, borrowed from the reader's buffer until the next call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapRecord<'a> {
    /// Capture timestamp (pcapng: interface resolution and `if_tsoffset` applied; Simple
    /// Packet Blocks carry none and get the epoch).
    pub ts: Timespec,
    /// The record's `LINKTYPE_` value (pcapng: the link type of its interface).
    pub linktype: u16,
    /// Captured length, equal to `data.len()`.
    pub caplen: u32,
    /// Original length on the wire.
    pub origlen: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// Errors reading a capture file.
#[derive(thiserror::Error, Debug)]
pub enum PcapFileError {
    /// The file could not be opened.
    #[error("Cannot open pcap/pcapng file: {path}: {source}")]
    Open {
        /// The file as given.
        path: String,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// The file (after gzip decompression, if any) holds no bytes at all.
    #[error("{path}: file is empty, not a pcap or pcapng file")]
    Empty {
        /// The file as given.
        path: String,
    },
    /// The file starts with neither a pcap nor a pcapng magic number.
    #[error("{path}: not a pcap or pcapng file")]
    UnknownFormat {
        /// The file as given.
        path: String,
    },
    /// Reading (or decompressing) failed.
    #[error("{path}: read error: {source}")]
    Read {
        /// The file as given.
        path: String,
        /// The underlying I/O (or gzip) error.
        source: io::Error,
    },
    /// A header or block is impossible (bad length, unknown interface, ...). Records before
    /// it were delivered; the reader returns `Ok(None)` afterwards.
    #[error("corrupt capture file at byte {offset}: {reason}")]
    Corrupt {
        /// Offset of the bad header or block in the (decompressed) capture stream.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Timestamp resolution of a pcapng interface.
#[derive(Clone, Copy, Debug)]
enum Resolution {
    /// `10^-k` s with `k <= 9`: nanoseconds are `frac * mult`.
    Decimal { units: u64, mult: u64 },
    /// Any other resolution, in units per second.
    General { units: u128 },
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: u16,
    snaplen: u32,
    resolution: Resolution,
    offset_secs: i64,
}

#[derive(Debug)]
enum Format {
    Pcap {
        big_endian: bool,
        /// Nanoseconds per unit of the fractional timestamp field (1000 or 1).
        frac_mult: u64,
        linktype: u16,
        header_len: usize,
    },
    PcapNg {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// Counts the bytes read from the underlying (compressed) file.
struct CountingReader {
    inner: Box<dyn Read + Send>,
    count: u64,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

enum Source {
    Plain(Box<dyn Read + Send>),
    Gzip(Box<MultiGzDecoder<io::Chain<Cursor<Vec<u8>>, CountingReader>>>),
}

impl Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Plain(r) => r.read(buf),
            Source::Gzip(r) => r.read(buf),
        }
    }
}

/// A streaming reader of one pcap or pcapng file (optionally gzip-compressed).
///
/// `Send`; meant to be driven by one thread. Records borrow the internal buffer, so each
/// must be dropped before asking for the next.
pub struct PcapFileReader {
    name: String,
    source: Source,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Offset of `buf[start]` in the (decompressed) capture stream.
    stream_pos: u64,
    eof: bool,
    /// The gzip stream itself ended early.
    source_truncated: bool,
    truncated: bool,
    /// A corrupt block was reported; the stream is over.
    failed: bool,
    format: Format,
    packets: u64,
    total: Option<u64>,
}

impl std::fmt::Debug for PcapFileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapFileReader")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("gzip", &self.is_gzip())
            .field("packets", &self.packets)
            .field("stream_pos", &self.stream_pos)
            .finish()
    }
}

#[inline]
fn u16_at(b: &[u8], at: usize, big_endian: bool) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        a.copy_from_slice(s);
    }
    if big_endian {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

#[inline]
fn u32_at(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    if big_endian {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

#[inline]
fn u64_at(b: &[u8], at: usize, big_endian: bool) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    if big_endian {
        u64::from_be_bytes(a)
    } else {
        u64::from_le_bytes(a)
    }
}

/// `sec` seconds plus `frac_ns` nanoseconds, carrying whole seconds out of the fraction.
#[inline]
fn timespec(sec: i64, frac_ns: u64) -> Timespec {
    let carry = i64::try_from(frac_ns / 1_000_000_000).unwrap_or(i64::MAX);
    Timespec {
        sec: sec.saturating_add(carry),
        nsec: (frac_ns % 1_000_000_000) as u32,
    }
}

impl Interface {
    fn timestamp(&self, raw: u64) -> Timespec {
        let (secs, nsec) = match self.resolution {
            Resolution::Decimal { units, mult } => (raw / units, (raw % units) * mult),
            Resolution::General { units } => {
                let raw = u128::from(raw);
                let secs = u64::try_from(raw / units).unwrap_or(u64::MAX);
                let nsec = (raw % units) * 1_000_000_000 / units;
                (secs, u64::try_from(nsec).unwrap_or(0))
            }
        };
        let sec = i64::try_from(secs)
            .unwrap_or(i64::MAX)
            .saturating_add(self.offset_secs);
        timespec(sec, nsec)
    }
}

fn resolution_from_tsresol(v: u8) -> Resolution {
    let exp = u32::from(v & 0x7f);
    if v & 0x80 == 0 && exp <= 9 {
        let units = 10u64.pow(exp);
        return Resolution::Decimal {
            units,
            mult: 10u64.pow(9 - exp),
        };
    }
    let units = if v & 0x80 != 0 {
        1u128 << exp
    } else {
        // 10^exp for exp up to 127 overflows u128 past 10^38; clamp (such a clock would be
        // absurd, and any raw u64 value is then below one second anyway).
        10u128.checked_pow(exp).unwrap_or(u128::MAX)
    };
    Resolution::General { units }
}

impl PcapFileReader {
    /// Opens a capture file (pcap or pcapng, plain or gzip-compressed) and reads its header.
    pub fn open(path: &Path) -> Result<Self, PcapFileError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| PcapFileError::Open {
            path: name.clone(),
            source,
        })?;
        let total = file.metadata().ok().map(|m| m.len());
        Self::from_reader(Box::new(file), total, &name)
    }

    /// Reads a capture from any byte stream; `total_len` is its size if known (for
    /// progress) and `name` is used in error messages.
    pub fn from_reader(
        r: Box<dyn Read + Send>,
        total_len: Option<u64>,
        name: &str,
    ) -> Result<Self, PcapFileError> {
        let mut reader = PcapFileReader {
            name: name.to_string(),
            source: Source::Plain(r),
            buf: vec![0u8; BUFFER_SIZE],
            start: 0,
            end: 0,
            stream_pos: 0,
            eof: false,
            source_truncated: false,
            truncated: false,
            failed: false,
            format: Format::PcapNg {
                big_endian: false,
                interfaces: Vec::new(),
            },
            packets: 0,
            total: total_len,
        };
        if !reader.fill(2)? && reader.end == 0 {
            return Err(PcapFileError::Empty { path: reader.name });
        }
        if reader.buf[..reader.end].starts_with(&[0x1f, 0x8b]) {
            reader.start_gzip();
            if !reader.fill(1)? {
                if reader.source_truncated {
                    return Err(PcapFileError::Read {
                        path: reader.name,
                        source: io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "gzip stream ends before any data",
                        ),
                    });
                }
                return Err(PcapFileError::Empty { path: reader.name });
            }
        }
        if !reader.fill(4)? {
            return Err(PcapFileError::UnknownFormat { path: reader.name });
        }
        let magic = u32_at(&reader.buf, reader.start, false);
        reader.format = match magic {
            PCAPNG_SHB => {
                if !reader.fill(12)? {
                    return Err(PcapFileError::Corrupt {
                        offset: 0,
                        reason: "the file ends inside the pcapng section header".into(),
                    });
                }
                let bom = u32_at(&reader.buf, reader.start + 8, false);
                if bom != PCAPNG_BOM && bom != PCAPNG_BOM.swap_bytes() {
                    return Err(PcapFileError::UnknownFormat { path: reader.name });
                }
                Format::PcapNg {
                    big_endian: false,
                    interfaces: Vec::new(),
                }
            }
            0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0xa1b2_cd34 | 0x34cd_b2a1 => {
                reader.read_pcap_header(magic)?
            }
            _ => return Err(PcapFileError::UnknownFormat { path: reader.name }),
        };
        Ok(reader)
    }

    /// Re-routes the source through a gzip decoder that first sees the already buffered
    /// bytes.
    fn start_gzip(&mut self) {
        let prefix = self.buf[self.start..self.end].to_vec();
        let inner = std::mem::replace(&mut self.source, Source::Plain(Box::new(io::empty())));
        let Source::Plain(inner) = inner else {
            self.source = inner;
            return;
        };
        let counting = CountingReader {
            inner,
            count: prefix.len() as u64,
        };
        self.source = Source::Gzip(Box::new(MultiGzDecoder::new(
            Cursor::new(prefix).chain(counting),
        )));
        self.start = 0;
        self.end = 0;
    }

    fn read_pcap_header(&mut self, magic: u32) -> Result<Format, PcapFileError> {
        if !self.fill(PCAP_HEADER_LEN)? {
            return Err(PcapFileError::Corrupt {
                offset: 0,
                reason: "the file ends inside the 24-byte pcap file header".into(),
            });
        }
        let big_endian = matches!(magic, 0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1);
        let frac_mult = if matches!(magic, 0xa1b2_3c4d | 0x4d3c_b2a1) {
            1
        } else {
            1000
        };
        let header_len = if matches!(magic, 0xa1b2_cd34 | 0x34cd_b2a1) {
            24
        } else {
            16
        };
        let h = &self.buf[self.start..self.start + PCAP_HEADER_LEN];
        let linktype = (u32_at(h, 20, big_endian) & 0xffff) as u16;
        self.consume(PCAP_HEADER_LEN);
        Ok(Format::Pcap {
            big_endian,
            frac_mult,
            linktype,
            header_len,
        })
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        self.start += n;
        self.stream_pos += n as u64;
    }

    /// Makes at least `need` unconsumed bytes available; `false` when the stream ends first
    /// (everything that was there stays buffered).
    fn fill(&mut self, need: usize) -> Result<bool, PcapFileError> {
        if self.end - self.start >= need {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        if self.start + need > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if need > self.buf.len() {
                self.buf.resize(need.next_power_of_two(), 0);
            }
        }
        while self.end - self.start < need {
            match self.source.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => self.end += n.min(self.buf.len() - self.end),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if e.kind() == io::ErrorKind::UnexpectedEof
                        && matches!(self.source, Source::Gzip(_)) =>
                {
                    // The gzip stream was cut short: what decompressed so far is the capture.
                    self.eof = true;
                    self.source_truncated = true;
                    return Ok(false);
                }
                Err(source) => {
                    return Err(PcapFileError::Read {
                        path: self.name.clone(),
                        source,
                    });
                }
            }
        }
        Ok(true)
    }

    /// Discards `n` bytes; `false` when the stream ends first.
    fn skip(&mut self, mut n: u64) -> Result<bool, PcapFileError> {
        loop {
            let avail = (self.end - self.start) as u64;
            if avail >= n {
                self.consume(n as usize);
                return Ok(true);
            }
            n -= avail;
            self.stream_pos += avail;
            self.start = 0;
            self.end = 0;
            if !self.fill(1)? {
                return Ok(false);
            }
        }
    }

    /// Ends the stream at a truncated tail.
    fn end_truncated(&mut self) -> Result<Option<PcapRecord<'_>>, PcapFileError> {
        self.truncated = true;
        Ok(None)
    }

    /// Ends the stream at a clean end or a truncated tail, depending on leftovers.
    fn end_of_stream(&mut self) -> Result<Option<PcapRecord<'_>>, PcapFileError> {
        if self.end > self.start {
            self.truncated = true;
        }
        Ok(None)
    }

    fn corrupt(&mut self, offset: u64, reason: String) -> PcapFileError {
        self.failed = true;
        PcapFileError::Corrupt { offset, reason }
    }

    /// Next packet record; `Ok(None)` at the end of the file.
    ///
    /// A truncated last record (the file ends inside a record header or body, or the gzip
    /// stream is cut short) is not an error: it ends the stream with `Ok(None)` and sets
    /// [`truncated`](Self::truncated). A corrupt block in the middle (impossible length,
    /// unknown interface, ...) returns `Err(Corrupt)`; everything before it was delivered
    /// and later calls return `Ok(None)`.
    pub fn next_record(&mut self) -> Result<Option<PcapRecord<'_>>, PcapFileError> {
        if self.failed {
            return Ok(None);
        }
        match self.format {
            Format::Pcap {
                big_endian,
                frac_mult,
                linktype,
                header_len,
            } => self.next_pcap(big_endian, frac_mult, linktype, header_len),
            Format::PcapNg { .. } => self.next_pcapng(),
        }
    }

    fn next_pcap(
        &mut self,
        be: bool,
        frac_mult: u64,
        linktype: u16,
        header_len: usize,
    ) -> Result<Option<PcapRecord<'_>>, PcapFileError> {
        if !self.fill(header_len)? {
            return self.end_of_stream();
        }
        let h = &self.buf[self.start..self.start + header_len];
        let ts_sec = u32_at(h, 0, be);
        let ts_frac = u32_at(h, 4, be);
        let caplen = u32_at(h, 8, be);
        let origlen = u32_at(h, 12, be);
        if caplen as usize > MAX_RECORD_LEN {
            let offset = self.stream_pos;
            return Err(self.corrupt(
                offset,
                format!("record captured length {caplen} exceeds the maximum {MAX_RECORD_LEN}"),
            ));
        }
        let total = header_len + caplen as usize;
        if !self.fill(total)? {
            return self.end_truncated();
        }
        let data_start = self.start + header_len;
        self.consume(total);
        self.packets += 1;
        Ok(Some(PcapRecord {
            ts: timespec(i64::from(ts_sec), u64::from(ts_frac) * frac_mult),
            linktype,
            caplen,
            origlen,
            data: &self.buf[data_start..data_start + caplen as usize],
        }))
    }

    fn next_pcapng(&mut self) -> Result<Option<PcapRecord<'_>>, PcapFileError> {
        loop {
            if !self.fill(8)? {
                return self.end_of_stream();
            }
            let offset = self.stream_pos;
            let Format::PcapNg { big_endian, .. } = self.format else {
                return Ok(None);
            };
            let mut be = big_endian;
            let block_type = u32_at(&self.buf, self.start, be);
            if block_type == PCAPNG_SHB {
                if !self.fill(12)? {
                    return self.end_truncated();
                }
                be = match u32_at(&self.buf, self.start + 8, false) {
                    PCAPNG_BOM => false,
                    bom if bom == PCAPNG_BOM.swap_bytes() => true,
                    _ => {
                        return Err(
                            self.corrupt(offset, "bad section header byte-order magic".into())
                        );
                    }
                };
            }
            let len = u32_at(&self.buf, self.start + 4, be) as usize;
            let min_len = match block_type {
                PCAPNG_SHB => 28,
                PCAPNG_IDB => 20,
                PCAPNG_EPB | PCAPNG_PB => 32,
                PCAPNG_SPB => 16,
                _ => 12,
            };
            if len < min_len || !len.is_multiple_of(4) {
                return Err(self.corrupt(
                    offset,
                    format!("block type {block_type:#x} has an invalid total length {len}"),
                ));
            }
            if !matches!(
                block_type,
                PCAPNG_SHB | PCAPNG_IDB | PCAPNG_EPB | PCAPNG_SPB | PCAPNG_PB
            ) {
                if !self.skip(len as u64)? {
                    return self.end_truncated();
                }
                continue;
            }
            if len > MAX_RECORD_LEN + 64 {
                return Err(self.corrupt(
                    offset,
                    format!("block type {block_type:#x} length {len} exceeds the maximum"),
                ));
            }
            if !self.fill(len)? {
                return self.end_truncated();
            }
            let b = &self.buf[self.start..self.start + len];
            if u32_at(b, len - 4, be) as usize != len {
                return Err(self.corrupt(
                    offset,
                    format!("block type {block_type:#x}: trailing length differs from {len}"),
                ));
            }
            match block_type {
                PCAPNG_SHB => {
                    let major = u16_at(b, 12, be);
                    if major != 1 {
                        return Err(self
                            .corrupt(offset, format!("unsupported pcapng major version {major}")));
                    }
                    self.format = Format::PcapNg {
                        big_endian: be,
                        interfaces: Vec::new(),
                    };
                    self.consume(len);
                }
                PCAPNG_IDB => {
                    let iface = parse_idb(b, be);
                    if let Format::PcapNg { interfaces, .. } = &mut self.format {
                        interfaces.push(iface);
                    }
                    self.consume(len);
                }
                _ => return self.packet_block(block_type, len, be, offset),
            }
        }
    }

    /// Delivers the EPB / SPB / PB at `buf[start..start+len]`.
    fn packet_block(
        &mut self,
        block_type: u32,
        len: usize,
        be: bool,
        offset: u64,
    ) -> Result<Option<PcapRecord<'_>>, PcapFileError> {
        let b = &self.buf[self.start..self.start + len];
        let body_end = len - 4;
        let (iface_id, ts_raw, caplen, origlen, data_off) = match block_type {
            PCAPNG_EPB => {
                let ts = (u64::from(u32_at(b, 12, be)) << 32) | u64::from(u32_at(b, 16, be));
                (
                    u32_at(b, 8, be),
                    Some(ts),
                    u32_at(b, 20, be),
                    u32_at(b, 24, be),
                    28,
                )
            }
            PCAPNG_PB => {
                let ts = (u64::from(u32_at(b, 12, be)) << 32) | u64::from(u32_at(b, 16, be));
                let id = u32::from(u16_at(b, 8, be));
                (id, Some(ts), u32_at(b, 20, be), u32_at(b, 24, be), 28)
            }
            _ => {
                let origlen = u32_at(b, 8, be);
                let room = u32::try_from(body_end - 12).unwrap_or(u32::MAX);
                (0, None, origlen.min(room), origlen, 12)
            }
        };
        let Format::PcapNg { interfaces, .. } = &self.format else {
            return Ok(None);
        };
        let Some(iface) = interfaces.get(iface_id as usize).copied() else {
            let n = interfaces.len();
            return Err(self.corrupt(
                offset,
                format!("packet block for interface {iface_id}, but the section has {n}"),
            ));
        };
        let mut caplen = caplen;
        if block_type == PCAPNG_SPB && iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen);
        }
        if data_off + caplen as usize > body_end {
            return Err(self.corrupt(
                offset,
                format!("captured length {caplen} overruns its {len}-byte block"),
            ));
        }
        let ts = ts_raw.map(|raw| iface.timestamp(raw)).unwrap_or_default();
        let data_start = self.start + data_off;
        self.consume(len);
        self.packets += 1;
        Ok(Some(PcapRecord {
            ts,
            linktype: iface.linktype,
            caplen,
            origlen,
            data: &self.buf[data_start..data_start + caplen as usize],
        }))
    }

    /// True when the stream ended inside a record (or the gzip stream was cut short).
    pub fn truncated(&self) -> bool {
        self.truncated || self.source_truncated
    }

    /// Records delivered so far.
    pub fn packets_read(&self) -> u64 {
        self.packets
    }

    /// Bytes consumed from the underlying file: the compressed bytes read for gzip, the
    /// position after the last delivered record otherwise.
    pub fn bytes_read(&self) -> u64 {
        match &self.source {
            Source::Gzip(d) => d.get_ref().get_ref().1.count,
            Source::Plain(_) => self.stream_pos,
        }
    }

    /// The file's size if known (from `open`, or as given to `from_reader`).
    pub fn total_bytes(&self) -> Option<u64> {
        self.total
    }

    /// True when the file is gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        matches!(self.source, Source::Gzip(_))
    }
}

/// Interface Description Block: link type, snaplen, `if_tsresol` (9), `if_tsoffset` (14).
fn parse_idb(b: &[u8], be: bool) -> Interface {
    let mut iface = Interface {
        linktype: u16_at(b, 8, be),
        snaplen: u32_at(b, 12, be),
        resolution: resolution_from_tsresol(6),
        offset_secs: 0,
    };
    let end = b.len() - 4;
    let mut at = 16;
    while at + 4 <= end {
        let code = u16_at(b, at, be);
        let olen = usize::from(u16_at(b, at + 2, be));
        let value = at + 4;
        if code == 0 || value + olen > end {
            break;
        }
        match (code, olen) {
            (9, 1..) => iface.resolution = resolution_from_tsresol(b[value]),
            (14, 8..) => iface.offset_secs = u64_at(b, value, be) as i64,
            _ => {}
        }
        at = value + olen.div_ceil(4) * 4;
    }
    iface
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/pktvisor/");

    /// The fixture folder, or `None` (test skipped with a note) when it is missing outside
    /// CI. In CI (`CI=true`) a missing folder fails the test.
    fn fixtures() -> Option<PathBuf> {
        let dir = PathBuf::from(FIXTURES);
        if dir.is_dir() {
            return Some(dir);
        }
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("fixture folder {FIXTURES} is missing (CI=true)");
        }
        eprintln!("note: fixture folder {FIXTURES} is missing; test skipped");
        None
    }

    /// True when `tool` runs; otherwise a note (or, with `CI=true`, a failure).
    fn have_tool(tool: &str, package: &str) -> bool {
        let ok = Command::new(tool)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !ok {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("`{tool}` is missing (CI=true); install it: apt-get install -y {package}");
            }
            eprintln!("note: `{tool}` is missing (apt package {package}); test skipped");
        }
        ok
    }

    /// A temporary folder removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "pktvisor-pcapfile-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }
        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn run(cmd: &mut Command) {
        let out = cmd.output().expect("spawn tool");
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// An owned copy of a record.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Owned {
        ts: Timespec,
        linktype: u16,
        caplen: u32,
        origlen: u32,
        data: Vec<u8>,
    }

    /// All records of a file, whether it ended truncated, and the reader.
    fn read_all(path: &Path) -> (Vec<Owned>, PcapFileReader) {
        let mut r = PcapFileReader::open(path).unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().unwrap_or_else(|e| panic!("{e}")) {
            assert_eq!(rec.caplen as usize, rec.data.len());
            out.push(Owned {
                ts: rec.ts,
                linktype: rec.linktype,
                caplen: rec.caplen,
                origlen: rec.origlen,
                data: rec.data.to_vec(),
            });
        }
        assert_eq!(r.packets_read(), out.len() as u64);
        (out, r)
    }

    const FIXTURE_COUNTS: &[(&str, usize, u16)] = &[
        ("bgp.pcap", 22, 1),
        ("dhcp-flow.pcap", 8, 1),
        ("dhcpv6.pcap", 12, 1),
        ("dns_ipv4_tcp.pcap", 2100, 1),
        ("dns_ipv4_udp.pcap", 140, 1),
        ("dns_ipv6_tcp.pcap", 1800, 1),
        ("dns_ipv6_udp.pcap", 140, 1),
        ("dns_udp_mixed_rcode.pcap", 24, 1),
        ("dns_udp_tcp_random.pcap", 16147, 1),
        ("dnssec.pcap", 14, 1),
        ("ecs.pcap", 66, 1),
        ("ipfix.pcap", 43, 113),
        ("nf1.pcap", 1, 1),
        ("nf5.pcap", 2, 1),
        ("nf7.pcap", 1, 1),
        ("nf9.pcap", 5, 1),
        ("sflow_ipv6.pcap", 1, 1),
        ("sflow_keyed.pcap", 1, 1),
    ];

    #[test]
    fn every_fixture_reads_with_its_frame_count() {
        let Some(dir) = fixtures() else { return };
        for &(name, count, linktype) in FIXTURE_COUNTS {
            let path = dir.join(name);
            let (recs, r) = read_all(&path);
            assert_eq!(recs.len(), count, "{name}");
            assert!(recs.iter().all(|x| x.linktype == linktype), "{name}");
            assert!(recs.iter().all(|x| x.origlen >= x.caplen), "{name}");
            assert!(!r.truncated(), "{name}");
            assert!(!r.is_gzip());
            let size = std::fs::metadata(&path).unwrap().len();
            assert_eq!(r.total_bytes(), Some(size), "{name}");
            assert_eq!(r.bytes_read(), size, "{name}");
        }
    }

    #[test]
    fn fixture_timestamps() {
        let Some(dir) = fixtures() else { return };
        let (udp, _) = read_all(&dir.join("dns_ipv4_udp.pcap"));
        assert_eq!(
            udp[0].ts,
            Timespec {
                sec: 1_567_706_414,
                nsec: 599_964_000
            }
        );
        assert_eq!(
            udp.last().unwrap().ts,
            Timespec {
                sec: 1_567_706_420,
                nsec: 602_866_000
            }
        );
        let (tcp, _) = read_all(&dir.join("dns_ipv4_tcp.pcap"));
        assert_eq!(
            tcp[0].ts,
            Timespec {
                sec: 1_567_706_433,
                nsec: 56_403_000
            }
        );
        // nf9.pcap uses the nanosecond magic: sub-microsecond digits survive.
        let (nf9, _) = read_all(&dir.join("nf9.pcap"));
        assert_eq!(
            nf9[0].ts,
            Timespec {
                sec: 1_508_409_869,
                nsec: 575_718_995
            }
        );
        assert!(nf9.iter().any(|r| r.ts.nsec % 1000 != 0));
    }

    /// Byte-swaps a little-endian classic pcap into a big-endian one.
    fn to_big_endian_pcap(src: &[u8]) -> Vec<u8> {
        let mut out = src.to_vec();
        let swap32 = |b: &mut [u8], at: usize| b[at..at + 4].reverse();
        swap32(&mut out, 0);
        out[4..6].reverse();
        out[6..8].reverse();
        for at in [8, 12, 16, 20] {
            swap32(&mut out, at);
        }
        let mut at = 24;
        while at + 16 <= out.len() {
            let caplen = u32::from_le_bytes(out[at + 8..at + 12].try_into().unwrap()) as usize;
            for f in 0..4 {
                swap32(&mut out, at + 4 * f);
            }
            at += 16 + caplen;
        }
        out
    }

    #[test]
    fn pcapng_gzip_and_big_endian_variants_are_identical() {
        let Some(dir) = fixtures() else { return };
        if !have_tool("editcap", "wireshark-common") || !have_tool("gzip", "gzip") {
            return;
        }
        let tmp = TempDir::new("variants");
        for name in [
            "dns_ipv4_udp.pcap",
            "ipfix.pcap",
            "nf9.pcap",
            "dns_udp_tcp_random.pcap",
        ] {
            let src = dir.join(name);
            let (base, _) = read_all(&src);
            let ng = tmp.path(&format!("{name}.pcapng"));
            run(Command::new("editcap")
                .args(["-F", "pcapng"])
                .arg(&src)
                .arg(&ng));
            let modified = tmp.path(&format!("{name}.mod.pcap"));
            run(Command::new("editcap")
                .args(["-F", "modpcap"])
                .arg(&src)
                .arg(&modified));
            let nsec = tmp.path(&format!("{name}.nsec.pcap"));
            run(Command::new("editcap")
                .args(["-F", "nsecpcap"])
                .arg(&src)
                .arg(&nsec));
            let be = tmp.path(&format!("{name}.be.pcap"));
            std::fs::write(&be, to_big_endian_pcap(&std::fs::read(&src).unwrap())).unwrap();
            let plain = tmp.path(name);
            std::fs::copy(&src, &plain).unwrap();
            run(Command::new("gzip").arg("-k").arg("-f").arg(&plain));
            run(Command::new("gzip").arg("-k").arg("-f").arg(&ng));
            let gz = tmp.path(&format!("{name}.gz"));
            let nggz = tmp.path(&format!("{name}.pcapng.gz"));
            for variant in [&ng, &modified, &nsec, &be, &gz, &nggz] {
                let (recs, r) = read_all(variant);
                assert_eq!(recs.len(), base.len(), "{}", variant.display());
                // The modified format only has microseconds: nf9's nanoseconds get cut.
                let expected: Vec<Owned> = if variant == &modified {
                    base.iter()
                        .map(|r| Owned {
                            ts: Timespec {
                                sec: r.ts.sec,
                                nsec: r.ts.nsec / 1000 * 1000,
                            },
                            ..r.clone()
                        })
                        .collect()
                } else {
                    base.clone()
                };
                assert!(
                    recs == expected,
                    "{} differs from {name}",
                    variant.display()
                );
                assert!(!r.truncated(), "{}", variant.display());
                let size = std::fs::metadata(variant).unwrap().len();
                assert_eq!(r.bytes_read(), size, "{}", variant.display());
                assert_eq!(
                    r.is_gzip(),
                    variant.extension().is_some_and(|e| e == "gz"),
                    "{}",
                    variant.display()
                );
            }
        }
    }

    #[test]
    fn truncated_tails_end_cleanly() {
        let Some(dir) = fixtures() else { return };
        let tmp = TempDir::new("trunc");
        let src = dir.join("dns_ipv4_udp.pcap");
        let bytes = std::fs::read(&src).unwrap();
        let (all, _) = read_all(&src);
        let last_len = 16 + all.last().unwrap().caplen as usize;
        // Inside the last record's body, right after its header, and inside its header.
        for cut in [10, last_len - 17, last_len - 8] {
            let path = tmp.path(&format!("cut{cut}.pcap"));
            std::fs::write(&path, &bytes[..bytes.len() - cut]).unwrap();
            let (recs, r) = read_all(&path);
            assert_eq!(recs.len(), all.len() - 1, "cut {cut}");
            assert_eq!(recs[..], all[..all.len() - 1], "cut {cut}");
            assert!(r.truncated(), "cut {cut}");
        }
        // Cut exactly at a record boundary: a clean end.
        let path = tmp.path("boundary.pcap");
        std::fs::write(&path, &bytes[..bytes.len() - last_len]).unwrap();
        let (recs, r) = read_all(&path);
        assert_eq!(recs.len(), all.len() - 1);
        assert!(!r.truncated());
        // Only the file header: no records, no error.
        let path = tmp.path("header.pcap");
        std::fs::write(&path, &bytes[..24]).unwrap();
        let (recs, r) = read_all(&path);
        assert!(recs.is_empty() && !r.truncated());
    }

    #[test]
    fn truncated_pcapng_and_gzip_end_cleanly() {
        let Some(dir) = fixtures() else { return };
        if !have_tool("editcap", "wireshark-common") || !have_tool("gzip", "gzip") {
            return;
        }
        let tmp = TempDir::new("trunc-ng");
        let src = dir.join("dns_udp_tcp_random.pcap");
        let (all, _) = read_all(&src);
        let ng = tmp.path("x.pcapng");
        run(Command::new("editcap")
            .args(["-F", "pcapng"])
            .arg(&src)
            .arg(&ng));
        let bytes = std::fs::read(&ng).unwrap();
        let cut = tmp.path("cut.pcapng");
        std::fs::write(&cut, &bytes[..bytes.len() - 30]).unwrap();
        let (recs, r) = read_all(&cut);
        assert_eq!(recs[..], all[..all.len() - 1]);
        assert!(r.truncated());

        // A gzip file cut in the middle: a prefix of the records, truncated, no error.
        let plain = tmp.path("y.pcap");
        std::fs::copy(&src, &plain).unwrap();
        run(Command::new("gzip").arg("-f").arg(&plain));
        let gz = std::fs::read(tmp.path("y.pcap.gz")).unwrap();
        let cut_gz = tmp.path("cut.pcap.gz");
        std::fs::write(&cut_gz, &gz[..gz.len() / 2]).unwrap();
        let (recs, r) = read_all(&cut_gz);
        assert!(r.truncated());
        assert!(r.is_gzip());
        assert!(!recs.is_empty() && recs.len() < all.len(), "{}", recs.len());
        assert_eq!(recs[..], all[..recs.len()]);
    }

    #[test]
    fn empty_garbage_and_missing_files_are_clear_errors() {
        let tmp = TempDir::new("bad");
        let missing = tmp.path("missing.pcap");
        let e = PcapFileReader::open(&missing).unwrap_err();
        assert!(matches!(e, PcapFileError::Open { .. }));
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "Cannot open pcap/pcapng file: {}: ",
                missing.display()
            )),
            "{text}"
        );

        let empty = tmp.path("empty.pcap");
        std::fs::write(&empty, b"").unwrap();
        let e = PcapFileReader::open(&empty).unwrap_err();
        assert!(matches!(e, PcapFileError::Empty { .. }), "{e}");
        assert!(e.to_string().contains("empty"));

        let garbage = tmp.path("garbage.pcap");
        std::fs::write(&garbage, b"this is not a capture file at all\n").unwrap();
        let e = PcapFileReader::open(&garbage).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: not a pcap or pcapng file", garbage.display())
        );

        let tiny = tmp.path("tiny.pcap");
        std::fs::write(&tiny, b"ab").unwrap();
        let e = PcapFileReader::open(&tiny).unwrap_err();
        assert!(matches!(e, PcapFileError::UnknownFormat { .. }), "{e}");

        // A pcapng section header magic without a byte-order magic, or cut short.
        let ng_garbage = tmp.path("garbage.pcapng");
        std::fs::write(&ng_garbage, b"\x0a\x0d\x0d\x0a\x1c\0\0\0garbage!").unwrap();
        let e = PcapFileReader::open(&ng_garbage).unwrap_err();
        assert!(matches!(e, PcapFileError::UnknownFormat { .. }), "{e}");
        std::fs::write(&ng_garbage, b"\x0a\x0d\x0d\x0a\x1c\0").unwrap();
        let e = PcapFileReader::open(&ng_garbage).unwrap_err();
        assert!(matches!(e, PcapFileError::Corrupt { offset: 0, .. }), "{e}");

        // A pcap magic followed by too few header bytes.
        let short = tmp.path("short.pcap");
        std::fs::write(&short, [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]).unwrap();
        let e = PcapFileReader::open(&short).unwrap_err();
        assert!(matches!(e, PcapFileError::Corrupt { offset: 0, .. }), "{e}");

        // gzip of garbage and an empty gzip stream.
        let gz_garbage = tmp.path("garbage.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut enc, b"garbage garbage").unwrap();
        std::fs::write(&gz_garbage, enc.finish().unwrap()).unwrap();
        let e = PcapFileReader::open(&gz_garbage).unwrap_err();
        assert!(matches!(e, PcapFileError::UnknownFormat { .. }), "{e}");
        let gz_empty = tmp.path("empty.gz");
        let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::fs::write(&gz_empty, enc.finish().unwrap()).unwrap();
        let e = PcapFileReader::open(&gz_empty).unwrap_err();
        assert!(matches!(e, PcapFileError::Empty { .. }), "{e}");
        // A gzip magic followed by junk, or by a cut header: read (decompression) errors.
        for (i, junk) in [
            &[0x1f, 0x8b, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4][..],
            &[0x1f, 0x8b, 0xff, 0xff, 0xff, 0x00, 0x01, 0x02][..],
            &[0x1f, 0x8b][..],
        ]
        .into_iter()
        .enumerate()
        {
            let gz_bad = tmp.path(&format!("bad{i}.gz"));
            std::fs::write(&gz_bad, junk).unwrap();
            let e = PcapFileReader::open(&gz_bad).unwrap_err();
            assert!(matches!(e, PcapFileError::Read { .. }), "{i}: {e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("{}: read error: ", gz_bad.display()))
            );
        }
    }

    #[test]
    fn corrupt_record_in_the_middle_is_an_error_after_earlier_records() {
        let Some(dir) = fixtures() else { return };
        let mut bytes = std::fs::read(dir.join("dns_ipv4_udp.pcap")).unwrap();
        // Walk to the 11th record header and give it an impossible captured length.
        let mut at = 24;
        for _ in 0..10 {
            let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
            at += 16 + caplen as usize;
        }
        bytes[at + 8..at + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut r = PcapFileReader::from_reader(Box::new(Cursor::new(bytes)), None, "mem").unwrap();
        for _ in 0..10 {
            assert!(r.next_record().unwrap().is_some());
        }
        match r.next_record() {
            Err(PcapFileError::Corrupt { offset, reason }) => {
                assert_eq!(offset, at as u64);
                assert!(reason.contains("exceeds"), "{reason}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert!(r.next_record().unwrap().is_none());
        assert_eq!(r.packets_read(), 10);
        assert_eq!(r.total_bytes(), None);
    }

    /// Little builder for hand-made pcapng blocks.
    fn block(be: bool, btype: u32, body: &[u8]) -> Vec<u8> {
        let p32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let padded = body.len().div_ceil(4) * 4;
        let len = (12 + padded) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(&p32(btype));
        out.extend_from_slice(&p32(len));
        out.extend_from_slice(body);
        out.resize(8 + padded, 0);
        out.extend_from_slice(&p32(len));
        out
    }

    fn shb(be: bool) -> Vec<u8> {
        let mut body = Vec::new();
        if be {
            body.extend_from_slice(&PCAPNG_BOM.to_be_bytes());
            body.extend_from_slice(&1u16.to_be_bytes());
            body.extend_from_slice(&0u16.to_be_bytes());
        } else {
            body.extend_from_slice(&PCAPNG_BOM.to_le_bytes());
            body.extend_from_slice(&1u16.to_le_bytes());
            body.extend_from_slice(&0u16.to_le_bytes());
        }
        body.extend_from_slice(&[0xff; 8]);
        block(be, PCAPNG_SHB, &body)
    }

    fn idb(be: bool, linktype: u16, snaplen: u32, tsresol: Option<u8>, tsoffset: i64) -> Vec<u8> {
        let p16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let p32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut body = Vec::new();
        body.extend_from_slice(&p16(linktype));
        body.extend_from_slice(&p16(0));
        body.extend_from_slice(&p32(snaplen));
        // An unrelated option first (if_name), then the two that matter.
        body.extend_from_slice(&p16(2));
        body.extend_from_slice(&p16(3));
        body.extend_from_slice(b"eth\0");
        if let Some(r) = tsresol {
            body.extend_from_slice(&p16(9));
            body.extend_from_slice(&p16(1));
            body.extend_from_slice(&[r, 0, 0, 0]);
        }
        if tsoffset != 0 {
            body.extend_from_slice(&p16(14));
            body.extend_from_slice(&p16(8));
            let v = tsoffset as u64;
            body.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
        }
        body.extend_from_slice(&[0; 4]);
        block(be, PCAPNG_IDB, &body)
    }

    fn epb(be: bool, iface: u32, ts: u64, data: &[u8], origlen: u32) -> Vec<u8> {
        let p32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut body = Vec::new();
        body.extend_from_slice(&p32(iface));
        body.extend_from_slice(&p32((ts >> 32) as u32));
        body.extend_from_slice(&p32(ts as u32));
        body.extend_from_slice(&p32(data.len() as u32));
        body.extend_from_slice(&p32(origlen));
        body.extend_from_slice(data);
        block(be, PCAPNG_EPB, &body)
    }

    /// Two sections (little- then big-endian), interfaces with decimal, binary and offset
    /// clocks, EPB / SPB / obsolete PB, and skipped unknown blocks.
    fn handmade_pcapng() -> Vec<u8> {
        let mut f = Vec::new();
        f.extend(shb(false));
        f.extend(idb(false, 1, 12, None, 0)); // µs default, snaplen 12
        f.extend(idb(false, 113, 0, Some(9), 0)); // ns
        f.extend(block(false, 0x0000_0005, &[0u8; 20])); // interface statistics: skipped
        f.extend(epb(false, 0, 1_600_000_000_123_456, b"first-packet", 100));
        f.extend(epb(false, 1, 1_600_000_001_987_654_321, b"second", 6));
        f.extend(block(false, 0x8000_0001, b"custom local block"));
        // Simple Packet Block on interface 0 (no timestamp), origlen beyond the data.
        let mut spb = 64u32.to_le_bytes().to_vec();
        spb.extend_from_slice(b"simple-data!");
        f.extend(block(false, PCAPNG_SPB, &spb));
        // Obsolete Packet Block, interface 1, 2 drops.
        let mut pb = Vec::new();
        pb.extend_from_slice(&1u16.to_le_bytes());
        pb.extend_from_slice(&2u16.to_le_bytes());
        let ts: u64 = 1_600_000_002_000_000_001;
        pb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        pb.extend_from_slice(&(ts as u32).to_le_bytes());
        pb.extend_from_slice(&3u32.to_le_bytes());
        pb.extend_from_slice(&3u32.to_le_bytes());
        pb.extend_from_slice(b"old");
        f.extend(block(false, PCAPNG_PB, &pb));
        // Second section, big-endian; interfaces restart at 0.
        f.extend(shb(true));
        // Binary resolution 2^-20 with a one-hour offset.
        f.extend(idb(true, 101, 0, Some(0x80 | 20), 3600));
        f.extend(epb(true, 0, (1_600_000_000u64 << 20) | (1 << 19), b"be", 2));
        f
    }

    #[test]
    fn handmade_pcapng_sections_interfaces_and_blocks() {
        let bytes = handmade_pcapng();
        let mut r =
            PcapFileReader::from_reader(Box::new(Cursor::new(bytes.clone())), None, "mem").unwrap();
        let mut got = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            got.push((
                rec.ts,
                rec.linktype,
                rec.caplen,
                rec.origlen,
                rec.data.to_vec(),
            ));
        }
        assert!(!r.truncated());
        assert_eq!(r.bytes_read(), bytes.len() as u64);
        let ts = |sec, nsec| Timespec { sec, nsec };
        assert_eq!(
            got,
            vec![
                (
                    ts(1_600_000_000, 123_456_000),
                    1,
                    12,
                    100,
                    b"first-packet".to_vec()
                ),
                (
                    ts(1_600_000_001, 987_654_321),
                    113,
                    6,
                    6,
                    b"second".to_vec()
                ),
                (ts(0, 0), 1, 12, 64, b"simple-data!".to_vec()),
                (ts(1_600_000_002, 1), 113, 3, 3, b"old".to_vec()),
                (ts(1_600_003_600, 500_000_000), 101, 2, 2, b"be".to_vec()),
            ]
        );
    }

    #[test]
    fn handmade_pcapng_timestamps_agree_with_tshark() {
        if !have_tool("tshark", "tshark") {
            return;
        }
        let tmp = TempDir::new("tshark");
        let path = tmp.path("handmade.pcapng");
        std::fs::write(&path, handmade_pcapng()).unwrap();
        let out = Command::new("tshark")
            .args(["-r"])
            .arg(&path)
            .args([
                "-T",
                "fields",
                "-e",
                "frame.time_epoch",
                "-e",
                "frame.cap_len",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let theirs: Vec<(String, String)> = text
            .lines()
            .map(|l| {
                let mut it = l.split('\t');
                (
                    it.next().unwrap().to_string(),
                    it.next().unwrap_or("").to_string(),
                )
            })
            .collect();
        let (recs, _) = {
            let mut r = PcapFileReader::open(&path).unwrap();
            let mut v = Vec::new();
            while let Some(rec) = r.next_record().unwrap() {
                v.push((rec.ts, rec.caplen));
            }
            (v, r)
        };
        assert_eq!(theirs.len(), recs.len());
        let mut compared = 0;
        for ((epoch, caplen), (ts, ours_caplen)) in theirs.iter().zip(&recs) {
            assert_eq!(caplen, &ours_caplen.to_string());
            // tshark prints no time for the Simple Packet Block (ours: the epoch).
            if epoch.is_empty() {
                assert_eq!(*ts, Timespec::default());
                continue;
            }
            let (sec, frac) = epoch.split_once('.').expect("epoch with fraction");
            assert_eq!(sec, ts.sec.to_string());
            assert_eq!(format!("{frac:0<9}"), format!("{:09}", ts.nsec));
            compared += 1;
        }
        assert_eq!(compared, 4);
    }

    #[test]
    fn corrupt_pcapng_blocks() {
        let good = handmade_pcapng();
        // A total length that is not a multiple of 4 in the third block.
        let mut bad = good.clone();
        let third = shb(false).len() + idb(false, 1, 12, None, 0).len();
        let fourth = third + idb(false, 113, 0, Some(9), 0).len();
        bad[third + 4] = 0x1e;
        let mut r = PcapFileReader::from_reader(Box::new(Cursor::new(bad)), None, "m").unwrap();
        assert!(matches!(
            r.next_record(),
            Err(PcapFileError::Corrupt { offset, .. }) if offset == third as u64
        ));
        // A packet for an interface that does not exist.
        let mut bad = good.clone();
        let epb_at = fourth + block(false, 5, &[0u8; 20]).len();
        bad[epb_at + 8] = 7;
        let mut r = PcapFileReader::from_reader(Box::new(Cursor::new(bad)), None, "m").unwrap();
        let e = r.next_record().unwrap_err();
        assert!(e.to_string().contains("interface 7"), "{e}");
        // A captured length overrunning its block.
        let mut bad = good;
        bad[epb_at + 20] = 200;
        let mut r = PcapFileReader::from_reader(Box::new(Cursor::new(bad)), None, "m").unwrap();
        let e = r.next_record().unwrap_err();
        assert!(e.to_string().contains("overruns"), "{e}");
    }

    #[test]
    fn mixed_linktype_pcapng_from_mergecap() {
        let Some(dir) = fixtures() else { return };
        if !have_tool("mergecap", "wireshark-common") {
            return;
        }
        let tmp = TempDir::new("merge");
        let eth = dir.join("dns_ipv4_udp.pcap");
        let sll = dir.join("ipfix.pcap");
        let merged = tmp.path("merged.pcapng");
        run(Command::new("mergecap")
            .arg("-w")
            .arg(&merged)
            .arg(&eth)
            .arg(&sll));
        let (recs, _) = read_all(&merged);
        let (eth_recs, _) = read_all(&eth);
        let (sll_recs, _) = read_all(&sll);
        let of = |lt: u16| {
            recs.iter()
                .filter(|r| r.linktype == lt)
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(recs.len(), 140 + 43);
        assert_eq!(of(1), eth_recs);
        assert_eq!(of(113), sll_recs);
        // mergecap interleaves by time.
        assert!(recs.windows(2).all(|w| w[0].ts <= w[1].ts));
    }

    #[test]
    fn hostile_mutations_never_panic() {
        let Some(dir) = fixtures() else { return };
        let pcap = std::fs::read(dir.join("dns_ipv4_udp.pcap")).unwrap();
        let inputs = [pcap, handmade_pcapng()];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut outcomes = [0usize; 3];
        for round in 0..600 {
            let mut bytes = inputs[round % 2].clone();
            for _ in 0..1 + next() % 6 {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            if round % 5 == 0 {
                let keep = (next() as usize) % bytes.len();
                bytes.truncate(keep);
            }
            let Ok(mut r) = PcapFileReader::from_reader(Box::new(Cursor::new(bytes)), None, "f")
            else {
                outcomes[0] += 1;
                continue;
            };
            let mut n = 0;
            loop {
                match r.next_record() {
                    Ok(Some(rec)) => {
                        assert_eq!(rec.caplen as usize, rec.data.len());
                        n += 1;
                    }
                    Ok(None) => {
                        outcomes[1] += 1;
                        break;
                    }
                    Err(_) => {
                        outcomes[2] += 1;
                        break;
                    }
                }
            }
            assert_eq!(r.packets_read(), n);
        }
        // The mutations exercise all three outcomes.
        assert!(outcomes.iter().all(|&c| c > 0), "{outcomes:?}");
    }

    #[test]
    fn reader_is_send() {
        fn is_send<T: Send>() {}
        is_send::<PcapFileReader>();
    }
}
