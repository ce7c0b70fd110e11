//! Batches of captured frames handed from a capture thread to a worker: one contiguous
//! byte buffer plus a record per frame, reused from batch to batch so the hot path does
//! not allocate.

use crate::time::Timespec;

/// Where one frame sits in a batch.
#[derive(Clone, Copy, Debug)]
pub struct FrameRef {
    /// Capture time.
    pub ts: Timespec,
    /// LINKTYPE_ of the frame.
    pub linktype: u16,
    start: usize,
    len: usize,
    /// Length on the wire.
    pub origlen: u32,
}

/// Frames captured together.
#[derive(Debug, Default)]
pub struct Batch {
    data: Vec<u8>,
    frames: Vec<FrameRef>,
}

impl Batch {
    /// An empty batch with room for `bytes` of frame data.
    pub fn with_capacity(bytes: usize, frames: usize) -> Self {
        Batch {
            data: Vec::with_capacity(bytes),
            frames: Vec::with_capacity(frames),
        }
    }

    /// Appends one frame.
    pub fn push(&mut self, ts: Timespec, linktype: u16, bytes: &[u8], origlen: u32) {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        self.frames.push(FrameRef {
            ts,
            linktype,
            start,
            len: bytes.len(),
            origlen,
        });
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the batch holds no frame.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Bytes of frame data held.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Forgets every frame, keeping the allocations.
    pub fn clear(&mut self) {
        self.data.clear();
        self.frames.clear();
    }

    /// The frames with their bytes.
    pub fn iter(&self) -> impl Iterator<Item = (&FrameRef, &[u8])> {
        self.frames
            .iter()
            .filter_map(|f| Some((f, self.data.get(f.start..f.start + f.len)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_keep_their_bytes_and_batches_are_reusable() {
        let mut b = Batch::with_capacity(16, 2);
        b.push(Timespec::new(1, 0), 1, b"abc", 3);
        b.push(Timespec::new(2, 0), 113, b"defg", 10);
        let v: Vec<(u16, &[u8], u32)> = b.iter().map(|(f, d)| (f.linktype, d, f.origlen)).collect();
        assert_eq!(v, vec![(1, &b"abc"[..], 3), (113, &b"defg"[..], 10)]);
        assert_eq!((b.len(), b.bytes()), (2, 7));
        b.clear();
        assert!(b.is_empty());
    }
}
