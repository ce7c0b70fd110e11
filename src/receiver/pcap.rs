//! The pcap input (`input_type: pcap`, reference §11.1): its config keys, its typed config
//! and which packet receiver it builds: libpcap on an interface (`pcap_live`), an AF_PACKET
//! ring (`af_packet`), the synthetic `mock` source, or a capture file (`pcap_file`).
//!
//! A policy's `input.filter` (the BPF expression) is part of the stream: policies with
//! different filters read different streams.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use crate::config::hostspec::HostSpec;
use crate::config::value::{ConfigMap, ConfigValue};
use crate::decode::tcp_stream::DEFAULT_CONNECTION_LIMIT;
use crate::receiver::context::ReceiverStatus;
use crate::receiver::{Built, Decoding, InputKind, InputSpec, ReceiverConfig, no_policy_filter};

/// Valid pcap input config keys.
pub const KEYS: &[&str] = &[
    "iface",
    "bpf",
    "host_spec",
    "pcap_file",
    "pcap_source",
    "debug",
    "tcp_packet_reassembly_cache_limit",
];

/// The pcap input in the table of inputs.
pub const INPUT: InputSpec = InputSpec {
    kind: InputKind::Pcap,
    names: &["pcap"],
    keys: KEYS,
    filter_in_stream: true,
    parse: |c| Ok(Arc::new(PcapInput::parse(c)?)),
    policy_filter: no_policy_filter,
    read_file: |c, path| {
        c.remove("iface");
        c.set("pcap_file", ConfigValue::Str(path.to_string()));
    },
};

/// Where frames come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PcapSource {
    /// libpcap on an interface (a name, one of its addresses, or `auto`).
    Libpcap(String),
    /// An AF_PACKET TPACKET_V3 ring on an interface.
    AfPacket(String),
    /// Synthetic DNS traffic.
    Mock,
    /// A capture file, read once (a recorded stream).
    File(PathBuf),
}

/// A pcap input's typed config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapInput {
    /// The source.
    pub source: PcapSource,
    /// tcpdump filter.
    pub bpf: Option<String>,
    /// An explicit `host_spec` (never widened).
    pub host_spec: Option<HostSpec>,
    /// Bound on reassembled TCP connections.
    pub tcp_limit: usize,
}

impl PcapInput {
    /// Reads a merged pcap input config (keys are checked by the planner), with pktvisor's
    /// texts; a BPF expression is compiled here so that a bad one fails before anything
    /// starts.
    pub fn parse(cfg: &ConfigMap) -> Result<PcapInput, String> {
        let text = |k: &str| cfg.get_str(k).map_err(|e| e.to_string());
        let host_spec = match text("host_spec")? {
            Some(h) if !h.trim().is_empty() => Some(HostSpec::parse(h).map_err(|e| e.to_string())?),
            _ => None,
        };
        let bpf = text("bpf")?
            .filter(|b| !b.trim().is_empty())
            .map(str::to_string);
        let tcp_limit = cfg
            .get_u64("tcp_packet_reassembly_cache_limit")
            .map_err(|e| e.to_string())?
            .map_or(DEFAULT_CONNECTION_LIMIT, |v| {
                usize::try_from(v).unwrap_or(usize::MAX)
            });
        let source = if let Some(f) = text("pcap_file")? {
            PcapSource::File(PathBuf::from(f))
        } else {
            match text("pcap_source")?.unwrap_or("libpcap") {
                "mock" => PcapSource::Mock,
                kind @ ("libpcap" | "af_packet") => {
                    let iface = text("iface")?
                        .filter(|i| !i.trim().is_empty())
                        .ok_or("no iface was specified for live capture")?
                        .to_string();
                    if kind == "libpcap" {
                        PcapSource::Libpcap(iface)
                    } else {
                        PcapSource::AfPacket(iface)
                    }
                }
                _ => return Err("unknown pcap source".into()),
            }
        };
        if let Some(expr) = &bpf {
            let mut f = crate::receiver::bpf::BpfFilterSet::new(expr);
            if let Err(e) = f.matches(crate::decode::linktype::ETHERNET, &[]) {
                return Err(match source {
                    PcapSource::File(_) => e.to_string(),
                    _ => e
                        .to_string()
                        .replace("to pcap file", "to interface")
                        .to_string(),
                });
            }
        }
        Ok(PcapInput {
            source,
            bpf,
            host_spec,
            tcp_limit,
        })
    }

    /// pktvisor's `pcap_source` info value.
    pub fn source_name(&self) -> &'static str {
        match self.source {
            PcapSource::Libpcap(_) | PcapSource::File(_) => "libpcap",
            PcapSource::AfPacket(_) => "af_packet",
            PcapSource::Mock => "mock",
        }
    }
}

impl ReceiverConfig for PcapInput {
    fn kind(&self) -> InputKind {
        InputKind::Pcap
    }

