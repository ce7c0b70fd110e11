//! The one stream runner both binaries use: receivers on their own threads feeding the
//! stream's workers, each owning its own copy of every policy pipeline, through bounded
//! queues.
//!
//! - A stream has `workers` workers (`--workers`, default: the cores the process may use).
//!   One receiver spreads its deliveries over them (`receiver::router`: a symmetric hash
//!   of addresses, so a query and its reply, a TCP connection and a fragmented datagram
//!   meet on one worker), or, for an AF_PACKET capture, one ring per worker fans out in
//!   the kernel. Reads merge the workers' windows (`shards`), so they answer as one
//!   worker would.
//! - `Stream::start` (the agent): each worker runs on a thread of its own and everything
//!   else talks to it through control messages (attach, detach, snapshots, info), so the
//!   per-packet path takes no lock. Live streams get a heartbeat every second.
//! - `run_recorded` (the reader): the workers run until the recording ends, then hand back
//!   their pipelines, merged.
//!
//! Start order is downstream first: the pipelines exist before the workers, the workers
//! before the receivers. Stop order is upstream first: the receivers are stopped and
//! joined, then the workers. Stopping is idempotent.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{
    Receiver as ChannelReceiver, RecvTimeoutError, Sender, SyncSender, sync_channel,
};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::hostspec::HostSpec;
use crate::export::otlp::HandlerReading;
use crate::metric::TableStat;
use crate::processor::Select;
use crate::receiver::batch::Batch;
use crate::receiver::context::{Delivery, ReceiverContext, ReceiverStatus, Shutdown};
use crate::receiver::flow::FlowDecoder;
use crate::receiver::{Built, ReceiverConfig};
use crate::service::pipeline::{NamedSnapshot, PolicyPipeline};
use crate::service::shards::{PolicyCopy, merge_copies, merge_pipelines};
use crate::service::worker::{Worker, WorkerStats};
use crate::time::Timespec;
use crate::window::PeriodError;

/// Snapshots of one policy on a stream.
pub struct PolicySnapshots {
    /// Policy name.
    pub policy: String,
    /// Tap name.
    pub tap: String,
    /// Its handlers' snapshots, or the period error.
    pub snapshots: Result<Vec<NamedSnapshot>, PeriodError>,
}

/// Window facts of one handler, for the policy info.
#[derive(Clone, Debug)]
pub struct HandlerState {
    /// Policy (empty for the stream's own tables).
    pub policy: String,
    /// Handler instance name.
    pub name: String,
    /// JSON schema key.
    pub schema: &'static str,
    /// Its bounded tables.
    pub tables: Vec<TableStat>,
}

enum Control {
    Attach(Box<PolicyPipeline>),
    Replace(Box<PolicyPipeline>),
    Detach(String, SyncSender<bool>),
    Snapshots {
        policy: Option<String>,
        sel: Select,
        now: Timespec,
        reply: SyncSender<Vec<PolicySnapshots>>,
    },
    Copies(Option<String>, SyncSender<Vec<PolicyCopy>>),
    Handlers(SyncSender<Vec<HandlerState>>),
    Readings(Timespec, SyncSender<Vec<HandlerReading>>),
    Stop,
}

/// Deliveries queued between a live receiver and a worker before the receiver waits
/// (bursts wait here rather than in the kernel).
const QUEUE: usize = 64;

/// Deliveries queued when reading a recording: enough to keep the threads busy, few
/// enough that the batches in flight stay in the CPU caches (and peak memory low).
const RECORDED_QUEUE: usize = 8;

/// Longest wait for a worker to answer a control message.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// The workers a stream gets by default: the cores this process may use (its CPU
/// affinity and cgroup quota respected).
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Why a stream could not start.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The receiver could not be built (pktvisor's text).
    #[error("{0}")]
    Build(String),
    /// A thread could not be started.
    #[error("failed to start input {0}: {1}")]
    Spawn(String, std::io::Error),
    /// A recording could not be read (pktvisor's text).
    #[error("{0}")]
    Run(String),
}

