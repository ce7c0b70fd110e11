//! Reading `--config` files of either style into one set of definitions.
//!
//! A file is pktvisor's YAML (`version`, `visor: {config, taps, global_handler_config,
//! policies}`), the collector style (`receivers`, `processors`, `exporters`, `service`), or
//! both at once. Files are read in order: pktvisor taps, policies and handler configs merge
//! by name (later files win); collector sections are deep-merged (later files win), their
//! `${env:…}` references expanded, and compiled into taps and policies after the pktvisor
//! ones. Every problem of every file is collected, each with its file, key path and, where
//! it can be found, its line.

use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value as Yaml};

use crate::config::collector::{self, Compiled, Exports};
use crate::config::error::{ConfigError, locate};
use crate::config::value::yaml_scalar_text;
use crate::config::visor::{self, VisorDocument};

/// One file read.
#[derive(Clone, Debug)]
pub struct LoadedFile {
    /// Its path.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    /// Its `visor.config` mapping (settings), if any.
    pub settings: Option<Mapping>,
}

/// Everything the files define.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// The files, in order.
    pub files: Vec<LoadedFile>,
    /// Taps, global handler configs and policies (both styles), later files winning.
    pub doc: VisorDocument,
    /// The collector-style part, compiled (when any file had one).
    pub collector: Option<Compiled>,
    /// The merged, expanded collector sections (for printing the effective config).
    pub collector_raw: Option<Mapping>,
}

impl Loaded {
    /// The OTLP exporter of the collector-style pipelines.
    pub fn otlp(&self) -> Option<&serde_json::Value> {
        self.collector.as_ref()?.otlp.as_ref()
    }

    /// The pktvisor_api exporter's endpoint.
    pub fn api_endpoint(&self) -> Option<&(String, u16)> {
        self.collector.as_ref()?.api_endpoint.as_ref()
    }

    /// Each collector-style policy's exporters.
    pub fn exports(&self) -> Vec<(String, Exports)> {
        self.collector
            .as_ref()
            .map(|c| c.exports.clone())
            .unwrap_or_default()
    }

    /// Puts a problem found in the definitions where the user wrote it: the collector
    /// section it came from, the file and the line.
    pub fn place(&self, e: ConfigError) -> ConfigError {
        let e = match &self.collector {
            Some(c) => c.translate(e),
            None => e,
        };
        if e.file.is_some() || e.path.is_empty() {
            return e;
        }
        let parts: Vec<&str> = e.path.split('.').collect();
        for f in self.files.iter().rev() {
            if let Some(line) = locate(&f.text, &parts) {
                let file = f.path.display().to_string();
                return e.in_file(&file, Some(line));
            }
        }
        e
    }

    fn absorb(&mut self, doc: VisorDocument) {
        for t in doc.taps {
            self.doc.taps.retain(|x| x.name != t.name);
            self.doc.taps.push(t);
        }
        for (k, v) in doc.global_handler_config {
            self.doc.global_handler_config.retain(|(x, _)| *x != k);
            self.doc.global_handler_config.push((k, v));
        }
        for p in doc.policies {
            self.doc.policies.retain(|x| x.name != p.name);
            self.doc.policies.push(p);
        }
    }
}

/// A problem of a whole file (pktvisor's texts name the file themselves).
fn file_error(_path: &Path, message: String) -> ConfigError {
    ConfigError::at("", message)
}

