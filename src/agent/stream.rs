//! A running input stream: a capture thread (libpcap, AF_PACKET, mock or a file) feeding
//! batches through a bounded queue to a worker thread that owns the stream's policy
//! pipelines. Everything else talks to the worker through control messages (attach,
//! detach, snapshots, info), so the per-packet path takes no lock.
//!
//! A live source that fails (interface gone, permission) is retried with backoff; its
//! state is visible in `StreamStatus` for `/readyz` and the policy info. The worker sends
//! a heartbeat tick every second (rates, bucket rotation without traffic) except for file
//! sources, which run on packet time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::hostspec::HostSpec;
use crate::decode::tcp_stream::PortSet;
use crate::event::DnstapEvent;
use crate::event::{CaptureStats, Event, Topology};
use crate::export::otlp::HandlerReading;
use crate::metric::TableStat;
use crate::processor::Select;
use crate::receiver::batch::Batch;
use crate::receiver::dnstap::filter::HostFilter;
use crate::receiver::dnstap::listener::{DnstapBatch, DnstapListener, ListenerConfig};
use crate::receiver::dnstap::stats::ListenerStats;
use crate::receiver::flow::FlowDecoder;
use crate::receiver::flow::udp::{
    DatagramBatch, Delivery, FlowUdpListener, UdpStats, decode_batch,
};
use crate::receiver::mock::{INTERVAL_MS, MockSource};
use crate::receiver::pcap_file::PcapFileReader;
use crate::receiver::pcap_live::{LiveCapture, LiveConfig, backoff};
use crate::service::dispatch::{Dispatcher, broadcast};
use crate::service::pipeline::{NamedSnapshot, PolicyPipeline};
use crate::time::Timespec;
use crate::window::PeriodError;

/// Where a stream's frames come from.
#[derive(Clone, Debug)]
pub enum SourceSpec {
    /// libpcap on an interface.
    Live(LiveConfig),
    /// AF_PACKET TPACKET_V3 ring on an interface.
    AfPacket(crate::receiver::af_packet::AfPacketConfig),
    /// Synthetic DNS traffic.
    Mock,
    /// dnstap over a unix socket or TCP (Frame Streams).
    Dnstap(crate::receiver::dnstap::config::DnstapInput),
    /// sFlow / NetFlow / IPFIX datagrams on a UDP socket.
    Flow(crate::receiver::flow::FlowInput),
    /// A capture file, read once (recorded stream).
    File {
        /// The file.
        path: std::path::PathBuf,
        /// tcpdump filter.
        bpf: Option<String>,
    },
}

impl SourceSpec {
    /// pktvisor's `pcap_source` info value.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceSpec::Live(_) | SourceSpec::File { .. } => "libpcap",
            SourceSpec::AfPacket(_) => "af_packet",
            SourceSpec::Mock => "mock",
            SourceSpec::Dnstap(_) => "dnstap",
            SourceSpec::Flow(_) => "flow",
        }
    }

    fn recorded(&self) -> bool {
        matches!(self, SourceSpec::File { .. })
    }
}

/// What others may read about a stream without asking its worker.
#[derive(Debug, Default)]
pub struct StreamStatus {
    /// The source is capturing.
    pub running: AtomicBool,
    /// The source has finished (files) or was stopped.
    pub ended: AtomicBool,
    /// Frames captured.
    pub packets: AtomicU64,
    /// Times the source was (re)opened after a failure.
    pub restarts: AtomicU64,
    /// Batches queued toward the worker now.
    pub queue_depth: AtomicU64,
    /// The last error of the source.
    pub error: Mutex<Option<String>>,
    /// Thread ids of the capture and worker threads (CPU accounting).
    pub tids: Mutex<Vec<i32>>,
    /// The dnstap listener's counters, once it is listening.
    pub dnstap: Mutex<Option<Arc<ListenerStats>>>,
    /// The flow UDP listener's counters, once it is listening.
    pub flow: Mutex<Option<Arc<UdpStats>>>,
    /// Flow datagrams (or parts) that could not be decoded (`packet_errors`).
    pub flow_errors: AtomicU64,
}

