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
//! whole file is never held in memory. The buffer is shared (`SharedBytes`): a receiver
//! may hand the workers its records where they lie, and while any of them still holds the
//! buffer the reader refills a fresh (recycled) one instead of writing over it.
//!
//! Why our own reader rather than the `pcap-file` crate the design card named: one
//! borrowed record type for pcap and pcapng alike (with every pcapng interface's link type,
//! resolution and offset applied), gzip, the modified pcap header, and a truncated tail
//! counted rather than failed. `benches/pcap_reader.rs` reads the same files with both, so
//! the choice stays measured.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use crate::receiver::batch::SharedBytes;
use crate::time::Timespec;

mod pcapng;
mod receiver;
use pcapng::Interface;
pub use receiver::PcapFileReceiver;

/// Default size of the read buffer.
const BUFFER_SIZE: usize = 1 << 20;
/// Read buffers kept for reuse once the workers holding them let go (more are dropped).
const SPARE_BUFFERS: usize = 32;

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
    /// Where `data` starts in the reader's buffer ([`PcapFileReader::buffer`]).
    pub offset: usize,
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
    buf: SharedBytes,
    /// Earlier buffers, reused once nobody else holds them.
    spare: Vec<SharedBytes>,
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
            buf: Arc::new(vec![0u8; BUFFER_SIZE]),
            spare: Vec::new(),
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
        // The end of the compressed bytes is not the end of the capture.
        self.eof = false;
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
    /// (everything that was there stays buffered). Reads until the buffer is full, so a
    /// buffer handed out is handed out with as many records as it holds.
    fn fill(&mut self, need: usize) -> Result<bool, PcapFileError> {
        if self.end - self.start >= need {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        if self.start + need > self.buf.len() || Arc::get_mut(&mut self.buf).is_none() {
            self.renew(need);
        }
        // `renew` left the buffer unshared: no copy is made here.
        let buf = Arc::make_mut(&mut self.buf);
        while self.end < buf.len() {
            match self.source.read(&mut buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n.min(buf.len() - self.end),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if e.kind() == io::ErrorKind::UnexpectedEof
                        && matches!(self.source, Source::Gzip(_)) =>
                {
                    // The gzip stream was cut short: what decompressed so far is the capture.
                    self.eof = true;
                    self.source_truncated = true;
                    break;
                }
                // What is buffered is delivered first; the error comes back at the next read.
                Err(_) if self.end - self.start >= need => break,
                Err(source) => {
                    return Err(PcapFileError::Read {
                        path: self.name.clone(),
                        source,
                    });
                }
            }
        }
        Ok(self.end - self.start >= need)
    }

    /// Moves the unconsumed bytes to the front of an unshared buffer of at least `need`
    /// bytes: this one when nobody else holds it, else a recycled or new one.
    fn renew(&mut self, need: usize) {
        let size = self.buf.len().max(need.next_power_of_two());
        let (start, end) = (self.start, self.end);
        if let Some(b) = Arc::get_mut(&mut self.buf) {
            b.copy_within(start..end, 0);
            if b.len() < size {
                b.resize(size, 0);
            }
        } else {
            let mut fresh = match self
                .spare
                .iter_mut()
                .rposition(|b| Arc::get_mut(b).is_some())
            {
                Some(i) => self.spare.remove(i),
                None => Arc::new(Vec::new()),
            };
            let b = Arc::make_mut(&mut fresh);
            if b.len() < size {
                b.resize(size, 0);
            }
            b[..end - start].copy_from_slice(&self.buf[start..end]);
            let old = std::mem::replace(&mut self.buf, fresh);
            if self.spare.len() < SPARE_BUFFERS {
                self.spare.push(old);
            }
        }
        self.end -= start;
        self.start = 0;
    }

    /// The buffer records point into ([`PcapRecord::offset`]); shared, so a record's bytes
    /// can be handed on without a copy.
    pub fn buffer(&self) -> &SharedBytes {
        &self.buf
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
            offset: data_start,
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

#[cfg(test)]
mod tests;
