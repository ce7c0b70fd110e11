//! `pktvisord validate` and `pktvisord print-config`: the agent's configuration loaded and
//! resolved exactly as a start would (files of either style, `PKTVISOR_*`, flags, the IFACE
//! default policy), without opening an interface, binding a socket or starting a thread.
//! Validation reports every problem at once; printing shows the effective configuration
//! with secrets redacted.

use std::path::PathBuf;

use figment::value::Dict;
use serde_json::{Map, Value};

use crate::agent::config::{AgentSettings, Definitions, definitions, load_parts};
use crate::agent::registry::Registry;
use crate::agent::{plan_defaults, resolve_definitions};
use crate::config::error::ConfigError;
use crate::config::load::Loaded;
use crate::config::visor::VisorDocument;
use crate::processor::ProcessorContext;

/// What a valid configuration will run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Taps defined.
    pub taps: usize,
    /// Policies defined.
    pub policies: usize,
    /// Input streams they need.
    pub streams: usize,
}

/// Loads and resolves the configuration; every problem, or what it would run.
pub fn validate(
    files: &[PathBuf],
    flags: &Dict,
    extra: &dyn Fn(&AgentSettings) -> Option<VisorDocument>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Summary, Vec<ConfigError>> {
    let (loaded, settings, mut errors) = load_parts(files, flags, env);
    let mut defs = definitions(&loaded);
    let settings = settings.unwrap_or_default();
    if let Some(doc) = extra(&settings) {
        defs.taps.extend(doc.taps);
        defs.policies.extend(doc.policies);
    }
    if let Err(e) = crate::agent::processor_context(&settings) {
        errors.push(ConfigError::at("visor.config", e.to_string()));
    }
    if let Err(e) = otlp_settings(&settings) {
        errors.push(ConfigError::at("visor.config.otlp", e));
    }
    let reg = Registry::new(plan_defaults(&settings), ProcessorContext::default());
    let summary = match resolve_definitions(&reg, &defs) {
        Ok(resolved) => {
            let mut streams: Vec<&str> = resolved
                .iter()
                .flat_map(|(_, plans)| plans.iter().map(|p| p.plan.input.stream_name.as_str()))
                .collect();
            streams.sort_unstable();
            streams.dedup();
            Summary {
                taps: defs.taps.len(),
                policies: defs.policies.len(),
                streams: streams.len(),
            }
        }
        Err(e) => {
            errors.extend(e.into_iter().map(|x| loaded.place(x)));
            Summary::default()
        }
    };
    if errors.is_empty() {
        Ok(summary)
    } else {
        Err(errors)
    }
}

fn otlp_settings(s: &AgentSettings) -> Result<(), String> {
    let legacy = crate::otlp::LegacyOtelFlags {
        otel: s.otel,
        host: Some(s.otel_host.clone()),
        port: Some(s.otel_port),
        path: Some(s.otel_path.clone()),
        tls: s.otel_tls,
        tls_cert: s.otel_tls_cert.clone(),
        tls_key: s.otel_tls_key.clone(),
        interval: Some(s.otel_interval),
    };
    crate::otlp::OtlpConfig::resolve(s.otlp.as_ref(), &crate::otlp::config::process_env, &legacy)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Key names whose values are secrets.
pub(crate) fn secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    [
        "token",
        "password",
        "secret",
        "authorization",
        "api_key",
        "apikey",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// Replaces secret values (and every header value) with `<redacted>`.
pub fn redact(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, item) in m.iter_mut() {
                if item.is_null() {
                    continue;
                }
                if k == "headers" {
                    if let Value::Object(h) = item {
                        for hv in h.values_mut() {
                            *hv = Value::from("<redacted>");
                        }
                    } else {
                        *item = Value::from("<redacted>");
                    }
                } else if secret_key(k) && !item.is_object() {
                    *item = Value::from("<redacted>");
                } else {
                    redact(item);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

/// The effective configuration as YAML: the resolved settings, the pktvisor-style
/// definitions and the merged collector-style sections, secrets redacted.
pub fn effective_config(
    settings: &AgentSettings,
    defs: &Definitions,
    loaded: &Loaded,
) -> Result<String, String> {
    let compiled_taps: Vec<&str> = loaded
        .collector
        .as_ref()
        .map(|c| c.taps.iter().map(|t| t.name.as_str()).collect())
        .unwrap_or_default();
    let compiled_policies: Vec<&str> = loaded
        .collector
        .as_ref()
        .map(|c| c.policies.iter().map(|p| p.name.as_str()).collect())
        .unwrap_or_default();
    let mut visor = Map::new();
    let mut cfg = serde_json::to_value(settings).map_err(|e| e.to_string())?;
    if let Value::Object(m) = &mut cfg {
        m.retain(|_, v| !v.is_null());
    }
    visor.insert("config".into(), cfg);
    let taps: Map<String, Value> = defs
        .taps
        .iter()
        .filter(|t| !compiled_taps.contains(&t.name.as_str()))
        .map(|t| (t.name.clone(), t.to_json()))
        .collect();
    if !taps.is_empty() {
        visor.insert("taps".into(), taps.into());
    }
    if !defs.global_handler_config.is_empty() {
        let g: Map<String, Value> = defs
            .global_handler_config
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        visor.insert("global_handler_config".into(), g.into());
    }
    let policies: Map<String, Value> = defs
        .policies
        .iter()
        .filter(|p| !compiled_policies.contains(&p.name.as_str()))
        .map(|p| (p.name.clone(), p.to_json()))
        .collect();
    if !policies.is_empty() {
        visor.insert("policies".into(), policies.into());
    }
    let mut root = Map::new();
    root.insert("version".into(), "1.0".into());
    root.insert("visor".into(), visor.into());
    if let Some(raw) = &loaded.collector_raw {
        let v = serde_json::to_value(raw).map_err(|e| e.to_string())?;
        if let Value::Object(m) = v {
            root.extend(m);
        }
    }
    let mut root = Value::Object(root);
    redact(&mut root);
    serde_norway::to_string(&root).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secrets_and_headers() {
        let mut v = serde_json::json!({
            "cp_token": "abc",
            "otlp": {"headers": {"authorization": "Bearer x", "x-tenant": "t"}, "endpoint": "e"},
            "list": [{"password": "p"}],
            "admin_token_file": null
        });
        redact(&mut v);
        assert_eq!(v["cp_token"], "<redacted>");
        assert_eq!(v["otlp"]["headers"]["x-tenant"], "<redacted>");
        assert_eq!(v["otlp"]["endpoint"], "e");
        assert_eq!(v["list"][0]["password"], "<redacted>");
    }
}
