//! pktvisor's configuration value model (`Configurable`): a map of typed scalars, string
//! lists and nested maps, built from YAML with pktvisor's typing rules.
//!
//! A YAML scalar becomes a `u64` when it is all digits (even if quoted), a `bool` when it
//! is `true`/`false` in any case (even if quoted), and a string otherwise (so `-1`, `1.5`
//! and `0x10` are strings). A sequence becomes a list of strings and every element must be
//! a scalar. A mapping becomes a nested map. Keys are kept sorted, which is also the order
//! pktvisor prints configs in.

use std::collections::BTreeMap;
use std::fmt;

use serde_norway::Value as Yaml;

/// One configuration value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ConfigValue {
    /// An all-digits scalar.
    U64(u64),
    /// A `true`/`false` scalar.
    Bool(bool),
    /// Any other scalar.
    Str(String),
    /// A sequence of scalars (each kept as its text).
    List(Vec<String>),
    /// A nested map.
    Map(ConfigMap),
}

/// Errors reading a value with the wrong type or building a map from YAML.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The key is absent.
    #[error("missing key: {0}")]
    Missing(String),
    /// The key holds another type.
    #[error("wrong type for key: {0}")]
    WrongType(String),
    /// A sequence element is not a scalar.
    #[error("invalid value for sequence in key: {0}")]
    BadSequence(String),
    /// A map key is not a scalar.
    #[error("invalid key in map")]
    BadKey,
}

/// A sorted map of configuration values (pktvisor's `Configurable`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConfigMap {
    entries: BTreeMap<String, ConfigValue>,
}

impl ConfigValue {
    /// Types a scalar's text with pktvisor's rules.
    pub fn from_scalar_text(text: &str) -> ConfigValue {
        if !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit())
            && let Ok(v) = text.parse::<u64>()
        {
            return ConfigValue::U64(v);
        }
        if text.eq_ignore_ascii_case("true") {
            return ConfigValue::Bool(true);
        }
        if text.eq_ignore_ascii_case("false") {
            return ConfigValue::Bool(false);
        }
        ConfigValue::Str(text.to_string())
    }

    /// The value as pktvisor would print it in JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ConfigValue::U64(v) => serde_json::Value::from(*v),
            ConfigValue::Bool(b) => serde_json::Value::from(*b),
            ConfigValue::Str(s) => serde_json::Value::from(s.clone()),
            ConfigValue::List(l) => serde_json::Value::from(l.clone()),
            ConfigValue::Map(m) => m.to_json(),
        }
    }

    fn hash_text(&self, out: &mut String) {
        match self {
            ConfigValue::U64(v) => out.push_str(&v.to_string()),
            ConfigValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            ConfigValue::Str(s) => out.push_str(s),
            ConfigValue::List(l) => {
                let mut sorted = l.clone();
                sorted.sort();
                for s in sorted {
                    out.push_str(&s);
                }
            }
            ConfigValue::Map(m) => m.hash_text(out),
        }
    }
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::U64(v) => write!(f, "{v}"),
            ConfigValue::Bool(b) => write!(f, "{b}"),
            ConfigValue::Str(s) => write!(f, "{s}"),
            ConfigValue::List(l) => write!(f, "[{}]", l.join(", ")),
            ConfigValue::Map(_) => write!(f, "{{...}}"),
        }
    }
}

/// The text of a YAML scalar, `None` for collections and null.
pub fn yaml_scalar_text(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Tagged(t) => yaml_scalar_text(&t.value),
        _ => None,
    }
}

