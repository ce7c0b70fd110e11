//! The one stream runner both binaries use: a receiver on its own thread feeding a worker
//! that owns the stream's policy pipelines, through a bounded queue.
//!
//! - `Stream::start` (the agent): the worker runs on a thread of its own and everything
//!   else talks to it through control messages (attach, detach, snapshots, info), so the
//!   per-packet path takes no lock. Live streams get a heartbeat every second.
//! - `run_recorded` (the reader): the worker runs on the calling thread until the
//!   recording ends, then hands back its pipelines.
//!
//! Start order is downstream first: the pipelines exist before the worker, the worker
//! before the receiver. Stop order is upstream first: the receiver is stopped and joined,
//! then the worker. Stopping is idempotent.

use std::sync::Arc;
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
use crate::receiver::{Built, ReceiverConfig};
use crate::service::pipeline::{NamedSnapshot, PolicyPipeline};
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
    Handlers(SyncSender<Vec<HandlerState>>),
    Readings(Timespec, SyncSender<Vec<HandlerReading>>),
    Stop,
}

/// Deliveries queued between receiver and worker before the receiver waits.
const QUEUE: usize = 64;

/// Longest wait for the worker to answer a control message.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

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
                // The worker ends the recording with what it has.
                ctx.send(Delivery::Ended(None));
            }
            status
                .running
                .store(false, std::sync::atomic::Ordering::SeqCst);
        })
}

/// A cheap, cloneable way to ask a stream's worker for its state (snapshots, handlers,
/// readings) without holding whatever owns the `Stream`: encoding a large window then does
/// not block others.
#[derive(Clone)]
pub struct StreamHandle {
    control: Sender<Control>,
    wake: SyncSender<Delivery>,
}

impl std::fmt::Debug for StreamHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamHandle").finish_non_exhaustive()
    }
}

impl StreamHandle {
    /// Queues a control message and wakes the worker if it waits for data.
    fn send_control(&self, c: Control) -> Result<(), ()> {
        self.control.send(c).map_err(|_| ())?;
        let _ = self.wake.try_send(Delivery::Wake);
        Ok(())
    }

    fn ask<T: Default>(&self, make: impl FnOnce(SyncSender<T>) -> Control) -> T {
        let (tx, rx) = sync_channel(1);
        if self.send_control(make(tx)).is_err() {
            return T::default();
        }
        rx.recv_timeout(REPLY_TIMEOUT).unwrap_or_default()
    }

    /// Snapshots of one policy (or every policy) on the stream.
    pub fn snapshots_now(
        &self,
        policy: Option<&str>,
        sel: Select,
        now: Timespec,
    ) -> Vec<PolicySnapshots> {
        self.ask(|reply| Control::Snapshots {
            policy: policy.map(str::to_string),
            sel,
            now,
            reply,
        })
    }

    /// Every handler on the stream, and (policy "") the stream's own tables.
    pub fn handlers_now(&self) -> Vec<HandlerState> {
        self.ask(Control::Handlers)
    }

    /// Every bucket of every handler on the stream, for the OTLP push.
    pub fn readings_now(&self, now: Timespec) -> Vec<HandlerReading> {
        self.ask(|tx| Control::Readings(now, tx))
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
    /// The receiver's status.
    pub status: Arc<ReceiverStatus>,
    handle: StreamHandle,
    shutdown: Shutdown,
    receiver: Option<JoinHandle<()>>,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("name", &self.name).finish()
    }
}

impl Stream {
    /// Builds the receiver, then starts the worker (with `initial` pipelines) and the
    /// receiver's thread.
    pub fn start(
        name: &str,
        tap: &str,
        input: Arc<dyn ReceiverConfig>,
        initial: Vec<PolicyPipeline>,
    ) -> Result<Stream, StreamError> {
        for w in input.warnings() {
            tracing::warn!("{w}");
        }
        let built = input.build().map_err(StreamError::Build)?;
        let status = Arc::new(ReceiverStatus::default());
        let shutdown = Shutdown::default();
        let (data_tx, data_rx) = sync_channel::<Delivery>(QUEUE);
        let (recycle_tx, recycle_rx) = sync_channel::<Batch>(QUEUE);
        let (control_tx, control_rx) = std::sync::mpsc::channel::<Control>();
        let host_spec = built.host_spec.clone();
        let mut worker = Worker::new(
            input.decoding(),
            host_spec.clone(),
            input.recorded(),
            status.clone(),
            initial,
        );
        let worker = std::thread::Builder::new()
            .name(format!("worker-{tap}"))
            .spawn(move || {
                worker.start_live();
                worker.topology();
                run_worker(worker, data_rx, recycle_tx, control_rx);
            })
            .map_err(|e| StreamError::Spawn(name.to_string(), e))?;
        let wake = data_tx.clone();
        let ctx = ReceiverContext::new(data_tx, recycle_rx, shutdown.clone(), status.clone());
        let mut stream = Stream {
            name: name.to_string(),
            tap: tap.to_string(),
            input,
            host_spec,
            status,
            handle: StreamHandle {
                control: control_tx,
                wake,
            },
            shutdown,
            receiver: None,
            worker: Some(worker),
        };
        match spawn_receiver(tap, built, ctx) {
            Ok(h) => stream.receiver = Some(h),
            Err(e) => {
                stream.stop();
                return Err(StreamError::Spawn(name.to_string(), e));
            }
        }
        Ok(stream)
    }

    /// A handle to ask the worker without holding the stream.
    pub fn handle(&self) -> StreamHandle {
        self.handle.clone()
    }

