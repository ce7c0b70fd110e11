//! The agent's taps, policies and input streams (pktvisor's tap, policy and input managers).
//!
//! A policy is planned against the taps it selects; each plan runs on the input stream
//! named `<tap>-<config hash>`, which policies with equal input config share. A newly
//! created stream gets an auto `<stream>-resources` policy with the input_resources
//! handler. Deleting a policy detaches it; a stream left with only its resources policy is
//! stopped and removed with it. Creation is transactional: on any error everything created
//! for the policy is removed again. Errors carry pktvisor's texts and HTTP codes.
//!
//! Reads do not hold the registry while workers build snapshots or encoders walk them:
//! `view` copies what they need (definitions, stream handles, statuses) in a moment, and
//! `RegistryView` answers from that copy.

use std::sync::Arc;

use crate::config::collector::Exports;
use crate::config::error::ConfigError;
use crate::config::hostspec::HostSpec;
use crate::config::value::ConfigMap;
use crate::config::visor::{PolicyDef, TapDef, VisorDocument, check_module_name};
use crate::metric::TableStat;
use crate::processor::{ProcessorContext, Select};
use crate::receiver::ReceiverConfig;
use crate::receiver::context::ReceiverStatus;
use crate::service::pipeline::PolicyPipeline;
use crate::service::plan::{
    InputPlan, PlanDefaults, PolicyPlan, ResolvedPlan, resolve_policy, tap_input,
};
use crate::service::stream::{HandlerState, PolicySnapshots, Stream, StreamHandle};
use crate::time::Timespec;

/// How long creating a policy waits for a new input to start (open its source).
const START_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Releases a prepared stream's receivers and waits until its input runs (stopping the
/// stream when the input fails to open).
fn start_now(stream: &mut Stream) -> Result<(), String> {
    stream.release().map_err(|e| e.to_string())?;
    stream
        .wait_started(START_WAIT)
        .inspect_err(|_| stream.stop())
}

/// The entry of a policy in a list of them.
fn policy_in<'a>(policies: &'a [PolicyEntry], name: &str) -> Option<&'a PolicyEntry> {
    policies.iter().find(|p| p.name == name)
}

/// The exporters of a policy (every exporter unless a pipeline named them).
fn exports_in(exports: &[(String, Exports)], name: &str) -> Exports {
    exports
        .iter()
        .find(|(p, _)| p == name)
        .map(|(_, e)| *e)
        .unwrap_or_default()
}

/// pktvisor's text for a policy whose input did not start.
fn failed_to_start(policy: &str, e: impl std::fmt::Display) -> AgentError {
    AgentError::create(format!("policy [{policy}] failed to start: {e}"))
}

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
#[derive(Clone, Debug)]
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
    /// Exporters of policies from collector-style pipelines (others go everywhere).
    pub exports: Vec<(String, Exports)>,
    /// Workers per input stream (an input's own `workers` key wins).
    pub workers: usize,
    /// Shared services for processors.
    pub ctx: ProcessorContext,
    /// While a document loads, new streams wait for [`Registry::release_held`].
    pub hold_starts: bool,
}

impl Registry {
    /// A registry with these plan defaults and services.
    pub fn new(defaults: PlanDefaults, ctx: ProcessorContext) -> Self {
        Registry {
            defaults,
            ctx,
            workers: crate::service::stream::default_workers(),
            ..Registry::default()
        }
    }