    fn recorded(&self) -> bool {
        matches!(self.source, PcapSource::File(_))
    }

    fn decoding(&self) -> Decoding {
        Decoding {
            tcp_limit: self.tcp_limit,
            flow_type: None,
        }
    }

    fn build(&self) -> Result<Built, String> {
        let explicit = self.host_spec.clone();
        Ok(match &self.source {
            PcapSource::Libpcap(iface) => {
                let dev = crate::receiver::pcap_live::resolve_interface(iface)
                    .map_err(|e| e.to_string())?;
                let host = explicit
                    .unwrap_or_else(|| crate::receiver::pcap_live::interface_host_spec(&dev));
                let mut live = crate::receiver::pcap_live::LiveConfig::new(&dev.name);
                live.bpf = self.bpf.clone();
                Built {
                    receiver: Box::new(crate::receiver::pcap_live::LibpcapReceiver::new(live)),
                    host_spec: host,
                }
            }
            PcapSource::AfPacket(iface) => {
                let mut c = crate::receiver::af_packet::AfPacketConfig::new(iface);
                c.bpf = self.bpf.clone();
                Built {
                    receiver: Box::new(crate::receiver::af_packet::AfPacketReceiver::new(c)),
                    host_spec: explicit.unwrap_or_default(),
                }
            }
            PcapSource::Mock => Built {
                receiver: Box::new(crate::receiver::mock::MockReceiver::default()),
                host_spec: explicit.unwrap_or_default(),
            },
            PcapSource::File(path) => Built {
                receiver: Box::new(crate::receiver::pcap_file::PcapFileReceiver::new(
                    path.clone(),
                    self.bpf.clone(),
                )),
                host_spec: explicit.unwrap_or_default(),
            },
        })
    }

    fn build_shards(&self, workers: usize) -> Result<Vec<Built>, String> {
        let PcapSource::AfPacket(iface) = &self.source else {
            return Ok(vec![self.build()?]);
        };
        if workers <= 1 {
            return Ok(vec![self.build()?]);
        }
        // One ring per worker, fanned out by the kernel.
        let fanout = crate::receiver::fanout::Fanout::new(workers as u32);
        Ok((0..workers)
            .map(|_| {
                let mut c = crate::receiver::af_packet::AfPacketConfig::new(iface);
                c.bpf = self.bpf.clone();
                c.fanout = Some(fanout);
                Built {
                    receiver: Box::new(crate::receiver::af_packet::AfPacketReceiver::new(c)),
                    host_spec: self.host_spec.clone().unwrap_or_default(),
                }
            })
            .collect())
    }

    fn describe(
        &self,
        host: &HostSpec,
        _status: &ReceiverStatus,
    ) -> Option<(&'static str, serde_json::Value)> {
        Some((
            "pcap",
            json!({
                "available_iface": crate::receiver::pcap_live::available_interfaces(),
                "host_ips": {"ipv4": host.ipv4_strings(), "ipv6": host.ipv6_strings()},
                "pcap_source": self.source_name(),
            }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> ConfigMap {
        let mut c = ConfigMap::new();
        for (k, v) in pairs {
            c.set(k, ConfigValue::Str((*v).to_string()));
        }
        c
    }

    #[test]
    fn sources_and_pktvisor_errors() {
        let p = PcapInput::parse(&cfg(&[("iface", "lo"), ("bpf", "udp")])).unwrap();
        assert_eq!(p.source, PcapSource::Libpcap("lo".into()));
        assert_eq!(p.bpf.as_deref(), Some("udp"));
        assert!(!p.recorded());
        let f = PcapInput::parse(&cfg(&[("pcap_file", "x.pcap"), ("iface", "lo")])).unwrap();
        assert!(f.recorded());
        let m = PcapInput::parse(&cfg(&[("pcap_source", "mock")])).unwrap();
        assert_eq!(m.source_name(), "mock");
        assert_eq!(
            PcapInput::parse(&cfg(&[])).unwrap_err(),
            "no iface was specified for live capture"
        );
        assert_eq!(
            PcapInput::parse(&cfg(&[("iface", "lo"), ("pcap_source", "dpdk")])).unwrap_err(),
            "unknown pcap source"
        );
        let bad = PcapInput::parse(&cfg(&[("iface", "lo"), ("bpf", "not ( valid")])).unwrap_err();
        assert!(
            bad.starts_with("Cannot set BPF filter to interface"),
            "{bad}"
        );
        let bad = PcapInput::parse(&cfg(&[("pcap_file", "x"), ("bpf", "port nope")])).unwrap_err();
        assert!(
            bad.starts_with("Cannot set BPF filter to pcap file"),
            "{bad}"
        );
        assert!(
            PcapInput::parse(&cfg(&[("iface", "lo"), ("host_spec", "10.0.0.1")]))
                .unwrap_err()
                .contains("invalid CIDR")
        );
    }
}
