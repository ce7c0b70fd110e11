//! Agent settings, layered: built-in defaults < `visor.config` of each `--config` YAML file
//! (later files win) < `PKTVISOR_*` environment < command-line flags; plus the taps,
//! policies and global handler config those files define (later files win per name).
//!
//! Validation reports every problem at once, each with its path
//! (`visor.config.port: …`, `visor.policies.edge: …`); a bad configuration never
//! half-starts the agent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Serialized};
use figment::value::{Dict, Map, Value};
use serde::{Deserialize, Serialize};
use serde_norway::Value as Yaml;

use crate::config::collector::Exports;
use crate::config::error::ConfigError;
pub use crate::config::error::ConfigErrors;
use crate::config::load::{Loaded, load_files};
use crate::config::value::{ConfigValue, yaml_scalar_text};
use crate::config::visor::{PolicyDef, TapDef, VisorDocument};

/// Settings of pktvisord (pktvisor's `visor.config` keys and command-line options).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentSettings {
    /// Debug logging.
    pub verbose: bool,
    /// Fork into the background.
    pub daemon: bool,
    /// Log to syslog.
    pub syslog: bool,
    /// Accepted and ignored (pktvisor's usage tracking).
    pub no_track: bool,
    /// Accepted and ignored (Prometheus is always on).
    pub prometheus: bool,
    /// Log to this file.
    pub log_file: Option<PathBuf>,
    /// Static Prometheus `instance` label.
    pub prom_instance: Option<String>,
    /// GeoIP City database.
    pub geo_city: Option<PathBuf>,
    /// City database used when `geo_city` is not set.
    pub default_geo_city: Option<PathBuf>,
    /// GeoIP ASN/ISP database.
    pub geo_asn: Option<PathBuf>,
    /// ASN database used when `geo_asn` is not set.
    pub default_geo_asn: Option<PathBuf>,
    /// LRU entries per geo database (0 disables).
    pub geo_cache_size: u64,
    /// Default deep sample rate for policies without `window_config`.
    pub max_deep_sample: u64,
    /// Default number of periods for policies without `window_config`.
    pub periods: u64,
    /// Workers per input stream (0: the cores the process may use).
    pub workers: u64,
    /// Serve HTTPS.
    pub tls: bool,
    /// Register the admin (POST/PUT/DELETE) routes.
    pub admin_api: bool,
    /// HTTP port.
    pub port: u16,
    /// HTTP bind host.
    pub host: String,
    /// TLS certificate (PEM).
    pub tls_cert: Option<PathBuf>,
    /// TLS key (PEM).
    pub tls_key: Option<PathBuf>,
    /// pktvisor's OTLP/HTTP push (`--otel`).
    pub otel: bool,
    /// OTLP over TLS.
    pub otel_tls: bool,
    /// OTLP host.
    pub otel_host: String,
    /// OTLP path.
    pub otel_path: String,
    /// OTLP port.
    pub otel_port: u16,
    /// OTLP push interval in seconds.
    pub otel_interval: u64,
    /// OTLP client certificate.
    pub otel_tls_cert: Option<PathBuf>,
    /// OTLP client key.
    pub otel_tls_key: Option<PathBuf>,
    /// Print the built-in modules and exit.
    pub module_list: bool,
    /// Deprecated, ignored.
    pub module_dir: Option<String>,
    /// IANA service-name CSV.
    pub iana_service_port_registry: Option<PathBuf>,
    /// CSV used when `iana_service_port_registry` is not set.
    pub default_service_registry: Option<PathBuf>,
    /// The OTLP push (`visor.config.otlp`, see the README's OpenTelemetry section).
    pub otlp: Option<serde_json::Value>,
    /// Accepted and ignored (pktvisor's crash reporting).
    pub cp_disable: bool,
    /// Accepted and ignored.
    pub cp_token: Option<String>,
    /// Accepted and ignored.
    pub cp_url: Option<String>,
    /// Accepted and ignored.
    pub cp_custom: Option<String>,
    /// Accepted and ignored.
    pub cp_path: Option<String>,
    /// A file holding the admin API's bearer token: every write route and
    /// `DELETE /api/v1/server` then need `Authorization: Bearer <token>`.
    pub admin_token_file: Option<PathBuf>,
    /// HTTP connections served at once (also kept below the open-file limit); past it the
    /// connection idle longest makes room.
    pub http_max_connections: u64,
    /// Seconds a client has to send a request's headers (from connect, or from its first
    /// byte after a response).
    pub http_header_timeout: u64,
    /// Seconds a keep-alive connection may wait for its next request.
    pub http_idle_timeout: u64,
    /// Directories dnstap unix sockets may be created in (empty: anywhere).
    pub dnstap_socket_dirs: Vec<PathBuf>,
    /// Bytes every dnstap connection's frames not yet complete may hold together.
    pub dnstap_partial_frame_budget: u64,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            verbose: false,
            daemon: false,
            syslog: false,
            no_track: false,
            prometheus: false,
            log_file: None,
            prom_instance: None,
            geo_city: None,
            default_geo_city: None,
            geo_asn: None,
            default_geo_asn: None,
            geo_cache_size: 10_000,
            max_deep_sample: 100,
            periods: 5,
            workers: 0,
            tls: false,
            admin_api: false,
            port: 10853,
            host: "localhost".into(),
            tls_cert: None,
            tls_key: None,
            otel: false,
            otel_tls: false,
            otel_host: "localhost".into(),
            otel_path: "/v1/metrics".into(),
            otel_port: 4318,
            otel_interval: 60,
            otel_tls_cert: None,
            otel_tls_key: None,
            module_list: false,
            module_dir: None,
            iana_service_port_registry: None,
            default_service_registry: None,
            otlp: None,
            cp_disable: false,
            cp_token: None,
            cp_url: None,
            cp_custom: None,
            cp_path: None,
            admin_token_file: None,
            http_max_connections: 1024,
            http_header_timeout: 10,
            http_idle_timeout: 60,
            dnstap_socket_dirs: Vec::new(),
            dnstap_partial_frame_budget: crate::receiver::dnstap::budget::DEFAULT_PARTIAL_BUDGET
                as u64,
        }
    }
}