impl ConfigMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a map from a YAML mapping with pktvisor's typing rules.
    pub fn from_yaml(map: &serde_norway::Mapping) -> Result<Self, ConfigError> {
        let mut out = ConfigMap::new();
        for (k, v) in map {
            let key = yaml_scalar_text(k).ok_or(ConfigError::BadKey)?;
            let value = match v {
                Yaml::Mapping(m) => ConfigValue::Map(ConfigMap::from_yaml(m)?),
                Yaml::Sequence(seq) => {
                    let mut list = Vec::with_capacity(seq.len());
                    for item in seq {
                        list.push(
                            yaml_scalar_text(item)
                                .ok_or_else(|| ConfigError::BadSequence(key.clone()))?,
                        );
                    }
                    ConfigValue::List(list)
                }
                Yaml::Null => continue,
                other => match yaml_scalar_text(other) {
                    Some(t) => ConfigValue::from_scalar_text(&t),
                    None => continue,
                },
            };
            out.entries.insert(key, value);
        }
        Ok(out)
    }

    /// Sets a key.
    pub fn set(&mut self, key: &str, value: ConfigValue) {
        self.entries.insert(key.to_string(), value);
    }

    /// Removes a key, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<ConfigValue> {
        self.entries.remove(key)
    }

    /// Whether the key is present (any type).
    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// The raw value of a key.
    pub fn get(&self, key: &str) -> Option<&ConfigValue> {
        self.entries.get(key)
    }

    /// Keys in sorted order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Entries in sorted key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ConfigValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map has no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A `u64` value; `Ok(None)` when absent, an error for another type.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        match self.entries.get(key) {
            None => Ok(None),
            Some(ConfigValue::U64(v)) => Ok(Some(*v)),
            Some(_) => Err(ConfigError::WrongType(key.to_string())),
        }
    }

    /// A `bool` value; `Ok(None)` when absent, an error for another type.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.entries.get(key) {
            None => Ok(None),
            Some(ConfigValue::Bool(v)) => Ok(Some(*v)),
            Some(_) => Err(ConfigError::WrongType(key.to_string())),
        }
    }

    /// A string value; `Ok(None)` when absent, an error for another type.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>, ConfigError> {
        match self.entries.get(key) {
            None => Ok(None),
            Some(ConfigValue::Str(v)) => Ok(Some(v.as_str())),
            Some(_) => Err(ConfigError::WrongType(key.to_string())),
        }
    }

    /// A string-list value; `Ok(None)` when absent, an error for another type.
    pub fn get_list(&self, key: &str) -> Result<Option<&[String]>, ConfigError> {
        match self.entries.get(key) {
            None => Ok(None),
            Some(ConfigValue::List(v)) => Ok(Some(v.as_slice())),
            Some(_) => Err(ConfigError::WrongType(key.to_string())),
        }
    }

    /// A nested map; `Ok(None)` when absent, an error for another type.
    pub fn get_map(&self, key: &str) -> Result<Option<&ConfigMap>, ConfigError> {
        match self.entries.get(key) {
            None => Ok(None),
            Some(ConfigValue::Map(v)) => Ok(Some(v)),
            Some(_) => Err(ConfigError::WrongType(key.to_string())),
        }
    }

    /// A bool flag that is false when absent.
    pub fn flag(&self, key: &str) -> Result<bool, ConfigError> {
        Ok(self.get_bool(key)?.unwrap_or(false))
    }

    /// Overwrites this map's keys with `other`'s (last writer wins).
    pub fn merge(&mut self, other: &ConfigMap) {
        for (k, v) in &other.entries {
            self.entries.insert(k.clone(), v.clone());
        }
    }

    /// The map as a JSON object (keys sorted).
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (k, v) in &self.entries {
            m.insert(k.clone(), v.to_json());
        }
        serde_json::Value::Object(m)
    }

    /// A stable, deterministic hash of the whole map, in hex: equal for equal configs.
    pub fn config_hash(&self) -> String {
        let mut text = String::new();
        self.hash_text(&mut text);
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
    }

    fn hash_text(&self, out: &mut String) {
        for (k, v) in &self.entries {
            out.push_str(k);
            out.push('\u{1f}');
            v.hash_text(out);
            out.push('\u{1e}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigMap, ConfigError> {
        let y: Yaml = serde_norway::from_str(text).unwrap();
        ConfigMap::from_yaml(y.as_mapping().unwrap())
    }

    #[test]
    fn scalars_are_typed_by_pktvisor_rules() {
        let m = parse(
            "a: 53\nb: \"53\"\nc: TRUE\nd: \"false\"\ne: -1\nf: 1.5\ng: 0x10z\nh: [1, x, true]\n",
        )
        .unwrap();
        assert_eq!(m.get("a"), Some(&ConfigValue::U64(53)));
        assert_eq!(m.get("b"), Some(&ConfigValue::U64(53)));
        assert_eq!(m.get("c"), Some(&ConfigValue::Bool(true)));
        assert_eq!(m.get("d"), Some(&ConfigValue::Bool(false)));
        assert_eq!(m.get("e"), Some(&ConfigValue::Str("-1".into())));
        assert_eq!(m.get("f"), Some(&ConfigValue::Str("1.5".into())));
        assert_eq!(m.get("g"), Some(&ConfigValue::Str("0x10z".into())));
        assert_eq!(
            m.get("h"),
            Some(&ConfigValue::List(vec![
                "1".into(),
                "x".into(),
                "true".into()
            ]))
        );
        assert_eq!(m.get_u64("f"), Err(ConfigError::WrongType("f".into())));
        assert_eq!(
            ConfigError::WrongType("f".into()).to_string(),
            "wrong type for key: f"
        );
    }

    #[test]
    fn sequences_of_maps_are_rejected() {
        assert_eq!(
            parse("k: [{a: 1}]\n"),
            Err(ConfigError::BadSequence("k".into()))
        );
        assert_eq!(
            ConfigError::BadSequence("k".into()).to_string(),
            "invalid value for sequence in key: k"
        );
    }

    #[test]
    fn merge_overwrites_and_hash_is_stable() {
        let mut a = parse("x: 1\ny: [b, a]\nz: {q: 2}\n").unwrap();
        let b = parse("x: 2\n").unwrap();
        let before = a.config_hash();
        assert_eq!(
            before,
            parse("z: {q: 2}\ny: [a, b]\nx: 1\n").unwrap().config_hash()
        );
        a.merge(&b);
        assert_eq!(a.get_u64("x"), Ok(Some(2)));
        assert_ne!(a.config_hash(), before);
    }
}
