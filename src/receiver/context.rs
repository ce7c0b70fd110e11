//! What a running receiver is given and what it hands on: its `ReceiverContext` (the output
//! toward its stream's worker, the shutdown signal and its status), the owned `Delivery`
//! messages that cross from the receiver's thread to the worker's, and `ReceiverStatus`,
//! the counters and state others read without asking either thread.
//!
//! Output is a bounded queue: a receiver that produces faster than the worker analyses
//! waits (live sources then lose in the kernel, where the drop is counted). Frame batches
//! are recycled through a second queue so the capture path does not allocate.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver as ChannelReceiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::event::{CaptureStats, ProbeResult};
use crate::receiver::batch::{Batch, SharedBytes};
use crate::receiver::dnstap::listener::DnstapBatch;
use crate::receiver::flow::udp::DatagramBatch;
use crate::receiver::router::{Outputs, Router};
use crate::time::Timespec;

/// One message from a receiver to its stream's worker.
#[derive(Debug)]
pub enum Delivery {
    /// The stream's first timestamp, when the receiver knows it better than its data does
    /// (a recorded source whose first record is not delivered).
    Start(Timespec),
    /// Captured frames.
    Frames(Batch),
    /// dnstap messages.
    Dnstap(DnstapBatch),
    /// Flow export datagrams.
    Flow(DatagramBatch),
    /// Results of active probes (netprobe).
    Probes(Vec<ProbeResult>),
    /// Cumulative capture counters.
    Stats(CaptureStats),
    /// A recorded source reached its end; its last timestamp when it knows it.
    Ended(Option<Timespec>),
    /// The stream's clock (a sharded recording's bucket boundaries, see `Event::Clock`).
    Clock(Timespec),
    /// Nothing: wakes an idle worker (a control message waits).
    Wake,
}

/// What a recorded (file) source saw by the end of its run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileSummary {
    /// Records (frames, dnstap frames) read.
    pub records: u64,
    /// Records a filter (BPF, UDP port) left out.
    pub skipped: u64,
    /// Records that could not be used (invalid dnstap protobuf).
    pub invalid: u64,
    /// dnstap frames that were not a MESSAGE (skipped).
    pub not_message: u64,
    /// The file ended inside a record (or a dnstap file without STOP).
    pub truncated: bool,
    /// A corrupt block that ended the run early (everything before it was delivered).
    pub corrupt: Option<String>,
}

/// A receiver's own counters shown in its policy info (e.g. a listener's socket stats).
pub trait InfoSource: Send + Sync {
    /// The counters as JSON.
    fn info(&self) -> serde_json::Value;
    /// The receiver's bounded tables (connections, buffered bytes), for `/metrics` and OTLP.
    fn tables(&self) -> Vec<crate::metric::TableStat> {
        Vec::new()
    }
}

/// What others may read about a receiver without asking its threads.
#[derive(Default)]
pub struct ReceiverStatus {
    /// The source is capturing (or listening).
    pub running: AtomicBool,
    /// The source has finished (files) or was stopped.
    pub ended: AtomicBool,
    /// Units delivered (frames, dnstap messages, flow datagrams).
    pub packets: AtomicU64,
    /// Times the source was (re)opened after a failure.
    pub restarts: AtomicU64,
    /// Deliveries queued toward the worker now.
    pub queue_depth: AtomicU64,
    /// Units the worker could not decode (flow: `packet_errors`).
    pub decode_errors: AtomicU64,
    /// File bytes read so far (recorded sources, for progress).
    pub bytes_read: AtomicU64,
    /// File size, when known (0 otherwise).
    pub total_bytes: AtomicU64,
    /// Workers of the stream that finished a recording.
    pub workers_ended: AtomicUsize,
    error: Mutex<Option<String>>,
    info: Mutex<Option<Arc<dyn InfoSource>>>,
    summary: Mutex<Option<FileSummary>>,
}

impl std::fmt::Debug for ReceiverStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverStatus")
            .field("running", &self.running)
            .field("packets", &self.packets)
            .finish()
    }
}

impl ReceiverStatus {
    /// Records (or clears) the source's last error.
    pub fn set_error(&self, e: Option<String>) {
        if let Ok(mut g) = self.error.lock() {
            *g = e;
        }
    }

