//! Domain names inside a message: label walking with backward-only compression
//! pointers, presentation-format decoding with escaping, and skipping names.

use super::*;

/// Length of the name at `start` where it sits: its labels up to and
/// including the terminating zero or the first pointer.
///
/// Errors: `Truncated` (runs off the buffer), `Malformed` (label type 0x40 or
/// 0x80, a pointer not pointing strictly before itself, more than 254 octets
/// of labels).
pub(super) fn encoded_len(msg: &[u8], start: usize) -> Result<usize, WireError> {
    let mut pos = start;
    loop {
        let Some(&len) = msg.get(pos) else {
            return Err(WireError::Truncated);
        };
        match len & LABEL_TYPE_MASK {
            LABEL_NORMAL if len == 0 => return Ok(pos + 1 - start),
            LABEL_NORMAL => {
                pos += 1 + usize::from(len);
                if pos - start > MAX_LABEL_OCTETS {
                    return Err(WireError::Malformed);
                }
            }
            LABEL_POINTER => {
                let Some(&low) = msg.get(pos + 1) else {
                    return Err(WireError::Truncated);
                };
                let target = (usize::from(len & POINTER_HIGH_MASK) << 8) | usize::from(low);
                if target >= pos {
                    return Err(WireError::Malformed);
                }
                return Ok(pos + 2 - start);
            }
            _ => return Err(WireError::Malformed),
        }
    }
}

/// A domain name inside a message: a position, decoded on demand.
#[derive(Clone, Copy)]
pub struct Name<'a> {
    pub(super) msg: &'a [u8],
    pub(super) start: usize,
}

impl<'a> Name<'a> {
    /// Offset of the name in its message.
    pub fn offset(&self) -> usize {
        self.start
    }

    /// The labels, raw, following compression pointers; yields one `Err` and
    /// stops on a malformed name. The root name has no labels.
    pub fn labels(&self) -> Labels<'a> {
        Labels {
            msg: self.msg,
            pos: self.start,
            octets: 0,
            pointers: 0,
            done: false,
        }
    }

    /// Decodes the name in presentation format into `out` (cleared first):
    /// labels joined by `.`, no trailing dot, the root name as `.`.
    ///
    /// ASCII letters are lower-cased when `lowercase` is true, else kept as on
    /// the wire. Bytes other than printable, non-space ASCII (`0x21..=0x7e`),
    /// and `.` or `\` inside a label, are escaped as `\DDD` (RFC 1035 §5.1),
    /// so the result is always valid UTF-8 and unambiguous.
    ///
    /// Compression pointers are followed only backwards (to an offset strictly
    /// before the pointer itself), at most [`MAX_POINTERS`] of them, so
    /// decoding cannot loop. Errors: `Truncated` (runs off the message),
    /// `Malformed` (forward pointer, more than 255 octets uncompressed, too
    /// many pointers, label type 0x40 or 0x80). On error `out` is left empty.
    pub fn write_to(&self, out: &mut String, lowercase: bool) -> Result<(), WireError> {
        // Work on the String's own buffer as bytes (no allocation once it is
        // large enough): only ASCII is ever written, so it converts back.
        let mut bytes = std::mem::take(out).into_bytes();
        bytes.clear();
        let written = if self.write_uncompressed_plain(&mut bytes, lowercase) {
            Ok(())
        } else {
            self.write_labels(&mut bytes, lowercase)
        };
        // Every byte written is ASCII, so the conversion cannot fail; on an error the
        // buffer was cleared and is kept for the next name.
        match String::from_utf8(bytes) {
            Ok(s) => *out = s,
            Err(_) => return Err(WireError::Malformed),
        }
        written
    }

    /// The common case in one pass over the wire bytes: a name without compression
    /// pointers, in bounds, whose labels are all plain ([`is_plain`]). False (and
    /// `bytes` left empty) for anything else, which [`Name::write_labels`] handles.
    #[inline]
    fn write_uncompressed_plain(&self, bytes: &mut Vec<u8>, lowercase: bool) -> bool {
        let mut end = self.start;
        loop {
            match self.msg.get(end) {
                Some(0) => break,
                Some(&len) if len & LABEL_TYPE_MASK == LABEL_NORMAL => {
                    end += 1 + usize::from(len);
                    if end - self.start > MAX_LABEL_OCTETS {
                        return false;
                    }
                }
                _ => return false,
            }
        }
        // The labels and the length octets between them (the first length octet and the
        // terminating zero left out); the root name has none.
        let Some(wire) = self.msg.get(self.start + 1..end) else {
            return false;
        };
        let mut next_length = self.msg.get(self.start).map_or(0, |&l| usize::from(l));
        bytes.resize(wire.len(), 0);
        for (i, (o, &b)) in bytes.iter_mut().zip(wire).enumerate() {
            if i == next_length {
                next_length = i + 1 + usize::from(b);
                *o = b'.';
            } else if is_plain(b) {
                *o = if lowercase { b.to_ascii_lowercase() } else { b };
            } else {
                bytes.clear();
                return false;
            }
        }
        true
    }

    /// [`Name::write_to`] label by label: compression pointers, escapes, errors.
    pub(super) fn write_labels(
        &self,
        bytes: &mut Vec<u8>,
        lowercase: bool,
    ) -> Result<(), WireError> {
        for label in self.labels() {
            let label = match label {
                Ok(label) => label,
                Err(e) => {
                    bytes.clear();
                    return Err(e);
                }
            };
            if !bytes.is_empty() {
                bytes.push(b'.');
            }
            push_label(bytes, label);
        }
        if bytes.is_empty() {
            bytes.push(b'.');
        } else if lowercase {
            bytes.make_ascii_lowercase();
        }
        Ok(())
    }

    /// The name in presentation format, case as on the wire (see [`Name::write_to`]).
    pub fn to_string_lossless(&self) -> Result<String, WireError> {
        let mut s = String::with_capacity(64);
        self.write_to(&mut s, false)?;
        Ok(s)
    }

    /// The name in presentation format, ASCII letters lower-cased (see [`Name::write_to`]).
    pub fn to_lowercase_string(&self) -> Result<String, WireError> {
        let mut s = String::with_capacity(64);
        self.write_to(&mut s, true)?;
        Ok(s)
    }

    /// Number of labels (the root name has 0); fails like [`Name::write_to`].
    pub fn label_count(&self) -> Result<usize, WireError> {
        let mut n = 0;
        for label in self.labels() {
            label?;
            n += 1;
        }
        Ok(n)
    }

    /// Length of the name in wire format once uncompressed, terminating zero
    /// included (1 for the root, at most 255); fails like [`Name::write_to`].
    pub fn uncompressed_len(&self) -> Result<usize, WireError> {
        let mut n = 1;
        for label in self.labels() {
            n += 1 + label?.len();
        }
        Ok(n)
    }

    /// Byte length of the name where it sits in the message: its labels up
    /// to and including the terminating zero or the first pointer (what to
    /// skip to reach the data after it). Checks only those bytes (and that
    /// the pointer, if any, points backwards).
    pub fn encoded_len(&self) -> Result<usize, WireError> {
        encoded_len(self.msg, self.start)
    }
}