    /// Adds a tap.
    pub fn add_tap(&mut self, tap: TapDef) -> Result<(), AgentError> {
        check_module_name(&tap.name).map_err(AgentError::create)?;
        tracing::info!("tap [{}]: parsing", tap.name);
        if self.taps.iter().any(|t| t.name == tap.name) {
            return Err(AgentError::create(format!(
                "module name '{}' already exists",
                tap.name
            )));
        }
        tap_input(&tap).map_err(AgentError::create)?;
        tracing::info!("tap [{}]: loaded, type {}", tap.name, tap.input_type);
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

    /// Resolves a policy against the registered taps: every problem with its path, nothing
    /// started.
    pub fn resolve(&self, def: &PolicyDef) -> Result<Vec<ResolvedPlan>, Vec<ConfigError>> {
        let doc = VisorDocument {
            taps: self.taps.clone(),
            global_handler_config: self.global_handler_config.clone(),
            policies: vec![def.clone()],
            config: None,
        };
        resolve_policy(&doc, def, &self.defaults)
    }

    /// Resolves each of `policies` against `doc`: their plans, and every problem with its
    /// path (a name already registered, unless it is one of `replacing`, is one).
    pub fn resolve_each(
        &self,
        doc: &VisorDocument,
        policies: &[PolicyDef],
        replacing: &[String],
    ) -> (Vec<(String, Vec<ResolvedPlan>)>, Vec<ConfigError>) {
        let mut resolved = Vec::new();
        let mut errors = Vec::new();
        for p in policies {
            if self.policy(&p.name).is_some() && !replacing.contains(&p.name) {
                errors.push(ConfigError::at(
                    format!("visor.policies.{}", p.name),
                    format!("policy with name '{}' already defined", p.name),
                ));
                continue;
            }
            match resolve_policy(doc, p, &self.defaults) {
                Ok(v) => resolved.push((p.name.clone(), v)),
                Err(e) => errors.extend(e),
            }
        }
        (resolved, errors)
    }

    /// Resolves, starts and registers a policy (transactional). Errors are pktvisor's
    /// texts; nothing starts unless the whole policy resolves.
    pub fn add_policy(&mut self, def: PolicyDef) -> Result<(), AgentError> {
        tracing::info!("policy [{}]: parsing", def.name);
        if self.policies.iter().any(|p| p.name == def.name) {
            return Err(AgentError::create(format!(
                "policy with name '{}' already defined",
                def.name
            )));
        }
        let plans = self.resolve(&def).map_err(|errors| {
            AgentError::create(
                errors
                    .into_iter()
                    .next()
                    .map(|e| e.message)
                    .unwrap_or_default(),
            )
        })?;
        self.add_resolved(&def.name, plans)
    }

    /// Starts the receivers of the streams created while [`Registry::hold_starts`] was
    /// set (every policy of the document attached) and waits for each to run; the
    /// policies whose input failed, with pktvisor's text.
    pub fn release_held(&mut self) -> Vec<(String, AgentError)> {
        self.hold_starts = false;
        let mut failed = Vec::new();
        for s in &mut self.streams {
            if !s.stream.is_held() {
                continue;
            }
            if let Err(e) = start_now(&mut s.stream) {
                let resources = format!("{}-resources", s.stream.name);
                for p in s.policies.iter().filter(|p| **p != resources) {
                    failed.push((p.clone(), failed_to_start(p, &e)));
                }
            }
        }
        failed
    }

    /// Starts and registers the resolved plans of a policy (transactional).
    pub fn add_resolved(&mut self, name: &str, plans: Vec<ResolvedPlan>) -> Result<(), AgentError> {
        let mut created_streams: Vec<String> = Vec::new();
        let mut attached: Vec<String> = Vec::new();
        let result = self.start_plans(&plans, &mut created_streams, &mut attached);
        if let Err(e) = result {
            self.rollback(name, &created_streams, &attached);
            return Err(e);
        }
        tracing::info!("policy [{name}]: starting");
        self.policies.push(PolicyEntry {
            name: name.to_string(),
            plans: plans.into_iter().map(|r| r.plan).collect(),
            resources_of: None,
        });
        Ok(())
    }

    fn start_plans(
        &mut self,
        plans: &[ResolvedPlan],
        created: &mut Vec<String>,
        attached: &mut Vec<String>,
    ) -> Result<(), AgentError> {
        for r in plans {
            let ctx = &self.ctx;
            let make = || PolicyPipeline::build(r, ctx);
            let name = r.plan.input.stream_name.clone();
            if let Some(s) = self.streams.iter_mut().find(|s| s.stream.name == name) {
                tracing::debug!(
                    "policy [{}]: input stream already exists. reusing: {name}",
                    r.plan.name
                );
                s.stream.attach(&make);
                s.policies.push(r.plan.name.clone());
                attached.push(name);
                continue;
            }
            self.check_claims(r, &[])?;
            self.start_stream(r, &[r])?;
            created.push(name);
        }
        Ok(())
    }

    /// Errors when a resource `r`'s input claims is held by a running stream (other than
    /// those named in `leaving`).
    pub(crate) fn check_claims(
        &self,
        r: &ResolvedPlan,
        leaving: &[String],
    ) -> Result<(), AgentError> {
        for claim in r.input.resources() {
            if let Some(other) = self.streams.iter().find(|s| {
                !leaving.contains(&s.stream.name)
                    && s.stream
                        .input
                        .resources()
                        .iter()
                        .any(|c| c.collides(&claim))
            }) {
                return Err(AgentError::create(format!(
                    "{claim} is already used by input stream {}",
                    other.stream.name
                )));
            }
        }
        Ok(())
    }

    /// Whether a running stream holds a resource `r`'s input claims.
    pub(crate) fn claims_collide(&self, r: &ResolvedPlan) -> Vec<String> {
        let claims = r.input.resources();
        self.streams
            .iter()
            .filter(|s| {
                s.stream
                    .input
                    .resources()
                    .iter()
                    .any(|c| claims.iter().any(|x| x.collides(c)))
            })
            .map(|s| s.stream.name.clone())
            .collect()
    }

    /// Starts the input stream of `r`: its resources policy first, then `plans`, each a
    /// policy on it (every worker builds its own pipelines); registers it with its
    /// resources policy. Unless [`Registry::hold_starts`] is set, the input runs (or has
    /// failed with its error) when this returns.
    pub(crate) fn start_stream(
        &mut self,
        r: &ResolvedPlan,
        plans: &[&ResolvedPlan],
    ) -> Result<(), AgentError> {
        let name = r.plan.input.stream_name.clone();
        let resources = r
            .resources_plan(self.defaults.num_periods)
            .map_err(AgentError::create)?;
        let mut policies = vec![resources.plan.name.clone()];
        policies.extend(plans.iter().map(|p| p.plan.name.clone()));
        let workers = r.workers.unwrap_or(self.workers);
        tracing::info!("policy [{}]: creating input stream: {name}", r.plan.name);
        let ctx = &self.ctx;
        let make = || {
            let mut all = vec![PolicyPipeline::build(&resources, ctx)];
            all.extend(plans.iter().map(|p| PolicyPipeline::build(p, ctx)));
            all
        };
        let mut stream = Stream::prepare(&name, &r.plan.input.tap, r.input.clone(), workers, &make)
            .map_err(|e| failed_to_start(&r.plan.name, e))?;
        if !self.hold_starts {
            // Started synchronously, as in pktvisor: when the policy is created its input
            // runs (or the creation fails with the input's error).
            start_now(&mut stream).map_err(|e| failed_to_start(&r.plan.name, e))?;
        }
        tracing::info!("policy [{}]: starting", resources.plan.name);
        self.streams.push(StreamEntry {
            stream,
            input: r.plan.input.clone(),
            policies,
        });
        self.policies.push(PolicyEntry {
            name: resources.plan.name.clone(),
            plans: vec![resources.plan],
            resources_of: Some(name),
        });
        Ok(())
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

    pub(crate) fn drop_stream(&mut self, name: &str) {
        if let Some(i) = self.streams.iter().position(|s| s.stream.name == name) {
            let mut s = self.streams.remove(i);
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
        tracing::info!("policy [{name}]: stopping");
        let streams: Vec<String> = match &entry.resources_of {
            Some(stream) => vec![stream.clone()],
            None => entry
                .plans
                .iter()
                .map(|p| p.input.stream_name.clone())
                .collect(),
        };
        // pktvisor's rules: a stream left with only its resources policy goes with it; a
        // stream left with no policy at all (its resources policy deleted last) goes too.
        let mut empty = Vec::new();
        for sname in &streams {
            if let Some(s) = self.streams.iter_mut().find(|s| &s.stream.name == sname) {
                s.stream.detach_now(name);
                s.policies.retain(|p| p != name);
                let resources = format!("{sname}-resources");
                if s.policies.iter().all(|p| *p == resources) {
                    empty.push(sname.clone());
                } else {
                    tracing::info!(
                        "policy [{name}]: input instance {sname} not stopped because it is in use by another policy."
                    );
                }
            }
        }
        for s in empty {
            self.drop_stream(&s);
        }
        Ok(())
    }

    /// Stops every stream's receiver; workers keep answering reads (upstream first).
    pub fn stop_receivers(&mut self) {
        for s in &mut self.streams {
            s.stream.stop_receiver();
        }
    }

    /// Stops every stream.
    pub fn stop_all(&mut self) {
        for mut s in self.streams.drain(..) {
            s.stream.stop();
        }
        self.policies.clear();
    }

    /// The entry of a policy.
    pub fn policy(&self, name: &str) -> Option<&PolicyEntry> {
        policy_in(&self.policies, name)
    }

    /// The exporters a policy's metrics go to.
    pub fn exports(&self, name: &str) -> Exports {
        exports_in(&self.exports, name)
    }

    /// The entry of a policy the REST API and `/metrics` serve.
    pub fn api_policy(&self, name: &str) -> Option<&PolicyEntry> {
        self.policy(name).filter(|p| self.exports(&p.name).api)
    }

    /// The stream of a name.
    pub fn stream(&self, name: &str) -> Option<&StreamEntry> {
        self.streams.iter().find(|s| s.stream.name == name)
    }

    /// A copy of what reads need, taken in a moment: answer from it without the lock.
    pub fn view(&self) -> RegistryView {
        RegistryView {
            taps: self.taps.clone(),
            policies: self.policies.clone(),
            streams: self
                .streams
                .iter()
                .map(|s| StreamView {
                    name: s.stream.name.clone(),
                    tap: s.stream.tap.clone(),
                    input: Arc::clone(&s.stream.input),
                    host_spec: s.stream.host_spec.clone(),
                    status: Arc::clone(&s.stream.status),
                    handle: s.stream.handle(),
                    plan: s.input.clone(),
                    policies: s.policies.clone(),
                })
                .collect(),
            exports: self.exports.clone(),
        }
    }
}

/// What a read needs of one stream.
#[derive(Clone, Debug)]
pub struct StreamView {
    /// `<tap>-<config hash>`.
    pub name: String,
    /// Tap name.
    pub tap: String,
    /// The input's config.
    pub input: Arc<dyn ReceiverConfig>,
    /// Host spec in use.
    pub host_spec: HostSpec,
    /// The receiver's status.
    pub status: Arc<ReceiverStatus>,
    /// Asks the stream's worker.
    pub handle: StreamHandle,
    /// The input plan that created it.
    pub plan: InputPlan,
    /// Policies attached (including its resources policy).
    pub policies: Vec<String>,
}

impl StreamView {
    /// The stream's own bounded tables: the worker's (TCP reassembly, flow templates) and
    /// the receiver's (dnstap connections and partial frames).
    pub fn own_tables(&self, states: &[HandlerState]) -> Vec<TableStat> {
        let mut out: Vec<TableStat> = states
            .iter()
            .filter(|h| h.policy.is_empty())
            .flat_map(|h| h.tables.iter().cloned())
            .collect();
        out.extend(self.status.tables());
        out
    }
}

/// A copy of the registry for reads (see `Registry::view`).
#[derive(Clone, Debug, Default)]
pub struct RegistryView {
    /// Taps in creation order.
    pub taps: Vec<TapDef>,
    /// Policies in creation order.
    pub policies: Vec<PolicyEntry>,
    /// Streams in creation order.
    pub streams: Vec<StreamView>,
    /// Exporters of policies from collector-style pipelines.
    pub exports: Vec<(String, Exports)>,
}

impl RegistryView {
    /// The entry of a policy.
    pub fn policy(&self, name: &str) -> Option<&PolicyEntry> {
        policy_in(&self.policies, name)
    }

    /// The exporters a policy's metrics go to.
    pub fn exports(&self, name: &str) -> Exports {
        exports_in(&self.exports, name)
    }

    /// The entry of a policy the REST API and `/metrics` serve.
    pub fn api_policy(&self, name: &str) -> Option<&PolicyEntry> {
        self.policy(name).filter(|p| self.exports(&p.name).api)
    }

    /// The stream of a name.
    pub fn stream(&self, name: &str) -> Option<&StreamView> {
        self.streams.iter().find(|s| s.name == name)
    }

    /// Snapshots of one policy (all its streams) or of every policy the API serves, in
    /// policy order.
    pub fn snapshots(&self, policy: Option<&str>, sel: Select) -> Vec<PolicySnapshots> {
        let now = Timespec::now();
        let mut out = Vec::new();
        for s in &self.streams {
            out.extend(s.handle.snapshots_now(policy, sel, now));
        }
        out.retain(|p| self.exports(&p.policy).api);
        let order = |name: &str| self.policies.iter().position(|p| p.name == name);
        out.sort_by_key(|p| order(&p.policy));
        out
    }

    /// Every handler's buckets on every stream (OTLP push).
    pub fn readings(&self) -> Vec<crate::export::otlp::HandlerReading> {
        let now = Timespec::now();
        let mut out: Vec<_> = self
            .streams
            .iter()
            .flat_map(|s| s.handle.readings_now(now))
            .collect();
        out.retain(|r| self.exports(&r.policy).otlp);
        out
    }

    /// Handler states of a stream (and, under policy "", the stream's own tables).
    pub fn handler_states(&self, stream: &str) -> Vec<HandlerState> {
        self.stream(stream)
            .map(|s| s.handle.handlers_now())
            .unwrap_or_default()
    }

    /// Every bounded table: (stream, tap, policy, handler, table); the stream's own tables
    /// have an empty policy and handler.
    pub fn tables(&self) -> Vec<(String, String, String, String, TableStat)> {
        let mut out = Vec::new();
        for s in &self.streams {
            let states = s.handle.handlers_now();
            for t in s.own_tables(&states) {
                out.push((
                    s.name.clone(),
                    s.tap.clone(),
                    String::new(),
                    String::new(),
                    t,
                ));
            }
            for h in states.iter().filter(|h| !h.policy.is_empty()) {
                for t in &h.tables {
                    out.push((
                        s.name.clone(),
                        s.tap.clone(),
                        h.policy.clone(),
                        h.name.clone(),
                        t.clone(),
                    ));
                }
            }
        }
        out
    }
}