    /// The last error, if any.
    pub fn last_error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|g| g.clone())
    }

    /// Publishes the receiver's own counters for its info.
    pub fn set_info(&self, source: Arc<dyn InfoSource>) {
        if let Ok(mut g) = self.info.lock() {
            *g = Some(source);
        }
    }

    /// The receiver's own counters, when it published some.
    pub fn info(&self) -> Option<serde_json::Value> {
        let g = self.info.lock().ok()?;
        g.as_ref().map(|s| s.info())
    }

    /// The receiver's own bounded tables, when it published some.
    pub fn tables(&self) -> Vec<crate::metric::TableStat> {
        let Ok(g) = self.info.lock() else {
            return Vec::new();
        };
        g.as_ref().map(|s| s.tables()).unwrap_or_default()
    }

    /// Records what a recorded source saw.
    pub fn set_summary(&self, s: FileSummary) {
        if let Ok(mut g) = self.summary.lock() {
            *g = Some(s);
        }
    }

    /// What a recorded source saw, once it ended.
    pub fn summary(&self) -> Option<FileSummary> {
        self.summary.lock().ok().and_then(|g| g.clone())
    }

    /// Progress of a recorded source: bytes read and file size.
    pub fn set_progress(&self, bytes_read: u64, total: Option<u64>) {
        self.bytes_read.store(bytes_read, Ordering::Relaxed);
        self.total_bytes
            .store(total.unwrap_or(0), Ordering::Relaxed);
    }
}

/// The stop signal of a stream: set once, read by every loop of its receiver.
#[derive(Clone, Debug, Default)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    /// Asks every holder to stop (idempotent).
    pub fn trigger(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether stopping was asked.
    pub fn is_triggered(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// The flag, for loops that take an `AtomicBool`.
    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }

    /// Sleeps `d` in short steps, returning early when stopping is asked.
    pub fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until && !self.is_triggered() {
            std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
        }
    }
}

/// Frames a receiver is gathering: one batch per worker it feeds
/// ([`ReceiverContext::frame_sink`]).
#[derive(Debug)]
pub struct FrameSink {
    parts: Vec<Batch>,
}

/// How a receiver reaches its stream: output, shutdown signal and status.
pub struct ReceiverContext {
    txs: Vec<SyncSender<Delivery>>,
    router: Option<RefCell<Router>>,
    recycle: ChannelReceiver<Batch>,
    /// Set when the stream stops.
    pub shutdown: Shutdown,
    /// The receiver's status, shared with the stream.
    pub status: Arc<ReceiverStatus>,
}

impl std::fmt::Debug for ReceiverContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverContext").finish_non_exhaustive()
    }
}

impl ReceiverContext {
    /// A context delivering into `tx`, taking recycled frame batches from `recycle`.
    pub fn new(
        tx: SyncSender<Delivery>,
        recycle: ChannelReceiver<Batch>,
        shutdown: Shutdown,
        status: Arc<ReceiverStatus>,
    ) -> Self {
        ReceiverContext {
            txs: vec![tx],
            router: None,
            recycle,
            shutdown,
            status,
        }
    }

    /// A context spreading its deliveries over several workers' queues (`router`).
    pub fn sharded(
        txs: Vec<SyncSender<Delivery>>,
        recorded: bool,
        recycle: ChannelReceiver<Batch>,
        shutdown: Shutdown,
        status: Arc<ReceiverStatus>,
    ) -> Self {
        let router = (txs.len() > 1).then(|| RefCell::new(Router::new(txs.len(), recorded)));
        ReceiverContext {
            txs,
            router,
            recycle,
            shutdown,
            status,
        }
    }

    /// Counts units (frames, messages, datagrams) handed to the workers, and the delivery.
    fn counter(&self) -> impl FnMut(u64) + '_ {
        let status = &self.status;
        move |units: u64| {
            status.packets.fetch_add(units, Ordering::Relaxed);
            status.queue_depth.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The workers' queues, for the router.
    fn outputs(&self) -> Outputs<'_> {
        Outputs {
            txs: &self.txs,
            recycle: &self.recycle,
        }
    }

    /// Hands `d` to the worker(s), waiting for room; false when the stream is gone.
    pub fn send(&self, d: Delivery) -> bool {
        let mut count = self.counter();
        if let Some(router) = &self.router {
            return router.borrow_mut().route(d, &self.outputs(), &mut count);
        }
        let units = match &d {
            Delivery::Frames(b) => b.len(),
            Delivery::Dnstap(b) => b.len(),
            Delivery::Flow(b) => b.len(),
            Delivery::Probes(b) => b.len(),
            _ => 0,
        };
        if units > 0 {
            count(units as u64);
        }
        self.txs.first().is_some_and(|tx| tx.send(d).is_ok())
    }

    /// Sends the frames of `batch` (if any) and leaves an empty, recycled batch in its
    /// place; false when the stream is gone.
    pub fn send_frames(&self, batch: &mut Batch) -> bool {
        if batch.is_empty() {
            return true;
        }
        let next = self.recycle.try_recv().unwrap_or_default();
        self.send(Delivery::Frames(std::mem::replace(batch, next)))
    }

