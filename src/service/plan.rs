//! Resolving policies against taps into runnable plans, with pktvisor's error texts: the
//! step between a parsed document (config files, admin API bodies, the reader's flags) and
//! anything starting. Every input config and handler config is parsed into its typed form
//! here, and every problem of a document is reported at once with its path; nothing is
//! bound or spawned.
//!
//! For each policy: its taps (by name or selector), the input config (tap config, then the
//! policy's `input.config`; for inputs whose filter is part of the stream also
//! `input.filter`), the input stream name `<tap>-<config hash>` that lets equal inputs be
//! shared, and each handler's config: defaults (only without `window_config`) <
//! `global_handler_config.<type>` < module `config` < `window_config` (+
//! `_internal_tap_name`) < module `filter` < `metric_groups`.

use std::sync::Arc;

use crate::config::error::ConfigError;
use crate::config::value::{ConfigMap, ConfigValue};
use crate::config::visor::{PolicyDef, TagValue, TapDef, TapRef, VisorDocument, check_module_name};
use crate::processor::{self, ProcessorConfig};
use crate::receiver::dnstap::filter::HostFilter;
use crate::receiver::{self, InputSpec, ReceiverConfig};
/// One input stream a policy reads.
#[derive(Clone, Debug, PartialEq)]
pub struct InputPlan {
    /// `<tap>-<config hash>`: equal for policies that can share the stream.
    pub stream_name: String,
    /// Tap name.
    pub tap: String,
    /// Input type (`sflow` is reported as `flow`).
    pub input_type: String,
    /// Tap config with the policy's `input.config` over it (and the filter, for pcap).
    pub config: ConfigMap,
    /// The policy's `input.filter`.
    pub filter: ConfigMap,
}

/// One handler of a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct HandlerPlan {
    /// Instance name `<policy>-<tap>-<module id>`.
    pub name: String,
    /// Handler type.
    pub handler_type: String,
    /// Version (`1.0`, `2.0`).
    pub version: String,
    /// Merged config.
    pub config: ConfigMap,
}

/// A policy bound to one tap.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyPlan {
    /// Policy name.
    pub name: String,
    /// The input.
    pub input: InputPlan,
    /// Handlers in module order.
    pub handlers: Vec<HandlerPlan>,
    /// Sequence modules: each handler feeds the next.
    pub chained: bool,
    /// Output merges handlers of the same type (`<schema>_merged`).
    pub merge_like_handlers: bool,
}

/// Values that apply when a policy has no `window_config` (pktvisord's `--periods`,
/// `--max-deep-sample`), keys every handler gets (the reader's `recorded_stream`), and
/// where inputs may create unix sockets.
#[derive(Clone, Debug, Default)]
pub struct PlanDefaults {
    /// Default `num_periods`.
    pub num_periods: u64,
    /// Default `deep_sample_rate`.
    pub deep_sample_rate: u64,
    /// Keys set on every handler after merging (e.g. `recorded_stream`).
    pub forced: ConfigMap,
    /// Directories unix sockets of inputs (dnstap `socket`) may be created in; empty: any.
    pub socket_dirs: Vec<std::path::PathBuf>,
}

/// Whether a unix socket path lies in one of `dirs` (every path when `dirs` is empty): an
/// absolute path without `.` or `..` components whose directory, symlinks resolved where it
/// exists, is inside an allowed directory (also resolved).
pub fn socket_allowed(path: &std::path::Path, dirs: &[std::path::PathBuf]) -> Result<(), String> {
    use std::path::Component;
    if dirs.is_empty() {
        return Ok(());
    }
    let list = || {
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let refuse = || {
        Err(format!(
            "socket {} is not inside an allowed socket directory ({})",
            path.display(),
            list()
        ))
    };
    if !path.is_absolute()
        || path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return refuse();
    }
    let Some(parent) = path.parent() else {
        return refuse();
    };
    let parent = parent
        .canonicalize()
        .unwrap_or_else(|_| parent.to_path_buf());
    let inside = dirs.iter().any(|d| {
        let d = d.canonicalize().unwrap_or_else(|_| d.clone());
        parent.starts_with(&d)
    });
    if inside { Ok(()) } else { refuse() }
}

