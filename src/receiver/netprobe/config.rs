//! The netprobe input's config (`input_type: netprobe`), checked in pktvisor's order with
//! pktvisor's texts: `test_type`, `interval_msec` / `timeout_msec`, `packets_per_test`,
//! `packets_interval_msec`, `packet_payload_size`, then every target (sorted by name).

use std::net::IpAddr;

use crate::config::value::{ConfigError, ConfigMap, ConfigValue};
use crate::event::ProbeTest;

/// Valid netprobe input config keys (pktvisor's order).
pub const INPUT_KEYS: &[&str] = &[
    "test_type",
    "interval_msec",
    "timeout_msec",
    "packets_per_test",
    "packets_interval_msec",
    "packet_payload_size",
    "targets",
];

/// pktvisor's test types, sorted as its error texts list them.
const TEST_TYPES: &str = "http, ping, tcp, udp";

/// Largest `packet_payload_size` (pktvisor's `MAX_PAYLOAD_SIZE`).
pub const MAX_PAYLOAD_SIZE: u64 = 65_500;

/// Most targets one input probes (ours: every target has a bounded, fixed cost).
pub const MAX_TARGETS: usize = 65_536;

/// The payload pktvisor's echo requests start with.
pub const VALIDATOR: &[u8; 8] = b"pktvisor";

/// An address family a target is forced to (`ip_version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(ip: &IpAddr) -> Family {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }
}

/// What a target names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetHost {
    /// An IP address literal.
    Ip(IpAddr),
    /// A host name, resolved before every test.
    Name(String),
}

/// One target of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetDef {
    /// Its name (the key under `targets:`).
    pub name: String,
    /// `target` as written.
    pub host_text: String,
    /// The address or name.
    pub host: TargetHost,
    /// `port` (0 when absent; required for TCP).
    pub port: u16,
    /// `ip_version`, when given.
    pub family: Option<Family>,
}

/// A resolved netprobe input config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetprobeInput {
    /// Ping or TCP.
    pub test: ProbeTest,
    /// Time between tests of a target.
    pub interval_ms: u64,
    /// How long a probe waits for its answer.
    pub timeout_ms: u64,
    /// Echo requests per ping test.
    pub packets_per_test: u64,
    /// Time between the echo requests of a test.
    pub packets_interval_ms: u64,
    /// Echo payload bytes after the timestamp ("pktvisor" and zeros; at least 8).
    pub payload_size: usize,
    /// The targets, sorted by name.
    pub targets: Vec<TargetDef>,
}

fn cfg_err(e: ConfigError) -> String {
    e.to_string()
}

fn u64_or(cfg: &ConfigMap, key: &str, default: u64) -> Result<u64, String> {
    Ok(cfg.get_u64(key).map_err(cfg_err)?.unwrap_or(default))
}

