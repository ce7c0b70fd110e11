//! The pktvisor YAML document: `version`, `visor.taps`, `visor.global_handler_config`,
//! `visor.policies` (and `visor.config`, kept raw for the agent), parsed with pktvisor's
//! error messages. Resolution against taps (selectors, input types) happens in `service`.

use serde_norway::{Mapping, Value as Yaml};

use super::value::{ConfigMap, yaml_scalar_text};

/// A config document error; the message is pktvisor's text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct VisorError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, VisorError> {
    Err(VisorError(msg.into()))
}

/// The name every policy is read under (`/api/v1/policies/__all/…`): no tap, policy or
/// module may take it.
pub const ALL_POLICIES: &str = "__all";

/// pktvisor's rule for tap, policy and handler module names: `[a-zA-Z_][a-zA-Z0-9_-]*`
/// (the REST API's `{name}` pattern), with pktvisor's text `invalid module name: X`; also
/// `__all`, which names every policy on the API, is refused.
pub fn check_module_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(format!("invalid module name: {name}"));
    }
    if name == ALL_POLICIES {
        return Err(format!(
            "invalid module name: {name} (reserved for every policy)"
        ));
    }
    Ok(())
}

/// A typed tag or selector value (digits → integer, true/false → bool, else string).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagValue {
    /// All digits.
    U64(u64),
    /// true / false.
    Bool(bool),
    /// Anything else.
    Str(String),
}

impl TagValue {
    fn from_text(t: &str) -> TagValue {
        match super::value::ConfigValue::from_scalar_text(t) {
            super::value::ConfigValue::U64(v) => TagValue::U64(v),
            super::value::ConfigValue::Bool(b) => TagValue::Bool(b),
            _ => TagValue::Str(t.to_string()),
        }
    }

    /// Whether two values have the same type.
    pub fn same_type(&self, other: &TagValue) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            TagValue::U64(v) => serde_json::Value::from(*v),
            TagValue::Bool(b) => serde_json::Value::from(*b),
            TagValue::Str(s) => serde_json::Value::from(s.clone()),
        }
    }
}

/// A tap: a named, configured input.
#[derive(Clone, Debug, PartialEq)]
pub struct TapDef {
    /// Tap name.
    pub name: String,
    /// Input type alias (`pcap`, `dnstap`, `flow`, `sflow`, `netprobe`, `mock`).
    pub input_type: String,
    /// Input config.
    pub config: ConfigMap,
    /// Tags for selectors.
    pub tags: Vec<(String, TagValue)>,
}

/// How a policy picks its taps.
#[derive(Clone, Debug, PartialEq)]
pub enum TapRef {
    /// `input.tap`.
    Name(String),
    /// `input.tap_selector.all` (true) or `.any` (false).
    Selector {
        /// Every pair must match (`all`) or one is enough (`any`).
        all: bool,
        /// Key/value pairs.
        pairs: Vec<(String, TagValue)>,
    },
}

/// A handler module of a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct ModuleDef {
    /// Module id (the key in `modules`).
    pub id: String,
    /// Handler type.
    pub handler_type: String,
    /// `require_version`, default "1.0".
    pub version: String,
    /// Module `config`.
    pub config: ConfigMap,
    /// Module `filter`.
    pub filter: ConfigMap,
    /// `metric_groups.enable`.
    pub enable: Option<Vec<String>>,
    /// `metric_groups.disable`.
    pub disable: Option<Vec<String>>,
}

/// A collection policy.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyDef {
    /// Policy name.
    pub name: String,
    /// `config.merge_like_handlers`.
    pub merge_like_handlers: bool,
    /// Tap reference.
    pub tap: TapRef,
    /// `input.input_type`.
    pub input_type: String,
    /// `input.config`.
    pub input_config: ConfigMap,
    /// `input.filter`.
    pub input_filter: ConfigMap,
    /// `handlers.window_config`, when present.
    pub window_config: Option<ConfigMap>,
    /// Modules in YAML order.
    pub modules: Vec<ModuleDef>,
    /// Whether `modules` was a sequence (a chain).
    pub chained: bool,
}