/// A plan with everything parsed into typed form, ready to start.
#[derive(Clone, Debug)]
pub struct ResolvedPlan {
    /// The plan as merged config maps (comparable between configurations).
    pub plan: PolicyPlan,
    /// The input's entry in the table of inputs.
    pub input_spec: &'static InputSpec,
    /// The input's typed config.
    pub input: Arc<dyn ReceiverConfig>,
    /// The policy's own filter of the stream's events.
    pub filter: HostFilter,
    /// Each handler's typed config, in `plan.handlers` order.
    pub handlers: Vec<Arc<dyn ProcessorConfig>>,
    /// Workers the input's stream asks for (its `workers` key).
    pub workers: Option<usize>,
}

impl ResolvedPlan {
    /// Parses the typed configs of a plan written directly (the reader's built-in policies).
    pub fn from_plan(plan: PolicyPlan) -> Result<ResolvedPlan, String> {
        let spec = receiver::input(&plan.input.input_type)
            .ok_or_else(|| format!("input type '{}' is not available", plan.input.input_type))?;
        let input = (spec.parse)(&plan.input.config)?;
        let filter = (spec.policy_filter)(&plan.input.config, &plan.input.filter)?;
        let workers = workers_of(&plan.input.config)?;
        let mut handlers = Vec::with_capacity(plan.handlers.len());
        for h in &plan.handlers {
            let c = processor::configure(&h.handler_type, &h.version, &h.config)
                .map_err(|e| format!("policy [{}] failed to start: {e}", plan.name))?;
            handlers.push(Arc::from(c));
        }
        Ok(ResolvedPlan {
            plan,
            input_spec: spec,
            input,
            filter,
            handlers,
            workers,
        })
    }

    /// Makes the plan read `path` instead of its live source (the reader), keeping its
    /// stream name, and marks its handlers as running on the recording's clock.
    pub fn read_file(&mut self, path: &str) -> Result<(), String> {
        (self.input_spec.read_file)(&mut self.plan.input.config, path);
        self.input = (self.input_spec.parse)(&self.plan.input.config)?;
        Ok(())
    }

    /// The auto `<stream>-resources` policy of this plan's stream: one input_resources
    /// handler with the plan's window settings.
    pub fn resources_plan(&self, default_periods: u64) -> Result<ResolvedPlan, String> {
        let name = format!("{}-resources", self.plan.input.stream_name);
        let mut config = ConfigMap::new();
        if let Some(first) = self.plan.handlers.first() {
            for k in [
                "num_periods",
                "deep_sample_rate",
                "topn_count",
                "topn_percentile_threshold",
                "recorded_stream",
            ] {
                if let Some(v) = first.config.get(k) {
                    config.set(k, v.clone());
                }
            }
        }
        if !config.contains("num_periods") {
            config.set("num_periods", ConfigValue::U64(default_periods));
        }
        config.set(
            "_internal_tap_name",
            ConfigValue::Str(self.plan.input.tap.clone()),
        );
        let typed =
            processor::configure("input_resources", "1.0", &config).map_err(|e| e.to_string())?;
        Ok(ResolvedPlan {
            plan: PolicyPlan {
                name: name.clone(),
                input: self.plan.input.clone(),
                handlers: vec![HandlerPlan {
                    name,
                    handler_type: "input_resources".into(),
                    version: "1.0".into(),
                    config,
                }],
                chained: false,
                merge_like_handlers: false,
            },
            input_spec: self.input_spec,
            input: self.input.clone(),
            filter: HostFilter::default(),
            handlers: vec![Arc::from(typed)],
            workers: self.workers,
        })
    }
}

