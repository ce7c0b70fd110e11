//! What the handler families with a v1 and a v2 version (net, dns) share: a version's
//! identity (handler type, `require_version`, config keys, metric groups and what they
//! turn on), the typed config each version parses once (config keys, window keys and
//! metric groups, then the family's own options, in pktvisor's order, with its error
//! texts), the processor kind built from both, and metrics described once for both
//! versions (`Both`).

use std::fmt;

use crate::config::value::ConfigMap;
use crate::metric::{Desc, Otel};
use crate::processor::groups::{GroupDef, GroupSet, resolve_groups, validate_config};
use crate::processor::{
    BuildError, Processor, ProcessorConfig, ProcessorContext, ProcessorKind, parsed,
};
use crate::window::WindowSettings;

/// What a handler version answers to and accepts; `R` is what its enabled metric groups
/// turn on in the family's engine.
pub struct Version<R> {
    /// The handler `type`.
    pub handler_type: &'static str,
    /// The `require_version` it answers.
    pub require: &'static str,
    /// Its config keys, in pktvisor's order.
    pub config_defs: &'static [&'static str],
    /// Its metric groups (a group's index is its bit in the `GroupSet`).
    pub groups: &'static [GroupDef],
    /// What its enabled groups turn on.
    pub record: fn(GroupSet) -> R,
}

/// A processor of a two-version family, built from its typed config.
pub trait Versioned: Processor + Sized + 'static {
    /// What the enabled metric groups turn on.
    type Record;
    /// The family's own options (the DNS filters, the net geo/ASN filter).
    type Options: Clone + fmt::Debug + Send + Sync + 'static;
    /// Its version.
    const VERSION: Version<Self::Record>;

    /// Parses the family's own options (the keys, window and groups are checked first).
    fn options(cfg: &ConfigMap) -> Result<Self::Options, String>;
    /// Builds from a parsed config.
    fn with_config(c: &Config<Self>, ctx: &ProcessorContext) -> Self;

    /// Builds from a merged handler config.
    fn new(cfg: &ConfigMap, ctx: &ProcessorContext) -> Result<Self, BuildError> {
        let c = Config::parse(cfg).map_err(BuildError::Config)?;
        Ok(Self::with_config(&c, ctx))
    }
}

/// A handler's typed configuration: window settings, metric groups and the family's
/// options, parsed once.
pub struct Config<P: Versioned> {
    /// Window settings.
    pub settings: WindowSettings,
    /// Enabled metric groups.
    pub groups: GroupSet,
    /// The family's own options.
    pub options: P::Options,
}

impl<P: Versioned> Config<P> {
    /// Parses a merged handler config: every key must be known, then the window settings,
    /// the metric groups and the family's options (pktvisor's order and texts).
    pub fn parse(cfg: &ConfigMap) -> Result<Self, String> {
        validate_config(cfg, P::VERSION.config_defs)?;
        let settings = WindowSettings::from_config(cfg).map_err(|e| e.to_string())?;
        let groups = resolve_groups(P::VERSION.groups, cfg)?;
        let options = P::options(cfg)?;
        Ok(Config {
            settings,
            groups,
            options,
        })
    }
}

impl<P: Versioned> Clone for Config<P> {
    fn clone(&self) -> Self {
        Config {
            settings: self.settings.clone(),
            groups: self.groups,
            options: self.options.clone(),
        }
    }
}

impl<P: Versioned> fmt::Debug for Config<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("handler_type", &P::VERSION.handler_type)
            .field("version", &P::VERSION.require)
            .field("settings", &self.settings)
            .field("groups", &self.groups)
            .field("options", &self.options)
            .finish()
    }
}

impl<P: Versioned> ProcessorConfig for Config<P> {
    fn build(&self, ctx: &ProcessorContext) -> Box<dyn Processor> {
        Box::new(P::with_config(self, ctx))
    }
}

fn parse<P: Versioned>(cfg: &ConfigMap) -> Result<Box<dyn ProcessorConfig>, String> {
    parsed(Config::<P>::parse(cfg))
}

/// The handler kind of processor `P`.
pub const fn kind<P: Versioned>() -> ProcessorKind {
    ProcessorKind {
        handler_type: P::VERSION.handler_type,
        version: P::VERSION.require,
        parse: parse::<P>,
    }
}

/// A metric's path below its handler object.
pub type Path = &'static [&'static str];

/// A metric group definition.
pub const fn group(name: &'static str, default_on: bool) -> GroupDef {
    GroupDef { name, default_on }
}

/// A metric both versions emit: one help text, each version's name and OTel identity.
pub struct Both {
    /// v1's description.
    pub v1: Desc,
    /// v2's description.
    pub v2: Desc,
}

impl Both {
    /// `help` for path `v1` under schema `schemas[0]` and `v2` under `schemas[1]`, with
    /// their OTel identities.
    pub const fn new(
        schemas: [&'static str; 2],
        v1: Path,
        v2: Path,
        help: &'static str,
        otel: [Otel; 2],
    ) -> Both {
        Both {
            v1: Desc::new(schemas[0], v1, help, otel[0]),
            v2: Desc::new(schemas[1], v2, help, otel[1]),
        }
    }
}

/// A handler config from YAML text (tests).
#[cfg(test)]
pub fn config_map(yaml: &str) -> ConfigMap {
    let y: serde_norway::Value = serde_norway::from_str(yaml).expect("yaml");
    ConfigMap::from_yaml(y.as_mapping().expect("map")).expect("config")
}
