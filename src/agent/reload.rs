//! Reloading the config files (SIGHUP) as a diff of resolved graphs.
//!
//! The new files are resolved whole first (taps, names, every policy's plans, resource
//! claims against what keeps running); any problem leaves everything as it is. Then each
//! policy the files define is compared with the running one by its resolved plans:
//!
//! - **unchanged**: left alone (its input keeps capturing, its counters keep counting);
//! - **changed**: its new pipeline is built and started before the old one goes — on a
//!   stream it keeps, swapped in one step by the worker; on a new stream, the stream is
//!   started first and the old pipeline detached after;
//! - **added**: started; **removed**: stopped (streams left without policies stop).
//!
//! Every step that can fail (starting a stream: an interface missing, a socket in use) is
//! done before anything running is touched, and undone on failure, so a failed reload
//! leaves the running set exactly as it was. The one exception is a new stream that needs
//! a resource (port, socket) an old stream being replaced holds: the old stream is stopped
//! first, and restarted from its plans if the new one fails (its counters then start over).
//!
//! Settings (`visor.config`, environment, flags) take effect only at start; a reload
//! reports each one that changed as needing a restart.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::agent::config::{AgentSettings, ConfigErrors, Definitions};
use crate::agent::registry::{AgentError, PolicyEntry, Registry};
use crate::config::error::ConfigError;
use crate::config::load::Loaded;
use crate::config::visor::{TapDef, VisorDocument};
use crate::service::pipeline::PolicyPipeline;
use crate::service::plan::{PolicyPlan, ResolvedPlan, check_taps};

/// What a reload did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Policies left running untouched.
    pub unchanged: Vec<String>,
    /// Policies replaced by their new definition.
    pub changed: Vec<String>,
    /// Policies started.
    pub added: Vec<String>,
    /// Policies stopped.
    pub removed: Vec<String>,
    /// Settings that changed and take effect only after a restart (`key: old → new`).
    pub restart_needed: Vec<String>,
}

impl std::fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        write!(
            f,
            "unchanged: {}; changed: {}; added: {}; removed: {}",
            list(&self.unchanged),
            list(&self.changed),
            list(&self.added),
            list(&self.removed)
        )
    }
}

/// The names of the taps and policies the config files defined.
pub type FileNames = (Vec<String>, Vec<String>);

/// Settings that differ between the running agent and the files now (`key: old → new`).
pub fn restart_only_changes(running: &AgentSettings, now: &AgentSettings) -> Vec<String> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(running), serde_json::to_value(now))
    else {
        return Vec::new();
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |v: Option<&Value>| match v {
                Some(v) if crate::agent::check::secret_key(k) && !v.is_null() => {
                    "<redacted>".to_string()
                }
                Some(v) => v.to_string(),
                None => "null".to_string(),
            };
            format!("visor.config.{k}: {} → {}", show(a.get(k)), show(b.get(k)))
        })
        .collect()
}

/// The taps after a reload and each new policy's plans.
type Resolved = (Vec<TapDef>, Vec<(String, Vec<ResolvedPlan>)>);

/// One policy of the new files, resolved and classified.
struct Planned {
    name: String,
    plans: Vec<ResolvedPlan>,
    /// The running entry it replaces (changed), if any.
    old: Option<PolicyEntry>,
}

/// Resolves `defs` against what keeps running: every problem, nothing touched.
fn resolve(
    reg: &Registry,
    old: &FileNames,
    defs: &Definitions,
) -> Result<Resolved, Vec<ConfigError>> {
    let mut errors = check_taps(&defs.taps);
    let mut taps: Vec<TapDef> = reg
        .taps
        .iter()
        .filter(|t| !old.0.contains(&t.name))
        .cloned()
        .collect();
    for t in &defs.taps {
        if taps.iter().any(|x| x.name == t.name) {
            errors.push(ConfigError::at(
                format!("visor.taps.{}", t.name),
                format!("module name '{}' already exists", t.name),
            ));
        } else {
            taps.push(t.clone());
        }
    }
    let doc = VisorDocument {
        taps: taps.clone(),
        global_handler_config: defs.global_handler_config.clone(),
        policies: defs.policies.clone(),
        config: None,
    };
    let (resolved, more) = reg.resolve_each(&doc, &defs.policies, &old.1);
    errors.extend(more);
    errors.extend(final_conflicts(reg, old, &resolved));
    if errors.is_empty() {
        Ok((taps, resolved))
    } else {
        Err(errors)
    }
}