fn selector_matches(tap: &TapDef, all: bool, pairs: &[(String, TagValue)]) -> Result<bool, String> {
    let mut any = false;
    let mut every = true;
    for (k, v) in pairs {
        let found = tap.tags.iter().find(|(tk, _)| tk == k);
        let equal = match found {
            Some((_, tv)) => {
                if !tv.same_type(v) {
                    return Err(format!(
                        "Tap [{}]: tag and selector value types are different for key '{k}'",
                        tap.name
                    ));
                }
                tv == v
            }
            None => false,
        };
        any |= equal;
        every &= equal;
    }
    Ok(if all { every } else { any })
}

/// An input's `workers` key: how many workers its stream gets (1–256).
fn workers_of(cfg: &ConfigMap) -> Result<Option<usize>, String> {
    match cfg
        .get_u64("workers")
        .map_err(|e| format!("workers: {e}"))?
    {
        None => Ok(None),
        Some(n @ 1..=256) => Ok(Some(n as usize)),
        Some(n) => Err(format!("workers must be between 1 and 256, not {n}")),
    }
}

fn list_value(v: &[String]) -> ConfigValue {
    ConfigValue::List(v.to_vec())
}

/// The input of a tap, or pktvisor's error.
pub fn tap_input(tap: &TapDef) -> Result<&'static InputSpec, String> {
    receiver::input(&tap.input_type).ok_or_else(|| {
        format!(
            "Tap '{}' requires input stream type '{}' which is not available",
            tap.name, tap.input_type
        )
    })
}

/// Checks the taps of a document: their names (pktvisor's rule) and input types.
pub fn check_taps(taps: &[TapDef]) -> Vec<ConfigError> {
    taps.iter()
        .filter_map(|t| {
            check_module_name(&t.name)
                .and_then(|()| tap_input(t).map(|_| ()))
                .err()
                .map(|e| ConfigError::at(format!("visor.taps.{}", t.name), e))
        })
        .collect()
}

