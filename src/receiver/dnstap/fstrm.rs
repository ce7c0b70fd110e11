//! Frame Streams (fstrm) framing: the byte format of data and control frames, decoded by a
//! `tokio_util::codec::Decoder` that also works on plain `BytesMut` buffers (files, fuzzing)
//! and encoded by `Encoder` (replies, test senders, file writers).
//!
//! A data frame is a 4-byte big-endian length and that many payload bytes. A length of 0 is
//! the escape of a control frame: a 4-byte control length, a 4-byte control type (ACCEPT 1,
//! START 2, STOP 3, READY 4, FINISH 5) and fields, each a 4-byte field type (CONTENT_TYPE 1),
//! a 4-byte length and the value. Limits: data frames up to the configured maximum, control
//! frames up to 512 bytes; every malformed frame is a typed error, never a panic. The
//! handshake (which control frame may come when) is `session`'s job.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// The content type of dnstap payloads.
pub const DNSTAP_CONTENT_TYPE: &[u8] = b"protobuf:dnstap.Dnstap";
/// Largest control frame (fstrm's own bound).
pub const MAX_CONTROL_FRAME: usize = 512;
/// Default largest data frame (fstrm's reader default).
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;
/// Largest content type accepted in a control field.
pub const MAX_CONTENT_TYPE: usize = 256;

const FIELD_CONTENT_TYPE: u32 = 1;

/// A control frame type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlKind {
    /// Receiver accepts the sender's READY (bidirectional).
    Accept,
    /// Sender starts the data stream.
    Start,
    /// Sender ends the data stream.
    Stop,
    /// Sender offers content types (bidirectional).
    Ready,
    /// Receiver acknowledges STOP (bidirectional).
    Finish,
}

impl ControlKind {
    /// The wire value.
    pub fn code(self) -> u32 {
        match self {
            ControlKind::Accept => 1,
            ControlKind::Start => 2,
            ControlKind::Stop => 3,
            ControlKind::Ready => 4,
            ControlKind::Finish => 5,
        }
    }

    /// From the wire value.
    pub fn from_code(v: u32) -> Option<ControlKind> {
        Some(match v {
            1 => ControlKind::Accept,
            2 => ControlKind::Start,
            3 => ControlKind::Stop,
            4 => ControlKind::Ready,
            5 => ControlKind::Finish,
            _ => return None,
        })
    }

    /// fstrm's name (`READY`, …).
    pub fn name(self) -> &'static str {
        match self {
            ControlKind::Accept => "ACCEPT",
            ControlKind::Start => "START",
            ControlKind::Stop => "STOP",
            ControlKind::Ready => "READY",
            ControlKind::Finish => "FINISH",
        }
    }
}

/// A decoded control frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlFrame {
    /// Its type.
    pub kind: ControlKind,
    /// Its CONTENT_TYPE fields, in order.
    pub content_types: Vec<Bytes>,
}

impl ControlFrame {
    /// A control frame without fields.
    pub fn bare(kind: ControlKind) -> ControlFrame {
        ControlFrame {
            kind,
            content_types: Vec::new(),
        }
    }

    /// A control frame with one content type.
    pub fn with_type(kind: ControlKind, content_type: &[u8]) -> ControlFrame {
        ControlFrame {
            kind,
            content_types: vec![Bytes::copy_from_slice(content_type)],
        }
    }
}

/// One frame of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A data frame's payload.
    Data(Bytes),
    /// A control frame.
    Control(ControlFrame),
}

