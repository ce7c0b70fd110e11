//! The dnstap input as a receiver: its place in the input table, its typed config
//! (`DnstapInput`) as a `ReceiverConfig`, and the two receivers it builds — the socket
//! receiver (a unix or TCP listener on a small tokio runtime of its own, any number of
//! senders) and the file receiver (a Frame Streams file read once, a recorded stream).
//!
//! Messages are decoded from protobuf on the receiver's thread and handed over in batches;
//! the stream's worker maps them to events and applies each policy's `only_hosts` filter.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::config::hostspec::HostSpec;
use crate::config::value::ConfigValue;
use crate::receiver::context::{
    Delivery, FileSummary, InfoSource, ReceiverContext, ReceiverStatus,
};
use crate::receiver::{Built, InputKind, InputSpec, Receiver, ReceiverConfig, Resource};

use super::config::{DnstapInput, DnstapSource, INPUT_KEYS};
use super::file::DnstapFileReader;
use super::filter::HostFilter;
use super::listener::{DnstapBatch, DnstapFrame, DnstapListener, ListenerConfig};
use super::map::{MapError, decode_frame};
use super::stats::ListenerStats;

/// The dnstap input in the table of inputs.
pub const INPUT: InputSpec = InputSpec {
    kind: InputKind::Dnstap,
    names: &["dnstap"],
    keys: INPUT_KEYS,
    filter_in_stream: false,
    parse: |c| Ok(Arc::new(DnstapInput::from_config(c)?)),
    policy_filter: HostFilter::for_input,
    read_file: |c, path| {
        for k in ["socket", "tcp"] {
            c.remove(k);
        }
        c.set("dnstap_file", ConfigValue::Str(path.to_string()));
    },
};

impl InfoSource for ListenerStats {
    fn info(&self) -> serde_json::Value {
        serde_json::to_value(self.snapshot()).unwrap_or(serde_json::Value::Null)
    }

    fn tables(&self) -> Vec<crate::metric::TableStat> {
        ListenerStats::tables(self)
    }
}

impl ReceiverConfig for DnstapInput {
    fn kind(&self) -> InputKind {
        InputKind::Dnstap
    }

    fn recorded(&self) -> bool {
        matches!(self.source, DnstapSource::File(_))
    }

    fn resources(&self) -> Vec<Resource> {
        match &self.source {
            DnstapSource::Unix { path, .. } => vec![Resource::UnixSocket(path.clone())],
            DnstapSource::Tcp(t) => vec![Resource::TcpPort {
                host: t.host.clone(),
                port: t.port,
            }],
            DnstapSource::File(_) => Vec::new(),
        }
    }

    fn build(&self) -> Result<Built, String> {
        let receiver: Box<dyn Receiver> = match &self.source {
            DnstapSource::File(p) => Box::new(DnstapFileReceiver { path: p.clone() }),
            _ => Box::new(DnstapSocketReceiver {
                cfg: ListenerConfig::from_input(self).map_err(|e| e.to_string())?,
            }),
        };
        Ok(Built {
            receiver,
            host_spec: HostSpec::default(),
        })
    }

    fn describe(
        &self,
        _host: &HostSpec,
        status: &ReceiverStatus,
    ) -> Option<(&'static str, serde_json::Value)> {
        status.info().map(|v| ("dnstap", v))
    }
}

/// Listens on a unix socket or TCP.
#[derive(Debug)]
pub struct DnstapSocketReceiver {
    cfg: ListenerConfig,
}

impl Receiver for DnstapSocketReceiver {
    fn run(self: Box<Self>, ctx: &ReceiverContext) -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("dnstap-io")
            .enable_all()
            .build()
            .map_err(|e| format!("dnstap runtime: {e}"))?;
        let mut attempt = 0u32;
        let cfg = self.cfg;
        let Some(listener) = ctx.open_retrying("dnstap listener", &mut attempt, || {
            rt.block_on(DnstapListener::bind(cfg.clone()))
        }) else {
            return Ok(());
        };
        ctx.status.set_info(listener.stats());
        ctx.status.running.store(true, Ordering::SeqCst);
        let (btx, mut brx) = tokio::sync::mpsc::channel::<DnstapBatch>(64);
        let token = tokio_util::sync::CancellationToken::new();
        let task = rt.spawn(listener.run(btx, token.clone()));
        {
            let shutdown = ctx.shutdown.clone();
            let token = token.clone();
            rt.spawn(async move {
                while !shutdown.is_triggered() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                token.cancel();
            });
        }
        while let Some(batch) = brx.blocking_recv() {
            if !ctx.send(Delivery::Dnstap(batch)) {
                token.cancel();
                break;
            }
        }
        let _ = rt.block_on(task);
        ctx.status.running.store(false, Ordering::SeqCst);
        Ok(())
    }
}

/// Messages handed over per batch when reading a file.
const FILE_BATCH: usize = 2048;

/// Reads a Frame Streams file once.
#[derive(Debug)]
pub struct DnstapFileReceiver {
    path: PathBuf,
}

impl DnstapFileReceiver {
    /// A receiver of `path`.
    pub fn new(path: PathBuf) -> Self {
        DnstapFileReceiver { path }
    }
}

fn not_dnstap(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: not a dnstap (Frame Streams) file: {e}", path.display())
}

impl Receiver for DnstapFileReceiver {
    fn run(self: Box<Self>, ctx: &ReceiverContext) -> Result<(), String> {
        let mut reader = DnstapFileReader::open(&self.path).map_err(|e| e.to_string())?;
        ctx.status.running.store(true, Ordering::SeqCst);
        let mut summary = FileSummary::default();
        let mut batch: DnstapBatch = Vec::with_capacity(FILE_BATCH);
        loop {
            if ctx.shutdown.is_triggered() {
                return Ok(());
            }
            let data = match reader.next_frame() {
                Ok(Some(d)) => d,
                Ok(None) => break,
                Err(e) if summary.records == 0 => return Err(not_dnstap(&self.path, e)),
                Err(e) => {
                    summary.corrupt = Some(e.to_string());
                    break;
                }
            };
            summary.records += 1;
            let frame_len = data.len();
            match decode_frame(data) {
                Ok(message) => batch.push(DnstapFrame { message, frame_len }),
                Err(MapError::NotMessage) => summary.not_message += 1,
                Err(_) => summary.invalid += 1,
            }
            if batch.len() >= FILE_BATCH {
                ctx.status
                    .set_progress(reader.bytes_read(), reader.total_bytes());
                let full = std::mem::replace(&mut batch, Vec::with_capacity(FILE_BATCH));
                if !ctx.send(Delivery::Dnstap(full)) {
                    return Ok(());
                }
            }
        }
        ctx.status
            .set_progress(reader.bytes_read(), reader.total_bytes());
        if !batch.is_empty() && !ctx.send(Delivery::Dnstap(batch)) {
            return Ok(());
        }
        summary.truncated = reader.truncated();
        ctx.status.set_summary(summary);
        ctx.send(Delivery::Ended(None));
        Ok(())
    }
}