fn spawn_receiver(
    name: &str,
    built: Built,
    ctx: ReceiverContext,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("receiver-{name}"))
        .spawn(move || {
            let status = ctx.status.clone();
            if let Err(e) = built.receiver.run(&ctx) {
                tracing::warn!("{e}");
                status.set_error(Some(e));
                // The workers end the recording with what they have.
                ctx.send(Delivery::Ended(None));
            }
            status.running.store(false, Ordering::SeqCst);
        })
}

/// The receivers of a stream and their contexts: one per worker when the input fans out
/// by itself (AF_PACKET), else one receiver spreading over every worker.
fn receivers(
    built: Vec<Built>,
    txs: Vec<SyncSender<Delivery>>,
    recycles: Vec<ChannelReceiver<Batch>>,
    recorded: bool,
    shutdown: &Shutdown,
    status: &Arc<ReceiverStatus>,
) -> Vec<(Built, ReceiverContext)> {
    if built.len() == txs.len() {
        built
            .into_iter()
            .zip(txs.into_iter().zip(recycles))
            .map(|(b, (tx, rx))| {
                (
                    b,
                    ReceiverContext::new(tx, rx, shutdown.clone(), status.clone()),
                )
            })
            .collect()
    } else {
        let mut recycles = recycles;
        let rx = recycles.swap_remove(0);
        let ctx = ReceiverContext::sharded(txs, recorded, rx, shutdown.clone(), status.clone());
        built
            .into_iter()
            .next()
            .map(|b| vec![(b, ctx)])
            .unwrap_or_default()
    }
}

/// The queues of `n` workers: data senders and receivers, and the frame-batch recycle
/// queues (one per receiver; a single receiver takes every worker's recycled batches).
#[allow(clippy::type_complexity)]
fn queues(
    n: usize,
    receivers: usize,
    depth: usize,
) -> (
    Vec<SyncSender<Delivery>>,
    Vec<ChannelReceiver<Delivery>>,
    Vec<SyncSender<Batch>>,
    Vec<ChannelReceiver<Batch>>,
) {
    let (data_tx, data_rx): (Vec<_>, Vec<_>) = (0..n).map(|_| sync_channel(depth)).unzip();
    let (rtx, rrx): (Vec<_>, Vec<_>) = (0..receivers.max(1))
        .map(|_| sync_channel::<Batch>(depth * n))
        .unzip();
    let recycle_tx = (0..n).map(|i| rtx[i.min(rtx.len() - 1)].clone()).collect();
    (data_tx, data_rx, recycle_tx, rrx)
}

/// One worker's control channel and the wake-up on its data queue.
#[derive(Clone)]
struct WorkerLink {
    control: Sender<Control>,
    wake: SyncSender<Delivery>,
}

/// A cheap, cloneable way to ask a stream's workers for their state (snapshots,
/// handlers, readings) without holding whatever owns the `Stream`: encoding a large
/// window then does not block others.
#[derive(Clone)]
pub struct StreamHandle {
    workers: Arc<[WorkerLink]>,
}

impl std::fmt::Debug for StreamHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamHandle")
            .field("workers", &self.workers.len())
            .finish()
    }
}

impl StreamHandle {
    /// Queues a control message for every worker and wakes those waiting for data.
    fn send_all(&self, make: &dyn Fn() -> Control) -> usize {
        let mut sent = 0;
        for w in self.workers.iter() {
            if w.control.send(make()).is_ok() {
                let _ = w.wake.try_send(Delivery::Wake);
                sent += 1;
            }
        }
        sent
    }