/// A parsed document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VisorDocument {
    /// `visor.taps` in order.
    pub taps: Vec<TapDef>,
    /// `visor.global_handler_config` in order.
    pub global_handler_config: Vec<(String, ConfigMap)>,
    /// `visor.policies` in order.
    pub policies: Vec<PolicyDef>,
    /// `visor.config`, raw.
    pub config: Option<Mapping>,
}

fn nonempty(out: &mut serde_json::Map<String, serde_json::Value>, k: &str, m: &ConfigMap) {
    if m.keys().next().is_some() {
        out.insert(k.into(), m.to_json());
    }
}

impl TapDef {
    /// The tap as pktvisor's YAML structure (for printing a configuration).
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        out.insert("input_type".into(), self.input_type.clone().into());
        nonempty(&mut out, "config", &self.config);
        if !self.tags.is_empty() {
            let tags: serde_json::Map<String, serde_json::Value> = self
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect();
            out.insert("tags".into(), tags.into());
        }
        out.into()
    }
}

impl ModuleDef {
    /// The module as pktvisor's YAML structure (without its id).
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        out.insert("type".into(), self.handler_type.clone().into());
        if self.version != "1.0" {
            out.insert("require_version".into(), self.version.clone().into());
        }
        nonempty(&mut out, "config", &self.config);
        nonempty(&mut out, "filter", &self.filter);
        let mut groups = serde_json::Map::new();
        if let Some(e) = &self.enable {
            groups.insert("enable".into(), e.clone().into());
        }
        if let Some(d) = &self.disable {
            groups.insert("disable".into(), d.clone().into());
        }
        if !groups.is_empty() {
            out.insert("metric_groups".into(), groups.into());
        }
        out.into()
    }
}

impl PolicyDef {
    /// The policy as pktvisor's YAML structure (for printing a configuration).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let mut input = serde_json::Map::new();
        match &self.tap {
            TapRef::Name(n) => {
                input.insert("tap".into(), n.clone().into());
            }
            TapRef::Selector { all, pairs } => {
                let list: Vec<serde_json::Value> = pairs
                    .iter()
                    .map(|(k, v)| json!({ k: v.to_json() }))
                    .collect();
                let key = if *all { "all" } else { "any" };
                input.insert("tap_selector".into(), json!({ key: list }));
            }
        }
        input.insert("input_type".into(), self.input_type.clone().into());
        nonempty(&mut input, "config", &self.input_config);
        nonempty(&mut input, "filter", &self.input_filter);
        let modules: serde_json::Value = if self.chained {
            self.modules
                .iter()
                .map(|m| json!({ m.id.clone(): m.to_json() }))
                .collect::<Vec<_>>()
                .into()
        } else {
            self.modules
                .iter()
                .map(|m| (m.id.clone(), m.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let mut handlers = serde_json::Map::new();
        if let Some(w) = &self.window_config {
            handlers.insert("window_config".into(), w.to_json());
        }
        handlers.insert("modules".into(), modules);
        let mut out = serde_json::Map::new();
        out.insert("kind".into(), "collection".into());
        if self.merge_like_handlers {
            out.insert("config".into(), json!({"merge_like_handlers": true}));
        }
        out.insert("input".into(), input.into());
        out.insert("handlers".into(), handlers.into());
        out.into()
    }
}

fn get<'a>(m: &'a Mapping, key: &str) -> Option<&'a Yaml> {
    m.get(Yaml::String(key.to_string()))
}

fn config_map(v: &Yaml, not_map: &str) -> Result<ConfigMap, VisorError> {
    match v {
        Yaml::Mapping(m) => {
            ConfigMap::from_yaml(m).map_err(|e| VisorError(format!("{not_map}: {e}")))
        }
        _ => err(not_map),
    }
}

/// Parses the envelope and returns the `visor` mapping (pktvisor's `invalid schema` /
/// `unsupported version` checks).
pub fn visor_root(doc: &Yaml) -> Result<&Mapping, VisorError> {
    let Yaml::Mapping(root) = doc else {
        return err("invalid schema");
    };
    if let Some(v) = get(root, "version")
        && yaml_scalar_text(v).as_deref() != Some("1.0")
    {
        return err("unsupported version");
    }
    match get(root, "visor") {
        Some(Yaml::Mapping(m)) => Ok(m),
        _ => err("invalid schema"),
    }
}

