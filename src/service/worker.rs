//! A stream's worker: the one place where receivers' deliveries become events for the
//! policy pipelines, for every input alike and for both binaries.
//!
//! Frames are decoded once, given their host direction and fed to the TCP reassembler;
//! dnstap messages are mapped once and offered to each pipeline whose `only_hosts` filter
//! keeps them; flow datagrams are decoded with the input's template caches; probe results
//! reach every pipeline as they are. The worker sends the stream's start (first timestamp,
//! or now for live streams), heartbeats of live streams, capture statistics, and at the end
//! of a recording its last timestamp, and then closes the pipelines' open rate seconds.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::config::hostspec::HostSpec;
use crate::decode::tcp_stream::{PortSet, TcpReassembler, TcpReassemblyStats};
use crate::decode::{DecodeStats, Decoder};
use crate::event::{CaptureStats, DnstapEvent, Event, Topology};
use crate::metric::TableStat;
use crate::receiver::Decoding;
use crate::receiver::batch::Batch;
use crate::receiver::context::{Delivery, ReceiverStatus};
use crate::receiver::dnstap::listener::DnstapBatch;
use crate::receiver::flow::FlowDecoder;
use crate::receiver::flow::udp::{DatagramBatch, decode_batch};
use crate::service::pipeline::PolicyPipeline;
use crate::time::Timespec;

/// Delivers one event to every pipeline.
pub fn broadcast(pipelines: &mut [PolicyPipeline], ev: &Event<'_>) {
    for p in pipelines.iter_mut() {
        p.dispatch(ev);
    }
}

/// What a worker saw, for the reader's report.
#[derive(Clone, Debug, Default)]
pub struct WorkerStats {
    /// Units delivered to the pipelines (frames, dnstap messages, flow datagrams).
    pub delivered: u64,
    /// Frames not fully decoded, by reason.
    pub decode: DecodeStats,
    /// TCP reassembly counters.
    pub tcp: TcpReassemblyStats,
    /// dnstap messages of an unknown type (skipped).
    pub dnstap_unknown_type: u64,
    /// dnstap messages each pipeline's filter dropped (pipeline order).
    pub dnstap_filtered: Vec<u64>,
    /// First timestamp of the stream.
    pub first_ts: Option<Timespec>,
    /// Last timestamp of the stream.
    pub last_ts: Option<Timespec>,
}

impl WorkerStats {
    /// Adds another worker's counts (the workers of a sharded stream).
    pub fn merge(&mut self, o: &WorkerStats) {
        self.delivered += o.delivered;
        self.decode.merge(&o.decode);
        self.tcp.merge(&o.tcp);
        self.dnstap_unknown_type += o.dnstap_unknown_type;
        for (a, b) in self.dnstap_filtered.iter_mut().zip(&o.dnstap_filtered) {
            *a += b;
        }
        self.first_ts = match (self.first_ts, o.first_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_ts = self.last_ts.max(o.last_ts);
    }
}

/// The decoding and delivery state of one stream.
pub struct Worker {
    /// The pipelines fed, in attach order.
    pub pipelines: Vec<PolicyPipeline>,
    decoder: Decoder,
    tcp: TcpReassembler,
    host_spec: HostSpec,
    flow: Option<FlowDecoder>,
    status: Arc<ReceiverStatus>,
    recorded: bool,
    /// Workers of the stream (the recording has ended once every one has).
    workers: usize,
    /// Flow decode errors already added to the status.
    flow_errors_counted: u64,
    frames_seen: bool,
    last_stats: CaptureStats,
    stats: WorkerStats,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("pipelines", &self.pipelines.len())
            .field("recorded", &self.recorded)
            .finish()
    }
}

impl Worker {
    /// A worker for an input decoded as `decoding`, with directions from `host_spec`.
    pub fn new(
        decoding: Decoding,
        host_spec: HostSpec,
        recorded: bool,
        status: Arc<ReceiverStatus>,
        pipelines: Vec<PolicyPipeline>,
    ) -> Worker {
        Worker::shard(decoding, host_spec, recorded, status, pipelines, 1)
    }

    /// One of `workers` workers of a stream: its TCP table and flow template cache get
    /// their shares of the bounds.
    pub fn shard(
        decoding: Decoding,
        host_spec: HostSpec,
        recorded: bool,
        status: Arc<ReceiverStatus>,
        pipelines: Vec<PolicyPipeline>,
        workers: usize,
    ) -> Worker {
        let workers = workers.max(1);
        let mut ports = PortSet::default();
        for p in &pipelines {
            ports.extend(&p.tcp_ports());
        }
        let n = pipelines.len();
        Worker {
            pipelines,
            decoder: Decoder::new(),
            tcp: TcpReassembler::new((decoding.tcp_limit / workers).max(1), ports),
            host_spec,
            flow: decoding.flow_type.map(|t| FlowDecoder::shard(t, workers)),
            status,
            recorded,
            workers,
            flow_errors_counted: 0,
            frames_seen: false,
            last_stats: CaptureStats::default(),
            stats: WorkerStats {
                dnstap_filtered: vec![0; n],
                ..WorkerStats::default()
            },
        }
    }