impl fmt::Debug for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_string_lossless() {
            Ok(s) => write!(f, "Name({s:?})"),
            Err(e) => write!(f, "Name(@{}: {e})", self.start),
        }
    }
}

/// Whether a label byte is written as itself in presentation format:
/// printable ASCII other than space, `.` and `\`.
#[inline]
pub(super) fn is_plain(b: u8) -> bool {
    b.wrapping_sub(0x21) < 0x5e && b != b'.' && b != b'\\'
}

/// Whether every byte of `label` is plain ([`is_plain`]), eight bytes at a
/// time (the common case on the per-packet path).
#[inline]
pub(super) fn all_plain(label: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Non-zero iff some byte of `v` is zero.
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let word_ok = |x: u64| {
        let bad = (x & HIGH)                           // >= 0x80
            | (x.wrapping_sub(ONES * 0x21) & !x & HIGH) // < 0x21 (space, controls)
            | has_zero(x ^ (ONES * 0x7f))               // DEL
            | has_zero(x ^ (ONES * u64::from(b'.')))
            | has_zero(x ^ (ONES * u64::from(b'\\')));
        bad == 0
    };
    let mut chunks = label.chunks_exact(8);
    let mut ok = true;
    for c in chunks.by_ref() {
        let w = <[u8; 8]>::try_from(c).unwrap_or([0; 8]);
        ok &= word_ok(u64::from_le_bytes(w));
    }
    // The tail (up to 7 bytes), assembled in a register over plain padding.
    let mut x = ONES * u64::from(b'a');
    for (i, &b) in chunks.remainder().iter().enumerate() {
        let shift = 8 * (i as u32);
        x = (x & !(0xff << shift)) | (u64::from(b) << shift);
    }
    ok & word_ok(x)
}

/// Appends one label in presentation format (`\DDD` for the other bytes).
#[inline]
fn push_label(out: &mut Vec<u8>, label: &[u8]) {
    if all_plain(label) {
        out.extend_from_slice(label);
        return;
    }
    for &b in label {
        if is_plain(b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'\\', b'0' + b / 100, b'0' + (b / 10) % 10, b'0' + b % 10]);
        }
    }
}

/// Iterator over the raw labels of a [`Name`]; see [`Name::labels`].
#[derive(Clone, Debug)]
pub struct Labels<'a> {
    msg: &'a [u8],
    pos: usize,
    /// Uncompressed octets so far (length octets included, root excluded).
    octets: usize,
    pointers: usize,
    done: bool,
}

impl<'a> Labels<'a> {
    fn fail(&mut self, e: WireError) -> Option<Result<&'a [u8], WireError>> {
        self.done = true;
        Some(Err(e))
    }
}

impl<'a> Iterator for Labels<'a> {
    type Item = Result<&'a [u8], WireError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let Some(&len) = self.msg.get(self.pos) else {
                return self.fail(WireError::Truncated);
            };
            match len & LABEL_TYPE_MASK {
                LABEL_NORMAL if len == 0 => {
                    self.done = true;
                    return None;
                }
                LABEL_NORMAL => {
                    let start = self.pos + 1;
                    let end = start + usize::from(len);
                    self.octets += 1 + usize::from(len);
                    if self.octets > MAX_LABEL_OCTETS {
                        return self.fail(WireError::Malformed);
                    }
                    let Some(label) = self.msg.get(start..end) else {
                        return self.fail(WireError::Truncated);
                    };
                    self.pos = end;
                    return Some(Ok(label));
                }
                LABEL_POINTER => {
                    let Some(&low) = self.msg.get(self.pos + 1) else {
                        return self.fail(WireError::Truncated);
                    };
                    let target = (usize::from(len & POINTER_HIGH_MASK) << 8) | usize::from(low);
                    self.pointers += 1;
                    if target >= self.pos || self.pointers > MAX_POINTERS {
                        return self.fail(WireError::Malformed);
                    }
                    self.pos = target;
                }
                _ => return self.fail(WireError::Malformed),
            }
        }
    }
}

impl FusedIterator for Labels<'_> {}