/// Parses a whole document (config file).
pub fn parse_document(text: &str) -> Result<VisorDocument, VisorError> {
    if text.trim().is_empty() {
        return err("empty data");
    }
    let doc: Yaml =
        serde_norway::from_str(text).map_err(|e| VisorError(format!("invalid schema: {e}")))?;
    parse_yaml(&doc)
}

/// Parses a whole document already read as YAML.
pub fn parse_yaml(doc: &Yaml) -> Result<VisorDocument, VisorError> {
    let visor = visor_root(doc)?;
    let mut out = VisorDocument {
        config: match get(visor, "config") {
            Some(Yaml::Mapping(m)) => Some(m.clone()),
            Some(Yaml::Null) | None => None,
            Some(_) => return err("visor.config is not a map"),
        },
        ..VisorDocument::default()
    };
    if let Some(t) = get(visor, "taps") {
        out.taps = parse_taps(t)?;
    }
    if let Some(g) = get(visor, "global_handler_config") {
        out.global_handler_config = parse_global(g)?;
    }
    if let Some(p) = get(visor, "policies") {
        out.policies = parse_policies(p)?;
    }
    Ok(out)
}

/// Parses `visor.taps`.
pub fn parse_taps(v: &Yaml) -> Result<Vec<TapDef>, VisorError> {
    let Yaml::Mapping(m) = v else {
        return err("expecting tap configuration map");
    };
    let mut taps = Vec::new();
    for (k, v) in m {
        let Some(name) = yaml_scalar_text(k) else {
            return err("expecting tap identifier");
        };
        let Yaml::Mapping(tm) = v else {
            return err("expecting tap configuration map");
        };
        let input_type = match get(tm, "input_type").and_then(yaml_scalar_text) {
            Some(t) => t,
            None => return err("missing or invalid tap type key 'input_type'"),
        };
        let config = match get(tm, "config") {
            None | Some(Yaml::Null) => ConfigMap::new(),
            Some(c) => config_map(c, "tap configuration is not a map")?,
        };
        let mut tags = Vec::new();
        match get(tm, "tags") {
            None | Some(Yaml::Null) => {}
            Some(Yaml::Mapping(tg)) => {
                for (tk, tv) in tg {
                    let (Some(key), Some(val)) = (yaml_scalar_text(tk), yaml_scalar_text(tv))
                    else {
                        return err("tap tags is not a map");
                    };
                    tags.push((key, TagValue::from_text(&val)));
                }
            }
            Some(_) => return err("tap tags is not a map"),
        }
        taps.push(TapDef {
            name,
            input_type,
            config,
            tags,
        });
    }
    Ok(taps)
}

fn parse_global(v: &Yaml) -> Result<Vec<(String, ConfigMap)>, VisorError> {
    let Yaml::Mapping(m) = v else {
        return err("expecting global_handler_config configuration map");
    };
    let mut out: Vec<(String, ConfigMap)> = Vec::new();
    for (k, v) in m {
        let Some(name) = yaml_scalar_text(k) else {
            return err("expecting global_handler_config configuration map");
        };
        if out.iter().any(|(n, _)| *n == name) {
            return err(format!(
                "stream handler type '{name}' already exists in global_handler_config configuration"
            ));
        }
        let cfg = config_map(v, "expecting global_handler_config configuration map")?;
        out.push((name, cfg));
    }
    Ok(out)
}

/// Parses `visor.policies`.
pub fn parse_policies(v: &Yaml) -> Result<Vec<PolicyDef>, VisorError> {
    let Yaml::Mapping(m) = v else {
        return err("expecting policy configuration map");
    };
    let mut out: Vec<PolicyDef> = Vec::new();
    for (k, v) in m {
        let Some(name) = yaml_scalar_text(k) else {
            return err("expecting policy identifier");
        };
        if out.iter().any(|p| p.name == name) {
            return err(format!("policy with name '{name}' already defined"));
        }
        let Yaml::Mapping(pm) = v else {
            return err("expecting policy configuration map");
        };
        out.push(parse_policy(name, pm)?);
    }
    Ok(out)
}

