//! The flow processor's configuration: pktvisor's keys, filters, device map and
//! summarization settings, with pktvisor's error texts; plus `fold_dynamic_ports` and the
//! per-bucket bounds `max_devices` and `max_interfaces` (devices and interfaces come from
//! the exported datagrams, so a hostile exporter must not be able to grow them at will).

use std::collections::HashMap;
use std::net::IpAddr;

use crate::config::hostspec::IpNet;
use crate::config::value::{ConfigMap, ConfigValue};

/// pktvisor's flow config keys, in its order (the text of the unknown-key error).
pub const CONFIG_DEFS: [&str; 15] = [
    "device_map",
    "enrichment",
    "only_device_interfaces",
    "only_ips",
    "only_ports",
    "only_directions",
    "geoloc_notfound",
    "asn_notfound",
    "summarize_ips_by_asn",
    "subnets_for_summarization",
    "exclude_asns_from_summarization",
    "exclude_unknown_asns_from_summarization",
    "exclude_ips_from_summarization",
    "sample_rate_scaling",
    "recorded_stream",
];

/// Keys this project adds (accepted, not listed in pktvisor's error text).
pub const EXTRA_KEYS: [&str; 3] = ["fold_dynamic_ports", "max_devices", "max_interfaces"];

/// Devices one bucket holds by default (`max_devices`).
pub const DEFAULT_MAX_DEVICES: usize = 1024;

/// Interfaces (of every device together) one bucket holds by default (`max_interfaces`).
pub const DEFAULT_MAX_INTERFACES: usize = 4096;

/// The largest value either bound takes.
const MAX_BOUND: u64 = 1 << 20;

/// A device's names from `device_map`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceNames {
    /// The device's name.
    pub name: String,
    /// Interface names by ifIndex.
    pub interfaces: HashMap<u32, String>,
}

/// How IPs are shown in top lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Replace IPs by their ASN string.
    pub by_asn: bool,
    /// ASN prefixes (`<n>/`) that fall back to subnets.
    pub asn_excluded: Vec<String>,
    /// `Unknown` ASNs fall back to subnets.
    pub exclude_unknown_asns: bool,
    /// Subnets (with their text as written).
    pub subnets: Vec<(IpNet, String)>,
    /// The IPv4 wildcard prefix length (`0.0.0.0/N`).
    pub v4_wildcard: Option<u8>,
    /// The IPv6 wildcard prefix length (`::/N`).
    pub v6_wildcard: Option<u8>,
    /// Never summarized.
    pub excluded: Vec<IpNet>,
}

impl Summary {
    /// Whether any summarization is configured.
    pub fn active(&self) -> bool {
        self.by_asn
            || !self.subnets.is_empty()
            || self.v4_wildcard.is_some()
            || self.v6_wildcard.is_some()
    }
}

/// Everything read from a flow handler config.
#[derive(Clone, Debug, Default)]
pub struct FlowConfig {
    /// Device names by device address (empty when `enrichment: false`).
    pub devices: HashMap<IpAddr, DeviceNames>,
    /// `only_device_interfaces`: allowed ifIndex ranges per device.
    pub device_interfaces: Option<HashMap<IpAddr, Vec<(u32, u32)>>>,
    /// `only_ips`.
    pub only_ips: Option<Vec<IpNet>>,
    /// `only_ports`.
    pub only_ports: Option<Vec<(u32, u32)>>,
    /// Input direction disabled by `only_directions`.
    pub disable_in: bool,
    /// Output direction disabled by `only_directions`.
    pub disable_out: bool,
    /// `geoloc_notfound`.
    pub geoloc_notfound: bool,
    /// `asn_notfound`.
    pub asn_notfound: bool,
    /// IP summarization.
    pub summary: Summary,
    /// `sample_rate_scaling` (default true).
    pub sample_rate_scaling: bool,
    /// `fold_dynamic_ports` (default false).
    pub fold_dynamic_ports: bool,
    /// `max_devices`: devices a bucket holds; records of further devices are refused
    /// (counted). 0 in a default-built config means `DEFAULT_MAX_DEVICES`.
    pub max_devices: usize,
    /// `max_interfaces`: interfaces of all devices a bucket holds; records on further
    /// interfaces count for their device only (counted). 0 means `DEFAULT_MAX_INTERFACES`.
    pub max_interfaces: usize,
}

fn bound(cfg: &ConfigMap, key: &str, default: usize) -> Result<usize, String> {
    match cfg.get_u64(key).map_err(e)? {
        None => Ok(default),
        Some(v) if (1..=MAX_BOUND).contains(&v) => Ok(usize::try_from(v).unwrap_or(default)),
        Some(v) => Err(format!(
            "FlowHandler: '{key}' must be between 1 and {MAX_BOUND}, not {v}"
        )),
    }
}

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

fn scalar(v: &ConfigValue) -> Option<String> {
    match v {
        ConfigValue::U64(n) => Some(n.to_string()),
        ConfigValue::Bool(b) => Some(b.to_string()),
        ConfigValue::Str(s) => Some(s.clone()),
        _ => None,
    }
}