    /// An empty frame batch (recycled when one is available).
    pub fn frame_batch(&self) -> Batch {
        self.recycle.try_recv().unwrap_or_default()
    }

    /// Where a receiver gathers frames lying in a shared buffer: one batch, or one per
    /// worker when the context spreads over several.
    pub fn frame_sink(&self) -> FrameSink {
        let n = self.router.as_ref().map_or(1, |r| r.borrow().shards());
        FrameSink {
            parts: (0..n).map(|_| self.frame_batch()).collect(),
        }
    }

    /// Adds one frame lying in `buf` (`ts`, `linktype`, its offset and length, `origlen`)
    /// to `sink` without copying it, into its worker's batch; a batch is sent when it
    /// reaches `max_frames` or before it would hold a second buffer. False when the stream
    /// is gone.
    pub fn push_frame(
        &self,
        sink: &mut FrameSink,
        buf: &SharedBytes,
        frame: (Timespec, u16, usize, usize, u32),
        max_frames: usize,
    ) -> bool {
        let (ts, linktype, at, len, _) = frame;
        let i = match &self.router {
            None => 0,
            Some(router) => {
                let data = buf.get(at..at + len).unwrap_or_default();
                let mut count = self.counter();
                let out = self.outputs();
                let routed = router.borrow_mut().frame_shard(
                    &mut sink.parts,
                    (ts, linktype, data),
                    &out,
                    &mut count,
                );
                let Some(i) = routed else {
                    return false;
                };
                i
            }
        };
        let Some(b) = sink.parts.get_mut(i) else {
            return false;
        };
        if !b.push_shared(buf, frame) {
            if !self.send_part(i, b) {
                return false;
            }
            b.push_shared(buf, frame);
        }
        b.len() < max_frames || self.send_part(i, b)
    }

    /// Sends worker `i`'s batch `b` (if it holds frames), leaving an empty one in its place.
    fn send_part(&self, i: usize, b: &mut Batch) -> bool {
        if b.is_empty() {
            return true;
        }
        if self.router.is_none() {
            return self.send_frames(b);
        }
        let mut count = self.counter();
        count(b.len() as u64);
        let next = self.frame_batch();
        self.txs.get(i).is_some_and(|tx| {
            tx.send(Delivery::Frames(std::mem::replace(b, next)))
                .is_ok()
        })
    }

    /// Sends what `sink` gathered; false when the stream is gone.
    pub fn flush_frames(&self, sink: &mut FrameSink) -> bool {
        sink.parts
            .iter_mut()
            .enumerate()
            .all(|(i, b)| self.send_part(i, b))
    }

    /// Opens a source with `open`, retrying with backoff (1 s doubling to 30 s) while it
    /// fails and the stream runs: each failure is logged as `what` and shown in the status;
    /// an open after failures counts as a restart. None when the stream stopped first.
    pub fn open_retrying<T, E: std::fmt::Display>(
        &self,
        what: &str,
        attempt: &mut u32,
        mut open: impl FnMut() -> Result<T, E>,
    ) -> Option<T> {
        while !self.shutdown.is_triggered() {
            match open() {
                Ok(source) => {
                    if *attempt > 0 {
                        self.status.restarts.fetch_add(1, Ordering::Relaxed);
                    }
                    *attempt = 0;
                    self.status.set_error(None);
                    return Some(source);
                }
                Err(e) => {
                    tracing::warn!("{what}: {e}; retrying");
                    self.status.set_error(Some(e.to_string()));
                    self.shutdown.sleep(backoff(*attempt));
                    *attempt = attempt.saturating_add(1);
                }
            }
        }
        None
    }
}

/// How long a failed live source waits before its next attempt: 1 s doubling to 30 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(5)).min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_thirty_seconds() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(10), Duration::from_secs(30));
    }

    #[test]
    fn open_retrying_counts_restarts_and_stops_on_shutdown() {
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        let (_rtx, rrx) = std::sync::mpsc::sync_channel(1);
        let ctx = ReceiverContext::new(tx, rrx, Shutdown::default(), Arc::default());
        let mut attempt = 1;
        let got: Option<u8> = ctx.open_retrying("x", &mut attempt, || Ok::<_, String>(7));
        assert_eq!(got, Some(7));
        assert_eq!(ctx.status.restarts.load(Ordering::Relaxed), 1);
        ctx.shutdown.trigger();
        let never: Option<u8> = ctx.open_retrying("x", &mut attempt, || Err("no"));
        assert_eq!(never, None);
    }
}