    /// Whether the stream reads a recording.
    pub fn recorded(&self) -> bool {
        self.recorded
    }

    /// The host spec directions are computed with.
    pub fn host_spec(&self) -> &HostSpec {
        &self.host_spec
    }

    /// Starts a live stream at `now` (every worker of a stream gets the same start;
    /// recorded streams start at their first timestamp).
    pub fn start_live(&mut self, now: Timespec) {
        if !self.recorded {
            self.start_at(now);
        }
    }

    fn start_at(&mut self, ts: Timespec) {
        if self.stats.first_ts.is_none() {
            self.stats.first_ts = Some(ts);
            broadcast(&mut self.pipelines, &Event::Start(ts));
        }
    }

    /// Adds a policy's pipeline (it starts at the stream's start, or now when live).
    pub fn attach(&mut self, p: PolicyPipeline) {
        let p = self.starting(p);
        self.pipelines.push(p);
        self.stats.dnstap_filtered.push(0);
        self.topology();
    }

    fn starting(&mut self, mut p: PolicyPipeline) -> PolicyPipeline {
        self.tcp.add_ports(&p.tcp_ports());
        let start = if self.recorded {
            self.stats.first_ts
        } else {
            Some(Timespec::now())
        };
        if let Some(ts) = start {
            p.dispatch(&Event::Start(ts));
        }
        p
    }

    /// Puts a policy's new pipeline in place of its old one at once (between two
    /// deliveries, so no event is missed or seen twice); attached when it had none.
    pub fn replace(&mut self, p: PolicyPipeline) {
        let p = self.starting(p);
        match self.pipelines.iter().position(|x| x.policy == p.policy) {
            Some(i) => {
                let name = p.policy.clone();
                self.pipelines[i] = p;
                if let Some(n) = self.stats.dnstap_filtered.get_mut(i) {
                    *n = 0;
                }
                let mut j = i + 1;
                while j < self.pipelines.len() {
                    if self.pipelines[j].policy == name {
                        self.pipelines.remove(j);
                        self.stats.dnstap_filtered.remove(j);
                    } else {
                        j += 1;
                    }
                }
            }
            None => {
                self.pipelines.push(p);
                self.stats.dnstap_filtered.push(0);
            }
        }
        self.topology();
    }

    /// Removes a policy's pipelines; true when there were some.
    pub fn detach(&mut self, policy: &str) -> bool {
        let before = self.pipelines.len();
        let mut i = 0;
        while i < self.pipelines.len() {
            if self.pipelines[i].policy == policy {
                self.pipelines.remove(i);
                self.stats.dnstap_filtered.remove(i);
            } else {
                i += 1;
            }
        }
        let removed = self.pipelines.len() != before;
        if removed {
            self.topology();
        }
        removed
    }