fn ranges(
    list: &[String],
    any: bool,
    err: &dyn Fn(&str) -> String,
) -> Result<Vec<(u32, u32)>, String> {
    let num = |s: &str| -> Option<u32> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    let mut out = Vec::new();
    for item in list {
        if any && item == "*" {
            return Ok(vec![(0, u32::MAX)]);
        }
        let r = match item.split_once('-') {
            Some((a, b)) => match (num(a), num(b)) {
                (Some(a), Some(b)) => (a.min(b), a.max(b)),
                _ => return Err(err(item)),
            },
            None => match num(item) {
                Some(v) => (v, v),
                None => return Err(err(item)),
            },
        };
        out.push(r);
    }
    Ok(out)
}

fn nets(cfg: &ConfigMap, key: &str) -> Result<Option<Vec<(IpNet, String)>>, String> {
    let Some(list) = cfg.get_list(key).map_err(e)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(list.len());
    for s in list {
        out.push((IpNet::parse(s).map_err(e)?, s.trim().to_string()));
    }
    Ok(Some(out))
}

fn device_map(cfg: &ConfigMap) -> Result<HashMap<IpAddr, DeviceNames>, String> {
    let mut out = HashMap::new();
    let Some(devices) = cfg.get_map("device_map").map_err(e)? else {
        return Ok(out);
    };
    for (dev, v) in devices.iter() {
        let ip: IpAddr = dev.parse().map_err(|_| {
            format!("FlowHandler: 'device_map' config has an invalid device IP: {dev}")
        })?;
        let no_name = || {
            format!(
                "FlowHandler: 'device_map' config with device IP {dev} does not have 'name' key"
            )
        };
        let ConfigValue::Map(m) = v else {
            return Err(no_name());
        };
        let name = m.get("name").and_then(scalar).ok_or_else(no_name)?;
        let Some(ifs) = m.get_map("interfaces").map_err(e)? else {
            return Err(format!(
                "FlowHandler: 'device_map' config with device IP {dev} does not have 'interfaces' key"
            ));
        };
        let mut interfaces = HashMap::new();
        for (idx, iv) in ifs.iter() {
            let index: u32 = idx.trim().parse().map_err(|_| {
                format!("FlowHandler: 'device_map' config with device IP {dev} has an invalid interface index: {idx}")
            })?;
            let ConfigValue::Map(im) = iv else {
                return Err(no_name());
            };
            interfaces.insert(index, im.get("name").and_then(scalar).ok_or_else(no_name)?);
        }
        out.insert(ip, DeviceNames { name, interfaces });
    }
    Ok(out)
}