impl StreamStatus {
    fn set_error(&self, e: Option<String>) {
        if let Ok(mut g) = self.error.lock() {
            *g = e;
        }
    }

    /// The last error, if any.
    pub fn last_error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|g| g.clone())
    }

    fn add_tid(&self) {
        let tid = current_tid();
        if let Ok(mut g) = self.tids.lock() {
            g.push(tid);
        }
    }
}

/// The calling thread's id.
pub fn current_tid() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}

/// Snapshots of one policy on this stream.
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
    /// Policy.
    pub policy: String,
    /// Handler instance name.
    pub name: String,
    /// JSON schema key.
    pub schema: &'static str,
    /// Tables.
    pub tables: Vec<TableStat>,
}

enum Control {
    Attach(Box<PolicyPipeline>, HostFilter),
    Detach(String, SyncSender<bool>),
    Snapshots {
        policy: Option<String>,
        sel: Select,
        now: Timespec,
        reply: SyncSender<Vec<PolicySnapshots>>,
    },
    Handlers(SyncSender<Vec<HandlerState>>),
    Readings(Timespec, SyncSender<Vec<HandlerReading>>),
    Stop,
}

enum Data {
    /// A control message is waiting (wakes an idle worker at once).
    Wake,
    Batch(Batch),
    Dnstap(DnstapBatch),
    Flow(DatagramBatch),
    Stats(CaptureStats),
    Ended,
}

/// A running input stream.
pub struct Stream {
    /// `<tap>-<config hash>`.
    pub name: String,
    /// Tap name.
    pub tap: String,
    /// Host spec in use.
    pub host_spec: HostSpec,
    /// Source kind for info.
    pub source_kind: &'static str,
    /// Shared status.
    pub status: Arc<StreamStatus>,
    control: Sender<Control>,
    wake: SyncSender<Data>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("name", &self.name).finish()
    }
}

/// Batches queued between capture and worker before the capture thread waits.
const QUEUE_BATCHES: usize = 64;

/// Longest wait for the worker to answer a control message.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

impl Stream {
    /// Starts the capture and worker threads.
    pub fn start(
        name: &str,
        tap: &str,
        source: SourceSpec,
        host_spec: HostSpec,
        tcp_limit: usize,
        initial: Vec<(PolicyPipeline, HostFilter)>,
    ) -> std::io::Result<Stream> {
        let status = Arc::new(StreamStatus::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (data_tx, data_rx) = sync_channel::<Data>(QUEUE_BATCHES);
        let (recycle_tx, recycle_rx) = sync_channel::<Batch>(QUEUE_BATCHES);
        let (control_tx, control_rx) = std::sync::mpsc::channel::<Control>();
        let source_kind = source.kind();
        let recorded = source.recorded();
        let flow_decoder = match &source {
            SourceSpec::Flow(f) => Some(FlowDecoder::new(f.flow_type)),
            _ => None,
        };
        let wake = data_tx.clone();
        let capture = {
            let status = status.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("capture-{tap}"))
                .spawn(move || capture_thread(source, data_tx, recycle_rx, stop, status))?
        };
        let worker = {
            let status = status.clone();
            let mut dispatcher = Dispatcher::new(host_spec.clone(), tcp_limit, PortSet::default());
            let (pipelines, filters): (Vec<_>, Vec<_>) = initial.into_iter().unzip();
            for p in &pipelines {
                dispatcher.want_tcp_ports(&p.tcp_ports());
            }
            std::thread::Builder::new()
                .name(format!("worker-{tap}"))
                .spawn(move || {
                    let mut w = Worker {
                        pipelines,
                        filters,
                        flow: flow_decoder,
                        dispatcher,
                        status,
                        recorded,
                        last_stats: CaptureStats::default(),
                    };
                    if !recorded {
                        broadcast(&mut w.pipelines, &Event::Start(Timespec::now()));
                    }
                    w.topology();
                    w.run(data_rx, recycle_tx, control_rx)
                })?
        };
        Ok(Stream {
            name: name.to_string(),
            tap: tap.to_string(),
            host_spec,
            source_kind,
            status,
            control: control_tx,
            wake,
            stop,
            threads: vec![capture, worker],
        })
    }