fn parse_policy(name: String, pm: &Mapping) -> Result<PolicyDef, VisorError> {
    match get(pm, "kind").and_then(yaml_scalar_text) {
        None => return err("missing or invalid policy kind at key 'kind'"),
        Some(k) if k != "collection" => return err(format!("unknown policy kind: {k}")),
        Some(_) => {}
    }
    let merge_like_handlers = match get(pm, "config") {
        None | Some(Yaml::Null) => false,
        Some(c) => config_map(c, "policy configuration is not a map")?
            .get_bool("merge_like_handlers")
            .map_err(|e| VisorError(e.to_string()))?
            .unwrap_or(false),
    };
    let Some(Yaml::Mapping(input)) = get(pm, "input") else {
        return err("missing or invalid policy input stream configuration at key 'input'");
    };
    let tap = parse_tap_ref(input)?;
    let input_type = match get(input, "input_type").and_then(yaml_scalar_text) {
        Some(t) => t,
        None => return err("missing or invalid input_type at key 'input.input_type'"),
    };
    let input_config = match get(input, "config") {
        None | Some(Yaml::Null) => ConfigMap::new(),
        Some(c) => config_map(c, "input configuration is not a map")?,
    };
    let input_filter = match get(input, "filter") {
        None | Some(Yaml::Null) => ConfigMap::new(),
        Some(c) => config_map(c, "input filter configuration is not a map")?,
    };
    let Some(Yaml::Mapping(handlers)) = get(pm, "handlers") else {
        return err("missing or invalid handler configuration at key 'handlers'");
    };
    let window_config = match get(handlers, "window_config") {
        None | Some(Yaml::Null) => None,
        Some(Yaml::Mapping(w)) => Some(
            ConfigMap::from_yaml(w)
                .map_err(|e| VisorError(format!("invalid stream handler window config: {e}")))?,
        ),
        Some(_) => return err("invalid stream handler window config: not a map"),
    };
    let (modules, chained) = match get(handlers, "modules") {
        Some(Yaml::Mapping(mm)) => {
            let mut v = Vec::new();
            for (mk, mv) in mm {
                v.push(parse_module(mk, mv)?);
            }
            (v, false)
        }
        Some(Yaml::Sequence(seq)) => {
            let mut v = Vec::new();
            for item in seq {
                let Yaml::Mapping(one) = item else {
                    return err("missing or invalid handler modules at key 'modules'");
                };
                for (mk, mv) in one {
                    v.push(parse_module(mk, mv)?);
                }
            }
            (v, true)
        }
        _ => return err("missing or invalid handler modules at key 'modules'"),
    };
    Ok(PolicyDef {
        name,
        merge_like_handlers,
        tap,
        input_type,
        input_config,
        input_filter,
        window_config,
        modules,
        chained,
    })
}

fn parse_tap_ref(input: &Mapping) -> Result<TapRef, VisorError> {
    let tap = get(input, "tap");
    let selector = get(input, "tap_selector");
    match (tap, selector) {
        (Some(_), Some(_)) => {
            err("input can have only key 'input.tap' or key 'input.tap_selector'")
        }
        (None, None) => err("missing key 'input.tap' or key 'input.tap_selector'"),
        (Some(t), None) => match yaml_scalar_text(t) {
            Some(name) => Ok(TapRef::Name(name)),
            None => err("invalid tap at key 'input.tap'"),
        },
        (None, Some(s)) => {
            let Yaml::Mapping(sm) = s else {
                return err("'input.tap_selector' is not a map");
            };
            let (all, list, key) = match (get(sm, "all"), get(sm, "any")) {
                (Some(_), Some(_)) => {
                    return err(
                        "input can have only key 'input.tap_selector.all' or key 'input.tap_selector.any'",
                    );
                }
                (None, None) => {
                    return err(
                        "missing key 'input.tap_selector.all' or key 'input.tap_selector.any'",
                    );
                }
                (Some(l), None) => (true, l, "all"),
                (None, Some(l)) => (false, l, "any"),
            };
            let Yaml::Sequence(seq) = list else {
                return err(format!("'input.tap_selector.{key}' is not a sequence"));
            };
            let mut pairs = Vec::new();
            for item in seq {
                let Yaml::Mapping(one) = item else {
                    return err(
                        "selector tag must contain only one key/value pair per sequence index",
                    );
                };
                if one.len() != 1 {
                    return err(
                        "selector tag must contain only one key/value pair per sequence index",
                    );
                }
                for (tk, tv) in one {
                    let k = yaml_scalar_text(tk).unwrap_or_default();
                    let Some(v) = yaml_scalar_text(tv) else {
                        return err(format!("tag key '{k}' must have scalar value"));
                    };
                    pairs.push((k, TagValue::from_text(&v)));
                }
            }
            Ok(TapRef::Selector { all, pairs })
        }
    }
}

