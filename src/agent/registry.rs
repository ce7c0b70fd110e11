//! The agent's taps, policies and input streams (pktvisor's tap, policy and input managers).
//!
//! A policy is planned against the taps it selects; each plan runs on the input stream
//! named `<tap>-<config hash>`, which policies with equal input config share. A newly
//! created stream gets an auto `<stream>-resources` policy with the input_resources
//! handler. Deleting a policy detaches it; a stream left with only its resources policy is
//! stopped and removed with it. Creation is transactional: on any error everything created
//! for the policy is removed again. Errors carry pktvisor's texts and HTTP codes.

use std::path::PathBuf;

use crate::agent::stream::{HandlerState, PolicySnapshots, SourceSpec, Stream};
use crate::config::hostspec::HostSpec;
use crate::config::value::{ConfigMap, ConfigValue};
use crate::config::visor::{PolicyDef, TapDef, VisorDocument};
use crate::processor::{ProcessorContext, Select};
use crate::receiver::af_packet::AfPacketConfig;
use crate::receiver::dnstap::config::{DnstapInput, DnstapSource};
use crate::receiver::dnstap::filter::HostFilter;
use crate::receiver::pcap_live::{LiveConfig, interface_host_spec, resolve_interface};
use crate::service::pipeline::PolicyPipeline;
use crate::service::plan::{HandlerPlan, InputPlan, PlanDefaults, PolicyPlan, plan_policies};
use crate::time::Timespec;

/// Default TCP reassembly table bound (`tcp_packet_reassembly_cache_limit`).
const TCP_LIMIT: usize = 300_000;

/// An agent error: pktvisor's message and the HTTP status it maps to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AgentError {
    /// HTTP status.
    pub status: u16,
    /// The message.
    pub message: String,
}

impl AgentError {
    /// An error with pktvisor's status rules for create calls: 409 when the message says
    /// something "already" exists, 422 for an unmatched tap selector, else 500.
    pub fn create(message: impl Into<String>) -> Self {
        let message = message.into();
        let status = if message.contains("already") {
            409
        } else if message.contains("no tap match found") {
            422
        } else {
            500
        };
        AgentError { status, message }
    }

    /// A 404.
    pub fn not_found(message: &str) -> Self {
        AgentError {
            status: 404,
            message: message.into(),
        }
    }
}

/// A policy as registered.
#[derive(Debug)]
pub struct PolicyEntry {
    /// Name.
    pub name: String,
    /// One plan per selected tap.
    pub plans: Vec<PolicyPlan>,
    /// Auto input-resources policy of a stream.
    pub resources_of: Option<String>,
}

/// A running input stream and who uses it.
#[derive(Debug)]
pub struct StreamEntry {
    /// The stream.
    pub stream: Stream,
    /// The input plan that created it.
    pub input: InputPlan,
    /// Policies attached (including its resources policy).
    pub policies: Vec<String>,
}

/// Taps, policies and streams.
#[derive(Debug, Default)]
pub struct Registry {
    /// Taps in creation order.
    pub taps: Vec<TapDef>,
    /// `global_handler_config` of the config files.
    pub global_handler_config: Vec<(String, ConfigMap)>,
    /// Policies in creation order.
    pub policies: Vec<PolicyEntry>,
    /// Streams in creation order.
    pub streams: Vec<StreamEntry>,
    /// Plan defaults (`--periods`, `--max-deep-sample`).
    pub defaults: PlanDefaults,
    /// Shared services for processors.
    pub ctx: ProcessorContext,
}

fn window_keys(handler: &HandlerPlan) -> ConfigMap {
    let mut w = ConfigMap::new();
    for k in [
        "num_periods",
        "deep_sample_rate",
        "topn_count",
        "topn_percentile_threshold",
        "recorded_stream",
    ] {
        if let Some(v) = handler.config.get(k) {
            w.set(k, v.clone());
        }
    }
    w
}

