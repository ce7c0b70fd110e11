//! pktvisord: the agent. It owns the loaded configuration, the registry of taps, policies
//! and input streams, and the operations the REST API and signals drive (admin create and
//! delete, config reload, shutdown).
//!
//! - `config`: layered settings (defaults < files < `PKTVISOR_*` < flags) and definitions.
//! - `registry`: taps, policies, stream sharing and reference counting, resources policies.
//! - `reload`: SIGHUP as a diff of resolved graphs (unchanged policies untouched).
//! - `info`: pktvisor's info JSON for taps and policies.
//! - `http`: the REST API and Prometheus endpoint; `auth`: the admin token.
//! - `server`: the HTTP(S) server (timeouts, connection bound, blocking pool).
//! - `otlp_push`: the periodic OTLP push and self-telemetry.

pub mod auth;
pub mod check;
pub mod config;
pub mod http;
pub mod info;
pub mod otlp_push;
pub mod registry;
pub mod reload;
pub mod server;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::agent::config::{AgentConfig, AgentSettings, ConfigErrors, Definitions};
use crate::agent::registry::{AgentError, Registry};
use crate::config::error::ConfigError;
use crate::config::load::Loaded;
use crate::config::value::ConfigMap;
use crate::config::visor::{VisorDocument, parse_document};
use crate::enrich::geo::GeoDatabases;
use crate::enrich::services::ServiceRegistry;
use crate::processor::ProcessorContext;
use crate::service::plan::{PlanDefaults, ResolvedPlan, check_taps, resource_conflicts};