    /// Asks every worker and collects the answers (a worker that does not answer in
    /// time is left out).
    fn ask_all<T: Send + 'static>(&self, make: impl Fn(SyncSender<T>) -> Control) -> Vec<T> {
        let (tx, rx) = sync_channel(self.workers.len().max(1));
        let sent = self.send_all(&|| make(tx.clone()));
        drop(tx);
        let deadline = Instant::now() + REPLY_TIMEOUT;
        let mut out = Vec::with_capacity(sent);
        while out.len() < sent {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(v) => out.push(v),
                Err(_) => break,
            }
        }
        out
    }

    /// The workers' pipelines of one policy (or every policy), merged into one per
    /// policy that answers reads.
    fn merged(&self, policy: Option<&str>) -> Vec<PolicyPipeline> {
        let copies = self.ask_all(|tx| Control::Copies(policy.map(str::to_string), tx));
        merge_copies(copies)
    }

    /// Snapshots of one policy (or every policy) on the stream.
    pub fn snapshots_now(
        &self,
        policy: Option<&str>,
        sel: Select,
        now: Timespec,
    ) -> Vec<PolicySnapshots> {
        if self.workers.len() > 1 {
            return self
                .merged(policy)
                .iter()
                .map(|p| PolicySnapshots {
                    policy: p.policy.clone(),
                    tap: p.tap.clone(),
                    snapshots: p.snapshots(sel, now),
                })
                .collect();
        }
        self.ask_all(|reply| Control::Snapshots {
            policy: policy.map(str::to_string),
            sel,
            now,
            reply,
        })
        .into_iter()
        .next()
        .unwrap_or_default()
    }

    /// Every handler on the stream, and (policy "") the stream's own tables; bounded
    /// tables summed over the workers.
    pub fn handlers_now(&self) -> Vec<HandlerState> {
        let mut out: Vec<HandlerState> = Vec::new();
        for states in self.ask_all(Control::Handlers) {
            for s in states {
                match out
                    .iter_mut()
                    .find(|o| o.policy == s.policy && o.name == s.name)
                {
                    Some(o) => {
                        for t in s.tables {
                            match o.tables.iter_mut().find(|x| x.name == t.name) {
                                Some(x) => {
                                    x.len += t.len;
                                    x.limit += t.limit;
                                    x.evicted += t.evicted;
                                }
                                None => o.tables.push(t),
                            }
                        }
                    }
                    None => out.push(s),
                }
            }
        }
        out
    }

    /// Every bucket of every handler on the stream, for the OTLP push.
    pub fn readings_now(&self, now: Timespec) -> Vec<HandlerReading> {
        if self.workers.len() > 1 {
            return self
                .merged(None)
                .iter()
                .flat_map(|p| p.readings(now))
                .collect();
        }
        self.ask_all(|tx| Control::Readings(now, tx))
            .into_iter()
            .next()
            .unwrap_or_default()
    }
}

/// A running input stream.
pub struct Stream {
    /// `<tap>-<config hash>`.
    pub name: String,
    /// Tap name.
    pub tap: String,
    /// The input's config.
    pub input: Arc<dyn ReceiverConfig>,
    /// Host spec in use.
    pub host_spec: HostSpec,
    /// The receivers' status (shared by the workers).
    pub status: Arc<ReceiverStatus>,
    handle: StreamHandle,
    threads: Vec<JoinHandle<()>>,
    shutdown: Shutdown,
    receivers: Vec<JoinHandle<()>>,
    /// Receivers built but not yet running (a stream prepared while a document loads).
    pending: Vec<(Built, ReceiverContext)>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("name", &self.name)
            .field("workers", &self.handle.workers.len())
            .finish()
    }
}

impl Stream {
    /// Builds the receivers, then starts `workers` workers (each with the pipelines
    /// `pipelines` makes) and the receivers' threads.
    pub fn start(
        name: &str,
        tap: &str,
        input: Arc<dyn ReceiverConfig>,
        workers: usize,
        pipelines: &dyn Fn() -> Vec<PolicyPipeline>,
    ) -> Result<Stream, StreamError> {
        let mut stream = Stream::prepare(name, tap, input, workers, pipelines)?;
        stream.release()?;
        Ok(stream)
    }

