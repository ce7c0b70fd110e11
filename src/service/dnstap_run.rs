//! Running dnstap messages through policy pipelines: each message is mapped once, then
//! offered to every pipeline whose `only_hosts` input filter keeps it (pktvisor's per-policy
//! event proxies). `DnstapDispatch` does this for the agent's live listeners and for files;
//! `run_dnstap_file` reads a `.dnstap` file to the end on a reader thread (file I/O, Frame
//! Streams, protobuf) while the calling thread maps and dispatches.

use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::thread;

use crate::event::DnstapEvent;
use crate::event::Event;
use crate::receiver::dnstap::file::{DnstapFileReader, FileError};
use crate::receiver::dnstap::filter::HostFilter;
use crate::receiver::dnstap::listener::DnstapFrame;
use crate::receiver::dnstap::map::{MapError, decode_frame};
use crate::receiver::dnstap::proto;
use crate::service::file_run::{Progress, RunError};
use crate::service::pipeline::PolicyPipeline;
use crate::service::plan::PolicyPlan;
use crate::time::Timespec;

/// Maps dnstap messages and hands them to pipelines, one `only_hosts` filter per pipeline.
#[derive(Debug, Default)]
pub struct DnstapDispatch {
    filters: Vec<HostFilter>,
    /// Messages mapped.
    pub messages: u64,
    /// Messages with an unknown message type (skipped).
    pub unknown_type: u64,
    /// Messages each pipeline's filter dropped (same order as the pipelines).
    pub filtered: Vec<u64>,
}

impl DnstapDispatch {
    /// One filter per pipeline, in pipeline order (missing filters keep everything).
    pub fn new(filters: Vec<HostFilter>) -> DnstapDispatch {
        let n = filters.len();
        DnstapDispatch {
            filters,
            filtered: vec![0; n],
            ..DnstapDispatch::default()
        }
    }

    /// The filters of `pipelines` from the plans they were built from (matched by policy and
    /// tap name); errors are pktvisor's event-proxy texts.
    pub fn for_pipelines(
        pipelines: &[PolicyPipeline],
        plans: &[PolicyPlan],
    ) -> Result<DnstapDispatch, String> {
        let mut filters = Vec::with_capacity(pipelines.len());
        for p in pipelines {
            let f = match plans
                .iter()
                .find(|x| x.name == p.policy && x.input.tap == p.tap)
            {
                Some(plan) => HostFilter::for_input(&plan.input.config, &plan.input.filter)?,
                None => HostFilter::default(),
            };
            filters.push(f);
        }
        Ok(DnstapDispatch::new(filters))
    }

    /// Maps `msg` (`fallback` is its time when it carries none for its side) and delivers it
    /// to each pipeline its filter keeps. Returns the message's timestamp, `None` when it
    /// was skipped.
    pub fn dispatch(
        &mut self,
        msg: &proto::Dnstap,
        frame_len: usize,
        fallback: Timespec,
        pipelines: &mut [PolicyPipeline],
    ) -> Option<Timespec> {
        let m = msg.message.as_ref()?;
        let ev = match DnstapEvent::from_message(m, frame_len, fallback) {
            Ok(ev) => ev,
            Err(_) => {
                self.unknown_type += 1;
                return None;
            }
        };
        self.messages += 1;
        if self.filtered.len() < pipelines.len() {
            self.filtered.resize(pipelines.len(), 0);
        }
        for (i, p) in pipelines.iter_mut().enumerate() {
            if self.filters.get(i).is_none_or(|f| f.keep(&ev)) {
                p.dispatch(&Event::Dnstap(&ev));
            } else {
                self.filtered[i] += 1;
            }
        }
        Some(ev.ts)
    }

    /// `dispatch` for a listener's frame.
    pub fn dispatch_frame(
        &mut self,
        frame: &DnstapFrame,
        fallback: Timespec,
        pipelines: &mut [PolicyPipeline],
    ) -> Option<Timespec> {
        self.dispatch(&frame.message, frame.frame_len, fallback, pipelines)
    }
}

/// What a dnstap file run saw.
#[derive(Clone, Debug, Default)]
pub struct DnstapFileReport {
    /// Data frames read.
    pub frames: u64,
    /// Messages dispatched.
    pub messages: u64,
    /// Frames that are not valid dnstap protobuf (skipped with a count, as pktvisor warns).
    pub invalid: u64,
    /// Frames that are not a MESSAGE with a message (skipped).
    pub not_message: u64,
    /// Messages of an unknown type (skipped).
    pub unknown_type: u64,
    /// Messages each pipeline's `only_hosts` filter dropped.
    pub filtered: Vec<u64>,
    /// The file ended inside a frame or without STOP.
    pub truncated: bool,
    /// A malformed frame that ended the run early (everything before it was processed).
    pub corrupt: Option<String>,
    /// First message timestamp.
    pub first_ts: Option<Timespec>,
    /// Last message timestamp.
    pub last_ts: Option<Timespec>,
}