/// Why bytes are not a valid frame.
#[derive(Debug, thiserror::Error)]
pub enum FstrmError {
    /// A data frame longer than the maximum.
    #[error("data frame of {len} bytes exceeds the maximum of {max}")]
    Oversized {
        /// Announced length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A control frame longer than 512 bytes.
    #[error("control frame of {0} bytes exceeds the maximum of 512")]
    ControlTooLong(usize),
    /// A control frame too short to hold its type.
    #[error("control frame of {0} bytes is too short")]
    ControlTooShort(usize),
    /// An unknown control type.
    #[error("unknown control frame type {0}")]
    UnknownControl(u32),
    /// A field that does not fit, an unknown field type, or a field where none may be.
    #[error("malformed {0} control frame: {1}")]
    BadField(&'static str, &'static str),
    /// Reading or writing failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Frame Streams decoder (and encoder) with a data frame bound.
#[derive(Clone, Copy, Debug)]
pub struct FrameCodec {
    max_frame: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(DEFAULT_MAX_FRAME)
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Parses a control frame body (type and fields).
pub fn parse_control(body: &[u8]) -> Result<ControlFrame, FstrmError> {
    if body.len() < 4 {
        return Err(FstrmError::ControlTooShort(body.len()));
    }
    let code = be32(&body[..4]);
    let kind = ControlKind::from_code(code).ok_or(FstrmError::UnknownControl(code))?;
    let name = kind.name();
    let mut rest = &body[4..];
    let mut content_types = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 8 {
            return Err(FstrmError::BadField(name, "truncated field header"));
        }
        let ftype = be32(&rest[..4]);
        let flen = be32(&rest[4..8]) as usize;
        rest = &rest[8..];
        if ftype != FIELD_CONTENT_TYPE {
            return Err(FstrmError::BadField(name, "unknown field type"));
        }
        if flen > rest.len() || flen > MAX_CONTENT_TYPE {
            return Err(FstrmError::BadField(name, "field longer than the frame"));
        }
        content_types.push(Bytes::copy_from_slice(&rest[..flen]));
        rest = &rest[flen..];
    }
    match kind {
        ControlKind::Stop | ControlKind::Finish if !content_types.is_empty() => {
            Err(FstrmError::BadField(name, "content type not allowed"))
        }
        ControlKind::Start if content_types.len() > 1 => {
            Err(FstrmError::BadField(name, "more than one content type"))
        }
        _ => Ok(ControlFrame {
            kind,
            content_types,
        }),
    }
}

impl FrameCodec {
    /// A codec accepting data frames up to `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        FrameCodec {
            max_frame: max_frame.max(1),
        }
    }

    /// The data frame bound.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FstrmError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FstrmError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = be32(&src[..4]) as usize;
        if len != 0 {
            if len > self.max_frame {
                return Err(FstrmError::Oversized {
                    len,
                    max: self.max_frame,
                });
            }
            if src.len() < 4 + len {
                src.reserve(4 + len - src.len());
                return Ok(None);
            }
            src.advance(4);
            return Ok(Some(Frame::Data(src.split_to(len).freeze())));
        }
        if src.len() < 8 {
            return Ok(None);
        }
        let clen = be32(&src[4..8]) as usize;
        if clen > MAX_CONTROL_FRAME {
            return Err(FstrmError::ControlTooLong(clen));
        }
        if src.len() < 8 + clen {
            src.reserve(8 + clen - src.len());
            return Ok(None);
        }
        let frame = parse_control(&src[8..8 + clen])?;
        src.advance(8 + clen);
        Ok(Some(Frame::Control(frame)))
    }
}

/// Appends a control frame to `dst`.
pub fn put_control(c: &ControlFrame, dst: &mut BytesMut) {
    let body: usize = 4 + c.content_types.iter().map(|t| 8 + t.len()).sum::<usize>();
    dst.reserve(8 + body);
    dst.put_u32(0);
    dst.put_u32(u32::try_from(body).unwrap_or(u32::MAX));
    dst.put_u32(c.kind.code());
    for t in &c.content_types {
        dst.put_u32(FIELD_CONTENT_TYPE);
        dst.put_u32(u32::try_from(t.len()).unwrap_or(u32::MAX));
        dst.put_slice(t);
    }
}