/// The running agent.
pub struct Agent {
    /// Resolved settings.
    pub settings: AgentSettings,
    registry: Mutex<Registry>,
    /// Names of taps and policies that came from config files (replaced on reload).
    from_files: Mutex<(Vec<String>, Vec<String>)>,
    files: Vec<PathBuf>,
    /// The command-line flags (a reload reads the files again under them).
    flags: figment::value::Dict,
    admin_token: Option<auth::AdminToken>,
    http: Arc<server::HttpStats>,
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
    /// The admin token file could not be read.
    #[error("{0}")]
    AdminToken(#[from] auth::TokenError),
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

/// The plan defaults of the settings (`--periods`, `--max-deep-sample`, where dnstap
/// sockets may go).
pub fn plan_defaults(s: &AgentSettings) -> PlanDefaults {
    PlanDefaults {
        num_periods: s.periods,
        deep_sample_rate: s.max_deep_sample,
        forced: ConfigMap::new(),
        socket_dirs: s.dnstap_socket_dirs.clone(),
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
    // pktvisor's IFACE document always writes the policy input's bpf, empty when none was
    // given: a policy POSTed on tap `default` without an input config is another stream.
    let input_cfg = format!("\n        config: {{bpf: {}}}", q(bpf.unwrap_or("")));
    let text = format!(
        "version: \"1.0\"\nvisor:\n  taps:\n    default: {{input_type: pcap, config: {{{tap_cfg}}}}}\n  policies:\n    default:\n      kind: collection\n      input:\n        tap: default\n        input_type: pcap{input_cfg}\n      handlers:\n        window_config: {{num_periods: {}, deep_sample_rate: {}}}\n        modules:\n          net: {{type: net}}\n          dhcp: {{type: dhcp}}\n          dns: {{type: dns}}\n          pcap_stats: {{type: pcap}}\n",
        s.periods, s.max_deep_sample
    );
    // Built from quoted values only: it always parses.
    parse_document(&text).unwrap_or_default()
}

impl Agent {
    /// Starts every tap and policy of `config` plus `extra` (the IFACE default policy).
    /// Every definition is resolved first and every problem reported at once; nothing
    /// keeps running on error.
    pub fn start(config: AgentConfig, extra: Option<VisorDocument>) -> Result<Agent, StartError> {
        server::tune_allocator();
        let admin_token = match &config.settings.admin_token_file {
            Some(p) => Some(auth::AdminToken::load(p)?),
            None => None,
        };
        crate::receiver::dnstap::ByteBudget::global().set_limit(
            usize::try_from(config.settings.dnstap_partial_frame_budget).unwrap_or(usize::MAX),
        );
        let ctx = processor_context(&config.settings)?;
        let mut reg = Registry::new(plan_defaults(&config.settings), ctx);
        reg.workers = config.settings.workers();
        let mut defs = config.definitions.clone();
        if let Some(doc) = extra {
            defs.taps.extend(doc.taps);
            defs.policies.extend(doc.policies);
        }
        let names = apply(&mut reg, &defs, &config.loaded).map_err(StartError::Config)?;
        Ok(Agent {
            settings: config.settings,
            registry: Mutex::new(reg),
            from_files: Mutex::new(names),
            files: config.files,
            flags: config.flags,
            admin_token,
            http: Arc::default(),
            started: Instant::now(),
            shutdown: CancellationToken::new(),
            otlp: std::sync::OnceLock::new(),
        })
    }

    /// The registry, locked.
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The admin API's bearer token, when one is configured.
    pub fn admin_token(&self) -> Option<&auth::AdminToken> {
        self.admin_token.as_ref()
    }

    /// The HTTP server's counters.
    pub fn http_stats(&self) -> Arc<server::HttpStats> {
        Arc::clone(&self.http)
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

    /// SIGHUP: reads the config files again (under the same flags and environment) and
    /// resolves them whole; then applies the difference (`reload`): unchanged policies keep
    /// running untouched, changed ones are replaced (new first), removed ones stopped. On any
    /// problem the running configuration stays exactly as it was. Changed settings are
    /// reported as needing a restart.
    pub fn reload_report(&self) -> Result<reload::ReloadReport, String> {
        let cfg = config::load(&self.files, &self.flags).map_err(|e| e.to_string())?;
        let restart = reload::restart_only_changes(&self.settings, &cfg.settings);
        let mut reg = self.registry();
        let mut names = self.from_files.lock().unwrap_or_else(|p| p.into_inner());
        let (mut report, now) = reload::apply(&mut reg, &names, &cfg.definitions, &cfg.loaded)
            .map_err(|e| e.to_string())?;
        *names = now;
        report.restart_needed = restart;
        Ok(report)
    }

    /// `reload_report`, logging what it did and which settings need a restart.
    pub fn reload(&self) -> Result<(), String> {
        let report = self.reload_report()?;
        tracing::info!("reload: {report}");
        for s in &report.restart_needed {
            tracing::warn!("reload: {s} needs a restart of pktvisord to take effect");
        }
        Ok(())
    }

    /// Stops every input's receiver (upstream first); the workers keep answering reads.
    pub fn stop_inputs(&self) {
        self.registry().stop_receivers();
    }

    /// Stops every input stream.
    pub fn stop(&self) {
        self.registry().stop_all();
    }
}

/// Resolves every tap and policy of `defs` against `reg` (whose own taps stay visible):
/// every problem with its path, nothing started.
pub fn resolve_definitions(
    reg: &Registry,
    defs: &Definitions,
) -> Result<Vec<(String, Vec<ResolvedPlan>)>, Vec<ConfigError>> {
    let mut doc = defs.document();
    for t in &reg.taps {
        if !doc.taps.iter().any(|x| x.name == t.name) {
            doc.taps.push(t.clone());
        }
    }
    let mut errors = check_taps(&defs.taps);
    let (resolved, more) = reg.resolve_each(&doc, &defs.policies, &[]);
    errors.extend(more);
    let all: Vec<ResolvedPlan> = resolved.iter().flat_map(|(_, v)| v.clone()).collect();
    errors.extend(resource_conflicts(&all));
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

/// Resolves every tap and policy first (all problems at once, with their paths and
/// files), then adds and starts them; a start failure (an interface that is missing, a
/// socket that cannot be bound) removes everything added here again.
fn apply(
    reg: &mut Registry,
    defs: &Definitions,
    loaded: &Loaded,
) -> Result<(Vec<String>, Vec<String>), ConfigErrors> {
    let resolved = resolve_definitions(reg, defs)
        .map_err(|e| ConfigErrors(e.into_iter().map(|x| loaded.place(x)).collect()))?;
    let mut errors = Vec::new();
    let mut taps = Vec::new();
    let mut policies = Vec::new();
    reg.global_handler_config = defs.global_handler_config.clone();
    for (name, e) in &defs.exports {
        reg.exports.retain(|(n, _)| n != name);
        reg.exports.push((name.clone(), *e));
    }
    for t in &defs.taps {
        match reg.add_tap(t.clone()) {
            Ok(()) => taps.push(t.name.clone()),
            Err(e) => errors.push(ConfigError::at(format!("visor.taps.{}", t.name), e.message)),
        }
    }
    // Every policy attaches before any new input reads: a file tap shared by several
    // policies feeds each of them from its first packet.
    reg.hold_starts = true;
    for (name, plans) in resolved {
        match reg.add_resolved(&name, plans) {
            Ok(()) => policies.push(name),
            Err(AgentError { message, .. }) => {
                errors.push(ConfigError::at(format!("visor.policies.{name}"), message));
            }
        }
    }
    for (name, AgentError { message, .. }) in reg.release_held() {
        errors.push(ConfigError::at(format!("visor.policies.{name}"), message));
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
    Err(ConfigErrors(
        errors.into_iter().map(|x| loaded.place(x)).collect(),
    ))
}