/// Reads `files` in order; `env` looks up variables for `${env:…}`.
pub fn load_files(
    files: &[PathBuf],
    env: &dyn Fn(&str) -> Option<String>,
) -> (Loaded, Vec<ConfigError>) {
    let mut errors = Vec::new();
    let mut out = Loaded::default();
    let mut collector_root: Option<Yaml> = None;
    for path in files {
        let text = match read_config(path) {
            Ok(t) => t,
            Err(e) => {
                errors.push(ConfigError::at("", format!("{}: {e}", path.display())));
                continue;
            }
        };
        let (settings, doc, collector) = match split_file(path, &text, env) {
            Ok(parts) => parts,
            Err(e) => {
                errors.extend(e);
                continue;
            }
        };
        if let Some(c) = collector {
            match &mut collector_root {
                Some(root) => collector::merge(root, Yaml::Mapping(c)),
                None => collector_root = Some(Yaml::Mapping(c)),
            }
        }
        out.absorb(doc);
        out.files.push(LoadedFile {
            path: path.clone(),
            text,
            settings,
        });
    }
    if let Some(Yaml::Mapping(root)) = collector_root {
        match collector::compile(&root) {
            Ok(c) => {
                out.absorb(VisorDocument {
                    taps: c.taps.clone(),
                    policies: c.policies.clone(),
                    ..VisorDocument::default()
                });
                out.collector = Some(c);
            }
            Err(es) => errors.extend(es),
        }
        out.collector_raw = Some(root);
    }
    let errors = errors.into_iter().map(|e| out.place(e)).collect();
    (out, errors)
}

/// Largest config file read.
pub const MAX_CONFIG_BYTES: u64 = crate::files::MAX_CONFIG_BYTES;

/// Reads a config file: a regular file of at most `MAX_CONFIG_BYTES`.
pub fn read_config(path: &Path) -> std::io::Result<String> {
    Ok(crate::files::read_regular_string(path, MAX_CONFIG_BYTES)?)
}

type FileParts = (Option<Mapping>, VisorDocument, Option<Mapping>);

/// One file's settings, pktvisor definitions and collector sections (env expanded).
fn split_file(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<FileParts, Vec<ConfigError>> {
    let schema = || {
        vec![file_error(
            path,
            format!("invalid schema in config file: {}", path.display()),
        )]
    };
    let yaml: Yaml = match serde_norway::from_str(text) {
        Ok(y) => y,
        Err(e) => {
            return Err(vec![file_error(
                path,
                format!("invalid schema in config file: {}: {e}", path.display()),
            )]);
        }
    };
    let Yaml::Mapping(root) = &yaml else {
        return Err(schema());
    };
    let has_visor = root.contains_key(Yaml::String("visor".into()));
    let collector_style = collector::is_collector_style(root);
    if !has_visor && !collector_style {
        return Err(schema());
    }
    if let Some(v) = root.get(Yaml::String("version".into()))
        && yaml_scalar_text(v).as_deref() != Some("1.0")
    {
        return Err(vec![file_error(
            path,
            format!("unsupported version in config file: {}", path.display()),
        )]);
    }
    let mut doc = VisorDocument::default();
    let mut settings = None;
    if has_visor {
        if let Err(e) = visor::visor_root(&yaml) {
            let what = if e.0 == "unsupported version" {
                "unsupported version in config file"
            } else {
                "invalid schema in config file"
            };
            return Err(vec![file_error(
                path,
                format!("{what}: {}", path.display()),
            )]);
        }
        doc = match visor::parse_yaml(&yaml) {
            Ok(d) => d,
            Err(e) => {
                let line = locate(text, &["visor"]);
                return Err(vec![
                    ConfigError::at("", e.0).in_file(&path.display().to_string(), line),
                ]);
            }
        };
        settings = doc.config.clone();
    }
    let mut errors = Vec::new();
    for (k, _) in root {
        let key = yaml_scalar_text(k).unwrap_or_default();
        if !["version", "visor"].contains(&key.as_str())
            && !collector::SECTIONS.contains(&key.as_str())
        {
            errors.push(
                ConfigError::at(
                    key.clone(),
                    "unknown top-level key; expected visor, receivers, processors, exporters or service",
                )
                .in_file(&path.display().to_string(), locate(text, &[key.as_str()])),
            );
        }
    }
    let collector = if collector_style {
        let mut sections = Mapping::new();
        for (k, v) in root {
            if yaml_scalar_text(k).is_some_and(|k| collector::SECTIONS.contains(&k.as_str())) {
                sections.insert(k.clone(), v.clone());
            }
        }
        let mut y = Yaml::Mapping(sections);
        collector::expand_env(&mut y, env, "", &mut errors);
        match y {
            Yaml::Mapping(m) => Some(m),
            _ => None,
        }
    } else {
        None
    };
    if errors.is_empty() {
        Ok((settings, doc, collector))
    } else {
        Err(errors)
    }
}