    /// Builds the stream and starts its workers; its receivers wait for
    /// [`Stream::release`], so every policy of a document attaches before the first
    /// packet of a file is read.
    pub fn prepare(
        name: &str,
        tap: &str,
        input: Arc<dyn ReceiverConfig>,
        workers: usize,
        pipelines: &dyn Fn() -> Vec<PolicyPipeline>,
    ) -> Result<Stream, StreamError> {
        for w in input.warnings() {
            tracing::warn!("{w}");
        }
        let n = workers.max(1);
        if n > 1 {
            crate::sketch::rate::log_seconds(true);
        }
        let built = input.build_shards(n).map_err(StreamError::Build)?;
        let host_spec = built
            .first()
            .map(|b| b.host_spec.clone())
            .unwrap_or_default();
        let status = Arc::new(ReceiverStatus::default());
        let shutdown = Shutdown::default();
        let fanout = built.len() == n && n > 1;
        let (data_tx, data_rx, recycle_tx, recycle_rx) =
            queues(n, if fanout { n } else { 1 }, QUEUE);
        let start = Timespec::now();
        let mut stream = Stream {
            name: name.to_string(),
            tap: tap.to_string(),
            input: input.clone(),
            host_spec: host_spec.clone(),
            status: status.clone(),
            handle: StreamHandle {
                workers: Arc::new([]),
            },
            threads: Vec::with_capacity(n),
            shutdown: shutdown.clone(),
            receivers: Vec::new(),
            pending: Vec::new(),
        };
        let mut links = Vec::with_capacity(n);
        for (i, (rx, recycle)) in data_rx.into_iter().zip(recycle_tx).enumerate() {
            let (control_tx, control_rx) = std::sync::mpsc::channel::<Control>();
            let mut worker = Worker::shard(
                input.decoding(),
                host_spec.clone(),
                input.recorded(),
                status.clone(),
                pipelines(),
                n,
            );
            let spawned = std::thread::Builder::new()
                .name(if n > 1 {
                    format!("worker-{tap}-{i}")
                } else {
                    format!("worker-{tap}")
                })
                .spawn(move || {
                    worker.start_live(start);
                    worker.topology();
                    run_worker(worker, rx, recycle, control_rx);
                });
            links.push(WorkerLink {
                control: control_tx,
                wake: data_tx[i].clone(),
            });
            match spawned {
                Ok(thread) => stream.threads.push(thread),
                Err(e) => {
                    // Dropping the stream stops the workers already running.
                    stream.handle.workers = links.into();
                    return Err(StreamError::Spawn(name.to_string(), e));
                }
            }
        }
        stream.handle.workers = links.into();
        let recorded = input.recorded();
        stream.pending = receivers(built, data_tx, recycle_rx, recorded, &shutdown, &status);
        Ok(stream)
    }

    /// Starts the receivers a [`Stream::prepare`] built (none left: nothing to do).
    pub fn release(&mut self) -> Result<(), StreamError> {
        for (b, ctx) in std::mem::take(&mut self.pending) {
            match spawn_receiver(&self.tap, b, ctx) {
                Ok(h) => self.receivers.push(h),
                Err(e) => {
                    self.stop();
                    return Err(StreamError::Spawn(self.name.clone(), e));
                }
            }
        }
        Ok(())
    }

