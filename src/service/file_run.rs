//! Running a capture file through decode, TCP reassembly and policy pipelines.
//!
//! Two threads: one reads (and decompresses) the file, applies the BPF filter and hands
//! batches of records over a bounded channel; the calling thread decodes each frame once,
//! sets its host direction, feeds the TCP reassembler and delivers events to every
//! pipeline. Batch buffers are recycled, so memory stays flat whatever the file size.
//! The run ends at the end of the file; a truncated last record is reported, not an error.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use crate::config::hostspec::HostSpec;
use crate::config::value::ConfigMap;
use crate::decode::tcp_stream::{
    DEFAULT_CONNECTION_LIMIT, PortSet, TcpReassembler, TcpReassemblyStats,
};
use crate::decode::{DecodeStats, Decoder};
use crate::event::{CaptureStats, Event};
use crate::metric::TableStat;
use crate::receiver::bpf::BpfFilterSet;
use crate::receiver::pcap_file::PcapFileReader;
use crate::service::pipeline::PolicyPipeline;
use crate::time::Timespec;

/// A pcap input reading a file.
#[derive(Clone, Debug, PartialEq)]
pub struct PcapFileInput {
    /// The capture file (pcap or pcapng, optionally gzip-compressed).
    pub path: PathBuf,
    /// A tcpdump filter expression.
    pub bpf: Option<String>,
    /// Which addresses are the host.
    pub host_spec: HostSpec,
    /// Bound on reassembled TCP connections.
    pub tcp_limit: usize,
}

impl PcapFileInput {
    /// Reads `pcap_file`, `bpf`, `host_spec` and `tcp_packet_reassembly_cache_limit`.
    pub fn from_config(cfg: &ConfigMap) -> Result<Self, String> {
        let s = |k: &str| cfg.get_str(k).map_err(|e| e.to_string());
        let path = s("pcap_file")?.ok_or("missing key: pcap_file")?;
        let host_spec =
            HostSpec::parse(s("host_spec")?.unwrap_or("")).map_err(|e| e.to_string())?;
        let tcp_limit = cfg
            .get_u64("tcp_packet_reassembly_cache_limit")
            .map_err(|e| e.to_string())?
            .map_or(DEFAULT_CONNECTION_LIMIT, |v| {
                usize::try_from(v).unwrap_or(usize::MAX)
            });
        Ok(PcapFileInput {
            path: PathBuf::from(path),
            bpf: s("bpf")?
                .filter(|b| !b.trim().is_empty())
                .map(str::to_string),
            host_spec,
            tcp_limit,
        })
    }
}

/// What a run saw.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// Records read from the file.
    pub records: u64,
    /// Records the BPF filter rejected.
    pub bpf_rejected: u64,
    /// Frames delivered to the pipelines.
    pub packets: u64,
    /// Captured bytes of those frames.
    pub bytes: u64,
    /// The file ended inside a record.
    pub truncated: bool,
    /// First and last timestamps.
    pub first_ts: Option<Timespec>,
    /// Last timestamp.
    pub last_ts: Option<Timespec>,
    /// Decode failures by reason.
    pub decode: DecodeStats,
    /// TCP reassembly counters.
    pub tcp: TcpReassemblyStats,
    /// A corrupt block that ended the run early (everything before it was processed).
    pub corrupt: Option<String>,
    /// The TCP reassembly table at the end: entries, bound, evictions.
    pub tcp_table: TableStat,
}

/// Receives progress while a file is read.
pub trait Progress {
    /// Called after each batch: packets so far, file bytes read so far, file size.
    fn update(&mut self, packets: u64, bytes_read: u64, total_bytes: Option<u64>);
    /// Called once at the end.
    fn done(&mut self, packets: u64);
}

/// Progress that reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&mut self, _: u64, _: u64, _: Option<u64>) {}
    fn done(&mut self, _: u64) {}
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The file could not be opened or is not a capture.
    #[error("{0}")]
    Open(String),
    /// The BPF expression does not compile.
    #[error("{0}")]
    Bpf(String),
    /// The file is corrupt in the middle (everything before was processed).
    #[error("{0}")]
    Corrupt(String),
}

#[derive(Clone, Copy)]
struct Rec {
    ts: Timespec,
    linktype: u16,
    start: usize,
    len: usize,
    origlen: u32,
}

#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    recs: Vec<Rec>,
    bytes_read: u64,
    total_bytes: Option<u64>,
}

enum Msg {
    Batch(Batch),
    Done {
        records: u64,
        rejected: u64,
        truncated: bool,
        error: Option<RunError>,
    },
}

const BATCH_BYTES: usize = 512 * 1024;
const BATCH_RECORDS: usize = 4096;