impl AgentSettings {
    /// The City database to open (`geo_city`, else `default_geo_city`).
    pub fn city_db(&self) -> Option<&Path> {
        self.geo_city
            .as_deref()
            .or(self.default_geo_city.as_deref())
    }

    /// The ASN database to open.
    pub fn asn_db(&self) -> Option<&Path> {
        self.geo_asn.as_deref().or(self.default_geo_asn.as_deref())
    }

    /// Workers per input stream.
    pub fn workers(&self) -> usize {
        match self.workers {
            0 => crate::service::stream::default_workers(),
            n => usize::try_from(n).unwrap_or(1),
        }
    }

    /// The IANA registry to load.
    pub fn service_registry(&self) -> Option<&Path> {
        self.iana_service_port_registry
            .as_deref()
            .or(self.default_service_registry.as_deref())
    }

    /// Cross-field checks, every problem at once.
    fn validate(&self, errors: &mut Vec<ConfigError>) {
        if self.tls && (self.tls_cert.is_none() || self.tls_key.is_none()) {
            errors.push(ConfigError::at(
                "",
                "you must specify --tls-key and --tls-cert to use --tls",
            ));
        }
        if self.otel_tls && (self.otel_tls_cert.is_none() || self.otel_tls_key.is_none()) {
            errors.push(ConfigError::at(
                "",
                "you must specify --otel-tls-key and --otel-tls-cert to use --otel-tls",
            ));
        }
        if !(1..=10).contains(&self.periods) {
            errors.push(ConfigError::at(
                "visor.config.periods",
                format!("{} is outside 1-10", self.periods),
            ));
        }
        if self.workers > 256 {
            errors.push(ConfigError::at(
                "visor.config.workers",
                format!("{} is outside 0-256 (0: one per core)", self.workers),
            ));
        }
        if !(1..=100).contains(&self.max_deep_sample) {
            errors.push(ConfigError::at(
                "visor.config.max_deep_sample",
                format!("{} is outside 1-100", self.max_deep_sample),
            ));
        }
        for (key, v, lo, hi) in [
            (
                "http_max_connections",
                self.http_max_connections,
                1,
                1 << 20,
            ),
            ("http_header_timeout", self.http_header_timeout, 1, 3600),
            ("http_idle_timeout", self.http_idle_timeout, 1, 86_400),
            (
                "dnstap_partial_frame_budget",
                self.dnstap_partial_frame_budget,
                64 << 10,
                1 << 40,
            ),
        ] {
            if !(lo..=hi).contains(&v) {
                errors.push(ConfigError::at(
                    format!("visor.config.{key}"),
                    format!("{v} is outside {lo}-{hi}"),
                ));
            }
        }
    }
}