/// Builds the source of an input plan, with the host spec its direction rules use.
fn source_of(input: &InputPlan) -> Result<(SourceSpec, HostSpec), String> {
    let cfg = &input.config;
    let text = |k: &str| cfg.get_str(k).map_err(|e| e.to_string());
    if input.input_type == "dnstap" {
        let d = DnstapInput::from_config(cfg)?;
        if matches!(d.source, DnstapSource::File(_)) {
            return Err("dnstap_file is only read by pktvisor-reader".into());
        }
        return Ok((SourceSpec::Dnstap(d), HostSpec::default()));
    }
    if input.input_type == "flow" {
        let f = crate::receiver::flow::FlowInput::from_config(cfg)?;
        if f.flow_type_defaulted {
            tracing::warn!("flow_type not specified, using sflow");
        }
        if matches!(f.source, crate::receiver::flow::FlowSource::File { .. }) {
            return Err("flow pcap_file is only read by pktvisor-reader".into());
        }
        return Ok((SourceSpec::Flow(f), HostSpec::default()));
    }
    if input.input_type != "pcap" {
        return Err(format!(
            "input type '{}' is not available in pktvisord yet",
            input.input_type
        ));
    }
    let explicit = match text("host_spec")? {
        Some(h) if !h.is_empty() => Some(HostSpec::parse(h).map_err(|e| e.to_string())?),
        _ => None,
    };
    let bpf = text("bpf")?.filter(|b| !b.is_empty()).map(str::to_string);
    if let Some(f) = text("pcap_file")? {
        return Ok((
            SourceSpec::File {
                path: PathBuf::from(f),
                bpf,
            },
            explicit.unwrap_or_default(),
        ));
    }
    let source = text("pcap_source")?.unwrap_or("libpcap");
    if source == "mock" {
        return Ok((SourceSpec::Mock, explicit.unwrap_or_default()));
    }
    let Some(iface) = text("iface")? else {
        return Err("no iface was specified for live capture".into());
    };
    match source {
        "libpcap" => {
            let dev = resolve_interface(iface).map_err(|e| e.to_string())?;
            let host = explicit.unwrap_or_else(|| interface_host_spec(&dev));
            let mut live = LiveConfig::new(&dev.name);
            live.bpf = bpf;
            Ok((SourceSpec::Live(live), host))
        }
        "af_packet" => {
            let mut c = AfPacketConfig::new(iface);
            c.bpf = bpf;
            Ok((SourceSpec::AfPacket(c), explicit.unwrap_or_default()))
        }
        _ => Err("unknown pcap source".into()),
    }
}

fn tcp_limit(input: &InputPlan) -> Result<usize, String> {
    Ok(input
        .config
        .get_u64("tcp_packet_reassembly_cache_limit")
        .map_err(|e| e.to_string())?
        .map_or(TCP_LIMIT, |v| usize::try_from(v).unwrap_or(usize::MAX)))
}

impl Registry {
    /// A registry with these plan defaults and services.
    pub fn new(defaults: PlanDefaults, ctx: ProcessorContext) -> Self {
        Registry {
            defaults,
            ctx,
            ..Registry::default()
        }
    }

    /// Adds a tap.
    pub fn add_tap(&mut self, tap: TapDef) -> Result<(), AgentError> {
        if self.taps.iter().any(|t| t.name == tap.name) {
            return Err(AgentError::create(format!(
                "module name '{}' already exists",
                tap.name
            )));
        }
        let doc = VisorDocument {
            taps: vec![tap.clone()],
            ..VisorDocument::default()
        };
        plan_policies(&doc, &self.defaults).map_err(|e| AgentError::create(e.0))?;
        self.taps.push(tap);
        Ok(())
    }

    /// Removes a tap; policies using it keep running.
    pub fn remove_tap(&mut self, name: &str) -> Result<(), AgentError> {
        let before = self.taps.len();
        self.taps.retain(|t| t.name != name);
        if self.taps.len() == before {
            return Err(AgentError::not_found("tap does not exists"));
        }
        Ok(())
    }

    /// Plans, starts and registers a policy (transactional).
    pub fn add_policy(&mut self, def: PolicyDef) -> Result<(), AgentError> {
        if self.policies.iter().any(|p| p.name == def.name) {
            return Err(AgentError::create(format!(
                "policy with name '{}' already defined",
                def.name
            )));
        }
        let doc = VisorDocument {
            taps: self.taps.clone(),
            global_handler_config: self.global_handler_config.clone(),
            policies: vec![def.clone()],
            config: None,
        };
        let mut plans = plan_policies(&doc, &self.defaults).map_err(|e| AgentError::create(e.0))?;
        for p in &mut plans {
            if p.input.config.contains("pcap_file") {
                for h in &mut p.handlers {
                    h.config.set("recorded_stream", ConfigValue::Bool(true));
                }
            }
        }
        let mut created_streams: Vec<String> = Vec::new();
        let mut attached: Vec<String> = Vec::new();
        let result = self.start_plans(&plans, &mut created_streams, &mut attached);
        if let Err(e) = result {
            self.rollback(&def.name, &created_streams, &attached);
            return Err(e);
        }
        self.policies.push(PolicyEntry {
            name: def.name,
            plans,
            resources_of: None,
        });
        Ok(())
    }

    fn start_plans(
        &mut self,
        plans: &[PolicyPlan],
        created: &mut Vec<String>,
        attached: &mut Vec<String>,
    ) -> Result<(), AgentError> {
        for plan in plans {
            let pipeline = PolicyPipeline::build(plan, &self.ctx).map_err(AgentError::create)?;
            let filter = if plan.input.input_type == "dnstap" {
                HostFilter::for_input(&plan.input.config, &plan.input.filter).map_err(|e| {
                    AgentError::create(format!(
                        "unable to create event proxy due to invalid input filter config: {e}"
                    ))
                })?
            } else {
                HostFilter::default()
            };
            let name = plan.input.stream_name.clone();
            if let Some(s) = self.streams.iter_mut().find(|s| s.stream.name == name) {
                tracing::info!("policy [{}]: reusing input stream {name}", plan.name);
                s.stream.attach(pipeline, filter);
                s.policies.push(plan.name.clone());
                attached.push(name);
                continue;
            }
            let resources = self.resources_plan(plan);
            let res_pipeline =
                PolicyPipeline::build(&resources, &self.ctx).map_err(AgentError::create)?;
            let (source, host) = source_of(&plan.input).map_err(AgentError::create)?;
            let limit = tcp_limit(&plan.input).map_err(AgentError::create)?;
            let stream = Stream::start(
                &name,
                &plan.input.tap,
                source,
                host,
                limit,
                vec![(res_pipeline, HostFilter::default()), (pipeline, filter)],
            )
            .map_err(|e| AgentError::create(format!("failed to start input {name}: {e}")))?;
            tracing::info!("policy [{}]: started input stream {name}", plan.name);
            self.streams.push(StreamEntry {
                stream,
                input: plan.input.clone(),
                policies: vec![resources.name.clone(), plan.name.clone()],
            });
            self.policies.push(PolicyEntry {
                name: resources.name.clone(),
                plans: vec![resources],
                resources_of: Some(name.clone()),
            });
            created.push(name);
        }
        Ok(())
    }

