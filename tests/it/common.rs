//! Helpers shared by the integration tests: fixture paths (a missing fixture folder fails
//! under `CI=true`), building policies from plans, running captures, reading snapshots.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pktvisor::config::value::{ConfigMap, ConfigValue};
use pktvisor::enrich::geo::GeoDatabases;
use pktvisor::enrich::services::ServiceRegistry;
use pktvisor::processor::{ProcessorContext, Select};
use pktvisor::service::pipeline::PolicyPipeline;
use pktvisor::service::plan::{HandlerPlan, InputPlan, PolicyPlan, ResolvedPlan};
use pktvisor::service::stream::{NoProgress, run_recorded};
use pktvisor::time::Timespec;
use serde_json::Value;

/// pktvisor's own fixtures (the shared folder's `fixtures/pktvisor`), or `None` outside CI
/// when missing. Under `CI=true` a missing folder fails the test.
pub fn shared_fixtures() -> Option<PathBuf> {
    pktvisor::testdata::pktvisor_fixtures()
}

/// The shared conformance folder, same rules.
pub fn shared_conformance() -> Option<PathBuf> {
    pktvisor::testdata::shared("conformance")
}

/// The shared spec folder, same rules.
pub fn shared_spec() -> Option<PathBuf> {
    pktvisor::testdata::shared("spec")
}

/// This project's own fixtures.
pub fn own_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// A processor context with the given geo databases.
pub fn context(geo_city: Option<&Path>, geo_asn: Option<&Path>) -> ProcessorContext {
    ProcessorContext {
        geo: GeoDatabases::open(geo_city, geo_asn).expect("geo databases open"),
        geo_cache_size: 10_000,
        services: Arc::new(ServiceRegistry::default()),
    }
}

/// Turns a JSON config object (as in given.json) into a handler config.
pub fn config_from_json(v: &Value) -> ConfigMap {
    let mut c = ConfigMap::new();
    if let Some(o) = v.as_object() {
        for (k, v) in o {
            let value = match v {
                Value::Bool(b) => ConfigValue::Bool(*b),
                Value::Number(n) => ConfigValue::from_scalar_text(&n.to_string()),
                Value::String(s) => ConfigValue::from_scalar_text(s),
                Value::Array(a) => ConfigValue::List(
                    a.iter()
                        .map(|x| match x {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect(),
                ),
                Value::Object(_) => ConfigValue::Map(config_from_json(v)),
                Value::Null => continue,
            };
            c.set(k, value);
        }
    }
    c
}

/// A one-policy plan over a capture file with the given handlers (type, version, config).
pub fn plan(
    file: &Path,
    input_extra: &ConfigMap,
    handlers: &[(&str, &str, &str, ConfigMap)],
    chained: bool,
) -> PolicyPlan {
    let mut input = input_extra.clone();
    input.set("pcap_file", ConfigValue::Str(file.display().to_string()));
    PolicyPlan {
        name: "test".into(),
        input: InputPlan {
            stream_name: "pcap".into(),
            tap: "test".into(),
            input_type: "pcap".into(),
            config: input,
            filter: ConfigMap::new(),
        },
        handlers: handlers
            .iter()
            .map(|(name, t, v, cfg)| HandlerPlan {
                name: (*name).to_string(),
                handler_type: (*t).to_string(),
                version: (*v).to_string(),
                config: cfg.clone(),
            })
            .collect(),
        chained,
        merge_like_handlers: false,
    }
}

/// What a run saw.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// Frames (messages, datagrams) delivered.
    pub packets: u64,
    /// First timestamp.
    pub first_ts: Option<Timespec>,
    /// Last timestamp.
    pub last_ts: Option<Timespec>,
    /// TCP connections the reassembly table's bound evicted.
    pub tcp_evicted: u64,
}

/// Builds and runs a plan over its recording with the stream runner both binaries use;
/// returns the finished pipeline and what the run saw.
pub fn run_plan(
    plan: &PolicyPlan,
    ctx: &ProcessorContext,
) -> Result<(PolicyPipeline, RunReport), String> {
    run_plan_with(plan, ctx, 1)
}

/// `run_plan` with `workers` workers.
pub fn run_plan_with(
    plan: &PolicyPlan,
    ctx: &ProcessorContext,
    workers: usize,
) -> Result<(PolicyPipeline, RunReport), String> {
    let r = ResolvedPlan::from_plan(plan.clone())?;
    let make = || vec![PolicyPipeline::build(&r, ctx)];
    let f = run_recorded(r.input.as_ref(), workers, &make, &mut NoProgress)
        .map_err(|e| e.to_string())?;
    let report = RunReport {
        packets: f.stats.delivered,
        first_ts: f.stats.first_ts,
        last_ts: f.stats.last_ts,
        tcp_evicted: f.tcp_table.evicted,
    };
    let p = f.pipelines.into_iter().next().ok_or("no pipeline")?;
    Ok((p, report))
}

/// Counts the flow events a pipeline receives (a test handler).
#[derive(Debug, Default)]
pub struct FlowEventCounter(pub std::sync::Arc<std::sync::atomic::AtomicU64>);

impl pktvisor::processor::Processor for FlowEventCounter {
    fn schema_key(&self) -> &'static str {
        "flow_event_counter"
    }

    fn handle(&mut self, ev: &pktvisor::event::Event<'_>) -> bool {
        if matches!(ev, pktvisor::event::Event::Flow(_)) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        true
    }

    fn finish(&mut self) {}

    fn snapshot(
        &self,
        _: Select,
        _: Timespec,
    ) -> Result<Box<dyn pktvisor::metric::Snapshot>, pktvisor::window::PeriodError> {
        Err(pktvisor::window::PeriodError::NotAccumulated(0))
    }

    fn shard_window(&self) -> Box<dyn pktvisor::processor::snapshot::ShardWindow> {
        Box::new(NoWindow)
    }
}