    /// Queues a control message and wakes the worker if it waits for data (a full data
    /// queue means it is busy and checks control messages between batches anyway).
    fn send_control(&self, c: Control) -> Result<(), ()> {
        self.control.send(c).map_err(|_| ())?;
        let _ = self.wake.try_send(Data::Wake);
        Ok(())
    }

    /// Adds a policy's pipeline.
    pub fn attach(&self, p: PolicyPipeline, filter: HostFilter) {
        let _ = self.send_control(Control::Attach(Box::new(p), filter));
    }

    /// Removes a policy's pipeline; true when it was attached.
    pub fn detach_now(&self, policy: &str) -> bool {
        let (tx, rx) = sync_channel(1);
        if self
            .control
            .send(Control::Detach(policy.to_string(), tx))
            .is_err()
        {
            return false;
        }
        rx.recv_timeout(REPLY_TIMEOUT).unwrap_or(false)
    }

    /// Snapshots of one policy (or every policy) on this stream.
    pub fn snapshots_now(
        &self,
        policy: Option<&str>,
        sel: Select,
        now: Timespec,
    ) -> Vec<PolicySnapshots> {
        let (tx, rx) = sync_channel(1);
        let msg = Control::Snapshots {
            policy: policy.map(str::to_string),
            sel,
            now,
            reply: tx,
        };
        if self.send_control(msg).is_err() {
            return Vec::new();
        }
        rx.recv_timeout(REPLY_TIMEOUT).unwrap_or_default()
    }

    /// Every handler on this stream.
    pub fn handlers_now(&self) -> Vec<HandlerState> {
        let (tx, rx) = sync_channel(1);
        if self.send_control(Control::Handlers(tx)).is_err() {
            return Vec::new();
        }
        rx.recv_timeout(REPLY_TIMEOUT).unwrap_or_default()
    }

    /// Every bucket of every handler on this stream, for the OTLP push.
    pub fn readings_now(&self, now: Timespec) -> Vec<HandlerReading> {
        let (tx, rx) = sync_channel(1);
        if self.send_control(Control::Readings(now, tx)).is_err() {
            return Vec::new();
        }
        rx.recv_timeout(REPLY_TIMEOUT).unwrap_or_default()
    }

    /// Stops both threads and waits for them.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.send_control(Control::Stop);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.status.running.store(false, Ordering::SeqCst);
        self.status.ended.store(true, Ordering::SeqCst);
    }
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Opens a receiver with `open`, retrying with backoff while it fails and the stream runs:
/// each failure is logged as `what` and shown in the stream's status, and an open after
/// failures counts as a restart. None when the stream stopped first.
fn open_retrying<T, E: std::fmt::Display>(
    what: &str,
    stop: &AtomicBool,
    status: &StreamStatus,
    attempt: &mut u32,
    mut open: impl FnMut() -> Result<T, E>,
) -> Option<T> {
    while !stop.load(Ordering::SeqCst) {
        match open() {
            Ok(receiver) => {
                if *attempt > 0 {
                    status.restarts.fetch_add(1, Ordering::Relaxed);
                }
                *attempt = 0;
                status.set_error(None);
                return Some(receiver);
            }
            Err(e) => {
                tracing::warn!("{what}: {e}; retrying");
                status.set_error(Some(e.to_string()));
                sleep_unless_stopped(backoff(*attempt), stop);
                *attempt = attempt.saturating_add(1);
            }
        }
    }
    None
}

fn send_batch(
    batch: &mut Batch,
    tx: &SyncSender<Data>,
    recycle: &Receiver<Batch>,
    status: &StreamStatus,
) -> bool {
    if batch.is_empty() {
        return true;
    }
    status
        .packets
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    status.queue_depth.fetch_add(1, Ordering::Relaxed);
    let next = recycle.try_recv().unwrap_or_default();
    tx.send(Data::Batch(std::mem::replace(batch, next))).is_ok()
}