impl NetprobeInput {
    /// Parses a merged input config with pktvisor's checks and texts.
    pub fn from_config(cfg: &ConfigMap) -> Result<NetprobeInput, String> {
        let test = match cfg.get("test_type") {
            None => {
                return Err(format!(
                    "'test_type' config not specified. The valid test types are: {TEST_TYPES}"
                ));
            }
            Some(ConfigValue::Str(t)) => match t.as_str() {
                "ping" => Some(ProbeTest::Ping),
                "tcp" => Some(ProbeTest::Tcp),
                "http" | "udp" => None,
                other => {
                    return Err(format!(
                        "{other} is an invalid/unsupported test type. The valid test types are: {TEST_TYPES}"
                    ));
                }
            },
            Some(_) => return Err(cfg_err(ConfigError::WrongType("test_type".into()))),
        };
        let interval_ms = u64_or(cfg, "interval_msec", 5000)?;
        let timeout_ms = u64_or(cfg, "timeout_msec", 2000)?;
        if timeout_ms > interval_ms {
            return Err(format!(
                "timeout_msec [{timeout_ms}] cannot be greater than interval_msec [{interval_ms}]"
            ));
        }
        let packets_per_test = u64_or(cfg, "packets_per_test", 1)?;
        if packets_per_test == 0 {
            return Err("packets_per_test needs to be greater than 0".into());
        }
        let packets_interval_ms = u64_or(cfg, "packets_interval_msec", 25)?;
        if packets_per_test.saturating_mul(packets_interval_ms) > interval_ms {
            // pktvisor's text names packets_interval_msec where it means interval_msec.
            return Err(format!(
                "packets_per_test [{packets_per_test}] times packets_interval_msec [{packets_interval_ms}] cannot be greater than packets_interval_msec [{interval_ms}]"
            ));
        }
        let payload = u64_or(cfg, "packet_payload_size", 48)?;
        if payload > MAX_PAYLOAD_SIZE {
            return Err(format!(
                "packet_payload_size was set to {payload} but max supported size is {MAX_PAYLOAD_SIZE}"
            ));
        }
        let payload_size = (payload as usize).max(VALIDATOR.len());
        let Some(targets_map) = cfg.get_map("targets").map_err(cfg_err)? else {
            return Err("no targets specified".into());
        };
        let mut targets = Vec::with_capacity(targets_map.len());
        for (name, v) in targets_map.iter() {
            let ConfigValue::Map(t) = v else {
                return Err(cfg_err(ConfigError::WrongType(name.to_string())));
            };
            targets.push(Self::target(name, t, test)?);
        }
        // `http` and `udp` parse, then fail once their targets are known (pktvisor says so
        // when it builds the first probe; we say it even for an empty target list).
        let Some(test) = test else {
            return Err("Test type currently not supported".into());
        };
        if targets.len() > MAX_TARGETS {
            return Err(format!(
                "{} targets specified but at most {MAX_TARGETS} are supported",
                targets.len()
            ));
        }
        Ok(NetprobeInput {
            test,
            interval_ms,
            timeout_ms,
            packets_per_test,
            packets_interval_ms,
            payload_size,
            targets,
        })
    }

