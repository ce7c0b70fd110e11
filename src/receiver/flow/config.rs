//! The flow input's config keys (`input_type: flow` / `sflow`), with pktvisor's texts.

use crate::config::value::ConfigMap;

/// Valid flow input config keys.
pub const INPUT_KEYS: &[&str] = &["flow_type", "bind", "port", "pcap_file"];

/// Which export protocol a flow input decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowType {
    /// sFlow v2/v4/v5.
    Sflow,
    /// NetFlow v1/v5/v7/v9 and IPFIX (pktvisor's `netflow` and `ipfix` share one decoder).
    Netflow,
}

impl FlowType {
    /// Parses `flow_type` (`sflow`, `netflow`, `ipfix`) with pktvisor's error text.
    pub fn parse(s: &str) -> Result<FlowType, String> {
        match s {
            "sflow" => Ok(FlowType::Sflow),
            "netflow" | "ipfix" => Ok(FlowType::Netflow),
            other => Err(format!(
                "invalid flow_type \"{other}\". Supported types: \"sflow\", \"netflow\" and \"ipfix\""
            )),
        }
    }
}

/// Where a flow input reads datagrams from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowSource {
    /// UDP datagrams from a capture file (every UDP datagram, or those to `port`).
    File {
        /// The capture.
        path: std::path::PathBuf,
        /// Only datagrams to this UDP port, when set.
        port: Option<u16>,
    },
    /// A UDP listener.
    Listen {
        /// Address to bind.
        bind: String,
        /// UDP port.
        port: u16,
    },
}

/// A resolved flow input config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowInput {
    /// The protocol.
    pub flow_type: FlowType,
    /// Whether `flow_type` was missing (pktvisor warns `flow_type not specified, using sflow`).
    pub flow_type_defaulted: bool,
    /// The source.
    pub source: FlowSource,
}

impl FlowInput {
    /// Reads `flow_type`, `pcap_file`, `bind` and `port` (pcap_file wins over a listener).
    pub fn from_config(cfg: &ConfigMap) -> Result<FlowInput, String> {
        let (flow_type, defaulted) = match cfg.get_str("flow_type").map_err(|e| e.to_string())? {
            Some(t) => (FlowType::parse(t)?, false),
            None => (FlowType::Sflow, true),
        };
        let port = cfg.get_u64("port").map_err(|e| e.to_string())?;
        let port = match port {
            Some(p) => Some(u16::try_from(p).map_err(|_| format!("invalid flow port: {p}"))?),
            None => None,
        };
        if let Some(path) = cfg.get_str("pcap_file").map_err(|e| e.to_string())? {
            return Ok(FlowInput {
                flow_type,
                flow_type_defaulted: defaulted,
                source: FlowSource::File {
                    path: path.into(),
                    port,
                },
            });
        }
        let bind = cfg.get_str("bind").map_err(|e| e.to_string())?;
        match (bind, port) {
            (Some(b), Some(p)) => Ok(FlowInput {
                flow_type,
                flow_type_defaulted: defaulted,
                source: FlowSource::Listen {
                    bind: b.to_string(),
                    port: p,
                },
            }),
            _ => Err("flow config must specify port and bind".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::value::ConfigValue;

    #[test]
    fn types_sources_and_errors() {
        let mut c = ConfigMap::new();
        assert_eq!(
            FlowInput::from_config(&c).unwrap_err(),
            "flow config must specify port and bind"
        );
        c.set("bind", ConfigValue::Str("127.0.0.1".into()));
        c.set("port", ConfigValue::U64(2055));
        let f = FlowInput::from_config(&c).unwrap();
        assert!(f.flow_type_defaulted);
        assert_eq!(f.flow_type, FlowType::Sflow);
        c.set("flow_type", ConfigValue::Str("ipfix".into()));
        c.set("pcap_file", ConfigValue::Str("x.pcap".into()));
        let f = FlowInput::from_config(&c).unwrap();
        assert_eq!(f.flow_type, FlowType::Netflow);
        assert!(matches!(
            f.source,
            FlowSource::File {
                port: Some(2055),
                ..
            }
        ));
        c.set("flow_type", ConfigValue::Str("jflow".into()));
        assert_eq!(
            FlowInput::from_config(&c).unwrap_err(),
            "invalid flow_type \"jflow\". Supported types: \"sflow\", \"netflow\" and \"ipfix\""
        );
    }
}