/// Everything the configuration files define besides the settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Definitions {
    /// Taps by name (later files win).
    pub taps: Vec<TapDef>,
    /// Global handler config by handler type.
    pub global_handler_config: Vec<(String, crate::config::value::ConfigMap)>,
    /// Policies by name (later files win).
    pub policies: Vec<PolicyDef>,
    /// The exporters of policies from collector-style pipelines (others: every exporter).
    pub exports: Vec<(String, Exports)>,
}

impl Definitions {
    /// As one visor document (what the planner takes).
    pub fn document(&self) -> VisorDocument {
        VisorDocument {
            taps: self.taps.clone(),
            global_handler_config: self.global_handler_config.clone(),
            policies: self.policies.clone(),
            config: None,
        }
    }
}

/// The loaded configuration.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Resolved settings.
    pub settings: AgentSettings,
    /// Taps, policies and global handler config of the files.
    pub definitions: Definitions,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// What the files held (for placing later problems and printing the configuration).
    pub loaded: Loaded,
    /// The command-line flags given (a reload reads the files again under them).
    pub flags: Dict,
}

/// A YAML scalar typed with pktvisor's rules, as a figment value.
fn figment_value(v: &Yaml) -> Option<Value> {
    match v {
        Yaml::Mapping(m) => {
            let mut d = Dict::new();
            for (k, v) in m {
                if let (Some(k), Some(v)) = (yaml_scalar_text(k), figment_value(v)) {
                    d.insert(k, v);
                }
            }
            Some(Value::from(d))
        }
        Yaml::Sequence(s) => Some(Value::from(
            s.iter().filter_map(figment_value).collect::<Vec<_>>(),
        )),
        Yaml::Null => None,
        other => {
            let text = yaml_scalar_text(other)?;
            Some(match ConfigValue::from_scalar_text(&text) {
                ConfigValue::U64(n) => Value::from(n),
                ConfigValue::Bool(b) => Value::from(b),
                _ => Value::from(text),
            })
        }
    }
}

/// A `visor.config` mapping as a figment dict.
fn settings_dict(cfg: &serde_norway::Mapping) -> Dict {
    let mut settings = Dict::new();
    for (k, v) in cfg {
        if let (Some(k), Some(v)) = (yaml_scalar_text(k), figment_value(v)) {
            settings.insert(k, v);
        }
    }
    settings
}

/// Loads the configuration: defaults, then each file (either style), then the environment
/// (`PKTVISOR_<KEY>`, `${env:…}` in collector-style files), then `flags` (only the options
/// given on the command line).
pub fn load(files: &[PathBuf], flags: &Dict) -> Result<AgentConfig, ConfigErrors> {
    load_with_env(files, flags, &|k| std::env::var(k).ok())
}

