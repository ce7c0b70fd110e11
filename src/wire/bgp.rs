//! BGP-4 message framing (RFC 4271 §4.1, extended messages of RFC 8654).
//!
//! [`BgpHeader`] checks the 19-byte header of one message. [`BgpFramer`]
//! splits one direction of a TCP stream into messages: it emits every
//! complete message, keeps at most one partial message across calls, and on
//! a framing error counts it and resynchronises on the next marker.

use std::ops::Range;

use super::{WireError, clamped, read_u8, read_u16, rest};

/// BGP message types.
pub mod message_type {
    /// OPEN.
    pub const OPEN: u8 = 1;
    /// UPDATE.
    pub const UPDATE: u8 = 2;
    /// NOTIFICATION.
    pub const NOTIFICATION: u8 = 3;
    /// KEEPALIVE.
    pub const KEEPALIVE: u8 = 4;
    /// ROUTE-REFRESH (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 5;
}

const MARKER: Range<usize> = 0..16;
const LENGTH: Range<usize> = 16..18;
const TYPE: usize = 18;

/// Length of the message header (marker, length, type).
pub const HEADER_LEN: usize = 19;

/// Largest message of RFC 4271.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// Largest message once extended messages (RFC 8654) are negotiated; the
/// length field is accepted up to this, since a passive observer cannot
/// always see the negotiation.
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

const MARKER_LEN: usize = 16;

/// The smallest legal length of each known type; unknown types only need a header.
fn min_len(msg_type: u8) -> usize {
    match msg_type {
        message_type::OPEN => 29,
        message_type::UPDATE => 23,
        message_type::NOTIFICATION => 21,
        message_type::ROUTE_REFRESH => 23,
        _ => HEADER_LEN,
    }
}

/// Checks a header at the start of `buf` and returns the message length.
fn check_header(buf: &[u8]) -> Result<usize, WireError> {
    if buf.len() < HEADER_LEN {
        return Err(WireError::Truncated);
    }
    if !buf
        .get(MARKER)
        .is_some_and(|m| m.iter().all(|&b| b == 0xff))
    {
        return Err(WireError::Malformed);
    }
    let length = usize::from(read_u16(buf, LENGTH));
    let msg_type = read_u8(buf, TYPE);
    let bad =
        length < min_len(msg_type) || (msg_type == message_type::KEEPALIVE && length != HEADER_LEN);
    if bad {
        return Err(WireError::BadLength);
    }
    Ok(length)
}

/// A read-only view of a BGP message header (and as much of the message as
/// the buffer holds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BgpHeader<'a> {
    buf: &'a [u8],
}

impl<'a> BgpHeader<'a> {
    /// Validates the header.
    ///
    /// Errors: `Truncated` (fewer than 19 bytes), `Malformed` (marker not all
    /// ones), `BadLength` (length below 19, below the minimum of a known type,
    /// or a KEEPALIVE not exactly 19). Lengths up to 65535 are accepted.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        check_header(buf)?;
        Ok(BgpHeader { buf })
    }

    /// The length field: the whole message, header included.
    pub fn length(&self) -> u16 {
        read_u16(self.buf, LENGTH)
    }

    /// Message type (see [`message_type`]).
    pub fn msg_type(&self) -> u8 {
        read_u8(self.buf, TYPE)
    }

    /// Whether the whole message is in the buffer.
    pub fn is_complete(&self) -> bool {
        self.buf.len() >= usize::from(self.length())
    }

    /// Whether the length exceeds the 4096 bytes of RFC 4271 (an RFC 8654
    /// extended message).
    pub fn is_extended(&self) -> bool {
        usize::from(self.length()) > MAX_MESSAGE_LEN
    }

    /// The message, header included: the whole message when it is complete,
    /// else what the buffer holds of it.
    pub fn message(&self) -> &'a [u8] {
        clamped(self.buf, 0, usize::from(self.length()))
    }

    /// The message after the header (what the buffer holds of it).
    pub fn body(&self) -> &'a [u8] {
        rest(self.message(), HEADER_LEN)
    }
}

