//! The capture-file receiver (a pcap input's `pcap_file`): reads (and decompresses) the
//! file once, applies the BPF filter, and delivers batches of frames that point into the
//! reader's buffer (no frame is copied); at the end it
//! reports what it saw (records, filtered, truncated, corrupt) and the end of the stream.
//! A file that cannot be opened, or a filter that does not compile for one of its link
//! types, ends the run with an error; a corrupt block ends it early with everything before
//! it delivered.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use crate::receiver::Receiver;
use crate::receiver::bpf::BpfFilterSet;
use crate::receiver::context::{Delivery, FileSummary, ReceiverContext};

use super::PcapFileReader;

/// Frames per delivered batch at most: a batch ends with the read buffer it points into
/// (about 5,000 DNS-sized frames per 1 MiB), so a buffer usually travels as one batch.
const BATCH_FRAMES: usize = 16384;
/// Records between progress updates.
const PROGRESS_EVERY: u64 = 4096;

/// Reads one capture file.
#[derive(Debug)]
pub struct PcapFileReceiver {
    path: PathBuf,
    bpf: Option<String>,
}

impl PcapFileReceiver {
    /// A receiver of `path` with an optional tcpdump filter.
    pub fn new(path: PathBuf, bpf: Option<String>) -> Self {
        PcapFileReceiver { path, bpf }
    }
}

impl Receiver for PcapFileReceiver {
    fn run(self: Box<Self>, ctx: &ReceiverContext) -> Result<(), String> {
        let mut reader = PcapFileReader::open(&self.path).map_err(|e| e.to_string())?;
        let mut filter = self.bpf.as_deref().map(BpfFilterSet::new);
        ctx.status.running.store(true, Ordering::SeqCst);
        let mut summary = FileSummary::default();
        let mut sink = ctx.frame_sink();
        loop {
            if ctx.shutdown.is_triggered() {
                return Ok(());
            }
            let rec = match reader.next_record() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    summary.corrupt = Some(e.to_string());
                    break;
                }
            };
            summary.records += 1;
            if let Some(f) = filter.as_mut() {
                match f.matches(rec.linktype, rec.data) {
                    Ok(true) => {}
                    Ok(false) => {
                        summary.skipped += 1;
                        continue;
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            let frame = (
                rec.ts,
                rec.linktype,
                rec.offset,
                rec.data.len(),
                rec.origlen,
            );
            if !ctx.push_frame(&mut sink, reader.buffer(), frame, BATCH_FRAMES) {
                return Ok(());
            }
            if summary.records % PROGRESS_EVERY == 0 {
                ctx.status
                    .set_progress(reader.bytes_read(), reader.total_bytes());
            }
        }
        ctx.status
            .set_progress(reader.bytes_read(), reader.total_bytes());
        if !ctx.flush_frames(&mut sink) {
            return Ok(());
        }
        summary.truncated = reader.truncated();
        ctx.status.set_summary(summary);
        ctx.send(Delivery::Ended(None));
        Ok(())
    }
}