    fn target(name: &str, t: &ConfigMap, test: Option<ProbeTest>) -> Result<TargetDef, String> {
        if !t.contains("target") {
            return Err(format!(
                "'{name}' does not have key 'target' which is required"
            ));
        }
        let port = match t.get_u64("port").map_err(cfg_err)? {
            None if test == Some(ProbeTest::Tcp) => {
                return Err(format!(
                    "'{name}' does not have key 'port' which is required"
                ));
            }
            None => 0,
            Some(p) => u16::try_from(p)
                .map_err(|_| format!("'{name}' port {p} is not a valid port (0 to 65535)"))?,
        };
        let family = match t.get_u64("ip_version").map_err(cfg_err)? {
            None => None,
            Some(4) => Some(Family::V4),
            Some(6) => Some(Family::V6),
            Some(_) => return Err("ip_version must be 4 or 6".into()),
        };
        let text = t
            .get_str("target")
            .map_err(cfg_err)?
            .unwrap_or_default()
            .to_string();
        let host = if let Ok(ip) = text.parse::<IpAddr>() {
            let literal = Family::of(&ip);
            if let Some(f) = family
                && f != literal
            {
                let (is, want) = match literal {
                    Family::V4 => ("IPv4", 6),
                    Family::V6 => ("IPv6", 4),
                };
                return Err(format!(
                    "target {text} is {is} but ip_version is set to {want}"
                ));
            }
            TargetHost::Ip(ip)
        } else {
            if !text.contains('.') && text != "localhost" {
                return Err(format!("{text} is an invalid/unsupported DNS"));
            }
            TargetHost::Name(text.clone())
        };
        Ok(TargetDef {
            name: name.to_string(),
            host_text: text,
            host,
            port,
            family,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> ConfigMap {
        let v: serde_norway::Value = serde_norway::from_str(text).unwrap();
        ConfigMap::from_yaml(v.as_mapping().unwrap()).unwrap()
    }

    fn err(text: &str) -> String {
        NetprobeInput::from_config(&yaml(text)).unwrap_err()
    }

    #[test]
    fn defaults_and_targets() {
        let c = NetprobeInput::from_config(&yaml(
            "test_type: ping\ntargets:\n  b: {target: 192.0.2.1}\n  a: {target: example.com, ip_version: 6}\n",
        ))
        .unwrap();
        assert_eq!(
            (
                c.interval_ms,
                c.timeout_ms,
                c.packets_per_test,
                c.packets_interval_ms,
                c.payload_size
            ),
            (5000, 2000, 1, 25, 48)
        );
        assert_eq!(c.targets[0].name, "a");
        assert_eq!(c.targets[0].host, TargetHost::Name("example.com".into()));
        assert_eq!(c.targets[0].family, Some(Family::V6));
        assert_eq!(
            c.targets[1].host,
            TargetHost::Ip("192.0.2.1".parse().unwrap())
        );
        let small = NetprobeInput::from_config(&yaml(
            "test_type: ping\npacket_payload_size: 2\ntargets: {a: {target: 192.0.2.1}}\n",
        ))
        .unwrap();
        assert_eq!(small.payload_size, 8);
    }

    #[test]
    fn pktvisor_error_texts() {
        assert_eq!(
            err("targets: {}"),
            "'test_type' config not specified. The valid test types are: http, ping, tcp, udp"
        );
        assert_eq!(
            err("test_type: icmp"),
            "icmp is an invalid/unsupported test type. The valid test types are: http, ping, tcp, udp"
        );
        assert_eq!(
            err("test_type: ping\ntimeout_msec: 3000\ninterval_msec: 1000"),
            "timeout_msec [3000] cannot be greater than interval_msec [1000]"
        );
        assert_eq!(
            err("test_type: ping\npackets_per_test: 0"),
            "packets_per_test needs to be greater than 0"
        );
        assert_eq!(
            err("test_type: ping\npackets_per_test: 10\npackets_interval_msec: 600"),
            "packets_per_test [10] times packets_interval_msec [600] cannot be greater than packets_interval_msec [5000]"
        );
        assert_eq!(
            err("test_type: ping\npacket_payload_size: 65501"),
            "packet_payload_size was set to 65501 but max supported size is 65500"
        );
        assert_eq!(err("test_type: ping"), "no targets specified");
        assert_eq!(
            err("test_type: ping\ntargets: {a: {port: 80}}"),
            "'a' does not have key 'target' which is required"
        );
        assert_eq!(
            err("test_type: tcp\ntargets: {a: {target: 192.0.2.1}}"),
            "'a' does not have key 'port' which is required"
        );
        assert_eq!(
            err("test_type: ping\ntargets: {a: {target: 192.0.2.1, ip_version: 5}}"),
            "ip_version must be 4 or 6"
        );
        assert_eq!(
            err("test_type: ping\ntargets: {a: {target: '2001:db8::1', ip_version: 4}}"),
            "target 2001:db8::1 is IPv6 but ip_version is set to 4"
        );
        assert_eq!(
            err("test_type: ping\ntargets: {a: {target: 192.0.2.1, ip_version: 6}}"),
            "target 192.0.2.1 is IPv4 but ip_version is set to 6"
        );
        assert_eq!(
            err("test_type: ping\ntargets: {a: {target: intranet}}"),
            "intranet is an invalid/unsupported DNS"
        );
        assert_eq!(
            err("test_type: http\ntargets: {a: {target: 192.0.2.1}}"),
            "Test type currently not supported"
        );
        assert_eq!(
            err("test_type: ping\ninterval_msec: soon\ntargets: {}"),
            "wrong type for key: interval_msec"
        );
        assert!(
            NetprobeInput::from_config(&yaml("test_type: ping\ntargets: {a: {target: localhost}}"))
                .is_ok()
        );
    }
}