/// Resource claims that would collide once the reload is done: between the new plans'
/// streams, and between them and the streams of policies that keep running.
fn final_conflicts(
    reg: &Registry,
    old: &FileNames,
    resolved: &[(String, Vec<ResolvedPlan>)],
) -> Vec<ConfigError> {
    let new_names: Vec<&String> = resolved.iter().map(|(n, _)| n).collect();
    // streams kept by policies the files do not (re)define
    let kept: Vec<&String> = reg
        .streams
        .iter()
        .filter(|s| {
            s.policies.iter().any(|p| {
                reg.policy(p).is_some_and(|e| e.resources_of.is_none())
                    && !old.1.contains(p)
                    && !new_names.contains(&p)
            })
        })
        .map(|s| &s.stream.name)
        .collect();
    let mut errors = Vec::new();
    let mut seen: Vec<(&str, &str, crate::receiver::Resource)> = Vec::new();
    for s in reg
        .streams
        .iter()
        .filter(|s| kept.contains(&&s.stream.name))
    {
        for r in s.stream.input.resources() {
            seen.push((&s.stream.name, "a running policy", r));
        }
    }
    for (name, plans) in resolved {
        for p in plans {
            for r in p.input.resources() {
                let clash = seen.iter().find(|(stream, _, other)| {
                    *stream != p.plan.input.stream_name && other.collides(&r)
                });
                match clash {
                    Some((_, owner, _)) => errors.push(ConfigError::at(
                        format!("visor.policies.{name}.input"),
                        format!("{r} is also claimed by {owner} with another input config"),
                    )),
                    None => seen.push((&p.plan.input.stream_name, name, r)),
                }
            }
        }
    }
    errors
}

/// Reloads `defs` into `reg` (see the module doc). `old` names what the files defined
/// before; on success the names they define now are returned with the report.
pub fn apply(
    reg: &mut Registry,
    old: &FileNames,
    defs: &Definitions,
    loaded: &Loaded,
) -> Result<(ReloadReport, FileNames), ConfigErrors> {
    let placed =
        |e: Vec<ConfigError>| ConfigErrors(e.into_iter().map(|x| loaded.place(x)).collect());
    let (taps, resolved) = resolve(reg, old, defs).map_err(placed)?;
    let mut report = ReloadReport::default();
    let mut work: Vec<Planned> = Vec::new();
    for (name, plans) in resolved {
        let running = reg.policy(&name).cloned();
        let same = running.as_ref().is_some_and(|e| {
            let new: Vec<&PolicyPlan> = plans.iter().map(|r| &r.plan).collect();
            e.plans.iter().collect::<Vec<_>>() == new
        });
        if same {
            report.unchanged.push(name);
            continue;
        }
        match &running {
            Some(_) => report.changed.push(name.clone()),
            None => report.added.push(name.clone()),
        }
        work.push(Planned {
            name,
            plans,
            old: running,
        });
    }
    let new_names: Vec<String> = defs.policies.iter().map(|p| p.name.clone()).collect();
    report.removed = old
        .1
        .iter()
        .filter(|p| !new_names.contains(p) && reg.policy(p).is_some())
        .cloned()
        .collect();
    start_new_streams(reg, &work, &report.removed).map_err(|e| {
        placed(vec![ConfigError::at(
            format!("visor.policies.{}", e.0),
            e.1.message,
        )])
    })?;
    // Nothing below can fail: swap pipelines in, then let the old ones go.
    for w in &work {
        for r in &w.plans {
            let sname = &r.plan.input.stream_name;
            let ctx = &reg.ctx;
            let make = || PolicyPipeline::build(r, ctx);
            let Some(s) = reg.streams.iter_mut().find(|s| &s.stream.name == sname) else {
                continue;
            };
            if s.policies.contains(&w.name) {
                let was_old = w
                    .old
                    .as_ref()
                    .is_some_and(|o| o.plans.iter().any(|p| &p.input.stream_name == sname));
                if was_old {
                    s.stream.replace(&make);
                }
                // else: started with the new stream already
            } else {
                s.stream.attach(&make);
                s.policies.push(w.name.clone());
            }
        }
    }
    for w in &work {
        let new_streams: Vec<&String> = w.plans.iter().map(|r| &r.plan.input.stream_name).collect();
        if let Some(o) = &w.old {
            for p in &o.plans {
                if !new_streams.contains(&&p.input.stream_name) {
                    detach(reg, &w.name, &p.input.stream_name);
                }
            }
        }
        let entry = PolicyEntry {
            name: w.name.clone(),
            plans: w.plans.iter().map(|r| r.plan.clone()).collect(),
            resources_of: None,
        };
        match reg.policies.iter_mut().find(|p| p.name == w.name) {
            Some(e) => *e = entry,
            None => reg.policies.push(entry),
        }
    }
    for p in &report.removed {
        let _ = reg.remove_policy(p);
    }
    drop_empty_streams(reg);
    reg.taps = taps;
    reg.global_handler_config = defs.global_handler_config.clone();
    reg.exports.retain(|(n, _)| !old.1.contains(n));
    for (name, e) in &defs.exports {
        reg.exports.retain(|(n, _)| n != name);
        reg.exports.push((name.clone(), *e));
    }
    let names = (
        defs.taps.iter().map(|t| t.name.clone()).collect(),
        new_names,
    );
    Ok((report, names))
}

