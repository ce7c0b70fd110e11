//! The collector-style configuration, as OpenTelemetry Collector users write it, compiled
//! into the same taps and policies as pktvisor's YAML:
//!
//! ```yaml
//! receivers:
//!   pcap/eth0: {iface: eth0, host_spec: 10.0.0.0/8}
//! processors:
//!   dns/v2: {require_version: "2.0", metric_groups: {enable: [top_qnames]}}
//!   net: {}
//! exporters:
//!   otlp: {endpoint: "${env:OTEL_EXPORTER_OTLP_ENDPOINT:-http://localhost:4317}"}
//!   pktvisor_api: {}
//! service:
//!   pipelines:
//!     metrics/edge: {receivers: [pcap/eth0], processors: [net, dns/v2], exporters: [otlp, pktvisor_api]}
//! ```
//!
//! - Ids are `type[/name]`. A receiver is a tap named after its id (`pcap/eth0` → tap
//!   `pcap_eth0`, tagged `receiver: pcap/eth0`) whose config is the receiver's body; its type
//!   is an input type (`pcap`, `dnstap`, `flow`, `sflow`; `netflow` and `ipfix` are flow
//!   receivers with that `flow_type`).
//! - A processor is a handler module of the type of its id, named after the id (`dns/v2` →
//!   `dns_v2`); its body takes a module's keys (`require_version`, `config`, `filter`,
//!   `metric_groups`), any other key is handler config.
//! - An exporter is `otlp` (OTLP/gRPC, the keys of `visor.config.otlp` and the Collector's
//!   `tls: {insecure, ca_file, cert_file, key_file}`), `otlphttp` (the same over HTTP) or
//!   `pktvisor_api` (pktvisor's REST `/api/v1` and `/metrics`; `endpoint: host:port`).
//! - A pipeline `metrics[/name]` is a policy named `name` (`default` for a bare
//!   `metrics`, so pktvisor's legacy routes serve it) on its receivers (one input type per
//!   pipeline), with its processors as modules in order. Optional keys: `window_config`,
//!   `filter` (the policy's input filter), `chain: true` (sequence modules) and
//!   `merge_like_handlers`. Only the exporters a pipeline lists get its metrics.
//! - `${env:VAR}` and `${env:VAR:-default}` are expanded in every string (`$$` is a literal
//!   `$`); several files are merged in order, maps key by key, later files winning.

use serde_norway::{Mapping, Value as Yaml};

use crate::config::error::ConfigError;
use crate::config::value::{ConfigMap, ConfigValue, yaml_scalar_text};
use crate::config::visor::{ModuleDef, PolicyDef, TagValue, TapDef, TapRef, parse_module};
use crate::receiver;

/// The top-level sections of a collector-style document.
pub const SECTIONS: [&str; 4] = ["receivers", "processors", "exporters", "service"];

/// Whether a document root has collector-style sections.
pub fn is_collector_style(root: &Mapping) -> bool {
    SECTIONS
        .iter()
        .any(|s| root.contains_key(Yaml::String((*s).to_string())))
}

