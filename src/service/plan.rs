//! Resolving policies against taps into runnable plans, with pktvisor's error texts.
//!
//! For each policy: its taps (by name or selector), the input config (tap config, then the
//! policy's `input.config`; for pcap also `input.filter`), the input stream name
//! `<tap>-<config hash>` that lets equal inputs be shared, and each handler's config:
//! defaults (only without `window_config`) < `global_handler_config.<type>` < module `config`
//! < `window_config` (+ `_internal_tap_name`) < module `filter` < `metric_groups`.

use crate::config::value::{ConfigMap, ConfigValue};
use crate::config::visor::{PolicyDef, TagValue, TapDef, TapRef, VisorDocument, VisorError};
use crate::processor;

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
/// `--max-deep-sample`), plus keys every handler gets (the reader's `recorded_stream`).
#[derive(Clone, Debug, Default)]
pub struct PlanDefaults {
    /// Default `num_periods`.
    pub num_periods: u64,
    /// Default `deep_sample_rate`.
    pub deep_sample_rate: u64,
    /// Keys set on every handler after merging (e.g. `recorded_stream`).
    pub forced: ConfigMap,
}

/// Input types this build can run, in pktvisor's alias spelling.
pub const INPUT_TYPES: &[&str] = &["pcap", "dnstap", "flow"];

/// Valid pcap input config keys.
pub const PCAP_INPUT_KEYS: &[&str] = &[
    "iface",
    "bpf",
    "host_spec",
    "pcap_file",
    "pcap_source",
    "debug",
    "tcp_packet_reassembly_cache_limit",
];

fn canonical_input(t: &str) -> &str {
    if t == "sflow" { "flow" } else { t }
}

fn selector_matches(
    tap: &TapDef,
    all: bool,
    pairs: &[(String, TagValue)],
) -> Result<bool, VisorError> {
    let mut any = false;
    let mut every = true;
    for (k, v) in pairs {
        let found = tap.tags.iter().find(|(tk, _)| tk == k);
        let equal = match found {
            Some((_, tv)) => {
                if !tv.same_type(v) {
                    return Err(VisorError(format!(
                        "Tap [{}]: tag and selector value types are different for key '{k}'",
                        tap.name
                    )));
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

/// Validates an input config's keys.
pub fn validate_input_config(input_type: &str, cfg: &ConfigMap) -> Result<(), VisorError> {
    let keys: &[&str] = match input_type {
        "pcap" => PCAP_INPUT_KEYS,
        "dnstap" => crate::receiver::dnstap::config::INPUT_KEYS,
        "flow" => crate::receiver::flow::config::INPUT_KEYS,
        _ => return Ok(()),
    };
    for k in cfg.keys() {
        if !keys.contains(&k) {
            return Err(VisorError(format!(
                "{k} is an invalid/unsupported config or filter. The valid configs/filters are: {}",
                keys.join(", ")
            )));
        }
    }
    Ok(())
}

fn list_value(v: &[String]) -> ConfigValue {
    ConfigValue::List(v.to_vec())
}

/// Resolves every policy of `doc` (in order) into plans; one plan per matching tap.
pub fn plan_policies(
    doc: &VisorDocument,
    defaults: &PlanDefaults,
) -> Result<Vec<PolicyPlan>, VisorError> {
    for tap in &doc.taps {
        if !INPUT_TYPES.contains(&canonical_input(&tap.input_type)) {
            return Err(VisorError(format!(
                "Tap '{}' requires input stream type '{}' which is not available",
                tap.name, tap.input_type
            )));
        }
    }
    let mut out = Vec::new();
    for p in &doc.policies {
        out.extend(plan_policy(doc, p, defaults)?);
    }
    Ok(out)
}

fn plan_policy(
    doc: &VisorDocument,
    p: &PolicyDef,
    defaults: &PlanDefaults,
) -> Result<Vec<PolicyPlan>, VisorError> {
    let taps: Vec<&TapDef> = match &p.tap {
        TapRef::Name(n) => match doc.taps.iter().find(|t| &t.name == n) {
            Some(t) => vec![t],
            None => return Err(VisorError(format!("tap '{n}' does not exist"))),
        },
        TapRef::Selector { all, pairs } => {
            let mut v = Vec::new();
            for t in &doc.taps {
                if selector_matches(t, *all, pairs)? {
                    v.push(t);
                }
            }
            if v.is_empty() {
                return Err(VisorError(
                    "no tap match found for specified 'input.tap_selector' tags".into(),
                ));
            }
            v
        }
    };
    for m in &p.modules {
        if processor::kind(&m.handler_type, &m.version).is_none() {
            return Err(VisorError(format!(
                "Policy '{}' requires stream handler type '{}' and version '{}' which is not available",
                p.name, m.handler_type, m.version
            )));
        }
    }
    let mut plans = Vec::new();
    for tap in taps {
        if canonical_input(&p.input_type) != canonical_input(&tap.input_type) {
            return Err(VisorError(format!(
                "input_type for policy specified tap '{}' doesn't match tap's defined input type: {}/{}",
                tap.name, p.input_type, tap.input_type
            )));
        }
        let input_type = canonical_input(&tap.input_type).to_string();
        let mut config = tap.config.clone();
        config.merge(&p.input_config);
        let mut hashed = config.clone();
        if input_type == "pcap" {
            config.merge(&p.input_filter);
            hashed = config.clone();
        }
        validate_input_config(&input_type, &config)
            .map_err(|e| VisorError(format!("invalid input config: {e}")))?;
        if input_type == "dnstap" {
            crate::receiver::dnstap::HostFilter::for_input(&config, &p.input_filter)
                .map_err(VisorError)?;
        }
        let stream_name = format!("{}-{}", tap.name, hashed.config_hash());
        let handlers = p
            .modules
            .iter()
            .map(|m| {
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
                HandlerPlan {
                    name: format!("{}-{}-{}", p.name, tap.name, m.id),
                    handler_type: m.handler_type.clone(),
                    version: m.version.clone(),
                    config: cfg,
                }
            })
            .collect();
        plans.push(PolicyPlan {
            name: p.name.clone(),
            input: InputPlan {
                stream_name,
                tap: tap.name.clone(),
                input_type,
                config,
                filter: p.input_filter.clone(),
            },
            handlers,
            chained: p.chained,
            merge_like_handlers: p.merge_like_handlers,
        });
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::visor::parse_document;

    fn defaults() -> PlanDefaults {
        PlanDefaults {
            num_periods: 5,
            deep_sample_rate: 100,
            forced: ConfigMap::new(),
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
        let unavailable = DOC.replace("b: {input_type: pcap", "b: {input_type: netprobe");
        assert_eq!(
            plan_policies(&parse_document(&unavailable).unwrap(), &defaults())
                .unwrap_err()
                .0,
            "Tap 'b' requires input stream type 'netprobe' which is not available"
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