fn capture_thread(
    source: SourceSpec,
    tx: SyncSender<Data>,
    recycle: Receiver<Batch>,
    stop: Arc<AtomicBool>,
    status: Arc<StreamStatus>,
) {
    status.add_tid();
    match source {
        SourceSpec::Live(cfg) => live_loop(&cfg, &tx, &recycle, &stop, &status),
        SourceSpec::AfPacket(cfg) => crate::receiver::af_packet::run(
            &cfg,
            &mut |ev| match ev {
                crate::receiver::af_packet::Output::Batch(b) => {
                    let mut b = b;
                    send_batch(&mut b, &tx, &recycle, &status)
                }
                crate::receiver::af_packet::Output::Stats(s) => tx.send(Data::Stats(s)).is_ok(),
                crate::receiver::af_packet::Output::Running(r) => {
                    status.running.store(r, Ordering::SeqCst);
                    true
                }
                crate::receiver::af_packet::Output::Error(e) => {
                    status.set_error(Some(e));
                    status.restarts.fetch_add(1, Ordering::Relaxed);
                    true
                }
            },
            &stop,
        ),
        SourceSpec::Mock => {
            status.running.store(true, Ordering::SeqCst);
            let mut mock = MockSource::default();
            while !stop.load(Ordering::SeqCst) {
                let mut batch = Batch::default();
                mock.fill(&mut batch, Timespec::now());
                if !send_batch(&mut batch, &tx, &recycle, &status) {
                    break;
                }
                sleep_unless_stopped(Duration::from_millis(INTERVAL_MS), &stop);
            }
        }
        SourceSpec::Dnstap(input) => dnstap_loop(&input, &tx, &stop, &status),
        SourceSpec::Flow(input) => flow_loop(&input, &tx, &stop, &status),
        SourceSpec::File { path, bpf } => {
            file_loop(&path, bpf.as_deref(), &tx, &recycle, &stop, &status);
            let _ = tx.send(Data::Ended);
        }
    }
    status.running.store(false, Ordering::SeqCst);
}

fn live_loop(
    cfg: &LiveConfig,
    tx: &SyncSender<Data>,
    recycle: &Receiver<Batch>,
    stop: &AtomicBool,
    status: &StreamStatus,
) {
    let mut attempt = 0u32;
    let what = format!("capture on {}", cfg.iface);
    while let Some(mut cap) =
        open_retrying(&what, stop, status, &mut attempt, || LiveCapture::open(cfg))
    {
        status.running.store(true, Ordering::SeqCst);
        let mut batch = recycle.try_recv().unwrap_or_default();
        let mut last_stats = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            if let Err(e) = cap.fill(&mut batch) {
                tracing::warn!("capture on {}: {e}", cfg.iface);
                status.set_error(Some(e.to_string()));
                break;
            }
            if !send_batch(&mut batch, tx, recycle, status) {
                return;
            }
            if last_stats.elapsed() >= Duration::from_secs(1) {
                last_stats = Instant::now();
                if let Some(s) = cap.stats()
                    && tx.send(Data::Stats(s)).is_err()
                {
                    return;
                }
            }
        }
        let _ = send_batch(&mut batch, tx, recycle, status);
        status.running.store(false, Ordering::SeqCst);
    }
}

/// Receives flow datagrams (large socket buffer, recvmmsg) and forwards their batches;
/// a full queue makes the listener wait (the kernel buffer absorbs bursts meanwhile).
fn flow_loop(
    input: &crate::receiver::flow::FlowInput,
    tx: &SyncSender<Data>,
    stop: &AtomicBool,
    status: &StreamStatus,
) {
    let mut attempt = 0u32;
    while let Some(listener) = open_retrying("flow listener", stop, status, &mut attempt, || {
        FlowUdpListener::bind(input)
    }) {
        if let Ok(mut g) = status.flow.lock() {
            *g = Some(listener.stats());
        }
        status.running.store(true, Ordering::SeqCst);
        let res = listener.run(stop, |b| {
            status.packets.fetch_add(b.len() as u64, Ordering::Relaxed);
            status.queue_depth.fetch_add(1, Ordering::Relaxed);
            if tx.send(Data::Flow(b)).is_ok() {
                Delivery::Sent
            } else {
                Delivery::Closed
            }
        });
        status.running.store(false, Ordering::SeqCst);
        match res {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!("flow listener: {e}; reopening");
                status.set_error(Some(e.to_string()));
                sleep_unless_stopped(backoff(attempt), stop);
                attempt = attempt.saturating_add(1);
            }
        }
    }
}