    /// Tells input_resources how many user policies and handlers the stream feeds (the
    /// agent's streams; attach and detach tell it again).
    pub fn topology(&mut self) {
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

    /// A heartbeat of a live stream.
    pub fn tick(&mut self) {
        broadcast(&mut self.pipelines, &Event::Tick(Timespec::now()));
    }

    /// Handles one delivery; frame batches come back for reuse. True when the recording
    /// ended.
    pub fn deliver(&mut self, d: Delivery, recycle: &mut dyn FnMut(Batch)) -> bool {
        match d {
            Delivery::Frames(mut batch) => {
                self.status.queue_depth.fetch_sub(1, Ordering::Relaxed);
                self.frames(&batch);
                batch.clear();
                recycle(batch);
            }
            Delivery::Dnstap(batch) => {
                self.status.queue_depth.fetch_sub(1, Ordering::Relaxed);
                self.dnstap(&batch);
            }
            Delivery::Flow(batch) => {
                self.status.queue_depth.fetch_sub(1, Ordering::Relaxed);
                self.flow(&batch);
            }
            Delivery::Probes(batch) => {
                self.status.queue_depth.fetch_sub(1, Ordering::Relaxed);
                self.stats.delivered += batch.len() as u64;
                for r in &batch {
                    broadcast(&mut self.pipelines, &Event::Probe(r));
                }
            }
            Delivery::Start(ts) => self.start_at(ts),
            Delivery::Clock(ts) => broadcast(&mut self.pipelines, &Event::Clock(ts)),
            Delivery::Stats(mut s) => {
                s.tcp_reassembly_errors = self.tcp.stats().gaps;
                self.last_stats = s;
                broadcast(&mut self.pipelines, &Event::Stats(&s));
            }
            Delivery::Ended(last) => {
                self.end(last);
                return true;
            }
            Delivery::Wake => {}
        }
        false
    }

    fn frames(&mut self, batch: &Batch) {
        let Some((first, _)) = batch.iter().next() else {
            return;
        };
        self.frames_seen = true;
        self.start_at(first.ts);
        let pipelines = &mut self.pipelines;
        for (f, data) in batch.iter() {
            self.stats.last_ts = Some(f.ts);
            self.stats.delivered += 1;
            let mut info = self.decoder.decode(f.linktype, f.ts, data, f.origlen);
            if let (Some(s), Some(d)) = (info.src_ip, info.dst_ip) {
                info.direction = self.host_spec.direction(&s, &d);
            }
            broadcast(pipelines, &Event::Packet(&info));
            if self.tcp.is_active() {
                self.tcp
                    .process(&info, &mut |ev| broadcast(pipelines, &Event::Tcp(&ev)));
            }
        }
    }

    fn dnstap(&mut self, frames: &DnstapBatch) {
        for f in frames {
            let fallback = if self.recorded {
                self.stats.last_ts.unwrap_or_else(Timespec::now)
            } else {
                Timespec::now()
            };
            let Some(m) = f.message.message.as_ref() else {
                continue;
            };
            let Ok(ev) = DnstapEvent::from_message(m, f.frame_len, fallback) else {
                self.stats.dnstap_unknown_type += 1;
                continue;
            };
            self.start_at(ev.ts);
            self.stats.delivered += 1;
            for (i, p) in self.pipelines.iter_mut().enumerate() {
                if p.filter.keep(&ev) {
                    p.dispatch(&Event::Dnstap(&ev));
                } else if let Some(n) = self.stats.dnstap_filtered.get_mut(i) {
                    *n += 1;
                }
            }
            if self.recorded {
                self.stats.last_ts = Some(self.stats.last_ts.map_or(ev.ts, |l| l.max(ev.ts)));
            }
        }
    }

    fn flow(&mut self, batch: &DatagramBatch) {
        let Some(dec) = self.flow.as_mut() else {
            return;
        };
        self.stats.delivered += batch.len() as u64;
        if let Some(last) = batch.iter().last() {
            self.stats.last_ts = Some(last.ts);
        }
        let pipelines = &mut self.pipelines;
        decode_batch(dec, batch, |dg| broadcast(pipelines, &Event::Flow(dg)));
        let total = dec.stats().total_errors();
        self.status.decode_errors.fetch_add(
            total.saturating_sub(self.flow_errors_counted),
            Ordering::Relaxed,
        );
        self.flow_errors_counted = total;
    }

    /// The end of a recording: final capture statistics, the last timestamp, rates closed.
    pub fn end(&mut self, last: Option<Timespec>) {
        if self.frames_seen {
            let s = CaptureStats {
                tcp_reassembly_errors: self.tcp.stats().gaps,
                ..self.last_stats
            };
            broadcast(&mut self.pipelines, &Event::Stats(&s));
        }
        if let Some(ts) = last.or(self.stats.last_ts) {
            self.stats.last_ts = Some(ts);
            broadcast(&mut self.pipelines, &Event::End(ts));
        }
        for p in &mut self.pipelines {
            p.finish();
        }
        let ended = self.status.workers_ended.fetch_add(1, Ordering::SeqCst) + 1;
        if ended >= self.workers {
            self.status.ended.store(true, Ordering::SeqCst);
        }
    }

    /// The TCP reassembly table's occupancy.
    pub fn tcp_table(&self) -> TableStat {
        TableStat {
            name: "tcp_reassembly_connections",
            len: self.tcp.len(),
            limit: self.tcp.limit(),
            evicted: self.tcp.stats().evicted,
        }
    }

    /// The stream's own bounded tables: TCP reassembly, and for flow inputs the template
    /// cache's bytes and domains and the exporters counted.
    pub fn own_tables(&self) -> Vec<TableStat> {
        let mut out = vec![self.tcp_table()];
        if let Some(f) = &self.flow {
            out.extend(f.tables());
        }
        out
    }

    /// The flow decoder (flow inputs).
    pub fn flow_decoder(&self) -> Option<&FlowDecoder> {
        self.flow.as_ref()
    }

    /// Units delivered so far.
    pub fn delivered(&self) -> u64 {
        self.stats.delivered
    }

    /// The flow decoder, giving up the worker.
    pub fn into_flow_decoder(self) -> Option<FlowDecoder> {
        self.flow
    }

    /// What the worker saw so far.
    pub fn stats(&self) -> WorkerStats {
        WorkerStats {
            decode: self.decoder.stats().clone(),
            tcp: self.tcp.stats().clone(),
            ..self.stats.clone()
        }
    }
}