/// Splits one direction of a TCP stream into BGP messages.
///
/// Feed it the payload of every segment in order with [`BgpFramer::push`].
/// It buffers at most one partial message (at most 65535 bytes). On a bad
/// marker or length it increments [`BgpFramer::errors`], drops its buffer and
/// skips input until the next run of 16 `0xff` bytes.
#[derive(Clone, Debug)]
pub struct BgpFramer {
    /// A partial message, always starting with a marker; empty when idle.
    buf: Vec<u8>,
    /// False after a framing error, until a marker is found again.
    synced: bool,
    /// While not synced: how many `0xff` bytes ended the input so far (<= 16).
    ff_run: usize,
    errors: u64,
    messages: u64,
}

impl Default for BgpFramer {
    fn default() -> Self {
        Self::new()
    }
}

impl BgpFramer {
    /// A framer expecting a message boundary at the start of the stream.
    pub fn new() -> Self {
        BgpFramer {
            buf: Vec::new(),
            synced: true,
            ff_run: 0,
            errors: 0,
            messages: 0,
        }
    }

    /// Framing errors seen so far (bad marker or length).
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Messages emitted so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Bytes of a partial message held for the next push.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Whether the framer is between a framing error and the next marker.
    pub fn is_resyncing(&self) -> bool {
        !self.synced
    }