/// Appends a data frame to `dst` (empty payloads cannot be framed: they would read as an
/// escape; they are written as nothing).
pub fn put_data(payload: &[u8], dst: &mut BytesMut) {
    if payload.is_empty() {
        return;
    }
    dst.reserve(4 + payload.len());
    dst.put_u32(u32::try_from(payload.len()).unwrap_or(u32::MAX));
    dst.put_slice(payload);
}

impl Encoder<&ControlFrame> for FrameCodec {
    type Error = FstrmError;

    fn encode(&mut self, item: &ControlFrame, dst: &mut BytesMut) -> Result<(), FstrmError> {
        put_control(item, dst);
        Ok(())
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FstrmError;

    fn encode(&mut self, item: Frame, dst: &mut BytesMut) -> Result<(), FstrmError> {
        match item {
            Frame::Data(b) => {
                if b.len() > self.max_frame {
                    return Err(FstrmError::Oversized {
                        len: b.len(),
                        max: self.max_frame,
                    });
                }
                put_data(&b, dst);
            }
            Frame::Control(c) => put_control(&c, dst),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], max: usize) -> Result<Vec<Frame>, FstrmError> {
        let mut codec = FrameCodec::new(max);
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(f) = codec.decode(&mut buf)? {
            out.push(f);
        }
        Ok(out)
    }

    #[test]
    fn round_trips_a_stream_byte_by_byte() {
        let mut b = BytesMut::new();
        put_control(
            &ControlFrame::with_type(ControlKind::Start, DNSTAP_CONTENT_TYPE),
            &mut b,
        );
        put_data(b"hello", &mut b);
        put_data(&[7u8; 300], &mut b);
        put_control(&ControlFrame::bare(ControlKind::Stop), &mut b);
        // the bytes fstrm itself writes for START with the dnstap content type
        assert_eq!(&b[..12], &[0, 0, 0, 0, 0, 0, 0, 0x22, 0, 0, 0, 2]);
        let all = decode_all(&b, 1024).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[1], Frame::Data(Bytes::from_static(b"hello")));
        // fed one byte at a time, the same frames come out
        let mut codec = FrameCodec::new(1024);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for byte in b.iter() {
            buf.put_u8(*byte);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, all);
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_oversized_and_malformed_frames() {
        let mut b = BytesMut::new();
        put_data(&[1u8; 65], &mut b);
        assert!(matches!(
            decode_all(&b, 64),
            Err(FstrmError::Oversized { len: 65, max: 64 })
        ));
        // control length beyond 512
        let bad = [0u8, 0, 0, 0, 0, 0, 2, 1];
        assert!(matches!(
            decode_all(&bad, 64),
            Err(FstrmError::ControlTooLong(513))
        ));
        // control too short, unknown type, truncated field, field on STOP
        assert!(matches!(
            decode_all(&[0, 0, 0, 0, 0, 0, 0, 2, 0, 0], 64),
            Err(FstrmError::ControlTooShort(2))
        ));
        assert!(matches!(
            decode_all(&[0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 9], 64),
            Err(FstrmError::UnknownControl(9))
        ));
        let trunc = [0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 9];
        assert!(matches!(
            decode_all(&trunc, 64),
            Err(FstrmError::BadField("READY", _))
        ));
        let mut stop = BytesMut::new();
        put_control(&ControlFrame::with_type(ControlKind::Stop, b"x"), &mut stop);
        assert!(matches!(
            decode_all(&stop, 64),
            Err(FstrmError::BadField("STOP", _))
        ));
    }

    #[test]
    fn ready_carries_several_content_types() {
        let mut b = BytesMut::new();
        let ready = ControlFrame {
            kind: ControlKind::Ready,
            content_types: vec![
                Bytes::from_static(b"a"),
                Bytes::from_static(DNSTAP_CONTENT_TYPE),
            ],
        };
        put_control(&ready, &mut b);
        assert_eq!(decode_all(&b, 64).unwrap(), vec![Frame::Control(ready)]);
    }
}
