//! pktvisord: the agent. It owns the loaded configuration, the registry of taps, policies
//! and input streams, and the operations the REST API and signals drive (admin create and
//! delete, config reload, shutdown).
//!
//! - `config`: layered settings (defaults < files < `PKTVISOR_*` < flags) and definitions.
//! - `stream`: one running input (capture thread + worker thread owning the pipelines).
//! - `registry`: taps, policies, stream sharing and reference counting, resources policies.
//! - `info`: pktvisor's info JSON for taps and policies.
//! - `http`: the REST API and Prometheus endpoint.
//! - `otlp_push`: the periodic OTLP push and self-telemetry.

pub mod config;
pub mod http;
pub mod info;
pub mod otlp_push;
pub mod registry;
pub mod stream;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::agent::config::{AgentConfig, AgentSettings, ConfigErrors, Definitions};
use crate::agent::registry::{AgentError, Registry};
use crate::config::value::ConfigMap;
use crate::config::visor::{VisorDocument, parse_document};
use crate::enrich::geo::GeoDatabases;
use crate::enrich::services::ServiceRegistry;
use crate::processor::ProcessorContext;
use crate::service::plan::{PlanDefaults, plan_policies};

/// The running agent.
pub struct Agent {
    /// Resolved settings.
    pub settings: AgentSettings,
    registry: Mutex<Registry>,
    /// Names of taps and policies that came from config files (replaced on reload).
    from_files: Mutex<(Vec<String>, Vec<String>)>,
    files: Vec<PathBuf>,
    started: Instant,
    /// Cancelled to stop the agent (signals, `DELETE /api/v1/server`).
    pub shutdown: CancellationToken,
    otlp: std::sync::OnceLock<Arc<crate::otlp::OtlpHandle>>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("files", &self.files)
            .field("otlp", &self.otlp.get().is_some())
            .finish()
    }
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// A GeoIP database or the IANA registry could not be loaded.
    #[error("{0}")]
    Enrichment(String),
}

/// The processors' shared services from the settings.
pub fn processor_context(s: &AgentSettings) -> Result<ProcessorContext, StartError> {
    let geo = GeoDatabases::open(s.city_db(), s.asn_db())
        .map_err(|e| StartError::Enrichment(e.to_string()))?;
    let services = match s.service_registry() {
        Some(p) => ServiceRegistry::load(p).map_err(|e| StartError::Enrichment(e.to_string()))?,
        None => ServiceRegistry::default(),
    };
    Ok(ProcessorContext {
        geo,
        geo_cache_size: usize::try_from(s.geo_cache_size).unwrap_or(usize::MAX),
        services: Arc::new(services),
    })
}

fn plan_defaults(s: &AgentSettings) -> PlanDefaults {
    PlanDefaults {
        num_periods: s.periods,
        deep_sample_rate: s.max_deep_sample,
        forced: ConfigMap::new(),
    }
}

/// pktvisor's default tap and policy for `pktvisord IFACE` (net, dhcp, dns, pcap).
pub fn default_document(
    iface: &str,
    bpf: Option<&str>,
    host_spec: Option<&str>,
    s: &AgentSettings,
) -> VisorDocument {
    let q = |t: &str| serde_json::Value::String(t.to_string()).to_string();
    let mut tap_cfg = format!("iface: {}", q(iface));
    if let Some(h) = host_spec {
        tap_cfg.push_str(&format!(", host_spec: {}", q(h)));
    }
    let input_cfg = bpf.map_or(String::new(), |b| {
        format!("\n        config: {{bpf: {}}}", q(b))
    });
    let text = format!(
        "version: \"1.0\"\nvisor:\n  taps:\n    default: {{input_type: pcap, config: {{{tap_cfg}}}}}\n  policies:\n    default:\n      kind: collection\n      input:\n        tap: default\n        input_type: pcap{input_cfg}\n      handlers:\n        window_config: {{num_periods: {}, deep_sample_rate: {}}}\n        modules:\n          net: {{type: net}}\n          dhcp: {{type: dhcp}}\n          dns: {{type: dns}}\n          pcap_stats: {{type: pcap}}\n",
        s.periods, s.max_deep_sample
    );
    // Built from quoted values only: it always parses.
    parse_document(&text).unwrap_or_default()
}