/// `load` with its own environment lookup for `${env:…}` expansion.
pub fn load_with_env(
    files: &[PathBuf],
    flags: &Dict,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AgentConfig, ConfigErrors> {
    let (loaded, settings, errors) = load_parts(files, flags, env);
    match settings {
        Some(settings) if errors.is_empty() => Ok(AgentConfig {
            settings,
            definitions: definitions(&loaded),
            files: files.to_vec(),
            loaded,
            flags: flags.clone(),
        }),
        _ => Err(ConfigErrors(errors)),
    }
}

/// The taps, policies and exports the files define.
pub fn definitions(loaded: &Loaded) -> Definitions {
    Definitions {
        taps: loaded.doc.taps.clone(),
        global_handler_config: loaded.doc.global_handler_config.clone(),
        policies: loaded.doc.policies.clone(),
        exports: loaded.exports(),
    }
}

/// Everything loading found: what the files hold, the settings when they could be
/// resolved, and every problem of files and settings (for `pktvisord validate`, which goes
/// on to resolve the definitions even when the settings have problems).
pub fn load_parts(
    files: &[PathBuf],
    flags: &Dict,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Loaded, Option<AgentSettings>, Vec<ConfigError>) {
    let (loaded, mut errors) = load_files(files, env);
    let mut figment = Figment::from(Serialized::defaults(AgentSettings::default()));
    let known: Vec<String> = match serde_json::to_value(AgentSettings::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    };
    for f in &loaded.files {
        if let Some(cfg) = &f.settings {
            let mut profile = Map::new();
            profile.insert(figment::Profile::Default, settings_dict(cfg));
            figment = figment.merge(Layer {
                name: format!("config file {}", f.path.display()),
                data: profile,
            });
        }
    }
    let mut exporters = Dict::new();
    if let Some((host, port)) = loaded.api_endpoint() {
        exporters.insert("host".into(), Value::from(host.clone()));
        exporters.insert("port".into(), Value::from(*port));
    }
    if let Some(otlp) = loaded.otlp()
        && let Ok(v) = Value::serialize(otlp)
    {
        exporters.insert("otlp".into(), v);
    }
    if !exporters.is_empty() {
        let mut profile = Map::new();
        profile.insert(figment::Profile::Default, exporters);
        figment = figment.merge(Layer {
            name: "the collector-style exporters".into(),
            data: profile,
        });
    }
    let env = {
        let known = known.clone();
        Env::prefixed("PKTVISOR_").filter(move |k| {
            // Only settings: PKTVISOR_LOG, PKTVISOR_SHARED_DIR, … belong to others.
            known.iter().any(|f| k.as_str().eq_ignore_ascii_case(f))
        })
    };
    figment = figment.merge(env.clone()).merge(Layer {
        name: "command-line flags".into(),
        data: Map::from([(figment::Profile::Default, flags.clone())]),
    });
    let settings = extract_all(&figment, &mut errors);
    // A bad environment value that a flag overrides is still a mistake: report it too.
    let overridden: Vec<String> = flags.keys().cloned().collect();
    if !overridden.is_empty() {
        let env_only = Figment::from(Serialized::defaults(AgentSettings::default())).merge(env);
        let mut env_errors = Vec::new();
        extract_all(&env_only, &mut env_errors);
        for e in env_errors {
            let key = e.path.strip_prefix("visor.config.").unwrap_or(&e.path);
            if overridden.iter().any(|k| k == key) && !errors.contains(&e) {
                errors.push(e);
            }
        }
    }
    if let Some(s) = &settings {
        s.validate(&mut errors);
    }
    (loaded, settings, errors)
}

/// Extracts the settings, reporting every bad key: serde stops at the first error, so
/// the offending key is dropped and extraction repeated until the rest is clean.
fn extract_all(figment: &Figment, errors: &mut Vec<ConfigError>) -> Option<AgentSettings> {
    use figment::Provider;
    let mut current = figment.clone();
    let mut data: Option<Dict> = None;
    for _ in 0..64 {
        match current.extract::<AgentSettings>() {
            Ok(s) => return Some(s),
            Err(e) => {
                let mut removed = false;
                for err in e {
                    let path = if err.path.is_empty() {
                        "visor.config".to_string()
                    } else {
                        format!("visor.config.{}", err.path.join("."))
                    };
                    let key = err.path.first().cloned().or_else(|| match &err.kind {
                        figment::error::Kind::UnknownField(k, _) => Some(k.clone()),
                        _ => None,
                    });
                    // The original layers know where each key came from; a retry's
                    // figment (rebuilt from plain data) does not.
                    let source = key
                        .as_deref()
                        .and_then(|k| figment.find_metadata(k))
                        .or(err.metadata.as_ref())
                        .map(|m| format!(" (from {})", m.name))
                        .unwrap_or_default();
                    errors.push(ConfigError::at(path, format!("{}{source}", err.kind)));
                    let dict = data.get_or_insert_with(|| {
                        current
                            .data()
                            .ok()
                            .and_then(|mut m| m.remove(&figment::Profile::Default))
                            .unwrap_or_default()
                    });
                    if let Some(k) = key {
                        removed |= dict.remove(&k).is_some();
                    }
                }
                if !removed {
                    return None;
                }
                current = Figment::from(Serialized::defaults(data.clone().unwrap_or_default()));
            }
        }
    }
    None
}

/// A file's `visor.config`, the collector-style exporters or the flags as a figment
/// provider, named in errors (`config file /etc/pktvisor/agent.yaml`, `command-line flags`).
struct Layer {
    name: String,
    data: Map<figment::Profile, Dict>,
}

impl figment::Provider for Layer {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<figment::Profile, Dict>, figment::Error> {
        Ok(self.data.clone())
    }
}

/// Flag values as a figment dict (only options that were given).
#[derive(Default)]
pub struct Flags(pub Dict);

impl Flags {
    /// Sets a flag.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(key.to_string(), value.into());
    }

    /// Sets a flag when `value` is given.
    pub fn opt<T: Into<Value>>(&mut self, key: &str, value: Option<T>) {
        if let Some(v) = value {
            self.set(key, v);
        }
    }

    /// Sets a boolean flag only when it is on (booleans are OR-ed with the files).
    pub fn on(&mut self, key: &str, value: bool) {
        if value {
            self.set(key, true);
        }
    }
}