impl FlowConfig {
    /// Reads a (key-validated) flow handler config.
    pub fn from_config(cfg: &ConfigMap) -> Result<FlowConfig, String> {
        let mut c = FlowConfig {
            sample_rate_scaling: cfg
                .get_bool("sample_rate_scaling")
                .map_err(e)?
                .unwrap_or(true),
            fold_dynamic_ports: cfg.flag("fold_dynamic_ports").map_err(e)?,
            geoloc_notfound: cfg.flag("geoloc_notfound").map_err(e)?,
            asn_notfound: cfg.flag("asn_notfound").map_err(e)?,
            max_devices: bound(cfg, "max_devices", DEFAULT_MAX_DEVICES)?,
            max_interfaces: bound(cfg, "max_interfaces", DEFAULT_MAX_INTERFACES)?,
            ..FlowConfig::default()
        };
        let devices = device_map(cfg)?;
        if cfg.get_bool("enrichment").map_err(e)?.unwrap_or(true) {
            c.devices = devices;
        }
        if let Some(map) = cfg.get_map("only_device_interfaces").map_err(e)? {
            let mut out = HashMap::new();
            for (dev, v) in map.iter() {
                let ip: IpAddr = dev.parse().map_err(|_| {
                    format!("FlowHandler: 'only_device_interfaces' filter has an invalid device IP: {dev}")
                })?;
                let list = match v {
                    ConfigValue::List(l) => l.clone(),
                    other => scalar(other).into_iter().collect(),
                };
                let r = ranges(&list, true, &|x| {
                    format!(
                        "FlowHandler: invalid 'only_device_interfaces' filter interface value: {x}"
                    )
                })?;
                out.insert(ip, r);
            }
            c.device_interfaces = Some(out);
        }
        c.only_ips = nets(cfg, "only_ips")?.map(|v| v.into_iter().map(|(n, _)| n).collect());
        if let Some(list) = cfg.get_list("only_ports").map_err(e)? {
            c.only_ports = Some(ranges(list, false, &|x| {
                format!("FlowHandler: invalid 'only_ports' filter value: {x}")
            })?);
        }
        if let Some(list) = cfg.get_list("only_directions").map_err(e)? {
            c.disable_in = true;
            c.disable_out = true;
            for d in list {
                match d.as_str() {
                    "in" => c.disable_in = false,
                    "out" => c.disable_out = false,
                    other => {
                        return Err(format!(
                            "FlowStreamHandler: only_directions filter contained an invalid/unsupported direction: {other}"
                        ));
                    }
                }
            }
        }
        let s = &mut c.summary;
        if let Some(x) = nets(cfg, "exclude_ips_from_summarization")? {
            s.excluded = x.into_iter().map(|(n, _)| n).collect();
        }
        if cfg.flag("summarize_ips_by_asn").map_err(e)? {
            s.by_asn = true;
            if let Some(list) = cfg.get_list("exclude_asns_from_summarization").map_err(e)? {
                s.asn_excluded = list.iter().map(|a| format!("{a}/")).collect();
            }
            s.exclude_unknown_asns = cfg
                .flag("exclude_unknown_asns_from_summarization")
                .map_err(e)?;
        }
        if let Some(list) = nets(cfg, "subnets_for_summarization")? {
            for (net, text) in list {
                let wildcard = match net {
                    IpNet::V4(0, l) => Some((&mut s.v4_wildcard, l)),
                    IpNet::V6(0, l) => Some((&mut s.v6_wildcard, l)),
                    _ => None,
                };
                match wildcard {
                    Some((slot, l)) => {
                        if slot.is_some() {
                            return Err("FlowHandler: 'subnets_for_summarization' only allows one ipv4 and one ipv6 wildcard".into());
                        }
                        *slot = Some(l);
                    }
                    None => s.subnets.push((net, text)),
                }
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> ConfigMap {
        let v: serde_norway::Value = serde_norway::from_str(yaml).unwrap();
        ConfigMap::from_yaml(v.as_mapping().unwrap()).unwrap()
    }

    #[test]
    fn pktvisor_error_texts() {
        let err = |y: &str| FlowConfig::from_config(&cfg(y)).unwrap_err();
        assert_eq!(
            err("device_map: {bogus: {name: x, interfaces: {}}}"),
            "FlowHandler: 'device_map' config has an invalid device IP: bogus"
        );
        assert_eq!(
            err("device_map: {10.0.0.1: {interfaces: {}}}"),
            "FlowHandler: 'device_map' config with device IP 10.0.0.1 does not have 'name' key"
        );
        assert_eq!(
            err("device_map: {10.0.0.1: {name: r1}}"),
            "FlowHandler: 'device_map' config with device IP 10.0.0.1 does not have 'interfaces' key"
        );
        assert_eq!(
            err("only_device_interfaces: {nope: [1]}"),
            "FlowHandler: 'only_device_interfaces' filter has an invalid device IP: nope"
        );
        assert_eq!(
            err("only_device_interfaces: {10.0.0.1: [a-b]}"),
            "FlowHandler: invalid 'only_device_interfaces' filter interface value: a-b"
        );
        assert_eq!(
            err("only_ports: [80, http]"),
            "FlowHandler: invalid 'only_ports' filter value: http"
        );
        assert_eq!(
            err("only_directions: [in, sideways]"),
            "FlowStreamHandler: only_directions filter contained an invalid/unsupported direction: sideways"
        );
        assert_eq!(
            err("subnets_for_summarization: [0.0.0.0/8, 0.0.0.0/16]"),
            "FlowHandler: 'subnets_for_summarization' only allows one ipv4 and one ipv6 wildcard"
        );
        assert_eq!(err("only_ips: [10.0.0.1]"), "invalid CIDR: 10.0.0.1");
    }

    #[test]
    fn parses_everything() {
        let c = FlowConfig::from_config(&cfg(
            "device_map: {10.0.0.1: {name: edge, interfaces: {3: {name: wan}}}}
only_device_interfaces: {10.0.0.1: ['1-4', '9'], '2001:db8::1': ['*']}
only_ports: ['443', '1000-900']
only_directions: [out]
subnets_for_summarization: [10.0.0.0/8, '::/48', 0.0.0.0/24]
summarize_ips_by_asn: true
exclude_asns_from_summarization: ['16509']
sample_rate_scaling: false",
        ))
        .unwrap();
        let dev: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(c.devices[&dev].name, "edge");
        assert_eq!(c.devices[&dev].interfaces[&3], "wan");
        let di = c.device_interfaces.unwrap();
        assert_eq!(di[&dev], vec![(1, 4), (9, 9)]);
        assert_eq!(
            di[&"2001:db8::1".parse::<IpAddr>().unwrap()],
            vec![(0, u32::MAX)]
        );
        assert_eq!(c.only_ports.unwrap(), vec![(443, 443), (900, 1000)]);
        assert!(c.disable_in && !c.disable_out);
        assert!(c.summary.by_asn && c.summary.active());
        assert_eq!(c.summary.asn_excluded, ["16509/"]);
        assert_eq!(
            (c.summary.v4_wildcard, c.summary.v6_wildcard),
            (Some(24), Some(48))
        );
        assert_eq!(c.summary.subnets.len(), 1);
        assert!(!c.sample_rate_scaling);
        let off = FlowConfig::from_config(&cfg(
            "enrichment: false\ndevice_map: {10.0.0.1: {name: edge, interfaces: {}}}",
        ))
        .unwrap();
        assert!(off.devices.is_empty());
    }
}