    /// Whether receivers wait for [`Stream::release`].
    pub fn is_held(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Workers of this stream.
    pub fn worker_count(&self) -> usize {
        self.handle.workers.len()
    }

    /// A handle to ask the workers without holding the stream.
    pub fn handle(&self) -> StreamHandle {
        self.handle.clone()
    }

    /// Puts a policy's new pipelines in place of its old ones in one step (attached when
    /// it had none): events go to the old ones until the new ones take over. Each worker
    /// gets its own pipeline from `make`.
    pub fn replace(&self, make: &dyn Fn() -> PolicyPipeline) {
        self.handle.send_all(&|| Control::Replace(Box::new(make())));
    }

    /// Adds a policy: each worker gets its own pipeline from `make`.
    pub fn attach(&self, make: &dyn Fn() -> PolicyPipeline) {
        self.handle.send_all(&|| Control::Attach(Box::new(make())));
    }

    /// Removes a policy's pipelines; true when it was attached.
    pub fn detach_now(&self, policy: &str) -> bool {
        self.handle
            .ask_all(|tx| Control::Detach(policy.to_string(), tx))
            .into_iter()
            .any(|removed| removed)
    }

    /// Waits (at most `limit`) until the input runs or has already ended (a short file);
    /// the source's error when it failed to open. A source still opening after `limit`
    /// is left to carry on.
    pub fn wait_started(&self, limit: std::time::Duration) -> Result<(), String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let s = &self.status;
            if s.running.load(Ordering::SeqCst) || s.ended.load(Ordering::SeqCst) {
                return Ok(());
            }
            if let Some(e) = s.last_error() {
                return Err(e);
            }
            if std::time::Instant::now() >= deadline {
                tracing::warn!("input stream {}: still starting", self.name);
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// Stops the receivers and waits for them; the workers keep answering (idempotent).
    pub fn stop_receiver(&mut self) {
        self.shutdown.trigger();
        self.pending.clear();
        for h in self.receivers.drain(..) {
            let _ = h.join();
        }
    }

    /// Stops the receivers, then the workers, and waits for all (idempotent).
    pub fn stop(&mut self) {
        self.stop_receiver();
        let _ = self.handle.send_all(&|| Control::Stop);
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
        self.status.running.store(false, Ordering::SeqCst);
        self.status.ended.store(true, Ordering::SeqCst);
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop();
    }
}

impl PolicyPipeline {
    /// Every bucket of every handler, for the OTLP push.
    pub fn readings(&self, now: Timespec) -> Vec<HandlerReading> {
        self.handlers
            .iter()
            .map(|h| {
                HandlerReading::from_processor(
                    &self.policy,
                    &self.tap,
                    &h.name,
                    h.processor.as_ref(),
                    now,
                )
            })
            .collect()
    }
}

fn control(w: &mut Worker, c: Control) -> bool {
    match c {
        Control::Attach(p) => w.attach(*p),
        Control::Replace(p) => w.replace(*p),
        Control::Detach(name, reply) => {
            let _ = reply.send(w.detach(&name));
        }
        Control::Snapshots {
            policy,
            sel,
            now,
            reply,
        } => {
            let out = w
                .pipelines
                .iter()
                .filter(|p| policy.as_deref().is_none_or(|n| n == p.policy))
                .map(|p| PolicySnapshots {
                    policy: p.policy.clone(),
                    tap: p.tap.clone(),
                    snapshots: p.snapshots(sel, now),
                })
                .collect();
            let _ = reply.send(out);
        }
        Control::Copies(policy, reply) => {
            let out = w
                .pipelines
                .iter()
                .filter(|p| policy.as_deref().is_none_or(|n| n == p.policy))
                .map(PolicyPipeline::copy_out)
                .collect();
            let _ = reply.send(out);
        }
        Control::Handlers(reply) => {
            let mut out = Vec::new();
            for p in &w.pipelines {
                for h in &p.handlers {
                    out.push(HandlerState {
                        policy: p.policy.clone(),
                        name: h.name.clone(),
                        schema: h.processor.schema_key(),
                        tables: h.processor.tables(),
                    });
                }
            }
            out.push(HandlerState {
                policy: String::new(),
                name: String::new(),
                schema: "",
                tables: w.own_tables(),
            });
            let _ = reply.send(out);
        }
        Control::Readings(now, reply) => {
            let out = w.pipelines.iter().flat_map(|p| p.readings(now)).collect();
            let _ = reply.send(out);
        }
        Control::Stop => return false,
    }
    true
}

fn run_worker(
    mut w: Worker,
    data: ChannelReceiver<Delivery>,
    recycle: SyncSender<Batch>,
    controls: ChannelReceiver<Control>,
) {
    let mut last_tick = Instant::now();
    let mut give_back = |b: Batch| {
        let _ = recycle.try_send(b);
    };
    loop {
        while let Ok(c) = controls.try_recv() {
            if !control(&mut w, c) {
                return;
            }
        }
        match data.recv_timeout(Duration::from_millis(50)) {
            Ok(d) => {
                w.deliver(d, &mut give_back);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // The receiver is gone; keep answering control messages.
                match controls.recv() {
                    Ok(c) => {
                        if !control(&mut w, c) {
                            return;
                        }
                        continue;
                    }
                    Err(_) => return,
                }
            }
        }
        if !w.recorded() && last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            w.tick();
        }
    }
}

/// Receives progress while a recording is read.
pub trait Progress {
    /// Called now and then: units so far, file bytes read so far, file size.
    fn update(&mut self, units: u64, bytes_read: u64, total_bytes: Option<u64>);
    /// Called once at the end.
    fn done(&mut self, units: u64);
}

/// Progress that reports nothing.
#[derive(Debug)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&mut self, _: u64, _: u64, _: Option<u64>) {}
    fn done(&mut self, _: u64) {}
}

