//! The agent's OTLP push: every `interval` it reads every handler's buckets from the
//! input streams, encodes them (`export::otlp::OtlpEncoder`) and hands the batch to the
//! exporter's bounded queue; the agent's own counters go out through the OpenTelemetry
//! SDK (self-telemetry). On shutdown the live buckets are flushed within a deadline.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::agent::Agent;
use crate::export::otlp::{OtlpEncoder, ResourceAttrs};
use crate::otlp::config::process_env;
use crate::otlp::{
    LegacyOtelFlags, OtlpConfig, OtlpExporter, OtlpHandle, SelfKind, SelfPoint, SelfTelemetry,
};

/// Why the push could not start.
#[derive(Debug, thiserror::Error)]
#[error("OTLP: {0}")]
pub struct PushError(pub String);

/// A running push.
pub struct OtlpPush {
    handle: Arc<OtlpHandle>,
    task: tokio::task::JoinHandle<OtlpEncoder>,
    stop: tokio_util::sync::CancellationToken,
    selftel: Option<SelfTelemetry>,
}

/// The OTLP settings from `visor.config.otlp`, `OTEL_*` and pktvisor's `--otel*` flags.
pub fn resolve(agent: &Agent) -> Result<OtlpConfig, PushError> {
    let s = &agent.settings;
    let legacy = LegacyOtelFlags {
        otel: s.otel,
        host: Some(s.otel_host.clone()),
        port: Some(s.otel_port),
        path: Some(s.otel_path.clone()),
        tls: s.otel_tls,
        tls_cert: s.otel_tls_cert.clone(),
        tls_key: s.otel_tls_key.clone(),
        interval: Some(s.otel_interval),
    };
    OtlpConfig::resolve(s.otlp.as_ref(), &process_env, &legacy)
        .map_err(|e| PushError(e.to_string()))
}

/// The agent's self-metrics as OTel points.
fn self_points(agent: &Agent, handle: &OtlpHandle) -> Vec<SelfPoint> {
    let mut out = Vec::new();
    let point =
        |name: &str, unit: &str, desc: &str, value: f64, attrs: Vec<(String, String)>, kind| {
            SelfPoint {
                name: name.into(),
                unit: unit.into(),
                description: desc.into(),
                value,
                attributes: attrs,
                kind,
            }
        };
    {
        let reg = agent.registry().view();
        for (input, tap, policy, handler, t) in reg.tables() {
            let attrs = vec![
                ("pktvisor.input".to_string(), input),
                ("pktvisor.tap".to_string(), tap),
                ("pktvisor.policy".to_string(), policy),
                ("pktvisor.handler".to_string(), handler),
                ("pktvisor.table".to_string(), t.name.to_string()),
            ];
            out.push(point(
                "pktvisor.table.entries",
                "{entry}",
                "Entries (bytes for *_bytes tables) a bounded table holds",
                t.len as f64,
                attrs.clone(),
                SelfKind::Gauge,
            ));
            out.push(point(
                "pktvisor.table.limit",
                "{entry}",
                "The bound of a bounded table",
                t.limit as f64,
                attrs.clone(),
                SelfKind::Gauge,
            ));
            out.push(point(
                "pktvisor.table.refused",
                "{entry}",
                "Entries a bounded table refused or evicted because of its bound",
                t.evicted as f64,
                attrs,
                SelfKind::Counter,
            ));
        }
        for s in &reg.streams {
            let st = &s.status;
            let attrs = vec![
                ("pktvisor.input".to_string(), s.name.clone()),
                ("pktvisor.tap".to_string(), s.tap.clone()),
            ];
            out.push(point(
                "pktvisor.receiver.packets",
                "{packet}",
                "Frames or messages received by the input stream",
                st.packets.load(Ordering::Relaxed) as f64,
                attrs.clone(),
                SelfKind::Counter,
            ));
            out.push(point(
                "pktvisor.receiver.queue.depth",
                "{batch}",
                "Batches waiting between the receiver and its worker",
                st.queue_depth.load(Ordering::Relaxed) as f64,
                attrs.clone(),
                SelfKind::Gauge,
            ));
            out.push(point(
                "pktvisor.receiver.restarts",
                "{restart}",
                "Times the receiver was reopened after a failure",
                st.restarts.load(Ordering::Relaxed) as f64,
                attrs,
                SelfKind::Counter,
            ));
        }
    }
    let e = handle.stats();
    for (name, v, kind) in [
        (
            "pktvisor.export.points.sent",
            e.points_sent,
            SelfKind::Counter,
        ),
        (
            "pktvisor.export.points.failed",
            e.points_failed,
            SelfKind::Counter,
        ),
        (
            "pktvisor.export.points.retried",
            e.points_retried,
            SelfKind::Counter,
        ),
        (
            "pktvisor.export.points.dropped",
            e.points_dropped,
            SelfKind::Counter,
        ),
        (
            "pktvisor.export.queue.depth",
            e.queue_depth,
            SelfKind::Gauge,
        ),
    ] {
        out.push(point(
            name,
            "{point}",
            "OTLP export of pktvisor's metrics",
            v as f64,
            Vec::new(),
            kind,
        ));
    }
    if let Some(rss) = resident_bytes() {
        out.push(point(
            "process.memory.usage",
            "By",
            "Resident memory of pktvisord",
            rss as f64,
            Vec::new(),
            SelfKind::Gauge,
        ));
    }
    out
}