    /// The auto `<stream>-resources` policy of a plan's new stream.
    fn resources_plan(&self, plan: &PolicyPlan) -> PolicyPlan {
        let name = format!("{}-resources", plan.input.stream_name);
        let mut config = plan.handlers.first().map(window_keys).unwrap_or_default();
        if !config.contains("num_periods") {
            config.set("num_periods", ConfigValue::U64(self.defaults.num_periods));
        }
        config.set(
            "_internal_tap_name",
            ConfigValue::Str(plan.input.tap.clone()),
        );
        PolicyPlan {
            name: name.clone(),
            input: plan.input.clone(),
            handlers: vec![HandlerPlan {
                name: name.clone(),
                handler_type: "input_resources".into(),
                version: "1.0".into(),
                config,
            }],
            chained: false,
            merge_like_handlers: false,
        }
    }

    fn rollback(&mut self, policy: &str, created: &[String], attached: &[String]) {
        for name in attached {
            if let Some(s) = self.streams.iter_mut().find(|s| &s.stream.name == name) {
                s.stream.detach_now(policy);
                s.policies.retain(|p| p != policy);
            }
        }
        for name in created {
            self.drop_stream(name);
        }
    }

    fn drop_stream(&mut self, name: &str) {
        if let Some(i) = self.streams.iter().position(|s| s.stream.name == name) {
            let s = self.streams.remove(i);
            s.stream.stop();
        }
        self.policies
            .retain(|p| p.resources_of.as_deref() != Some(name));
    }

    /// Removes a policy; streams left with only their resources policy go too.
    pub fn remove_policy(&mut self, name: &str) -> Result<(), AgentError> {
        let Some(i) = self.policies.iter().position(|p| p.name == name) else {
            return Err(AgentError::not_found("policy does not exists"));
        };
        let entry = self.policies.remove(i);
        if let Some(stream) = &entry.resources_of {
            // Deleting a resources policy directly detaches it only.
            if let Some(s) = self.streams.iter_mut().find(|s| &s.stream.name == stream) {
                s.stream.detach_now(name);
                s.policies.retain(|p| p != name);
            }
            return Ok(());
        }
        let mut empty = Vec::new();
        for plan in &entry.plans {
            let sname = &plan.input.stream_name;
            if let Some(s) = self.streams.iter_mut().find(|s| &s.stream.name == sname) {
                s.stream.detach_now(name);
                s.policies.retain(|p| p != name);
                let only_resources = s
                    .policies
                    .iter()
                    .all(|p| *p == format!("{sname}-resources"));
                if only_resources {
                    empty.push(sname.clone());
                }
            }
        }
        for s in empty {
            self.drop_stream(&s);
        }
        Ok(())
    }

    /// Stops every stream.
    pub fn stop_all(&mut self) {
        for s in self.streams.drain(..) {
            s.stream.stop();
        }
        self.policies.clear();
    }

    /// The entry of a policy.
    pub fn policy(&self, name: &str) -> Option<&PolicyEntry> {
        self.policies.iter().find(|p| p.name == name)
    }

    /// The stream of a name.
    pub fn stream(&self, name: &str) -> Option<&StreamEntry> {
        self.streams.iter().find(|s| s.stream.name == name)
    }

    /// Snapshots of one policy (all its streams) or of every policy, in policy order.
    pub fn snapshots(&self, policy: Option<&str>, sel: Select) -> Vec<PolicySnapshots> {
        let now = Timespec::now();
        let mut out = Vec::new();
        for s in &self.streams {
            out.extend(s.stream.snapshots_now(policy, sel, now));
        }
        let order = |name: &str| self.policies.iter().position(|p| p.name == name);
        out.sort_by_key(|p| order(&p.policy));
        out
    }

    /// Every handler's buckets on every stream (OTLP push).
    pub fn readings(&self) -> Vec<crate::export::otlp::HandlerReading> {
        let now = Timespec::now();
        self.streams
            .iter()
            .flat_map(|s| s.stream.readings_now(now))
            .collect()
    }

    /// Handler states of every stream.
    pub fn handler_states(&self, stream: &str) -> Vec<HandlerState> {
        self.stream(stream)
            .map(|s| s.stream.handlers_now())
            .unwrap_or_default()
    }
}