/// A recording read to its end.
#[derive(Debug)]
pub struct Finished {
    /// The pipelines, finished (rates closed); with several workers, their merge.
    pub pipelines: Vec<PolicyPipeline>,
    /// What the workers saw.
    pub stats: WorkerStats,
    /// The receiver's status (its file summary, decode errors).
    pub status: Arc<ReceiverStatus>,
    /// The TCP reassembly tables at the end (summed over the workers).
    pub tcp_table: TableStat,
    /// The flow decoders at the end (flow inputs; one per worker).
    pub flow: Vec<FlowDecoder>,
}

fn progress_of(status: &ReceiverStatus) -> (u64, Option<u64>) {
    let total = status.total_bytes.load(Ordering::Relaxed);
    (
        status.bytes_read.load(Ordering::Relaxed),
        (total > 0).then_some(total),
    )
}

/// Reads one worker's deliveries until the recording ends (or the queue closes).
fn drain(
    w: &mut Worker,
    rx: &ChannelReceiver<Delivery>,
    recycle: &SyncSender<Batch>,
    progress: &mut dyn FnMut(&Worker),
) -> bool {
    let mut give_back = |b: Batch| {
        let _ = recycle.try_send(b);
    };
    for d in rx.iter() {
        let done = w.deliver(d, &mut give_back);
        progress(w);
        if done {
            return true;
        }
    }
    false
}

/// Reads a recorded input to its end with `workers` workers (each with the pipelines
/// `pipelines` makes): the receiver on its own thread, the workers on the calling thread
/// (one worker) or threads of their own. Errors when the recording cannot be read at all.
pub fn run_recorded(
    input: &dyn ReceiverConfig,
    workers: usize,
    pipelines: &dyn Fn() -> Vec<PolicyPipeline>,
    progress: &mut dyn Progress,
) -> Result<Finished, StreamError> {
    for w in input.warnings() {
        tracing::warn!("{w}");
    }
    let n = workers.max(1);
    if n > 1 {
        crate::sketch::rate::log_seconds(true);
    }
    let built = input.build_shards(1).map_err(StreamError::Build)?;
    let host_spec = built
        .first()
        .map(|b| b.host_spec.clone())
        .unwrap_or_default();
    let status = Arc::new(ReceiverStatus::default());
    let shutdown = Shutdown::default();
    let (data_tx, data_rx, recycle_tx, recycle_rx) = queues(n, 1, RECORDED_QUEUE);
    let mut ws: Vec<Worker> = (0..n)
        .map(|_| {
            Worker::shard(
                input.decoding(),
                host_spec.clone(),
                true,
                status.clone(),
                pipelines(),
                n,
            )
        })
        .collect();
    let mut handles = Vec::new();
    for (b, ctx) in receivers(built, data_tx, recycle_rx, true, &shutdown, &status) {
        handles.push(
            spawn_receiver("file", b, ctx)
                .map_err(|e| StreamError::Spawn("file".to_string(), e))?,
        );
    }
    let ended = if n == 1 {
        let mut report = |w: &Worker| {
            let (read, total) = progress_of(&status);
            progress.update(w.delivered(), read, total);
        };
        let ended = drain(&mut ws[0], &data_rx[0], &recycle_tx[0], &mut report);
        drop(data_rx);
        vec![ended]
    } else {
        run_workers(&mut ws, data_rx, &recycle_tx, &status, progress)?
    };
    shutdown.trigger();
    for h in handles {
        let _ = h.join();
    }
    let mut stats = WorkerStats::default();
    for w in &ws {
        stats.merge(&w.stats());
    }
    progress.done(stats.delivered);
    if let Some(e) = status.last_error()
        && status.summary().is_none()
    {
        return Err(StreamError::Run(e));
    }
    let mut tcp_table: Option<TableStat> = None;
    let mut flow = Vec::new();
    let mut shards = Vec::with_capacity(n);
    for (mut w, ended) in ws.into_iter().zip(ended) {
        if !ended {
            w.end(None);
        }
        let t = w.tcp_table();
        match &mut tcp_table {
            Some(x) => {
                x.len += t.len;
                x.limit += t.limit;
                x.evicted += t.evicted;
            }
            None => tcp_table = Some(t),
        }
        shards.push(std::mem::take(&mut w.pipelines));
        flow.extend(w.into_flow_decoder());
    }
    Ok(Finished {
        pipelines: merge_pipelines(shards),
        stats,
        status,
        tcp_table: tcp_table.unwrap_or(TableStat {
            name: "tcp_reassembly_connections",
            len: 0,
            limit: 0,
            evicted: 0,
        }),
        flow,
    })
}