fn resident_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

impl OtlpPush {
    /// Starts the push when an endpoint is configured (inside a multi-thread runtime).
    pub fn start(agent: &Arc<Agent>, cfg: OtlpConfig) -> Result<Option<OtlpPush>, PushError> {
        if !cfg.enabled {
            return Ok(None);
        }
        let res = ResourceAttrs::detect(&process_env, &cfg.resource_attributes);
        let handle = Arc::new(OtlpExporter::start(&cfg).map_err(|e| PushError(e.to_string()))?);
        agent.set_otlp(handle.clone());
        let mut encoder = OtlpEncoder::new(cfg.encode.clone(), res.to_proto());
        let selftel = {
            let a = agent.clone();
            let h = handle.clone();
            match SelfTelemetry::install(&cfg, &res, Arc::new(move || self_points(&a, &h))) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!("OTLP self-telemetry off: {e}");
                    None
                }
            }
        };
        let stop = tokio_util::sync::CancellationToken::new();
        let interval = cfg.interval.max(Duration::from_secs(1));
        tracing::info!(
            "OTLP push to {} every {} s",
            cfg.endpoint,
            interval.as_secs()
        );
        let task = {
            let agent = agent.clone();
            let handle = handle.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.cancelled() => return encoder,
                    }
                    let a = agent.clone();
                    let readings = tokio::task::spawn_blocking(move || {
                        let view = a.registry().view();
                        view.readings()
                    })
                    .await
                    .unwrap_or_default();
                    if let Some(batch) = encoder.encode(readings, false) {
                        handle.submit(batch);
                    }
                }
            })
        };
        Ok(Some(OtlpPush {
            handle,
            task,
            stop,
            selftel,
        }))
    }

    /// Flushes the live buckets and waits for delivery up to `deadline`.
    pub async fn shutdown(self, agent: &Arc<Agent>, deadline: Duration) {
        self.stop.cancel();
        if let Ok(mut encoder) = self.task.await {
            let a = agent.clone();
            let readings = tokio::task::spawn_blocking(move || {
                let view = a.registry().view();
                view.readings()
            })
            .await
            .unwrap_or_default();
            if let Some(batch) = encoder.encode(readings, true) {
                self.handle.submit(batch);
            }
        }
        let stats = self.handle.shutdown(deadline).await;
        tracing::info!(
            "OTLP: {} points sent, {} failed, {} dropped",
            stats.points_sent,
            stats.points_failed,
            stats.points_dropped
        );
        if let Some(t) = self.selftel {
            let _ = t.shutdown().await;
        }
    }
}