/// Detaches `policy` from stream `sname`.
fn detach(reg: &mut Registry, policy: &str, sname: &str) {
    if let Some(s) = reg.streams.iter_mut().find(|s| s.stream.name == sname) {
        s.stream.detach_now(policy);
        s.policies.retain(|p| p != policy);
    }
}

/// Stops streams left with nothing but their resources policy.
fn drop_empty_streams(reg: &mut Registry) {
    let empty: Vec<String> = reg
        .streams
        .iter()
        .filter(|s| {
            s.policies
                .iter()
                .all(|p| reg.policy(p).is_none_or(|e| e.resources_of.is_some()))
        })
        .map(|s| s.stream.name.clone())
        .collect();
    for s in empty {
        reg.drop_stream(&s);
    }
}

/// A stream a replaced or removed policy leaves, which a new stream's resource needs.
struct Stopped {
    name: String,
    /// Its resources policy's plan, then the plan of every policy on it, to restart it.
    plans: Vec<PolicyPlan>,
}

/// Starts every stream the new plans need that is not running, with their pipelines.
/// On failure every stream started here is stopped and every stream stopped here is
/// restarted; the error names the policy.
fn start_new_streams(
    reg: &mut Registry,
    work: &[Planned],
    removed: &[String],
) -> Result<(), (String, AgentError)> {
    // streams that will have no policy left: their resources may be taken over
    let leaving: Vec<String> = reg
        .streams
        .iter()
        .filter(|s| {
            s.policies.iter().all(|p| {
                reg.policy(p).is_none_or(|e| e.resources_of.is_some())
                    || removed.contains(p)
                    || work.iter().any(|w| {
                        &w.name == p
                            && !w
                                .plans
                                .iter()
                                .any(|r| r.plan.input.stream_name == s.stream.name)
                    })
            })
        })
        .map(|s| s.stream.name.clone())
        .collect();
    let mut started: Vec<String> = Vec::new();
    let mut stopped: Vec<Stopped> = Vec::new();
    let mut result = Ok(());
    'outer: for w in work {
        for r in &w.plans {
            let sname = &r.plan.input.stream_name;
            if reg.stream(sname).is_some() {
                continue;
            }
            // every plan of the new config for this stream, so it starts whole
            let plans: Vec<&ResolvedPlan> = work
                .iter()
                .flat_map(|x| x.plans.iter())
                .filter(|x| &x.plan.input.stream_name == sname)
                .collect();
            let holders = reg.claims_collide(r);
            if let Some(h) = holders.iter().find(|h| !leaving.contains(h)) {
                result = Err((
                    w.name.clone(),
                    AgentError::create(format!(
                        "{} is already used by input stream {h}",
                        r.input
                            .resources()
                            .first()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    )),
                ));
                break 'outer;
            }
            for h in holders {
                stopped.push(stop_for_restart(reg, &h));
            }
            if let Err(e) = reg.start_stream(r, &plans) {
                result = Err((w.name.clone(), e));
                break 'outer;
            }
            tracing::info!("reload: policy [{}]: started input stream {sname}", w.name);
            started.push(sname.clone());
        }
    }
    if result.is_err() {
        for s in &started {
            reg.drop_stream(s);
        }
        for s in stopped {
            restart(reg, s);
        }
    }
    result
}

/// Stops a stream (keeping its policies' entries) and returns what restarts it.
fn stop_for_restart(reg: &mut Registry, name: &str) -> Stopped {
    let mut plans = Vec::new();
    if let Some(s) = reg.stream(name) {
        for p in &s.policies {
            if let Some(e) = reg.policy(p) {
                plans.extend(
                    e.plans
                        .iter()
                        .filter(|x| x.input.stream_name == name)
                        .cloned(),
                );
            }
        }
    }
    if let Some(i) = reg.streams.iter().position(|s| s.stream.name == name) {
        let mut s = reg.streams.remove(i);
        s.stream.stop();
    }
    reg.policies
        .retain(|p| p.resources_of.as_deref() != Some(name));
    tracing::info!("reload: stopped input stream {name} to hand its resources over");
    Stopped {
        name: name.to_string(),
        plans,
    }
}

/// Restarts a stream stopped by `stop_for_restart` (its policies start counting afresh).
fn restart(reg: &mut Registry, s: Stopped) {
    let mut resolved = Vec::new();
    for p in &s.plans {
        match ResolvedPlan::from_plan(p.clone()) {
            Ok(r) => resolved.push(r),
            Err(e) => tracing::error!("reload: cannot restart input stream {}: {e}", s.name),
        }
    }
    let resources = format!("{}-resources", s.name);
    let Some(first) = resolved.iter().find(|r| r.plan.name != resources) else {
        return;
    };
    let plans: Vec<&ResolvedPlan> = resolved
        .iter()
        .filter(|r| r.plan.name != resources)
        .collect();
    // its resources policy entry is registered again by start_stream
    if let Err(e) = reg.start_stream(first, &plans) {
        tracing::error!(
            "reload: cannot restart input stream {}: {}",
            s.name,
            e.message
        );
    }
}