    /// Adds a policy's pipeline.
    pub fn attach(&self, p: PolicyPipeline) {
        let _ = self.handle.send_control(Control::Attach(Box::new(p)));
    }

    /// Puts a policy's new pipeline in place of its old one in one step (attached when it
    /// had none): events go to the old one until the new one takes over.
    pub fn replace(&self, p: PolicyPipeline) {
        let _ = self.handle.send_control(Control::Replace(Box::new(p)));
    }

    /// Removes a policy's pipeline; true when it was attached.
    pub fn detach_now(&self, policy: &str) -> bool {
        self.handle
            .ask(|tx| Control::Detach(policy.to_string(), tx))
    }

    /// Snapshots of one policy (or every policy) on this stream.
    pub fn snapshots_now(
        &self,
        policy: Option<&str>,
        sel: Select,
        now: Timespec,
    ) -> Vec<PolicySnapshots> {
        self.handle.snapshots_now(policy, sel, now)
    }

    /// Every handler on this stream.
    pub fn handlers_now(&self) -> Vec<HandlerState> {
        self.handle.handlers_now()
    }

    /// Every bucket of every handler on this stream, for the OTLP push.
    pub fn readings_now(&self, now: Timespec) -> Vec<HandlerReading> {
        self.handle.readings_now(now)
    }

    /// Stops the receiver and waits for it; the worker keeps answering (idempotent).
    pub fn stop_receiver(&mut self) {
        self.shutdown.trigger();
        if let Some(h) = self.receiver.take() {
            let _ = h.join();
        }
    }

    /// Stops the receiver, then the worker, and waits for both (idempotent).
    pub fn stop(&mut self) {
        self.stop_receiver();
        if let Some(h) = self.worker.take() {
            let _ = self.handle.send_control(Control::Stop);
            let _ = h.join();
        }
        self.status
            .running
            .store(false, std::sync::atomic::Ordering::SeqCst);
        self.status
            .ended
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop();
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
            let mut out = Vec::new();
            for p in &w.pipelines {
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
    /// Called after each delivery: units so far, file bytes read so far, file size.
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
    /// The pipelines, finished (rates closed).
    pub pipelines: Vec<PolicyPipeline>,
    /// What the worker saw.
    pub stats: WorkerStats,
    /// The receiver's status (its file summary, decode errors).
    pub status: Arc<ReceiverStatus>,
    /// The TCP reassembly table at the end.
    pub tcp_table: TableStat,
    /// The flow decoder at the end (flow inputs).
    pub flow: Option<crate::receiver::flow::FlowDecoder>,
}

/// Reads a recorded input through `pipelines` to its end: the receiver on its own thread,
/// the worker on the calling thread. Errors when the recording cannot be read at all.
pub fn run_recorded(
    input: &dyn ReceiverConfig,
    pipelines: Vec<PolicyPipeline>,
    progress: &mut dyn Progress,
) -> Result<Finished, StreamError> {
    for w in input.warnings() {
        tracing::warn!("{w}");
    }
    let built = input.build().map_err(StreamError::Build)?;
    let status = Arc::new(ReceiverStatus::default());
    let shutdown = Shutdown::default();
    let (data_tx, data_rx) = sync_channel::<Delivery>(QUEUE);
    let (recycle_tx, recycle_rx) = sync_channel::<Batch>(QUEUE);
    let mut worker = Worker::new(
        input.decoding(),
        built.host_spec.clone(),
        true,
        status.clone(),
        pipelines,
    );
    worker.start_live();
    let ctx = ReceiverContext::new(data_tx, recycle_rx, shutdown.clone(), status.clone());
    let handle = spawn_receiver("file", built, ctx)
        .map_err(|e| StreamError::Spawn("file".to_string(), e))?;
    let mut give_back = |b: Batch| {
        let _ = recycle_tx.try_send(b);
    };
    let mut ended = false;
    for d in data_rx.iter() {
        let done = worker.deliver(d, &mut give_back);
        let total = status
            .total_bytes
            .load(std::sync::atomic::Ordering::Relaxed);
        progress.update(
            worker.delivered(),
            status.bytes_read.load(std::sync::atomic::Ordering::Relaxed),
            (total > 0).then_some(total),
        );
        if done {
            ended = true;
            break;
        }
    }
    shutdown.trigger();
    drop(data_rx);
    let _ = handle.join();
    let stats = worker.stats();
    progress.done(stats.delivered);
    if let Some(e) = status.last_error()
        && status.summary().is_none()
    {
        return Err(StreamError::Run(e));
    }
    if !ended {
        worker.end(None);
    }
    let tcp_table = worker.tcp_table();
    let stats = worker.stats();
    let pipelines = std::mem::take(&mut worker.pipelines);
    Ok(Finished {
        pipelines,
        stats,
        status,
        tcp_table,
        flow: worker.into_flow_decoder(),
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
        let mut s = Stream::start("m", "t", mock(), Vec::new()).expect("starts");
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
        assert_eq!(s.handlers_now().len(), 1, "the stream's own table");
        s.stop();
        s.stop();
        assert!(s.status.ended.load(Ordering::SeqCst));
        assert!(s.handlers_now().is_empty(), "nothing answers after stop");
        let mut t = Stream::start("m2", "t", mock(), Vec::new()).expect("starts");
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
        let err = run_recorded(&input, Vec::new(), &mut NoProgress).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/pktvisor-test.pcap"),
            "{err}"
        );
    }
}