impl Agent {
    /// Starts every tap and policy of `config` plus `extra` (the IFACE default policy).
    /// Every definition error is reported at once; nothing keeps running on error.
    pub fn start(config: AgentConfig, extra: Option<VisorDocument>) -> Result<Agent, StartError> {
        let ctx = processor_context(&config.settings)?;
        let mut reg = Registry::new(plan_defaults(&config.settings), ctx);
        let mut defs = config.definitions.clone();
        if let Some(doc) = extra {
            defs.taps.extend(doc.taps);
            defs.policies.extend(doc.policies);
        }
        let names = apply(&mut reg, &defs).map_err(StartError::Config)?;
        Ok(Agent {
            settings: config.settings,
            registry: Mutex::new(reg),
            from_files: Mutex::new(names),
            files: config.files,
            started: Instant::now(),
            shutdown: CancellationToken::new(),
            otlp: std::sync::OnceLock::new(),
        })
    }

    /// The registry, locked.
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers the running OTLP exporter (its counters go to `/metrics`).
    pub fn set_otlp(&self, h: Arc<crate::otlp::OtlpHandle>) {
        let _ = self.otlp.set(h);
    }

    /// The OTLP exporter's counters, when the push is on.
    pub fn otlp_stats(&self) -> Option<crate::otlp::ExportStats> {
        self.otlp.get().map(|h| h.stats())
    }

    /// Minutes since start (`up_time_min`).
    pub fn uptime_minutes(&self) -> f64 {
        self.started.elapsed().as_secs_f64() / 60.0
    }

    /// Whether every stream's receiver is running (or has finished a file).
    pub fn ready(&self) -> (bool, Vec<(String, bool, Option<String>)>) {
        use std::sync::atomic::Ordering;
        let reg = self.registry();
        let list: Vec<(String, bool, Option<String>)> = reg
            .streams
            .iter()
            .map(|s| {
                let st = &s.stream.status;
                let ok = st.running.load(Ordering::SeqCst) || st.ended.load(Ordering::SeqCst);
                (s.stream.name.clone(), ok, st.last_error())
            })
            .collect();
        (list.iter().all(|(_, ok, _)| *ok), list)
    }

    /// SIGHUP: reads the config files again; validates, then replaces the taps and
    /// policies they define. A bad file keeps the running configuration.
    pub fn reload(&self) -> Result<(), String> {
        let cfg =
            config::load(&self.files, &figment::value::Dict::new()).map_err(|e| e.to_string())?;
        let doc = cfg.definitions.document();
        plan_policies(&doc, &plan_defaults(&self.settings)).map_err(|e| e.0)?;
        let mut reg = self.registry();
        let mut names = self.from_files.lock().unwrap_or_else(|p| p.into_inner());
        for p in &names.1 {
            let _ = reg.remove_policy(p);
        }
        for t in &names.0 {
            let _ = reg.remove_tap(t);
        }
        match apply(&mut reg, &cfg.definitions) {
            Ok(n) => {
                *names = n;
                Ok(())
            }
            Err(e) => {
                *names = (Vec::new(), Vec::new());
                Err(e.to_string())
            }
        }
    }

    /// Stops every input stream.
    pub fn stop(&self) {
        self.registry().stop_all();
    }
}

/// Adds every tap, global handler config and policy; all errors at once (with their
/// paths). On error everything added here is removed again.
fn apply(
    reg: &mut Registry,
    defs: &Definitions,
) -> Result<(Vec<String>, Vec<String>), ConfigErrors> {
    let mut errors = Vec::new();
    let mut taps = Vec::new();
    let mut policies = Vec::new();
    reg.global_handler_config = defs.global_handler_config.clone();
    for t in &defs.taps {
        match reg.add_tap(t.clone()) {
            Ok(()) => taps.push(t.name.clone()),
            Err(e) => errors.push(format!("visor.taps.{}: {}", t.name, e.message)),
        }
    }
    for p in &defs.policies {
        match reg.add_policy(p.clone()) {
            Ok(()) => policies.push(p.name.clone()),
            Err(AgentError { message, .. }) => {
                errors.push(format!("visor.policies.{}: {message}", p.name));
            }
        }
    }
    if errors.is_empty() {
        return Ok((taps, policies));
    }
    for p in &policies {
        let _ = reg.remove_policy(p);
    }
    for t in &taps {
        let _ = reg.remove_tap(t);
    }
    Err(ConfigErrors(errors))
}