/// A description of every setting's source order, for `--help`.
pub fn layering_help() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("1", "built-in defaults"),
        ("2", "visor.config of each --config file (later files win)"),
        (
            "3",
            "PKTVISOR_<KEY> environment variables (e.g. PKTVISOR_PORT)",
        ),
        ("4", "command-line flags"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("pktvisor-cfg-{}-{name}", std::process::id()));
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn layers_files_then_flags() {
        let a = write(
            "a.yaml",
            "visor:\n  config:\n    port: \"8080\"\n    admin_api: true\n    periods: 3\n  taps:\n    t: {input_type: pcap, config: {iface: lo}}\n",
        );
        let b = write(
            "b.yaml",
            "visor:\n  config:\n    periods: 4\n  taps:\n    t: {input_type: pcap, config: {iface: eth9}}\n",
        );
        let mut flags = Flags::default();
        flags.set("periods", 2u64);
        let cfg = load(&[a.clone(), b.clone()], &flags.0).unwrap();
        assert_eq!(cfg.settings.port, 8080);
        assert!(cfg.settings.admin_api);
        assert_eq!(cfg.settings.periods, 2, "flags win");
        assert_eq!(cfg.definitions.taps.len(), 1);
        assert_eq!(
            cfg.definitions.taps[0].config.get_str("iface"),
            Ok(Some("eth9")),
            "later files win"
        );
        let cfg = load(&[a.clone(), b.clone()], &Dict::new()).unwrap();
        assert_eq!(cfg.settings.periods, 4);
        let _ = std::fs::remove_file(a);
        let _ = std::fs::remove_file(b);
    }

    #[test]
    fn reports_every_error_with_its_path() {
        let a = write(
            "bad.yaml",
            "visor:\n  config:\n    port: nope\n    periods: 30\n    bogus_key: 1\n    geo_cache_size: lots\n",
        );
        let err = load(std::slice::from_ref(&a), &Dict::new()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("visor.config.port"), "{text}");
        // Every bad key names the file it came from, also after the first one.
        for line in text.lines().filter(|l| l.contains("invalid type")) {
            assert!(
                line.ends_with(&format!("(from config file {})", a.display())),
                "{line}"
            );
        }
        assert!(!text.contains("BTreeMap"), "{text}");
        assert!(text.contains("bogus_key"), "{text}");
        assert!(
            text.contains("visor.config.periods: 30 is outside 1-10"),
            "{text}"
        );
        let mut flags = Flags::default();
        flags.on("tls", true);
        let err = load(&[], &flags.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "you must specify --tls-key and --tls-cert to use --tls"
        );
        let _ = std::fs::remove_file(a);
    }

    #[test]
    fn only_setting_names_are_read_from_the_environment() {
        // SAFETY: tests in this module do not read these variables concurrently.
        unsafe {
            std::env::set_var("PKTVISOR_SOMETHING_ELSE", "x");
            std::env::set_var("PKTVISOR_GEO_CACHE_SIZE", "77");
        }
        let cfg = load(&[], &Dict::new()).unwrap();
        assert_eq!(cfg.settings.geo_cache_size, 77);
        unsafe {
            std::env::remove_var("PKTVISOR_SOMETHING_ELSE");
            std::env::remove_var("PKTVISOR_GEO_CACHE_SIZE");
        }
    }

    #[test]
    fn bad_files_use_pktvisor_texts() {
        let a = write("list.yaml", "- a\n");
        let err = load(std::slice::from_ref(&a), &Dict::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("invalid schema in config file: {}", a.display())
        );
        let b = write("ver.yaml", "version: \"3\"\nvisor: {}\n");
        let err = load(std::slice::from_ref(&b), &Dict::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("unsupported version in config file: {}", b.display())
        );
        let _ = std::fs::remove_file(a);
        let _ = std::fs::remove_file(b);
    }
}