    /// Forgets any partial message (e.g. after a TCP gap or a new connection);
    /// the next byte is expected to start a message. Counters are kept.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.synced = true;
        self.ff_run = 0;
    }

    fn fail(&mut self) {
        self.errors += 1;
        self.buf.clear();
        self.synced = false;
        self.ff_run = 0;
    }

    /// While resyncing: finds where a message starts after a run of at least
    /// 16 `0xff` bytes (the last 16 are taken as the marker) and returns the
    /// offset of the byte after the run, which is left unconsumed.
    fn find_marker(&mut self, data: &[u8]) -> Option<usize> {
        let mut run = self.ff_run;
        for (i, &b) in data.iter().enumerate() {
            if b == 0xff {
                run = (run + 1).min(MARKER_LEN);
            } else if run == MARKER_LEN {
                self.ff_run = 0;
                return Some(i);
            } else {
                run = 0;
            }
        }
        self.ff_run = run;
        None
    }

    /// Consumes `data`, calling `out(msg_type, message)` for every message it
    /// completes (`message` includes the 19-byte header).
    pub fn push(&mut self, data: &[u8], out: &mut impl FnMut(u8, &[u8])) {
        let mut data = data;
        loop {
            if !self.synced {
                let Some(at) = self.find_marker(data) else {
                    return;
                };
                self.synced = true;
                self.buf.clear();
                self.buf.extend_from_slice(&[0xff; MARKER_LEN]);
                data = rest(data, at);
            }
            if data.is_empty() {
                return;
            }
            if self.buf.is_empty() {
                // Nothing buffered: frame straight from the input.
                if data.len() < HEADER_LEN {
                    self.buf.extend_from_slice(data);
                    return;
                }
                match check_header(data) {
                    Ok(len) if data.len() >= len => {
                        let (msg, after) = data.split_at(len);
                        self.messages += 1;
                        out(read_u8(msg, TYPE), msg);
                        data = after;
                    }
                    Ok(_) => {
                        self.buf.extend_from_slice(data);
                        return;
                    }
                    Err(_) => {
                        self.fail();
                        data = rest(data, 1);
                    }
                }
            } else {
                // Complete the buffered header, then the buffered message.
                if self.buf.len() < HEADER_LEN {
                    let take = (HEADER_LEN - self.buf.len()).min(data.len());
                    let (head, after) = data.split_at(take);
                    self.buf.extend_from_slice(head);
                    data = after;
                    if self.buf.len() < HEADER_LEN {
                        return;
                    }
                }
                match check_header(&self.buf) {
                    Ok(len) => {
                        let take = len.saturating_sub(self.buf.len()).min(data.len());
                        let (body, after) = data.split_at(take);
                        self.buf.extend_from_slice(body);
                        data = after;
                        if self.buf.len() < len {
                            return;
                        }
                        self.messages += 1;
                        out(read_u8(&self.buf, TYPE), &self.buf);
                        self.buf.clear();
                    }
                    Err(_) => self.fail(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{Rng, hex, no_panic};

    // TCP payloads of pktvisor fixture bgp.pcap; one message per segment.
    // Direction 10.1.1.2:34047 -> 10.1.1.1:179:

    // Packet 6: OPEN (AS 1, hold time 1000, id 10.1.1.2, capabilities).
    const OPEN_A: &str = "\
        ffffffffffffffffffffffffffffffff00350104000103e80a01010218020601\
        040001000102060104000100040206410400000001";
    // Packet 12: KEEPALIVE.
    const KEEPALIVE_A: &str = "ffffffffffffffffffffffffffffffff001304";
    // Packet 15: UPDATE (End-of-RIB for IPv4 unicast).
    const UPDATE_1: &str = "ffffffffffffffffffffffffffffffff00170200000000";
    // Packet 17: UPDATE (MP_UNREACH End-of-RIB).
    const UPDATE_2: &str = "\
        ffffffffffffffffffffffffffffffff001e0200000007900f0003000104";
    // Packet 19: UPDATE announcing 1.2.0.0/24 with ORIGIN, AS_PATH, NEXT_HOP, LOCAL_PREF.
    const UPDATE_3: &str = "\
        ffffffffffffffffffffffffffffffff00300200000015400101004002004003\
        040a0101024005040000006418010200";
    // Packet 21: UPDATE with MP_REACH_NLRI.
    const UPDATE_4: &str = "\
        ffffffffffffffffffffffffffffffff0042020000002b400101004002004003\
        040a01010240050400000064800e13000104040a0101020048dbc430dbc42101\
        0300";

    // Direction 10.1.1.1:179 -> 10.1.1.2:34047:

    // Packet 8: OPEN (hold time 180, id 10.1.1.1).
    const OPEN_B: &str = "\
        ffffffffffffffffffffffffffffffff00410104000100b40a01010124022201\
        040001000101040001000402004002012c410400000001450800010101000104\
        01";
    // Packets 10 and 13: KEEPALIVE.
    const KEEPALIVE_B: &str = "ffffffffffffffffffffffffffffffff001304";

    fn stream_a() -> Vec<Vec<u8>> {
        [OPEN_A, KEEPALIVE_A, UPDATE_1, UPDATE_2, UPDATE_3, UPDATE_4]
            .iter()
            .map(|s| hex(s))
            .collect()
    }

    fn stream_b() -> Vec<Vec<u8>> {
        [OPEN_B, KEEPALIVE_B, KEEPALIVE_B]
            .iter()
            .map(|s| hex(s))
            .collect()
    }

    /// Feeds `chunks` to a fresh framer; returns the emitted messages and the framer.
    fn frame(chunks: &[&[u8]]) -> (Vec<(u8, Vec<u8>)>, BgpFramer) {
        let mut framer = BgpFramer::new();
        let mut got = Vec::new();
        for c in chunks {
            framer.push(c, &mut |t, m| got.push((t, m.to_vec())));
        }
        (got, framer)
    }

    #[test]
    fn headers_of_the_capture() {
        let all: Vec<Vec<u8>> = stream_a().into_iter().chain(stream_b()).collect();
        let types: Vec<u8> = all
            .iter()
            .map(|m| BgpHeader::new_checked(m).unwrap().msg_type())
            .collect();
        assert_eq!(types, [1, 4, 2, 2, 2, 2, 1, 4, 4]);
        let count = |t| types.iter().filter(|&&x| x == t).count();
        assert_eq!(count(message_type::OPEN), 2);
        assert_eq!(count(message_type::UPDATE), 4);
        assert_eq!(count(message_type::KEEPALIVE), 3);
        for m in &all {
            let h = BgpHeader::new_checked(m).unwrap();
            assert_eq!(usize::from(h.length()), m.len());
            assert!(h.is_complete() && !h.is_extended());
            assert_eq!(h.message(), m.as_slice());
            assert_eq!(h.body(), &m[19..]);
        }
        let open = hex(OPEN_A);
        let h = BgpHeader::new_checked(&open).unwrap();
        assert_eq!(h.length(), 53);
        assert_eq!(h.body()[0], 4); // BGP version
    }

    #[test]
    fn header_errors() {
        let open = hex(OPEN_A);
        assert_eq!(
            BgpHeader::new_checked(&open[..18]),
            Err(WireError::Truncated)
        );
        let h = BgpHeader::new_checked(&open[..30]).unwrap();
        assert!(!h.is_complete());
        assert_eq!(h.message().len(), 30);
        let mut bad = open.clone();
        bad[3] = 0xfe;
        assert_eq!(BgpHeader::new_checked(&bad), Err(WireError::Malformed));
        let mut short = open.clone();
        short[16..18].copy_from_slice(&18u16.to_be_bytes());
        assert_eq!(BgpHeader::new_checked(&short), Err(WireError::BadLength));
        short[16..18].copy_from_slice(&28u16.to_be_bytes()); // OPEN needs 29
        assert_eq!(BgpHeader::new_checked(&short), Err(WireError::BadLength));
        let mut ka = hex(KEEPALIVE_A);
        ka[17] = 20;
        assert_eq!(BgpHeader::new_checked(&ka), Err(WireError::BadLength));
        // Extended (RFC 8654) lengths and unknown types are data.
        let mut ext = open.clone();
        ext[16..18].copy_from_slice(&5000u16.to_be_bytes());
        ext[18] = 200;
        let h = BgpHeader::new_checked(&ext).unwrap();
        assert!(h.is_extended() && !h.is_complete());
        assert_eq!(h.msg_type(), 200);
    }

    #[test]
    fn one_push_per_segment() {
        let a = stream_a();
        let chunks: Vec<&[u8]> = a.iter().map(|m| m.as_slice()).collect();
        let (got, framer) = frame(&chunks);
        assert_eq!(got.len(), 6);
        for (g, m) in got.iter().zip(&a) {
            assert_eq!(&g.1, m);
        }
        assert_eq!(framer.errors(), 0);
        assert_eq!(framer.messages(), 6);
        assert_eq!(framer.buffered(), 0);

        let b = stream_b();
        let chunks: Vec<&[u8]> = b.iter().map(|m| m.as_slice()).collect();
        let (got, _) = frame(&chunks);
        let types: Vec<u8> = got.iter().map(|g| g.0).collect();
        assert_eq!(types, [message_type::OPEN, 4, 4]);
    }

    #[test]
    fn two_messages_in_one_push() {
        let a = stream_a();
        let both: Vec<u8> = [a[4].as_slice(), a[5].as_slice()].concat();
        let (got, framer) = frame(&[&both]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, a[4]);
        assert_eq!(got[1].1, a[5]);
        assert_eq!(framer.errors(), 0);

        // The whole direction in one push.
        let all = a.concat();
        let (got, _) = frame(&[&all]);
        assert_eq!(got.len(), 6);
        assert_eq!(got.iter().map(|g| g.1.len()).sum::<usize>(), all.len());
    }

    #[test]
    fn message_split_across_pushes() {
        let a = stream_a();
        let update = &a[5];
        for cut in 0..=update.len() {
            let (got, framer) = frame(&[&update[..cut], &update[cut..]]);
            assert_eq!(got.len(), 1, "cut at {cut}");
            assert_eq!(&got[0].1, update);
            assert_eq!(got[0].0, message_type::UPDATE);
            assert_eq!(framer.buffered(), 0);
        }
        // Tail of one message plus the start of the next in one push.
        let all = a.concat();
        for cut in 0..=all.len() {
            let (got, framer) = frame(&[&all[..cut], &all[cut..]]);
            assert_eq!(got.len(), 6);
            assert_eq!(framer.errors(), 0);
        }
        // Byte by byte.
        let bytes: Vec<&[u8]> = all.chunks(1).collect();
        let (got, _) = frame(&bytes);
        assert_eq!(got.len(), 6);
        // Partial message stays buffered.
        let (got, framer) = frame(&[&all[..60]]);
        assert_eq!(got.len(), 1);
        assert_eq!(framer.buffered(), 60 - 53);
    }

    #[test]
    fn resynchronises_after_garbage() {
        let a = stream_a();
        // Garbage (a lost segment's tail) before the stream.
        let mut s = vec![0x12, 0x34, 0xff, 0xff, 0x00];
        s.extend_from_slice(&a.concat());
        let (got, framer) = frame(&[&s]);
        assert_eq!(framer.errors(), 1);
        assert_eq!(got.len(), 6);

        // A bad length in the middle: that message is lost, the rest survive.
        let mut bad = a.clone();
        bad[2][16..18].copy_from_slice(&3u16.to_be_bytes());
        let s = bad.concat();
        let (got, framer) = frame(&[&s]);
        assert_eq!(framer.errors(), 1);
        let types: Vec<u8> = got.iter().map(|g| g.0).collect();
        assert_eq!(types, [1, 4, 2, 2, 2]);

        // Same, fed byte by byte: the marker is found across pushes.
        let bytes: Vec<&[u8]> = s.chunks(1).collect();
        let (got, framer) = frame(&bytes);
        assert_eq!(framer.errors(), 1);
        assert_eq!(got.len(), 5);
        assert!(!framer.is_resyncing());

        // Garbage ending in a long run of 0xff before a real message.
        let mut s = vec![0x00; 3];
        s.extend_from_slice(&[0xff; 20]);
        s.extend_from_slice(&a[1]);
        let (got, framer) = frame(&[&s]);
        assert_eq!(framer.errors(), 1);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, a[1]);
    }

    #[test]
    fn reset_drops_partial_message() {
        let a = stream_a();
        let mut framer = BgpFramer::default();
        let mut n = 0;
        framer.push(&a[0][..30], &mut |_, _| n += 1);
        assert_eq!(framer.buffered(), 30);
        framer.reset();
        assert_eq!(framer.buffered(), 0);
        framer.push(&a[1], &mut |_, _| n += 1);
        assert_eq!(n, 1);
        assert_eq!(framer.errors(), 0);
    }

    #[test]
    fn buffer_is_bounded() {
        let mut framer = BgpFramer::new();
        let mut header = vec![0xff; 16];
        header.extend_from_slice(&[0xff, 0xf0, 200]); // 65520 bytes, unknown type
        let mut emitted = 0;
        framer.push(&header, &mut |_, m| {
            emitted += 1;
            assert_eq!(m.len(), 0xfff0);
        });
        let mut rng = Rng::new(7);
        for _ in 0..200 {
            let chunk = rng.bytes(1000);
            framer.push(&chunk, &mut |_, m| {
                emitted += 1;
                assert!(m.len() <= MAX_EXTENDED_MESSAGE_LEN);
            });
            assert!(framer.buffered() <= MAX_EXTENDED_MESSAGE_LEN);
        }
        assert_eq!(emitted, 1);
    }

    #[test]
    fn never_panics() {
        let vectors: Vec<Vec<u8>> = vec![stream_a().concat(), stream_b().concat()];
        let refs: Vec<&[u8]> = vectors.iter().map(|v| v.as_slice()).collect();
        let mut framer = BgpFramer::new();
        no_panic(&refs, |buf| {
            if let Ok(h) = BgpHeader::new_checked(buf) {
                let _ = (h.length(), h.msg_type(), h.is_complete(), h.is_extended());
                assert!(h.message().len() <= buf.len());
                let _ = h.body();
            }
            framer.push(buf, &mut |_, m| {
                assert!(m.len() >= HEADER_LEN && m.len() <= MAX_EXTENDED_MESSAGE_LEN);
            });
            assert!(framer.buffered() <= MAX_EXTENDED_MESSAGE_LEN);
        });
    }
}
