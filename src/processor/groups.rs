//! Metric groups and config-key validation, with pktvisor's rules and error texts.
//!
//! A processor declares its groups (name, on by default) and its config keys. At build
//! time the `disable` list is applied, then the `enable` list (so enable wins; `all` in
//! either clears or sets everything), and every config key must be one the processor
//! knows, a window key, `enable`, `disable` or `_internal_tap_name`.

use crate::config::value::ConfigMap;

/// One metric group of a processor.
#[derive(Clone, Copy, Debug)]
pub struct GroupDef {
    /// Group name as written in `metric_groups`.
    pub name: &'static str,
    /// Whether it is on unless disabled.
    pub default_on: bool,
}

/// A set of enabled groups, as bits indexed by position in the processor's group list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupSet(u64);

impl GroupSet {
    /// Every group on.
    pub const ALL: GroupSet = GroupSet(u64::MAX);

    /// Whether group `i` (its index in the processor's list) is on.
    pub fn has(&self, i: usize) -> bool {
        i < 64 && self.0 & (1u64 << i) != 0
    }

    /// Whether no group of `count` groups is on.
    pub fn none_of(&self, count: usize) -> bool {
        (0..count).all(|i| !self.has(i))
    }
}

/// The window keys every processor accepts, in pktvisor's order.
pub const WINDOW_KEYS: [&str; 4] = [
    "deep_sample_rate",
    "num_periods",
    "topn_count",
    "topn_percentile_threshold",
];

/// Checks every key of `cfg` against `defs` (pktvisor's `validate_configs`).
pub fn validate_config(cfg: &ConfigMap, defs: &[&str]) -> Result<(), String> {
    for key in cfg.keys() {
        let known = defs.contains(&key)
            || WINDOW_KEYS.contains(&key)
            || matches!(key, "enable" | "disable" | "_internal_tap_name");
        if !known {
            let valid: Vec<&str> = defs.iter().copied().chain(WINDOW_KEYS).collect();
            return Err(format!(
                "{key} is an invalid/unsupported config or filter. The valid configs/filters are: {}",
                valid.join(", ")
            ));
        }
    }
    Ok(())
}

/// Resolves the enabled groups from the defaults and the `enable`/`disable` lists.
pub fn resolve_groups(defs: &[GroupDef], cfg: &ConfigMap) -> Result<GroupSet, String> {
    let mut bits = 0u64;
    for (i, g) in defs.iter().enumerate() {
        if g.default_on {
            bits |= 1 << i;
        }
    }
    let index = |name: &str| -> Result<Option<usize>, String> {
        if name == "all" {
            return Ok(None);
        }
        match defs.iter().position(|g| g.name == name) {
            Some(i) => Ok(Some(i)),
            None => {
                let mut names: Vec<&str> = defs.iter().map(|g| g.name).collect();
                names.sort_unstable();
                Err(format!(
                    "{name} is an invalid/unsupported metric group. The valid groups are: all, {}",
                    names.join(", ")
                ))
            }
        }
    };
    if let Some(list) = cfg.get_list("disable").map_err(|e| e.to_string())? {
        for name in list {
            match index(name)? {
                None => {
                    bits = 0;
                    break;
                }
                Some(i) => bits &= !(1 << i),
            }
        }
    }
    if let Some(list) = cfg.get_list("enable").map_err(|e| e.to_string())? {
        for name in list {
            match index(name)? {
                None => {
                    bits = u64::MAX;
                    break;
                }
                Some(i) => bits |= 1 << i,
            }
        }
    }
    Ok(GroupSet(bits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::value::ConfigValue;

    const DEFS: [GroupDef; 3] = [
        GroupDef {
            name: "counters",
            default_on: true,
        },
        GroupDef {
            name: "top_geo",
            default_on: true,
        },
        GroupDef {
            name: "cardinality",
            default_on: false,
        },
    ];

    fn cfg(disable: &[&str], enable: &[&str]) -> ConfigMap {
        let mut c = ConfigMap::new();
        let l = |v: &[&str]| ConfigValue::List(v.iter().map(|s| s.to_string()).collect());
        if !disable.is_empty() {
            c.set("disable", l(disable));
        }
        if !enable.is_empty() {
            c.set("enable", l(enable));
        }
        c
    }

    #[test]
    fn enable_beats_disable_and_all_works() {
        let g = resolve_groups(&DEFS, &cfg(&["counters"], &[])).unwrap();
        assert!(!g.has(0) && g.has(1) && !g.has(2));
        let g = resolve_groups(&DEFS, &cfg(&["all"], &["cardinality"])).unwrap();
        assert!(!g.has(0) && !g.has(1) && g.has(2));
        let g = resolve_groups(&DEFS, &cfg(&["counters"], &["counters"])).unwrap();
        assert!(g.has(0));
        let g = resolve_groups(&DEFS, &cfg(&[], &["all"])).unwrap();
        assert!(g.has(2));
        assert!(
            resolve_groups(&DEFS, &cfg(&["all"], &[]))
                .unwrap()
                .none_of(3)
        );
    }

    #[test]
    fn unknown_group_and_key_texts() {
        assert_eq!(
            resolve_groups(&DEFS, &cfg(&["bogus"], &[])).unwrap_err(),
            "bogus is an invalid/unsupported metric group. The valid groups are: all, cardinality, counters, top_geo"
        );
        let mut c = ConfigMap::new();
        c.set("invalid_config", ConfigValue::Bool(true));
        assert_eq!(
            validate_config(&c, &["geoloc_notfound", "recorded_stream"]).unwrap_err(),
            "invalid_config is an invalid/unsupported config or filter. The valid configs/filters are: geoloc_notfound, recorded_stream, deep_sample_rate, num_periods, topn_count, topn_percentile_threshold"
        );
        c.remove("invalid_config");
        c.set("num_periods", ConfigValue::U64(1));
        c.set("_internal_tap_name", ConfigValue::Str("t".into()));
        assert!(validate_config(&c, &[]).is_ok());
    }
}
