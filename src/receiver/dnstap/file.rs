//! Reading dnstap files (pktvisor's `dnstap_file`): unidirectional Frame Streams, START …
//! data frames … STOP, as written by `fstrm_capture`, `dnstap -w`, unbound's and BIND's
//! file output. Gzip-compressed files are read too. Several streams one after the other
//! (START … STOP START … STOP) are read as one. A file that ends inside a frame or without
//! STOP is reported as truncated: every complete frame before is returned. A malformed
//! frame or a foreign content type is an error after the frames before it.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use bytes::{Bytes, BytesMut};
use tokio_util::codec::Decoder;

use super::fstrm::{DEFAULT_MAX_FRAME, DNSTAP_CONTENT_TYPE, FrameCodec, FstrmError};
use super::session::{ReaderSession, SessionError, State, Step};

const CHUNK: usize = 1 << 20;

/// Why a file cannot be read (further).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file cannot be opened or read.
    #[error("cannot read dnstap file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The system error.
        source: std::io::Error,
    },
    /// A frame is malformed.
    #[error("corrupt dnstap file at byte {offset}: {source}")]
    Frame {
        /// Byte offset of the frame.
        offset: u64,
        /// What is wrong.
        source: FstrmError,
    },
    /// A control frame that a file cannot hold here, or another content type.
    #[error("invalid dnstap file at byte {offset}: {source}")]
    Session {
        /// Byte offset of the frame.
        offset: u64,
        /// What is wrong.
        source: SessionError,
    },
}

/// A Frame Streams file, frame by frame.
pub struct DnstapFileReader {
    src: Box<dyn Read + Send>,
    name: String,
    buf: BytesMut,
    codec: FrameCodec,
    session: ReaderSession,
    consumed: u64,
    read: u64,
    total: Option<u64>,
    eof: bool,
    streams: u64,
}

impl std::fmt::Debug for DnstapFileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnstapFileReader")
            .field("name", &self.name)
            .field("consumed", &self.consumed)
            .finish()
    }
}