/// The counter keeps no window.
struct NoWindow;

impl pktvisor::processor::snapshot::ShardWindow for NoWindow {
    fn merge_shard(&mut self, _: &dyn pktvisor::processor::snapshot::ShardWindow) -> bool {
        true
    }

    fn snapshot(
        &self,
        _: Select,
        _: Timespec,
    ) -> Result<Box<dyn pktvisor::metric::Snapshot>, pktvisor::window::PeriodError> {
        Err(pktvisor::window::PeriodError::NotAccumulated(0))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn clone_box(&self) -> Box<dyn pktvisor::processor::snapshot::ShardWindow> {
        Box::new(NoWindow)
    }
}

/// A one-policy plan reading a capture of flow exports (`flow_type`) with a flow handler.
pub fn flow_plan(file: &Path, flow_type: &str, cfg: &ConfigMap) -> PolicyPlan {
    let mut pl = plan(
        file,
        &ConfigMap::new(),
        &[("flow", "flow", "1.0", cfg.clone())],
        false,
    );
    pl.input.input_type = "flow".into();
    pl.input
        .config
        .set("flow_type", ConfigValue::Str(flow_type.to_string()));
    pl
}

/// Runs a capture of flow exports (`flow_type`) through a flow handler with `cfg` using the
/// stream runner; returns the finished run and the number of flow events delivered.
pub fn run_flow_capture(
    file: &Path,
    flow_type: &str,
    cfg: &ConfigMap,
    ctx: &ProcessorContext,
) -> Result<(pktvisor::service::stream::Finished, u64), String> {
    let pl = flow_plan(file, flow_type, cfg);
    let r = ResolvedPlan::from_plan(pl)?;
    let counter = FlowEventCounter::default();
    let events = counter.0.clone();
    let make = || {
        let mut pipeline = PolicyPipeline::build(&r, ctx);
        pipeline
            .handlers
            .push(pktvisor::service::pipeline::HandlerInstance {
                name: "counter".into(),
                processor: Box::new(FlowEventCounter(counter.0.clone())),
            });
        vec![pipeline]
    };
    let mut f =
        run_recorded(r.input.as_ref(), 1, &make, &mut NoProgress).map_err(|e| e.to_string())?;
    for p in &mut f.pipelines {
        p.handlers.retain(|h| h.name != "counter");
    }
    Ok((f, events.load(std::sync::atomic::Ordering::Relaxed)))
}

/// `{"<schema>": {...}}` of handler `index` for a selection.
pub fn handler_json(p: &PolicyPipeline, index: usize, sel: Select) -> Value {
    let snap = p.handlers[index]
        .processor
        .snapshot(sel, Timespec::now())
        .expect("snapshot");
    pktvisor::export::json::snapshot_value(snap.as_ref())
}
