//! Batches of captured frames handed from a capture thread to a worker: one contiguous
//! byte buffer plus a record per frame, reused from batch to batch so the hot path does
//! not allocate. A batch may instead point into a buffer the receiver shares (a capture
//! file's read buffer): its frames are then not copied at all.

use std::sync::Arc;

use crate::time::Timespec;

/// A read buffer shared between a receiver and the batches pointing into it.
pub type SharedBytes = Arc<Vec<u8>>;

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

/// Frames captured together: copied into `data`, or (when `shared` is set) all lying in
/// that one shared buffer.
#[derive(Debug, Default)]
pub struct Batch {
    data: Vec<u8>,
    frames: Vec<FrameRef>,
    shared: Option<SharedBytes>,
}

impl Batch {
    /// An empty batch with room for `bytes` of frame data.
    pub fn with_capacity(bytes: usize, frames: usize) -> Self {
        Batch {
            data: Vec::with_capacity(bytes),
            frames: Vec::with_capacity(frames),
            shared: None,
        }
    }

    /// Appends one frame, copying its bytes (into a batch that does not point into a
    /// shared buffer: a shared one is first sent on, or it is cleared).
    pub fn push(&mut self, ts: Timespec, linktype: u16, bytes: &[u8], origlen: u32) {
        if self.shared.is_some() {
            // Not mixed: the frames pointing into the shared buffer would lose their bytes.
            self.copy_out();
        }
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

    /// Appends one frame lying at `at..at + len` in `buf`, without copying it. False (and
    /// nothing appended) when the batch holds frames of another buffer or copied ones.
    pub fn push_shared(
        &mut self,
        buf: &SharedBytes,
        (ts, linktype, at, len, origlen): (Timespec, u16, usize, usize, u32),
    ) -> bool {
        match &self.shared {
            Some(s) if Arc::ptr_eq(s, buf) => {}
            None if self.frames.is_empty() => self.shared = Some(Arc::clone(buf)),
            _ => return false,
        }
        self.frames.push(FrameRef {
            ts,
            linktype,
            start: at,
            len,
            origlen,
        });
        true
    }

    /// Turns a batch pointing into a shared buffer into one holding copies.
    fn copy_out(&mut self) {
        let Some(buf) = self.shared.take() else {
            return;
        };
        self.data.clear();
        for f in &mut self.frames {
            let bytes = buf.get(f.start..f.start + f.len).unwrap_or_default();
            f.start = self.data.len();
            f.len = bytes.len();
            self.data.extend_from_slice(bytes);
        }
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the batch holds no frame.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Bytes of frame data copied into the batch (none when it points into a shared
    /// buffer).
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Forgets every frame (and lets go of a shared buffer), keeping the allocations.
    pub fn clear(&mut self) {
        self.data.clear();
        self.frames.clear();
        self.shared = None;
    }

    /// The frames with their bytes.
    pub fn iter(&self) -> impl Iterator<Item = (&FrameRef, &[u8])> {
        let data: &[u8] = self.shared.as_deref().map_or(&self.data, Vec::as_slice);
        self.frames
            .iter()
            .filter_map(move |f| Some((f, data.get(f.start..f.start + f.len)?)))
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

    #[test]
    fn shared_frames_are_not_copied_and_a_batch_holds_one_buffer() {
        let one: SharedBytes = Arc::new(b"xxabcdefg".to_vec());
        let two: SharedBytes = Arc::new(b"hij".to_vec());
        let mut b = Batch::default();
        assert!(b.push_shared(&one, (Timespec::new(1, 0), 1, 2, 3, 3)));
        assert!(b.push_shared(&one, (Timespec::new(2, 0), 1, 5, 4, 60)));
        assert!(!b.push_shared(&two, (Timespec::new(3, 0), 1, 0, 3, 3)));
        assert_eq!((b.len(), b.bytes(), Arc::strong_count(&one)), (2, 0, 2));
        let v: Vec<&[u8]> = b.iter().map(|(_, d)| d).collect();
        assert_eq!(v, vec![&b"abc"[..], &b"defg"[..]]);
        // A copied frame after shared ones: the shared ones are copied first, none is lost.
        b.push(Timespec::new(3, 0), 1, b"hij", 3);
        assert_eq!(Arc::strong_count(&one), 1);
        let v: Vec<&[u8]> = b.iter().map(|(_, d)| d).collect();
        assert_eq!(v, vec![&b"abc"[..], &b"defg"[..], &b"hij"[..]]);
        assert!(!b.push_shared(&two, (Timespec::new(4, 0), 1, 0, 3, 3)));
        b.clear();
        assert!(b.push_shared(&two, (Timespec::new(4, 0), 1, 0, 3, 3)));
        b.clear();
        assert_eq!(Arc::strong_count(&two), 1);
    }
}
