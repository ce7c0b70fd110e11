//! DNS over TCP framing: the 2-byte length prefix of RFC 1035 §4.2.2.

use super::*;

/// Splits one direction of a DNS-over-TCP stream into messages (RFC 1035
/// §4.2.2: each message is preceded by its length, 2 bytes big-endian).
///
/// Feed it the payload of every segment in order with [`TcpDnsFramer::push`];
/// complete messages are handed out without their length prefix, several per
/// push, and a message split across pushes is buffered (at most one message
/// of up to 65535 bytes plus its prefix; a message complete within one push
/// is not copied). A length below 12 (no room for a header) cannot be DNS:
/// it is counted in [`TcpDnsFramer::errors`], the buffer and the rest of that
/// push are dropped, and the next push is taken to start a new message.
#[derive(Clone, Debug, Default)]
pub struct TcpDnsFramer {
    /// A partial message, length prefix included; empty when idle.
    buf: Vec<u8>,
    errors: u64,
    messages: u64,
}

impl TcpDnsFramer {
    /// A framer expecting a length prefix at the start of the stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lengths below 12 seen so far.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Messages emitted so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Bytes of a partial message (prefix included) held for the next push.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Forgets any partial message (after a gap in the stream or a new
    /// connection); the next byte is expected to start a length prefix.
    /// Counters are kept.
    pub fn reset(&mut self) {
        if self.buf.capacity() > FRAMER_KEEP_CAPACITY {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
    }

    fn fail(&mut self) {
        self.errors += 1;
        self.reset();
    }

    /// Consumes `data`, calling `out(message)` for every message it completes.
    pub fn push(&mut self, data: &[u8], out: &mut impl FnMut(&[u8])) {
        let mut data = data;
        if !self.buf.is_empty() {
            // Complete the buffered message first.
            if self.buf.len() < TCP_PREFIX_LEN {
                let take = (TCP_PREFIX_LEN - self.buf.len()).min(data.len());
                let (head, after) = data.split_at(take);
                self.buf.extend_from_slice(head);
                data = after;
                if self.buf.len() < TCP_PREFIX_LEN {
                    return;
                }
            }
            let len = usize::from(read_u16(&self.buf, TCP_LENGTH));
            if len < HEADER_LEN {
                self.fail();
                return;
            }
            let need = TCP_PREFIX_LEN + len;
            let take = need.saturating_sub(self.buf.len()).min(data.len());
            let (body, after) = data.split_at(take);
            self.buf.extend_from_slice(body);
            data = after;
            if self.buf.len() < need {
                return;
            }
            self.messages += 1;
            out(rest(&self.buf, TCP_PREFIX_LEN));
            self.reset();
        }
        // Frame straight from the input.
        while !data.is_empty() {
            if data.len() < TCP_PREFIX_LEN {
                self.buf.extend_from_slice(data);
                return;
            }
            let len = usize::from(read_u16(data, TCP_LENGTH));
            if len < HEADER_LEN {
                self.fail();
                return;
            }
            let need = TCP_PREFIX_LEN + len;
            if data.len() < need {
                self.buf.extend_from_slice(data);
                return;
            }
            self.messages += 1;
            out(clamped(data, TCP_PREFIX_LEN, need));
            data = rest(data, need);
        }
    }
}