/// Runs the dnstap listener on a small runtime of its own and forwards its batches.
fn dnstap_loop(
    input: &crate::receiver::dnstap::config::DnstapInput,
    tx: &SyncSender<Data>,
    stop: &Arc<AtomicBool>,
    status: &StreamStatus,
) {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("dnstap-io")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            status.set_error(Some(format!("dnstap runtime: {e}")));
            return;
        }
    };
    let mut attempt = 0u32;
    let Some(listener) = open_retrying("dnstap listener", stop, status, &mut attempt, || {
        ListenerConfig::from_input(input).and_then(|cfg| rt.block_on(DnstapListener::bind(cfg)))
    }) else {
        return;
    };
    if let Ok(mut g) = status.dnstap.lock() {
        *g = Some(listener.stats());
    }
    status.running.store(true, Ordering::SeqCst);
    let (btx, mut brx) = tokio::sync::mpsc::channel::<DnstapBatch>(64);
    let token = tokio_util::sync::CancellationToken::new();
    let task = rt.spawn(listener.run(btx, token.clone()));
    {
        let stop = stop.clone();
        let token = token.clone();
        rt.spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            token.cancel();
        });
    }
    while let Some(batch) = brx.blocking_recv() {
        status
            .packets
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        status.queue_depth.fetch_add(1, Ordering::Relaxed);
        if tx.send(Data::Dnstap(batch)).is_err() {
            token.cancel();
            break;
        }
    }
    let _ = rt.block_on(task);
    status.running.store(false, Ordering::SeqCst);
}

fn file_loop(
    path: &std::path::Path,
    bpf: Option<&str>,
    tx: &SyncSender<Data>,
    recycle: &Receiver<Batch>,
    stop: &AtomicBool,
    status: &StreamStatus,
) {
    let mut reader = match PcapFileReader::open(path) {
        Ok(r) => r,
        Err(e) => {
            status.set_error(Some(e.to_string()));
            return;
        }
    };
    let mut filter = bpf.map(crate::receiver::bpf::BpfFilterSet::new);
    status.running.store(true, Ordering::SeqCst);
    let mut batch = Batch::default();
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let rec = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                status.set_error(Some(e.to_string()));
                break;
            }
        };
        if let Some(f) = filter.as_mut() {
            match f.matches(rec.linktype, rec.data) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    status.set_error(Some(e.to_string()));
                    return;
                }
            }
        }
        batch.push(rec.ts, rec.linktype, rec.data, rec.origlen);
        if batch.len() >= 2048 && !send_batch(&mut batch, tx, recycle, status) {
            return;
        }
    }
    let _ = send_batch(&mut batch, tx, recycle, status);
}

struct Worker {
    pipelines: Vec<PolicyPipeline>,
    /// dnstap `only_hosts` filter of each pipeline (inactive for other inputs).
    filters: Vec<HostFilter>,
    /// The flow input's decoder (template caches per exporter).
    flow: Option<FlowDecoder>,
    dispatcher: Dispatcher,
    status: Arc<StreamStatus>,
    recorded: bool,
    last_stats: CaptureStats,
}

impl Worker {
    fn topology(&mut self) {
        let user: Vec<&PolicyPipeline> = self
            .pipelines
            .iter()
            .filter(|p| !p.policy.ends_with("-resources"))
            .collect();
        let t = Topology {
            policies: user.len(),
            handlers: user
                .iter()
                .map(|p| if p.chained { 1 } else { p.handlers.len() })
                .sum(),
        };
        broadcast(&mut self.pipelines, &Event::Topology(&t));
    }