impl DnstapFileReader {
    /// Opens a file (gzip detected by its magic bytes).
    pub fn open(path: &Path) -> Result<DnstapFileReader, FileError> {
        let name = path.display().to_string();
        let io = |source| FileError::Io {
            path: name.clone(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let total = file.metadata().ok().map(|m| m.len());
        let mut r = BufReader::new(file);
        let mut magic = [0u8; 2];
        let gz = {
            use std::io::BufRead;
            let head = r.fill_buf().map_err(io)?;
            if head.len() >= 2 {
                magic.copy_from_slice(&head[..2]);
            }
            magic == [0x1f, 0x8b]
        };
        let src: Box<dyn Read + Send> = if gz {
            Box::new(flate2::read::MultiGzDecoder::new(r))
        } else {
            Box::new(r)
        };
        let mut reader = DnstapFileReader::from_reader(src, DEFAULT_MAX_FRAME);
        reader.name = name;
        reader.total = if gz { None } else { total };
        Ok(reader)
    }

    /// Reads frames from any byte source with a data frame bound.
    pub fn from_reader(src: Box<dyn Read + Send>, max_frame: usize) -> DnstapFileReader {
        DnstapFileReader {
            src,
            name: "<stream>".into(),
            buf: BytesMut::new(),
            codec: FrameCodec::new(max_frame),
            session: ReaderSession::new(DNSTAP_CONTENT_TYPE),
            consumed: 0,
            read: 0,
            total: None,
            eof: false,
            streams: 0,
        }
    }

    fn fill(&mut self) -> Result<bool, FileError> {
        let start = self.buf.len();
        self.buf.resize(start + CHUNK, 0);
        let n = loop {
            match self.src.read(&mut self.buf[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    self.buf.truncate(start);
                    return Err(FileError::Io {
                        path: self.name.clone(),
                        source,
                    });
                }
            }
        };
        self.buf.truncate(start + n);
        self.read += n as u64;
        Ok(n > 0)
    }

    /// The next data frame's payload; `None` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FileError> {
        loop {
            let before = self.buf.len();
            let decoded = self.codec.decode(&mut self.buf);
            let offset = self.consumed;
            self.consumed += (before - self.buf.len()) as u64;
            match decoded {
                Err(source) => return Err(FileError::Frame { offset, source }),
                Ok(Some(frame)) => {
                    if self.session.state() == State::Stopped {
                        // another stream follows: start over
                        self.session = ReaderSession::new(DNSTAP_CONTENT_TYPE);
                    }
                    match self.session.on_frame(frame) {
                        Ok(Step::Data(d)) => return Ok(Some(d)),
                        Ok(Step::Continue) => {
                            self.streams += 1;
                        }
                        Ok(Step::Stopped { .. }) => {}
                        Ok(Step::Reply(_)) => {
                            return Err(FileError::Session {
                                offset,
                                source: SessionError::Unexpected {
                                    got: "READY",
                                    state: "in a file",
                                },
                            });
                        }
                        Err(source) => return Err(FileError::Session { offset, source }),
                    }
                }
                Ok(None) => {
                    if self.eof || !self.fill()? {
                        self.eof = true;
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Whether the file ended inside a frame or without STOP.
    pub fn truncated(&self) -> bool {
        self.eof && (!self.buf.is_empty() || self.session.state() != State::Stopped)
    }

    /// Bytes read from the file so far (decompressed bytes for gzip).
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// The file's size when known (not for gzip).
    pub fn total_bytes(&self) -> Option<u64> {
        self.total
    }

    /// START frames seen (streams in the file).
    pub fn streams(&self) -> u64 {
        self.streams
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::dnstap::fstrm::{ControlFrame, ControlKind, put_control, put_data};

    fn stream(frames: &[&[u8]], stop: bool) -> Vec<u8> {
        let mut b = BytesMut::new();
        put_control(
            &ControlFrame::with_type(ControlKind::Start, DNSTAP_CONTENT_TYPE),
            &mut b,
        );
        for f in frames {
            put_data(f, &mut b);
        }
        if stop {
            put_control(&ControlFrame::bare(ControlKind::Stop), &mut b);
        }
        b.to_vec()
    }

    fn all(bytes: Vec<u8>) -> (Vec<Bytes>, Result<(), String>, bool) {
        let mut r = DnstapFileReader::from_reader(Box::new(std::io::Cursor::new(bytes)), 1024);
        let mut out = Vec::new();
        loop {
            match r.next_frame() {
                Ok(Some(f)) => out.push(f),
                Ok(None) => return (out, Ok(()), r.truncated()),
                Err(e) => return (out, Err(e.to_string()), r.truncated()),
            }
        }
    }

    #[test]
    fn reads_streams_and_reports_truncation() {
        let (f, r, t) = all(stream(&[b"a", b"bb"], true));
        assert_eq!((f.len(), r, t), (2, Ok(()), false));
        let mut two = stream(&[b"a"], true);
        two.extend(stream(&[b"b", b"c"], true));
        assert_eq!(all(two).0.len(), 3);
        let mut cut = stream(&[b"a", b"bbbb"], false);
        cut.truncate(cut.len() - 2);
        let (f, r, t) = all(cut);
        assert_eq!((f.len(), r, t), (1, Ok(()), true));
        let (f, _, t) = all(stream(&[b"a"], false));
        assert_eq!((f.len(), t), (1, true));
    }

    #[test]
    fn rejects_foreign_streams() {
        let mut b = BytesMut::new();
        put_control(
            &ControlFrame::with_type(ControlKind::Start, b"other"),
            &mut b,
        );
        assert!(all(b.to_vec()).1.unwrap_err().contains("content type"));
        let mut b = BytesMut::new();
        put_data(b"x", &mut b);
        assert!(all(b.to_vec()).1.unwrap_err().contains("before START"));
        let (f, r, _) = all(b"garbage that is not frame streams at all".to_vec());
        assert!(f.is_empty() && r.is_err());
    }
}