/// Resolves every policy of `doc` (in order) into plans, one per matching tap, and checks
/// that no two input streams claim the same resource. Every problem is returned.
pub fn resolve_document(
    doc: &VisorDocument,
    defaults: &PlanDefaults,
) -> Result<Vec<ResolvedPlan>, Vec<ConfigError>> {
    let mut errors = check_taps(&doc.taps);
    let mut out = Vec::new();
    for p in &doc.policies {
        match resolve_policy(doc, p, defaults) {
            Ok(v) => out.extend(v),
            Err(e) => errors.extend(e),
        }
    }
    errors.extend(resource_conflicts(&out));
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Resource claims of different streams that collide.
pub fn resource_conflicts(plans: &[ResolvedPlan]) -> Vec<ConfigError> {
    let mut seen: Vec<(&str, &str, receiver::Resource)> = Vec::new();
    let mut errors = Vec::new();
    for p in plans {
        for r in p.input.resources() {
            let clash = seen.iter().find(|(stream, _, other)| {
                *stream != p.plan.input.stream_name && other.collides(&r)
            });
            match clash {
                Some((_, policy, _)) => errors.push(ConfigError::at(
                    format!("visor.policies.{}.input", p.plan.name),
                    format!("{r} is also claimed by policy '{policy}' with another input config"),
                )),
                None => seen.push((&p.plan.input.stream_name, &p.plan.name, r)),
            }
        }
    }
    errors
}

/// Resolves one policy of `doc` into plans (one per matching tap); every problem found is
/// returned, each with its path and pktvisor's text.
pub fn resolve_policy(
    doc: &VisorDocument,
    p: &PolicyDef,
    defaults: &PlanDefaults,
) -> Result<Vec<ResolvedPlan>, Vec<ConfigError>> {
    let at = |suffix: &str, msg: String| {
        ConfigError::at(format!("visor.policies.{}{suffix}", p.name), msg)
    };
    if let Err(e) = check_module_name(&p.name) {
        return Err(vec![at("", e)]);
    }
    let taps: Vec<&TapDef> = match &p.tap {
        TapRef::Name(n) => match doc.taps.iter().find(|t| &t.name == n) {
            Some(t) => vec![t],
            None => return Err(vec![at("", format!("tap '{n}' does not exist"))]),
        },
        TapRef::Selector { all, pairs } => {
            let mut v = Vec::new();
            for t in &doc.taps {
                match selector_matches(t, *all, pairs) {
                    Ok(true) => v.push(t),
                    Ok(false) => {}
                    Err(e) => return Err(vec![at("", e)]),
                }
            }
            if v.is_empty() {
                return Err(vec![at(
                    "",
                    "no tap match found for specified 'input.tap_selector' tags".into(),
                )]);
            }
            v
        }
    };
    let mut errors = Vec::new();
    for m in &p.modules {
        if processor::kind(&m.handler_type, &m.version).is_none() {
            errors.push(at(
                &format!(".handlers.modules.{}", m.id),
                format!(
                    "Policy '{}' requires stream handler type '{}' and version '{}' which is not available",
                    p.name, m.handler_type, m.version
                ),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut plans = Vec::new();
    for tap in taps {
        let spec = match tap_input(tap) {
            Ok(s) => s,
            Err(e) => return Err(vec![at("", e)]),
        };
        if receiver::input(&p.input_type).is_none_or(|s| s.kind != spec.kind) {
            return Err(vec![at(
                "",
                format!(
                    "input_type for policy specified tap '{}' doesn't match tap's defined input type: {}/{}",
                    tap.name, p.input_type, tap.input_type
                ),
            )]);
        }
        match resolve_plan(doc, p, tap, spec, defaults) {
            Ok(r) => plans.push(r),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(plans)
    } else {
        Err(errors)
    }
}

/// A handler's merged config.
fn handler_config(
    doc: &VisorDocument,
    p: &PolicyDef,
    tap: &TapDef,
    m: &crate::config::visor::ModuleDef,
    defaults: &PlanDefaults,
) -> ConfigMap {
    let mut cfg = ConfigMap::new();
    if p.window_config.is_none() {
        cfg.set("num_periods", ConfigValue::U64(defaults.num_periods));
        cfg.set(
            "deep_sample_rate",
            ConfigValue::U64(defaults.deep_sample_rate),
        );
    }
    if let Some((_, g)) = doc
        .global_handler_config
        .iter()
        .find(|(t, _)| *t == m.handler_type)
    {
        cfg.merge(g);
    }
    cfg.merge(&m.config);
    if let Some(w) = &p.window_config {
        cfg.merge(w);
    }
    cfg.set("_internal_tap_name", ConfigValue::Str(tap.name.clone()));
    cfg.merge(&m.filter);
    if let Some(e) = &m.enable {
        cfg.set("enable", list_value(e));
    }
    if let Some(d) = &m.disable {
        cfg.set("disable", list_value(d));
    }
    cfg.merge(&defaults.forced);
    cfg
}

fn resolve_plan(
    doc: &VisorDocument,
    p: &PolicyDef,
    tap: &TapDef,
    spec: &'static InputSpec,
    defaults: &PlanDefaults,
) -> Result<ResolvedPlan, Vec<ConfigError>> {
    let input_path = format!("visor.policies.{}.input", p.name);
    let mut errors = Vec::new();
    let mut config = tap.config.clone();
    config.merge(&p.input_config);
    if spec.filter_in_stream {
        config.merge(&p.input_filter);
    }
    let stream_name = format!("{}-{}", tap.name, config.config_hash());
    let mut input = None;
    let mut filter = HostFilter::default();
    let workers = workers_of(&config).unwrap_or_else(|e| {
        errors.push(ConfigError::at(&input_path, e));
        None
    });
    match receiver::check_keys(spec, &config) {
        Err(e) => errors.push(ConfigError::at(
            &input_path,
            format!("invalid input config: {e}"),
        )),
        Ok(()) => {
            match (spec.parse)(&config) {
                Ok(i) => {
                    for r in i.resources() {
                        if let receiver::Resource::UnixSocket(path) = &r
                            && let Err(e) = socket_allowed(path, &defaults.socket_dirs)
                        {
                            errors.push(ConfigError::at(&input_path, e));
                        }
                    }
                    input = Some(i);
                }
                Err(e) => errors.push(ConfigError::at(&input_path, e)),
            }
            match (spec.policy_filter)(&config, &p.input_filter) {
                Ok(f) => filter = f,
                Err(e) => errors.push(ConfigError::at(format!("{input_path}.filter"), e)),
            }
        }
    }
    // Handlers of a recording run on its clock.
    let recorded = input.as_ref().is_some_and(|i| i.recorded());
    let mut handlers = Vec::with_capacity(p.modules.len());
    let mut typed = Vec::with_capacity(p.modules.len());
    for m in &p.modules {
        let name = format!("{}-{}-{}", p.name, tap.name, m.id);
        if let Err(e) = check_module_name(&name) {
            errors.push(ConfigError::at(
                format!("visor.policies.{}.handlers.modules.{}", p.name, m.id),
                e,
            ));
        }
        let mut cfg = handler_config(doc, p, tap, m, defaults);
        if recorded {
            cfg.set("recorded_stream", ConfigValue::Bool(true));
        }
        match processor::configure(&m.handler_type, &m.version, &cfg) {
            Ok(c) => typed.push(Arc::from(c)),
            Err(e) => errors.push(ConfigError::at(
                format!("visor.policies.{}.handlers.modules.{}", p.name, m.id),
                format!("policy [{}] failed to start: {e}", p.name),
            )),
        }
        handlers.push(HandlerPlan {
            name,
            handler_type: m.handler_type.clone(),
            version: m.version.clone(),
            config: cfg,
        });
    }
    let Some(input) = input.filter(|_| errors.is_empty()) else {
        return Err(errors);
    };
    Ok(ResolvedPlan {
        plan: PolicyPlan {
            name: p.name.clone(),
            input: InputPlan {
                stream_name,
                tap: tap.name.clone(),
                input_type: spec.name().to_string(),
                config,
                filter: p.input_filter.clone(),
            },
            handlers,
            chained: p.chained,
            merge_like_handlers: p.merge_like_handlers,
        },
        input_spec: spec,
        input,
        filter,
        handlers: typed,
        workers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::visor::parse_document;

    /// The plans of a document, or its first problem's message.
    fn plan_policies(doc: &VisorDocument, d: &PlanDefaults) -> Result<Vec<PolicyPlan>, Problem> {
        resolve_document(doc, d)
            .map(|v| v.into_iter().map(|r| r.plan).collect())
            .map_err(|e| Problem(e[0].message.clone()))
    }

    #[derive(Debug)]
    struct Problem(String);

    fn defaults() -> PlanDefaults {
        PlanDefaults {
            num_periods: 5,
            deep_sample_rate: 100,
            forced: ConfigMap::new(),
            socket_dirs: Vec::new(),
        }
    }

    const DOC: &str = r#"
visor:
  global_handler_config:
    net: {topn_count: 3}
  taps:
    a: {input_type: pcap, config: {iface: eth0}, tags: {site: x, n: 1}}
    b: {input_type: pcap, config: {iface: eth1}, tags: {site: y, n: 2}}
  policies:
    p1:
      kind: collection
      input: {tap_selector: {any: [{site: x}, {n: 2}]}, input_type: pcap, filter: {bpf: "udp"}}
      handlers:
        modules:
          n: {type: net, config: {num_periods: 2}, filter: {geoloc_notfound: true}, metric_groups: {disable: [top_geo]}}
    p2:
      kind: collection
      input: {tap: a, input_type: pcap, filter: {bpf: "udp"}}
      handlers:
        window_config: {num_periods: 3}
        modules:
          n: {type: net, config: {num_periods: 2}}
"#;

    #[test]
    fn selectors_merges_and_stream_sharing() {
        let doc = parse_document(DOC).unwrap();
        let plans = plan_policies(&doc, &defaults()).unwrap();
        assert_eq!(plans.len(), 3);
        assert_eq!(plans[0].input.tap, "a");
        assert_eq!(plans[1].input.tap, "b");
        let h = &plans[0].handlers[0];
        assert_eq!(h.name, "p1-a-n");
        assert_eq!(h.config.get_u64("num_periods"), Ok(Some(2)));
        assert_eq!(h.config.get_u64("topn_count"), Ok(Some(3)));
        assert_eq!(h.config.get_bool("geoloc_notfound"), Ok(Some(true)));
        assert_eq!(h.config.get_str("_internal_tap_name"), Ok(Some("a")));
        assert_eq!(plans[0].input.config.get_str("bpf"), Ok(Some("udp")));
        // window_config wins over the module config
        assert_eq!(
            plans[2].handlers[0].config.get_u64("num_periods"),
            Ok(Some(3))
        );
        // same tap + input config + filter: same stream
        assert_eq!(plans[0].input.stream_name, plans[2].input.stream_name);
        assert_ne!(plans[0].input.stream_name, plans[1].input.stream_name);
    }

    #[test]
    fn resolution_errors() {
        let bad_tap = DOC.replace("tap: a,", "tap: zz,");
        assert_eq!(
            plan_policies(&parse_document(&bad_tap).unwrap(), &defaults())
                .unwrap_err()
                .0,
            "tap 'zz' does not exist"
        );
        let no_match = DOC.replace("{site: x}, {n: 2}", "{site: q}");
        assert_eq!(
            plan_policies(&parse_document(&no_match).unwrap(), &defaults())
                .unwrap_err()
                .0,
            "no tap match found for specified 'input.tap_selector' tags"
        );
        let types = DOC.replace("{n: 2}", "{n: two}");
        assert_eq!(
            plan_policies(&parse_document(&types).unwrap(), &defaults())
                .unwrap_err()
                .0,
            "Tap [a]: tag and selector value types are different for key 'n'"
        );
        let mismatch = DOC.replace("tap: a, input_type: pcap", "tap: a, input_type: dnstap");
        assert_eq!(
            plan_policies(&parse_document(&mismatch).unwrap(), &defaults())
                .unwrap_err()
                .0,
            "input_type for policy specified tap 'a' doesn't match tap's defined input type: dnstap/pcap"
        );
        let v3 = DOC.replace(
            "n: {type: net, config: {num_periods: 2}}",
            "n: {type: net, require_version: \"3.0\"}",
        );
        assert_eq!(
            plan_policies(&parse_document(&v3).unwrap(), &defaults())
                .unwrap_err()
                .0,
            "Policy 'p2' requires stream handler type 'net' and version '3.0' which is not available"
        );
        let unavailable = DOC.replace("b: {input_type: pcap", "b: {input_type: carrier_pigeon");
        assert_eq!(
            plan_policies(&parse_document(&unavailable).unwrap(), &defaults())
                .unwrap_err()
                .0,
            "Tap 'b' requires input stream type 'carrier_pigeon' which is not available"
        );
        let bad_key = DOC.replace("config: {iface: eth0}", "config: {iface: eth0, nope: 1}");
        assert!(
            plan_policies(&parse_document(&bad_key).unwrap(), &defaults())
                .unwrap_err()
                .0
                .starts_with(
                    "invalid input config: nope is an invalid/unsupported config or filter."
                )
        );
    }
}