    fn control(&mut self, c: Control) -> bool {
        match c {
            Control::Attach(p, filter) => {
                let mut p = *p;
                self.dispatcher.want_tcp_ports(&p.tcp_ports());
                let start = if self.recorded {
                    self.dispatcher.first_ts
                } else {
                    Some(Timespec::now())
                };
                if let Some(ts) = start {
                    p.dispatch(&Event::Start(ts));
                }
                self.pipelines.push(p);
                self.filters.push(filter);
                self.topology();
            }
            Control::Detach(name, reply) => {
                let before = self.pipelines.len();
                let mut i = 0;
                while i < self.pipelines.len() {
                    if self.pipelines[i].policy == name {
                        self.pipelines.remove(i);
                        self.filters.remove(i);
                    } else {
                        i += 1;
                    }
                }
                let removed = self.pipelines.len() != before;
                if removed {
                    self.topology();
                }
                let _ = reply.send(removed);
            }
            Control::Snapshots {
                policy,
                sel,
                now,
                reply,
            } => {
                let out = self
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
            Control::Handlers(reply) => {
                let mut out = Vec::new();
                for p in &self.pipelines {
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
                    tables: vec![self.dispatcher.tcp_table()],
                });
                let _ = reply.send(out);
            }
            Control::Readings(now, reply) => {
                let mut out = Vec::new();
                for p in &self.pipelines {
                    for h in &p.handlers {
                        out.push(HandlerReading::from_processor(
                            &p.policy,
                            &p.tap,
                            &h.name,
                            h.processor.as_ref(),
                            now,
                        ));
                    }
                }
                let _ = reply.send(out);
            }
            Control::Stop => return false,
        }
        true
    }

    fn dnstap(&mut self, frames: &DnstapBatch) {
        let now = Timespec::now();
        for f in frames {
            let Some(m) = f.message.message.as_ref() else {
                continue;
            };
            let Ok(ev) = DnstapEvent::from_message(m, f.frame_len, now) else {
                continue;
            };
            for (p, filter) in self.pipelines.iter_mut().zip(&self.filters) {
                if filter.keep(&ev) {
                    p.dispatch(&Event::Dnstap(&ev));
                }
            }
        }
    }

    fn run(mut self, data: Receiver<Data>, recycle: SyncSender<Batch>, control: Receiver<Control>) {
        self.status.add_tid();
        let mut last_tick = Instant::now();
        loop {
            while let Ok(c) = control.try_recv() {
                if !self.control(c) {
                    return;
                }
            }
            match data.recv_timeout(Duration::from_millis(50)) {
                Ok(Data::Batch(batch)) => {
                    self.status.queue_depth.fetch_sub(1, Ordering::Relaxed);
                    self.dispatcher.batch(&batch, &mut self.pipelines);
                    let mut batch = batch;
                    batch.clear();
                    let _ = recycle.try_send(batch);
                }
                Ok(Data::Wake) => {}
                Ok(Data::Flow(batch)) => {
                    self.status.queue_depth.fetch_sub(1, Ordering::Relaxed);
                    if let Some(dec) = self.flow.as_mut() {
                        let pipelines = &mut self.pipelines;
                        decode_batch(dec, &batch, |dg| broadcast(pipelines, &Event::Flow(dg)));
                        self.status
                            .flow_errors
                            .store(dec.stats().total_errors(), Ordering::Relaxed);
                    }
                }
                Ok(Data::Dnstap(frames)) => {
                    self.status.queue_depth.fetch_sub(1, Ordering::Relaxed);
                    self.dnstap(&frames);
                }
                Ok(Data::Stats(mut s)) => {
                    s.tcp_reassembly_errors = self.dispatcher.tcp_errors();
                    self.last_stats = s;
                    broadcast(&mut self.pipelines, &Event::Stats(&s));
                }
                Ok(Data::Ended) => {
                    let s = CaptureStats {
                        tcp_reassembly_errors: self.dispatcher.tcp_errors(),
                        ..self.last_stats
                    };
                    broadcast(&mut self.pipelines, &Event::Stats(&s));
                    if let Some(ts) = self.dispatcher.last_ts {
                        broadcast(&mut self.pipelines, &Event::End(ts));
                    }
                    for p in &mut self.pipelines {
                        p.finish();
                    }
                    self.status.ended.store(true, Ordering::SeqCst);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // The capture thread is gone; keep answering control messages.
                    match control.recv() {
                        Ok(c) => {
                            if !self.control(c) {
                                return;
                            }
                        }
                        Err(_) => return,
                    }
                }
            }
            if !self.recorded && last_tick.elapsed() >= Duration::from_secs(1) {
                last_tick = Instant::now();
                broadcast(&mut self.pipelines, &Event::Tick(Timespec::now()));
            }
        }
    }
}