fn string_list(v: &Yaml) -> Option<Vec<String>> {
    match v {
        Yaml::Sequence(s) => s.iter().map(yaml_scalar_text).collect(),
        other => yaml_scalar_text(other).map(|s| vec![s]),
    }
}

/// Parses one handler module entry (`<id>: {type: …, …}`).
pub fn parse_module(k: &Yaml, v: &Yaml) -> Result<ModuleDef, VisorError> {
    let Some(id) = yaml_scalar_text(k) else {
        return err("missing or invalid handler modules at key 'modules'");
    };
    let Yaml::Mapping(m) = v else {
        return err("missing or invalid stream handler type at key 'type'");
    };
    let Some(handler_type) = get(m, "type").and_then(yaml_scalar_text) else {
        return err("missing or invalid stream handler type at key 'type'");
    };
    let version = get(m, "require_version")
        .and_then(yaml_scalar_text)
        .unwrap_or_else(|| "1.0".to_string());
    let config = match get(m, "config") {
        None | Some(Yaml::Null) => ConfigMap::new(),
        Some(c) => config_map(c, "stream handler configuration is not a map")?,
    };
    let filter = match get(m, "filter") {
        None | Some(Yaml::Null) => ConfigMap::new(),
        Some(c) => config_map(c, "stream handler filter configuration is not a map")?,
    };
    let (mut enable, mut disable) = (None, None);
    match get(m, "metric_groups") {
        None | Some(Yaml::Null) => {}
        Some(Yaml::Mapping(g)) => {
            let e = get(g, "enable");
            let d = get(g, "disable");
            if e.is_none() && d.is_none() {
                return err(
                    "stream handler metric groups should contain enable and/or disable tags",
                );
            }
            if let Some(e) = e {
                enable = Some(string_list(e).ok_or_else(|| {
                    VisorError(
                        "stream handler metric groups should contain enable and/or disable tags"
                            .into(),
                    )
                })?);
            }
            if let Some(d) = d {
                disable = Some(string_list(d).ok_or_else(|| {
                    VisorError(
                        "stream handler metric groups should contain enable and/or disable tags"
                            .into(),
                    )
                })?);
            }
        }
        Some(_) => return err("stream handler metric groups is not a map"),
    }
    Ok(ModuleDef {
        id,
        handler_type,
        version,
        config,
        filter,
        enable,
        disable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANONICAL: &str = r#"
version: "1.0"
visor:
  taps:
    anycast: {input_type: pcap, config: {iface: eth0, host_spec: "10.0.0.0/8"}, tags: {virtual: true, vhost: 1}}
  policies:
    anycast_dns:
      kind: collection
      config: {merge_like_handlers: false}
      input:
        tap_selector: {any: [{virtual: true}, {vhost: 1}]}
        input_type: pcap
        filter: {bpf: "port 53"}
        config: {tcp_packet_reassembly_cache_limit: 100000}
      handlers:
        window_config: {num_periods: 5, deep_sample_rate: 50, topn_count: 10, topn_percentile_threshold: 0}
        modules:
          default_net: {type: net}
          special_domain:
            type: dns
            require_version: "2.0"
            filter: {only_qname_suffix: [".mydomain.com"]}
            metric_groups: {enable: [top_ecs], disable: [top_qnames]}
"#;

    #[test]
    fn parses_the_canonical_example() {
        let d = parse_document(CANONICAL).unwrap();
        assert_eq!(d.taps.len(), 1);
        assert_eq!(d.taps[0].tags[0], ("virtual".into(), TagValue::Bool(true)));
        assert_eq!(d.taps[0].tags[1], ("vhost".into(), TagValue::U64(1)));
        let p = &d.policies[0];
        assert_eq!(p.name, "anycast_dns");
        assert!(matches!(&p.tap, TapRef::Selector { all: false, pairs } if pairs.len() == 2));
        assert_eq!(p.input_filter.get_str("bpf"), Ok(Some("port 53")));
        assert_eq!(p.modules.len(), 2);
        assert_eq!(p.modules[1].version, "2.0");
        assert_eq!(p.modules[1].enable, Some(vec!["top_ecs".to_string()]));
        assert!(!p.chained);
        assert_eq!(
            p.window_config
                .as_ref()
                .unwrap()
                .get_u64("deep_sample_rate"),
            Ok(Some(50))
        );
    }

    #[test]
    fn envelope_errors() {
        assert_eq!(parse_document("").unwrap_err().0, "empty data");
        assert_eq!(parse_document("- a\n").unwrap_err().0, "invalid schema");
        assert_eq!(parse_document("foo: 1\n").unwrap_err().0, "invalid schema");
        assert_eq!(
            parse_document("version: \"2.0\"\nvisor: {}\n")
                .unwrap_err()
                .0,
            "unsupported version"
        );
    }

    fn policy_err(body: &str) -> String {
        let text = format!("visor:\n  policies:\n    p:\n{body}");
        parse_document(&text).unwrap_err().0
    }

    #[test]
    fn policy_errors_use_pktvisor_texts() {
        assert_eq!(
            policy_err("      input: {tap: t, input_type: pcap}\n"),
            "missing or invalid policy kind at key 'kind'"
        );
        assert_eq!(
            policy_err("      kind: other\n"),
            "unknown policy kind: other"
        );
        assert_eq!(
            policy_err("      kind: collection\n"),
            "missing or invalid policy input stream configuration at key 'input'"
        );
        assert_eq!(
            policy_err("      kind: collection\n      input: {input_type: pcap}\n"),
            "missing key 'input.tap' or key 'input.tap_selector'"
        );
        assert_eq!(
            policy_err(
                "      kind: collection\n      input: {tap: a, tap_selector: {any: []}, input_type: pcap}\n"
            ),
            "input can have only key 'input.tap' or key 'input.tap_selector'"
        );
        assert_eq!(
            policy_err(
                "      kind: collection\n      input: {tap_selector: {any: [{a: 1, b: 2}]}, input_type: pcap}\n"
            ),
            "selector tag must contain only one key/value pair per sequence index"
        );
        assert_eq!(
            policy_err("      kind: collection\n      input: {tap: a}\n"),
            "missing or invalid input_type at key 'input.input_type'"
        );
        assert_eq!(
            policy_err("      kind: collection\n      input: {tap: a, input_type: pcap}\n"),
            "missing or invalid handler configuration at key 'handlers'"
        );
        assert_eq!(
            policy_err(
                "      kind: collection\n      input: {tap: a, input_type: pcap}\n      handlers: {}\n"
            ),
            "missing or invalid handler modules at key 'modules'"
        );
        assert_eq!(
            policy_err(
                "      kind: collection\n      input: {tap: a, input_type: pcap}\n      handlers: {modules: {x: {config: {}}}}\n"
            ),
            "missing or invalid stream handler type at key 'type'"
        );
        assert_eq!(
            policy_err(
                "      kind: collection\n      input: {tap: a, input_type: pcap}\n      handlers: {modules: {x: {type: net, metric_groups: {}}}}\n"
            ),
            "stream handler metric groups should contain enable and/or disable tags"
        );
    }

    #[test]
    fn sequence_modules_form_a_chain() {
        let text = "visor:\n  policies:\n    p:\n      kind: collection\n      input: {tap: a, input_type: pcap}\n      handlers:\n        modules:\n          - first: {type: dns}\n          - second: {type: net}\n";
        let d = parse_document(text).unwrap();
        assert!(d.policies[0].chained);
        assert_eq!(d.policies[0].modules[1].id, "second");
    }
}