fn reader_thread(input: PcapFileInput, tx: SyncSender<Msg>, recycle: Receiver<Batch>) {
    let mut reader = match PcapFileReader::open(&input.path) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Msg::Done {
                records: 0,
                rejected: 0,
                truncated: false,
                error: Some(RunError::Open(e.to_string())),
            });
            return;
        }
    };
    let mut bpf = input.bpf.as_deref().map(BpfFilterSet::new);
    let mut batch = Batch::default();
    let mut records = 0u64;
    let mut rejected = 0u64;
    let mut error = None;
    loop {
        let rec = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                error = Some(RunError::Corrupt(e.to_string()));
                break;
            }
        };
        records += 1;
        if let Some(f) = bpf.as_mut() {
            match f.matches(rec.linktype, rec.data) {
                Ok(true) => {}
                Ok(false) => {
                    rejected += 1;
                    continue;
                }
                Err(e) => {
                    error = Some(RunError::Bpf(e.to_string()));
                    break;
                }
            }
        }
        let start = batch.data.len();
        batch.data.extend_from_slice(rec.data);
        batch.recs.push(Rec {
            ts: rec.ts,
            linktype: rec.linktype,
            start,
            len: rec.data.len(),
            origlen: rec.origlen,
        });
        if batch.data.len() >= BATCH_BYTES || batch.recs.len() >= BATCH_RECORDS {
            batch.bytes_read = reader.bytes_read();
            batch.total_bytes = reader.total_bytes();
            let next = recycle.try_recv().unwrap_or_default();
            if tx
                .send(Msg::Batch(std::mem::replace(&mut batch, next)))
                .is_err()
            {
                return;
            }
            batch.data.clear();
            batch.recs.clear();
        }
    }
    batch.bytes_read = reader.bytes_read();
    batch.total_bytes = reader.total_bytes();
    if !batch.recs.is_empty() {
        let _ = tx.send(Msg::Batch(batch));
    }
    let _ = tx.send(Msg::Done {
        records,
        rejected,
        truncated: reader.truncated(),
        error,
    });
}

/// Checks that the BPF expression compiles (for a clear error before any work).
pub fn check_bpf(expr: &str) -> Result<(), RunError> {
    let mut f = BpfFilterSet::new(expr);
    f.matches(crate::decode::linktype::ETHERNET, &[])
        .map(|_| ())
        .map_err(|e| RunError::Bpf(e.to_string()))
}

fn broadcast(pipelines: &mut [PolicyPipeline], ev: &Event<'_>) {
    for p in pipelines.iter_mut() {
        p.dispatch(ev);
    }
}

/// Reads the whole file through the pipelines; they are finished (rates closed) at the end.
pub fn run_pcap_file(
    input: &PcapFileInput,
    pipelines: &mut [PolicyPipeline],
    progress: &mut dyn Progress,
) -> Result<RunReport, RunError> {
    if let Some(b) = &input.bpf {
        check_bpf(b)?;
    }
    let mut ports = PortSet::default();
    for p in pipelines.iter() {
        ports.extend(&p.tcp_ports());
    }
    let mut tcp = TcpReassembler::new(input.tcp_limit, ports);
    let mut decoder = Decoder::new();
    let mut report = RunReport {
        records: 0,
        bpf_rejected: 0,
        packets: 0,
        bytes: 0,
        truncated: false,
        first_ts: None,
        last_ts: None,
        decode: DecodeStats::default(),
        tcp: TcpReassemblyStats::default(),
        corrupt: None,
        tcp_table: TableStat {
            name: "tcp_reassembly_connections",
            len: 0,
            limit: tcp.limit(),
            evicted: 0,
        },
    };
    let (tx, rx) = sync_channel::<Msg>(8);
    let (recycle_tx, recycle_rx) = sync_channel::<Batch>(8);
    let reader_input = input.clone();
    let handle = thread::Builder::new()
        .name("pcap-reader".into())
        .spawn(move || reader_thread(reader_input, tx, recycle_rx))
        .map_err(|e| RunError::Open(format!("cannot start reader thread: {e}")))?;
    let mut failure = None;
    for msg in rx.iter() {
        match msg {
            Msg::Batch(batch) => {
                for r in &batch.recs {
                    let Some(data) = batch.data.get(r.start..r.start + r.len) else {
                        continue;
                    };
                    if report.first_ts.is_none() {
                        report.first_ts = Some(r.ts);
                        broadcast(pipelines, &Event::Start(r.ts));
                    }
                    report.last_ts = Some(r.ts);
                    report.packets += 1;
                    report.bytes += r.len as u64;
                    let mut info = decoder.decode(r.linktype, r.ts, data, r.origlen);
                    if let (Some(s), Some(d)) = (info.src_ip, info.dst_ip) {
                        info.direction = input.host_spec.direction(&s, &d);
                    }
                    broadcast(pipelines, &Event::Packet(&info));
                    if tcp.is_active() {
                        tcp.process(&info, &mut |ev| broadcast(pipelines, &Event::Tcp(&ev)));
                    }
                }
                progress.update(report.packets, batch.bytes_read, batch.total_bytes);
                let _ = recycle_tx.try_send(batch);
            }
            Msg::Done {
                records,
                rejected,
                truncated,
                error,
            } => {
                report.records = records;
                report.bpf_rejected = rejected;
                report.truncated = truncated;
                failure = error;
            }
        }
    }
    let _ = handle.join();
    if let Some(RunError::Open(e)) = failure {
        return Err(RunError::Open(e));
    }
    if let Some(RunError::Bpf(e)) = failure {
        return Err(RunError::Bpf(e));
    }
    let stats = CaptureStats {
        tcp_reassembly_errors: tcp.stats().gaps,
        ..CaptureStats::default()
    };
    broadcast(pipelines, &Event::Stats(&stats));
    if let Some(ts) = report.last_ts {
        broadcast(pipelines, &Event::End(ts));
    }
    for p in pipelines.iter_mut() {
        p.finish();
    }
    progress.done(report.packets);
    report.decode = decoder.stats().clone();
    report.tcp = tcp.stats().clone();
    report.tcp_table.len = tcp.len();
    report.tcp_table.evicted = report.tcp.evicted;
    if let Some(RunError::Corrupt(e)) = failure {
        report.corrupt = Some(e);
    }
    Ok(report)
}