/// Runs several workers on threads of their own until each has seen the end of the
/// recording, reporting progress from the calling thread; the workers come back in `ws`.
fn run_workers(
    ws: &mut Vec<Worker>,
    data_rx: Vec<ChannelReceiver<Delivery>>,
    recycle_tx: &[SyncSender<Batch>],
    status: &Arc<ReceiverStatus>,
    progress: &mut dyn Progress,
) -> Result<Vec<bool>, StreamError> {
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(ws.len());
        // Each worker says when it is done, so the end is seen at once (not at the next
        // progress tick).
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        for (i, (mut w, (rx, recycle))) in ws
            .drain(..)
            .zip(data_rx.into_iter().zip(recycle_tx))
            .enumerate()
        {
            let done = done_tx.clone();
            let h = std::thread::Builder::new()
                .name(format!("worker-file-{i}"))
                .spawn_scoped(scope, move || {
                    let ended = drain(&mut w, &rx, recycle, &mut |_| {});
                    let _ = done.send(());
                    (w, ended)
                })
                .map_err(|e| StreamError::Spawn("file".to_string(), e))?;
            handles.push(h);
        }
        drop(done_tx);
        let mut running = handles.len();
        while running > 0 {
            match done_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(()) => running -= 1,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let (read, total) = progress_of(status);
            progress.update(status.packets.load(Ordering::Relaxed), read, total);
        }
        let mut ended = Vec::with_capacity(handles.len());
        for h in handles {
            let (w, e) = h
                .join()
                .map_err(|_| StreamError::Run("a worker stopped unexpectedly".into()))?;
            ws.push(w);
            ended.push(e);
        }
        Ok(ended)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::value::{ConfigMap, ConfigValue};
    use crate::receiver::pcap::PcapInput;
    use std::sync::atomic::Ordering;

    fn mock() -> Arc<dyn ReceiverConfig> {
        let mut c = ConfigMap::new();
        c.set("pcap_source", ConfigValue::Str("mock".into()));
        Arc::new(PcapInput::parse(&c).expect("mock input"))
    }

    #[test]
    fn start_and_stop_are_idempotent_in_any_order() {
        let mut s = Stream::start("m", "t", mock(), 2, &Vec::new).expect("starts");
        let deadline = Instant::now() + Duration::from_secs(5);
        while s.status.packets.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            s.status.packets.load(Ordering::Relaxed) > 0,
            "the receiver delivered"
        );
        s.stop_receiver();
        s.stop_receiver();
        // the worker still answers once its receiver is gone
        assert_eq!(
            s.handle().handlers_now().len(),
            1,
            "the stream's own table, summed"
        );
        s.stop();
        s.stop();
        assert!(s.status.ended.load(Ordering::SeqCst));
        assert!(
            s.handle().handlers_now().is_empty(),
            "nothing answers after stop"
        );
        let mut t = Stream::start("m2", "t", mock(), 1, &Vec::new).expect("starts");
        t.stop();
        t.stop_receiver();
        drop(t);
    }

    #[test]
    fn a_recording_that_cannot_be_read_is_an_error() {
        let mut c = ConfigMap::new();
        c.set(
            "pcap_file",
            ConfigValue::Str("/nonexistent/pktvisor-test.pcap".into()),
        );
        let input = PcapInput::parse(&c).expect("file input");
        let err = run_recorded(&input, 2, &Vec::new, &mut NoProgress).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/pktvisor-test.pcap"),
            "{err}"
        );
    }
}
