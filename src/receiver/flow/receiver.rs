//! The flow input as a receiver: its place in the input table, its typed config
//! (`FlowInput`) as a `ReceiverConfig`, and the two receivers it builds — the UDP listener
//! (large socket buffer, `recvmmsg`, its own counters) and the capture-file receiver (every
//! UDP datagram of a capture, or those sent to one port, IP fragments reassembled; a
//! recorded stream on the capture's clock).
//!
//! Datagrams are handed over as received; the stream's worker decodes them with the
//! input's `FlowDecoder` (template caches per exporter) and counts what it could not decode.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::json;

use crate::config::hostspec::HostSpec;
use crate::config::value::ConfigValue;
use crate::decode::{Decoder, L4};
use crate::receiver::context::{
    Delivery, FileSummary, InfoSource, ReceiverContext, ReceiverStatus, backoff,
};
use crate::receiver::pcap_file::PcapFileReader;
use crate::receiver::{
    Built, Decoding, InputKind, InputSpec, Receiver, ReceiverConfig, Resource, no_policy_filter,
};

use super::config::{FlowInput, FlowSource, INPUT_KEYS};
use super::udp::{self, DatagramBatch, FlowUdpListener, UdpStats};

/// The flow input (alias `sflow`) in the table of inputs.
pub const INPUT: InputSpec = InputSpec {
    kind: InputKind::Flow,
    names: &["flow", "sflow"],
    keys: INPUT_KEYS,
    filter_in_stream: false,
    parse: |c| Ok(Arc::new(FlowInput::from_config(c)?)),
    policy_filter: no_policy_filter,
    read_file: |c, path| {
        c.remove("bind");
        c.set("pcap_file", ConfigValue::Str(path.to_string()));
    },
};

impl InfoSource for UdpStats {
    fn info(&self) -> serde_json::Value {
        serde_json::to_value(self.snapshot()).unwrap_or(serde_json::Value::Null)
    }
}

impl ReceiverConfig for FlowInput {
    fn kind(&self) -> InputKind {
        InputKind::Flow
    }

    fn recorded(&self) -> bool {
        matches!(self.source, FlowSource::File { .. })
    }

    fn resources(&self) -> Vec<Resource> {
        match &self.source {
            FlowSource::Listen { bind, port } => vec![Resource::UdpPort {
                bind: bind.clone(),
                port: *port,
            }],
            FlowSource::File { .. } => Vec::new(),
        }
    }

    fn decoding(&self) -> Decoding {
        Decoding {
            flow_type: Some(self.flow_type),
            ..Decoding::default()
        }
    }

    fn warnings(&self) -> Vec<String> {
        if self.flow_type_defaulted {
            vec!["flow_type not specified, using sflow".into()]
        } else {
            Vec::new()
        }
    }

    fn build(&self) -> Result<Built, String> {
        let receiver: Box<dyn Receiver> = match &self.source {
            FlowSource::File { path, port } => Box::new(FlowFileReceiver {
                path: path.clone(),
                port: *port,
            }),
            FlowSource::Listen { .. } => Box::new(FlowUdpReceiver {
                input: self.clone(),
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
        let mut v = json!({"packet_errors": status.decode_errors.load(Ordering::Relaxed)});
        if let Some(l) = status.info() {
            v["listener"] = l;
        }
        Some(("flow", v))
    }
}

/// Receives datagrams on a UDP socket and forwards their batches; a full queue makes the
/// listener wait (the kernel buffer absorbs bursts meanwhile).
#[derive(Debug)]
pub struct FlowUdpReceiver {
    input: FlowInput,
}

impl Receiver for FlowUdpReceiver {
    fn run(self: Box<Self>, ctx: &ReceiverContext) -> Result<(), String> {
        let mut attempt = 0u32;
        while let Some(listener) = ctx.open_retrying("flow listener", &mut attempt, || {
            FlowUdpListener::bind(&self.input)
        }) {
            ctx.status.set_info(listener.stats());
            ctx.status.running.store(true, Ordering::SeqCst);
            let res = listener.run(ctx.shutdown.flag(), |b| {
                if ctx.send(Delivery::Flow(b)) {
                    udp::Delivery::Sent
                } else {
                    udp::Delivery::Closed
                }
            });
            ctx.status.running.store(false, Ordering::SeqCst);
            match res {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!("flow listener: {e}; reopening");
                    ctx.status.set_error(Some(e.to_string()));
                    ctx.shutdown.sleep(backoff(attempt));
                    attempt = attempt.saturating_add(1);
                }
            }
        }
        Ok(())
    }
}

/// Datagrams handed over per batch when reading a capture.
const FILE_BATCH: usize = 1024;

/// Reads the UDP datagrams of a capture once.
#[derive(Debug)]
pub struct FlowFileReceiver {
    path: PathBuf,
    port: Option<u16>,
}

impl Receiver for FlowFileReceiver {
    fn run(self: Box<Self>, ctx: &ReceiverContext) -> Result<(), String> {
        let mut reader = PcapFileReader::open(&self.path).map_err(|e| e.to_string())?;
        ctx.status.running.store(true, Ordering::SeqCst);
        let mut packets = Decoder::new();
        let mut summary = FileSummary::default();
        let mut batch = DatagramBatch::default();
        let mut last = None;
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
            if last.is_none() && !ctx.send(Delivery::Start(rec.ts)) {
                return Ok(());
            }
            last = Some(rec.ts);
            let p = packets.decode(rec.linktype, rec.ts, rec.data, rec.origlen);
            let wanted = self.port.is_none_or(|want| p.dst_port == want);
            let (Some(src), L4::Udp, true, true) = (p.src_ip, p.l4, p.has_payload(), wanted) else {
                summary.skipped += 1;
                continue;
            };
            batch.push(SocketAddr::new(src, p.src_port), rec.ts, p.payload);
            if batch.len() >= FILE_BATCH {
                ctx.status
                    .set_progress(reader.bytes_read(), reader.total_bytes());
                if !ctx.send(Delivery::Flow(std::mem::take(&mut batch))) {
                    return Ok(());
                }
            }
        }
        ctx.status
            .set_progress(reader.bytes_read(), reader.total_bytes());
        if !batch.is_empty() && !ctx.send(Delivery::Flow(batch)) {
            return Ok(());
        }
        summary.truncated = reader.truncated();
        ctx.status.set_summary(summary);
        ctx.send(Delivery::Ended(last));
        Ok(())
    }
}