/// Expands `${env:VAR}`, `${env:VAR:-default}` and `$$` in one string; an unset variable
/// without a default expands to nothing, as in the Collector.
pub fn expand_str(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(body) = tail.strip_prefix("${") {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated ${{…}} in {s:?}"))?;
            let inner = &body[..end];
            let Some(var) = inner.strip_prefix("env:") else {
                return Err(format!(
                    "unsupported expansion ${{{inner}}}: only ${{env:NAME}} and ${{env:NAME:-default}}"
                ));
            };
            let (name, default) = match var.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (var, None),
            };
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                return Err(format!("invalid environment variable name {name:?}"));
            }
            match (env(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {}
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Expands every string scalar (keys too) below `v`; problems are collected with paths.
pub fn expand_env(
    v: &mut Yaml,
    env: &dyn Fn(&str) -> Option<String>,
    path: &str,
    errors: &mut Vec<ConfigError>,
) {
    match v {
        Yaml::String(s) => match expand_str(s, env) {
            Ok(x) => *s = x,
            Err(e) => errors.push(ConfigError::at(path, e)),
        },
        Yaml::Sequence(seq) => {
            for (i, item) in seq.iter_mut().enumerate() {
                expand_env(item, env, &format!("{path}[{i}]"), errors);
            }
        }
        Yaml::Mapping(m) => {
            for (k, item) in m.iter_mut() {
                let key = yaml_scalar_text(k).unwrap_or_default();
                let p = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                expand_env(item, env, &p, errors);
            }
        }
        Yaml::Tagged(t) => expand_env(&mut t.value, env, path, errors),
        _ => {}
    }
}

/// Deep-merges `over` into `base`: maps key by key (recursively), anything else replaced.
pub fn merge(base: &mut Yaml, over: Yaml) {
    match (base, over) {
        (Yaml::Mapping(b), Yaml::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Which exporters get a policy's metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exports {
    /// The OTLP push.
    pub otlp: bool,
    /// pktvisor's REST API and `/metrics`.
    pub api: bool,
}

impl Default for Exports {
    fn default() -> Self {
        Exports {
            otlp: true,
            api: true,
        }
    }
}

/// A compiled collector-style document.
#[derive(Clone, Debug, Default)]
pub struct Compiled {
    /// The receivers as taps.
    pub taps: Vec<TapDef>,
    /// The pipelines as policies.
    pub policies: Vec<PolicyDef>,
    /// The OTLP exporter the pipelines use, as `visor.config.otlp` keys.
    pub otlp: Option<serde_json::Value>,
    /// `host`, `port` of the pktvisor_api exporter's endpoint.
    pub api_endpoint: Option<(String, u16)>,
    /// Each policy's exporters.
    pub exports: Vec<(String, Exports)>,
    /// Where each compiled name came from: (`visor.…` path prefix, collector path).
    pub origins: Vec<(String, String)>,
}

impl Compiled {
    /// Rewrites the path of a problem found in the compiled taps and policies to the
    /// collector section it came from.
    pub fn translate(&self, mut e: ConfigError) -> ConfigError {
        let best = self
            .origins
            .iter()
            .filter(|(visor, _)| e.path == *visor || e.path.starts_with(&format!("{visor}.")))
            .max_by_key(|(visor, _)| visor.len());
        if let Some((_, to)) = best {
            e.path = to.clone();
        }
        e
    }
}

fn name_of(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn split_id(id: &str) -> (&str, Option<&str>) {
    match id.split_once('/') {
        Some((t, n)) => (t, Some(n)),
        None => (id, None),
    }
}

fn valid_id(id: &str) -> bool {
    let (t, n) = split_id(id);
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    ok(t) && n.is_none_or(ok) && t.starts_with(|c: char| c.is_ascii_alphabetic())
}

fn section<'a>(
    root: &'a Mapping,
    key: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<(String, &'a Yaml)> {
    match root.get(Yaml::String(key.to_string())) {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::Mapping(m)) => {
            let mut out = Vec::new();
            for (k, v) in m {
                match yaml_scalar_text(k) {
                    Some(id) if valid_id(&id) => out.push((id, v)),
                    Some(id) => errors.push(ConfigError::at(
                        format!("{key}.{id}"),
                        "invalid id: use type[/name] with letters, digits, '_', '-' and '.'",
                    )),
                    None => errors.push(ConfigError::at(key, "ids must be strings")),
                }
            }
            out
        }
        Some(_) => {
            errors.push(ConfigError::at(key, "must be a map of ids to configs"));
            Vec::new()
        }
    }
}

fn body_map(v: &Yaml, path: &str, errors: &mut Vec<ConfigError>) -> Mapping {
    match v {
        Yaml::Null => Mapping::new(),
        Yaml::Mapping(m) => m.clone(),
        _ => {
            errors.push(ConfigError::at(path, "must be a map"));
            Mapping::new()
        }
    }
}

fn receiver_tap(id: &str, body: &Yaml, errors: &mut Vec<ConfigError>) -> Option<TapDef> {
    let path = format!("receivers.{id}");
    let (kind, _) = split_id(id);
    let Some((spec, flow_type)) = receiver::input_named(kind) else {
        let known: Vec<&str> = receiver::INPUTS
            .iter()
            .flat_map(|s| s.names.iter().copied())
            .chain(["netflow", "ipfix"])
            .collect();
        errors.push(ConfigError::at(
            &path,
            format!(
                "unknown receiver type '{kind}'; available: {}",
                known.join(", ")
            ),
        ));
        return None;
    };
    let m = body_map(body, &path, errors);
    let mut config = match ConfigMap::from_yaml(&m) {
        Ok(c) => c,
        Err(e) => {
            errors.push(ConfigError::at(&path, e.to_string()));
            return None;
        }
    };
    if let Some(t) = flow_type
        && !config.contains("flow_type")
    {
        config.set("flow_type", ConfigValue::Str(t.to_string()));
    }
    Some(TapDef {
        name: name_of(id),
        input_type: spec.name().to_string(),
        config,
        tags: vec![("receiver".to_string(), TagValue::Str(id.to_string()))],
    })
}

const MODULE_KEYS: [&str; 4] = ["require_version", "config", "filter", "metric_groups"];

fn processor_module(id: &str, body: &Yaml, errors: &mut Vec<ConfigError>) -> Option<ModuleDef> {
    let path = format!("processors.{id}");
    let (kind, _) = split_id(id);
    if !crate::processor::type_exists(kind) {
        let mut known: Vec<&str> = crate::processor::KINDS
            .iter()
            .map(|k| k.handler_type)
            .collect();
        known.dedup();
        errors.push(ConfigError::at(
            &path,
            format!(
                "unknown processor type '{kind}'; available: {}",
                known.join(", ")
            ),
        ));
        return None;
    }
    let m = body_map(body, &path, errors);
    let mut module = Mapping::new();
    let mut extra = Mapping::new();
    for (k, v) in m {
        let key = yaml_scalar_text(&k).unwrap_or_default();
        if MODULE_KEYS.contains(&key.as_str()) {
            module.insert(k, v);
        } else if key == "type" {
            errors.push(ConfigError::at(
                format!("{path}.type"),
                "the type is the id's first part",
            ));
        } else {
            extra.insert(k, v);
        }
    }
    module.insert(Yaml::String("type".into()), Yaml::String(kind.into()));
    let mut def = match parse_module(&Yaml::String(name_of(id)), &Yaml::Mapping(module)) {
        Ok(d) => d,
        Err(e) => {
            errors.push(ConfigError::at(&path, e.0));
            return None;
        }
    };
    match ConfigMap::from_yaml(&extra) {
        Ok(c) => def.config.merge(&c),
        Err(e) => errors.push(ConfigError::at(&path, e.to_string())),
    }
    Some(def)
}

/// The exporters this build has.
const EXPORTER_TYPES: [&str; 3] = ["otlp", "otlphttp", "pktvisor_api"];

/// The Collector's OTLP exporter keys as `visor.config.otlp` keys.
fn otlp_exporter(
    kind: &str,
    body: &Mapping,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    if kind == "otlphttp" {
        out.insert("protocol".into(), "http/protobuf".into());
    }
    for (k, v) in body {
        let key = yaml_scalar_text(k).unwrap_or_default();
        if key == "tls" {
            let Yaml::Mapping(tls) = v else {
                errors.push(ConfigError::at(format!("{path}.tls"), "must be a map"));
                continue;
            };
            for (tk, tv) in tls {
                let tkey = yaml_scalar_text(tk).unwrap_or_default();
                let to = match tkey.as_str() {
                    "insecure" => "insecure",
                    "ca_file" => "certificate",
                    "cert_file" => "client_certificate",
                    "key_file" => "client_key",
                    other => {
                        errors.push(ConfigError::at(
                            format!("{path}.tls.{other}"),
                            "unknown key; known: insecure, ca_file, cert_file, key_file",
                        ));
                        continue;
                    }
                };
                out.insert(to.into(), yaml_json(tv));
            }
        } else {
            out.insert(key, yaml_json(v));
        }
    }
    serde_json::Value::Object(out)
}

/// A YAML value as JSON, scalars typed with pktvisor's rules.
fn yaml_json(v: &Yaml) -> serde_json::Value {
    match v {
        Yaml::Mapping(m) => serde_json::Value::Object(
            m.iter()
                .filter_map(|(k, v)| Some((yaml_scalar_text(k)?, yaml_json(v))))
                .collect(),
        ),
        Yaml::Sequence(s) => serde_json::Value::Array(s.iter().map(yaml_json).collect()),
        Yaml::Null => serde_json::Value::Null,
        Yaml::Bool(b) => (*b).into(),
        Yaml::Number(n) => serde_json::to_value(n).unwrap_or(serde_json::Value::Null),
        other => yaml_scalar_text(other).map_or(serde_json::Value::Null, Into::into),
    }
}

fn id_list(v: Option<&Yaml>, path: &str, errors: &mut Vec<ConfigError>) -> Vec<String> {
    match v {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::Sequence(s)) => s
            .iter()
            .filter_map(|i| {
                let t = yaml_scalar_text(i);
                if t.is_none() {
                    errors.push(ConfigError::at(path, "must list ids"));
                }
                t
            })
            .collect(),
        Some(_) => {
            errors.push(ConfigError::at(path, "must be a list of ids"));
            Vec::new()
        }
    }
}

fn get<'a>(m: &'a Mapping, k: &str) -> Option<&'a Yaml> {
    m.get(Yaml::String(k.to_string()))
}

/// Compiles the collector sections of `root` (already merged and expanded). Every problem
/// is returned, each with its collector path.
pub fn compile(root: &Mapping) -> Result<Compiled, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut out = Compiled::default();
    let receivers: Vec<(String, TapDef)> = section(root, "receivers", &mut errors)
        .into_iter()
        .filter_map(|(id, v)| Some((id.clone(), receiver_tap(&id, v, &mut errors)?)))
        .collect();
    let processors: Vec<(String, ModuleDef)> = section(root, "processors", &mut errors)
        .into_iter()
        .filter_map(|(id, v)| Some((id.clone(), processor_module(&id, v, &mut errors)?)))
        .collect();
    let exporters = section(root, "exporters", &mut errors);
    for (id, _) in &exporters {
        let (kind, _) = split_id(id);
        if !EXPORTER_TYPES.contains(&kind) {
            errors.push(ConfigError::at(
                format!("exporters.{id}"),
                format!(
                    "unknown exporter type '{kind}'; available: {}",
                    EXPORTER_TYPES.join(", ")
                ),
            ));
        }
    }
    let service = match root.get(Yaml::String("service".into())) {
        None | Some(Yaml::Null) => Mapping::new(),
        Some(Yaml::Mapping(m)) => m.clone(),
        Some(_) => {
            errors.push(ConfigError::at("service", "must be a map"));
            Mapping::new()
        }
    };
    for (k, _) in &service {
        let key = yaml_scalar_text(k).unwrap_or_default();
        if key != "pipelines" {
            errors.push(ConfigError::at(
                format!("service.{key}"),
                "not supported; service takes pipelines",
            ));
        }
    }
    let pipelines = section(&service, "pipelines", &mut errors);
    let mut used_otlp: Vec<String> = Vec::new();
    let mut used_api: Vec<String> = Vec::new();
    for (pid, body) in pipelines {
        let path = format!("service.pipelines.{pid}");
        let (signal, name) = split_id(&pid);
        if signal != "metrics" {
            errors.push(ConfigError::at(
                &path,
                format!("unsupported pipeline type '{signal}': pktvisor makes metrics"),
            ));
            continue;
        }
        let policy = name_of(name.unwrap_or("default"));
        let m = body_map(body, &path, &mut errors);
        for (k, _) in &m {
            let key = yaml_scalar_text(k).unwrap_or_default();
            if ![
                "receivers",
                "processors",
                "exporters",
                "window_config",
                "filter",
                "chain",
                "merge_like_handlers",
            ]
            .contains(&key.as_str())
            {
                errors.push(ConfigError::at(format!("{path}.{key}"), "unknown key"));
            }
        }
        let rids = id_list(
            get(&m, "receivers"),
            &format!("{path}.receivers"),
            &mut errors,
        );
        let pids = id_list(
            get(&m, "processors"),
            &format!("{path}.processors"),
            &mut errors,
        );
        let eids = id_list(
            get(&m, "exporters"),
            &format!("{path}.exporters"),
            &mut errors,
        );
        let mut fail =
            |k: &str, msg: String| errors.push(ConfigError::at(format!("{path}.{k}"), msg));
        if rids.is_empty() {
            fail("receivers", "a pipeline needs at least one receiver".into());
        }
        if pids.is_empty() {
            fail(
                "processors",
                "a pipeline needs at least one processor".into(),
            );
        }
        if eids.is_empty() {
            fail("exporters", "a pipeline needs at least one exporter".into());
        }
        let mut taps = Vec::new();
        for r in &rids {
            match receivers.iter().find(|(id, _)| id == r) {
                Some((_, t)) => taps.push(t),
                None => fail("receivers", format!("receiver '{r}' is not defined")),
            }
        }
        let mut modules = Vec::new();
        for p in &pids {
            match processors.iter().find(|(id, _)| id == p) {
                Some((_, mdef)) => modules.push(mdef.clone()),
                None => fail("processors", format!("processor '{p}' is not defined")),
            }
        }
        let mut exports = Exports {
            otlp: false,
            api: false,
        };
        for e in &eids {
            if !exporters.iter().any(|(id, _)| id == e) {
                fail("exporters", format!("exporter '{e}' is not defined"));
                continue;
            }
            match split_id(e).0 {
                "otlp" | "otlphttp" => {
                    exports.otlp = true;
                    if !used_otlp.contains(e) {
                        used_otlp.push(e.clone());
                    }
                }
                "pktvisor_api" => {
                    exports.api = true;
                    if !used_api.contains(e) {
                        used_api.push(e.clone());
                    }
                }
                _ => {}
            }
        }
        let types: Vec<&str> = taps.iter().map(|t| t.input_type.as_str()).collect();
        if types.windows(2).any(|w| w[0] != w[1]) {
            fail(
                "receivers",
                format!(
                    "a pipeline reads one input type, not {}",
                    types.join(" and ")
                ),
            );
        }
        if taps.is_empty() || modules.is_empty() {
            continue;
        }
        let window_config = match get(&m, "window_config") {
            None | Some(Yaml::Null) => None,
            Some(Yaml::Mapping(w)) => ConfigMap::from_yaml(w)
                .map_err(|e| fail("window_config", e.to_string()))
                .ok(),
            Some(_) => {
                fail("window_config", "must be a map".into());
                None
            }
        };
        let input_filter = match get(&m, "filter") {
            None | Some(Yaml::Null) => ConfigMap::new(),
            Some(Yaml::Mapping(f)) => ConfigMap::from_yaml(f)
                .map_err(|e| fail("filter", e.to_string()))
                .unwrap_or_default(),
            Some(_) => {
                fail("filter", "must be a map".into());
                ConfigMap::new()
            }
        };
        let flag = |k: &str| {
            get(&m, k)
                .and_then(yaml_scalar_text)
                .is_some_and(|t| t == "true")
        };
        let tap = if taps.len() == 1 {
            TapRef::Name(taps[0].name.clone())
        } else {
            TapRef::Selector {
                all: false,
                pairs: rids
                    .iter()
                    .map(|r| ("receiver".to_string(), TagValue::Str(r.clone())))
                    .collect(),
            }
        };
        let visor = format!("visor.policies.{policy}");
        out.origins.push((visor.clone(), path.clone()));
        out.origins
            .push((format!("{visor}.input"), format!("{path}.receivers")));
        for (pid2, mdef) in pids.iter().zip(&modules) {
            out.origins.push((
                format!("{visor}.handlers.modules.{}", mdef.id),
                format!("processors.{pid2}"),
            ));
        }
        if out.policies.iter().any(|p| p.name == policy) {
            fail(
                "",
                format!("pipelines {pid} and another one are both policy '{policy}'"),
            );
            continue;
        }
        out.exports.push((policy.clone(), exports));
        out.policies.push(PolicyDef {
            name: policy,
            merge_like_handlers: flag("merge_like_handlers"),
            tap,
            input_type: taps[0].input_type.clone(),
            input_config: ConfigMap::new(),
            input_filter,
            window_config,
            modules,
            chained: flag("chain"),
        });
    }
    for (id, t) in &receivers {
        out.origins
            .push((format!("visor.taps.{}", t.name), format!("receivers.{id}")));
    }
    out.taps = receivers.into_iter().map(|(_, t)| t).collect();
    if used_otlp.len() > 1 {
        errors.push(ConfigError::at(
            "exporters",
            format!(
                "this build pushes to one OTLP endpoint; the pipelines use {}",
                used_otlp.join(" and ")
            ),
        ));
    }
    if let Some(id) = used_otlp.first()
        && let Some((_, body)) = exporters.iter().find(|(e, _)| e == id)
    {
        let path = format!("exporters.{id}");
        let m = body_map(body, &path, &mut errors);
        out.otlp = Some(otlp_exporter(split_id(id).0, &m, &path, &mut errors));
    }
    if used_api.len() > 1 {
        errors.push(ConfigError::at(
            "exporters",
            format!(
                "the pktvisor API is served once; the pipelines use {}",
                used_api.join(" and ")
            ),
        ));
    }
    if let Some(id) = used_api.first()
        && let Some((_, body)) = exporters.iter().find(|(e, _)| e == id)
    {
        let path = format!("exporters.{id}");
        let m = body_map(body, &path, &mut errors);
        for (k, v) in &m {
            match yaml_scalar_text(k).as_deref() {
                Some("endpoint") => match yaml_scalar_text(v).as_deref().and_then(host_port) {
                    Some(hp) => out.api_endpoint = Some(hp),
                    None => errors.push(ConfigError::at(
                        format!("{path}.endpoint"),
                        "must be HOST:PORT",
                    )),
                },
                other => errors.push(ConfigError::at(
                    format!("{path}.{}", other.unwrap_or("?")),
                    "unknown key; pktvisor_api takes endpoint",
                )),
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// `HOST:PORT` (`[V6]:PORT` for IPv6 literals).
fn host_port(s: &str) -> Option<(String, u16)> {
    let (h, p) = s.rsplit_once(':')?;
    let h = h.trim_start_matches('[').trim_end_matches(']');
    Some((h.to_string(), p.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "A" => Some("alpha".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn env_expansion_follows_the_collector() {
        assert_eq!(expand_str("x${env:A}y", &env).unwrap(), "xalphay");
        assert_eq!(expand_str("${env:NOPE:-d:4317}", &env).unwrap(), "d:4317");
        assert_eq!(expand_str("${env:EMPTY:-d}", &env).unwrap(), "d");
        assert_eq!(expand_str("${env:NOPE}", &env).unwrap(), "");
        assert_eq!(expand_str("$$5 and $x", &env).unwrap(), "$5 and $x");
        assert!(expand_str("${file:/etc/x}", &env).is_err());
        assert!(expand_str("${env:A", &env).is_err());
        assert!(expand_str("${env:1A}", &env).is_err());
    }

    #[test]
    fn merge_is_deep_and_later_wins() {
        let mut a: Yaml = serde_norway::from_str("r: {x: {a: 1, b: 2}, y: [1]}").unwrap();
        let b: Yaml = serde_norway::from_str("r: {x: {b: 3}, y: [2, 3], z: 1}").unwrap();
        merge(&mut a, b);
        let want: Yaml = serde_norway::from_str("r: {x: {a: 1, b: 3}, y: [2, 3], z: 1}").unwrap();
        assert_eq!(a, want);
    }

    fn compile_text(t: &str) -> Result<Compiled, Vec<ConfigError>> {
        let y: Yaml = serde_norway::from_str(t).unwrap();
        compile(y.as_mapping().unwrap())
    }

    #[test]
    fn compiles_the_issue_example() {
        let c = compile_text(
            r#"
receivers:
  pcap/eth0: {iface: eth0, host_spec: 10.0.0.0/8}
  netflow/edge: {bind: 0.0.0.0, port: 2055}
processors:
  dns/v2: {require_version: "2.0", metric_groups: {enable: [top_qnames]}, only_qtype: [AAAA]}
  net: {}
exporters:
  otlp: {endpoint: "http://localhost:4317", tls: {insecure: true}, rate_histograms: true}
  pktvisor_api: {endpoint: "0.0.0.0:10900"}
service:
  pipelines:
    metrics/edge: {receivers: [pcap/eth0], processors: [net, dns/v2], exporters: [otlp, pktvisor_api]}
    metrics: {receivers: [netflow/edge], processors: [net], exporters: [pktvisor_api], window_config: {num_periods: 2}}
"#,
        )
        .unwrap();
        assert_eq!(c.taps[0].name, "pcap_eth0");
        assert_eq!(c.taps[1].config.get_str("flow_type"), Ok(Some("netflow")));
        let edge = &c.policies[0];
        assert_eq!(edge.name, "edge");
        assert_eq!(edge.tap, TapRef::Name("pcap_eth0".into()));
        assert_eq!(edge.modules[1].id, "dns_v2");
        assert_eq!(edge.modules[1].version, "2.0");
        assert_eq!(edge.modules[1].enable, Some(vec!["top_qnames".to_string()]));
        assert!(edge.modules[1].config.contains("only_qtype"));
        assert_eq!(c.policies[1].name, "default");
        assert_eq!(c.policies[1].input_type, "flow");
        assert_eq!(
            c.exports,
            vec![
                (
                    "edge".to_string(),
                    Exports {
                        otlp: true,
                        api: true
                    }
                ),
                (
                    "default".to_string(),
                    Exports {
                        otlp: false,
                        api: true
                    }
                )
            ]
        );
        assert_eq!(c.otlp.as_ref().unwrap()["insecure"], true);
        // the exporter's keys are visor.config.otlp's: the rate histograms are turned on
        let otlp = crate::otlp::OtlpConfig::resolve(
            c.otlp.as_ref(),
            &|_| None,
            &crate::otlp::LegacyOtelFlags::default(),
        )
        .expect("the exporter resolves");
        assert!(otlp.encode.rate_histograms);
        assert_eq!(c.api_endpoint, Some(("0.0.0.0".to_string(), 10900)));
        let e = c.translate(ConfigError::at(
            "visor.policies.edge.handlers.modules.dns_v2",
            "bad",
        ));
        assert_eq!(e.path, "processors.dns/v2");
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let errs = compile_text(
            r#"
receivers:
  pcapp/x: {}
processors:
  bogus: {}
exporters:
  kafka: {}
service:
  pipelines:
    traces: {receivers: [a], processors: [b], exporters: [c]}
    metrics/a: {receivers: [nope], processors: [], exporters: [otlp]}
"#,
        )
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        for want in [
            "receivers.pcapp/x: unknown receiver type 'pcapp'",
            "processors.bogus: unknown processor type 'bogus'",
            "exporters.kafka: unknown exporter type 'kafka'",
            "service.pipelines.traces: unsupported pipeline type 'traces'",
            "service.pipelines.metrics/a.processors: a pipeline needs at least one processor",
            "service.pipelines.metrics/a.receivers: receiver 'nope' is not defined",
            "service.pipelines.metrics/a.exporters: exporter 'otlp' is not defined",
        ] {
            assert!(
                text.iter().any(|t| t.starts_with(want)),
                "{want} in {text:#?}"
            );
        }
    }
}