struct Batch {
    frames: Vec<DnstapFrame>,
    bytes_read: u64,
    total_bytes: Option<u64>,
}

enum Msg {
    Batch(Batch),
    Done {
        frames: u64,
        invalid: u64,
        not_message: u64,
        truncated: bool,
        error: Option<FileError>,
    },
}

const BATCH: usize = 2048;

fn reader_thread(mut reader: DnstapFileReader, tx: std::sync::mpsc::SyncSender<Msg>) {
    let (mut frames, mut invalid, mut not_message) = (0u64, 0u64, 0u64);
    let mut batch = Vec::with_capacity(BATCH);
    let mut error = None;
    loop {
        let data = match reader.next_frame() {
            Ok(Some(d)) => d,
            Ok(None) => break,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        frames += 1;
        let frame_len = data.len();
        match decode_frame(data) {
            Ok(message) => batch.push(DnstapFrame { message, frame_len }),
            Err(MapError::NotMessage) => not_message += 1,
            Err(_) => invalid += 1,
        }
        if batch.len() >= BATCH {
            let b = Batch {
                frames: std::mem::replace(&mut batch, Vec::with_capacity(BATCH)),
                bytes_read: reader.bytes_read(),
                total_bytes: reader.total_bytes(),
            };
            if tx.send(Msg::Batch(b)).is_err() {
                return;
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(Msg::Batch(Batch {
            frames: batch,
            bytes_read: reader.bytes_read(),
            total_bytes: reader.total_bytes(),
        }));
    }
    let _ = tx.send(Msg::Done {
        frames,
        invalid,
        not_message,
        truncated: reader.truncated(),
        error,
    });
}

/// The `dnstap_file` of a dnstap input config.
pub fn file_of(cfg: &crate::config::value::ConfigMap) -> Result<PathBuf, String> {
    match crate::receiver::dnstap::DnstapInput::from_config(cfg)?.source {
        crate::receiver::dnstap::DnstapSource::File(p) => Ok(p),
        _ => Err("this input reads no dnstap_file".into()),
    }
}

/// Reads a dnstap file through the pipelines (each with its filter in `dispatch`); they are
/// finished at the end. Messages without a time for their side take the previous message's.
pub fn run_dnstap_file(
    path: &Path,
    pipelines: &mut [PolicyPipeline],
    mut dispatch: DnstapDispatch,
    progress: &mut dyn Progress,
) -> Result<DnstapFileReport, RunError> {
    let reader = DnstapFileReader::open(path).map_err(|e| RunError::Open(e.to_string()))?;
    let (tx, rx) = sync_channel::<Msg>(4);
    let handle = thread::Builder::new()
        .name("dnstap-reader".into())
        .spawn(move || reader_thread(reader, tx))
        .map_err(|e| RunError::Open(format!("cannot start reader thread: {e}")))?;
    let mut report = DnstapFileReport::default();
    let mut failure = None;
    for msg in rx.iter() {
        match msg {
            Msg::Batch(b) => {
                for f in &b.frames {
                    let fallback = report.last_ts.unwrap_or_else(Timespec::now);
                    let Some(m) = f.message.message.as_ref() else {
                        continue;
                    };
                    if report.first_ts.is_none() {
                        // the stream starts at its first message's time
                        if let Ok(ev) = DnstapEvent::from_message(m, f.frame_len, fallback) {
                            report.first_ts = Some(ev.ts);
                            for p in pipelines.iter_mut() {
                                p.dispatch(&Event::Start(ev.ts));
                            }
                        }
                    }
                    if let Some(ts) = dispatch.dispatch_frame(f, fallback, pipelines) {
                        report.last_ts = Some(report.last_ts.map_or(ts, |l| l.max(ts)));
                    }
                }
                progress.update(dispatch.messages, b.bytes_read, b.total_bytes);
            }
            Msg::Done {
                frames,
                invalid,
                not_message,
                truncated,
                error,
            } => {
                report.frames = frames;
                report.invalid = invalid;
                report.not_message = not_message;
                report.truncated = truncated;
                failure = error;
            }
        }
    }
    let _ = handle.join();
    if let Some(e) = failure {
        if report.frames == 0 {
            return Err(RunError::Open(format!(
                "{}: not a dnstap (Frame Streams) file: {e}",
                path.display()
            )));
        }
        report.corrupt = Some(e.to_string());
    }
    if let Some(ts) = report.last_ts {
        for p in pipelines.iter_mut() {
            p.dispatch(&Event::End(ts));
        }
    }
    for p in pipelines.iter_mut() {
        p.finish();
    }
    progress.done(dispatch.messages);
    report.messages = dispatch.messages;
    report.unknown_type = dispatch.unknown_type;
    report.filtered = dispatch.filtered;
    Ok(report)
}
