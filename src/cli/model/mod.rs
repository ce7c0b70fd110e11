//! The UI's read-only view of one policy's window JSON (`/api/v1/policies/<P>/metrics/window/N`):
//! each handler object decoded by its schema key into a typed, lenient struct (missing fields
//! are zero or empty, never an error), so drawing code never touches JSON.

mod extra;
mod json;
mod v1;
mod v2;

use serde_json::Value;

pub use extra::{Flow, FlowDevice, FlowInterface, Netprobe, ProbeTarget, Resources};
pub use json::{Period, Quantiles, Rate, TopItem};
pub use v1::{Dhcp, DnsV1, DnsWire, DnsXact, NetV1, Pcap};
pub use v2::{DnsDir, DnsV2, NetDir, NetV2};

use json::J;

/// One handler's metrics, by schema key (`packets`, `dns`, `net`, …; dns v1 and v2 share
/// `dns` and are told apart by their fields).
#[derive(Debug, Clone, PartialEq)]
pub enum Handler {
    NetV1(NetV1),
    NetV2(NetV2),
    DnsV1(DnsV1),
    DnsV2(DnsV2),
    Pcap(Pcap),
    Dhcp(Dhcp),
    Flow(Flow),
    Netprobe(Netprobe),
    Resources(Resources),
    /// A schema this UI has no panel for (bgp, …), by key.
    Other(String),
}

/// A policy's window: its handlers in the order the agent wrote them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyWindow {
    pub policy: String,
    /// (handler instance name, decoded metrics).
    pub handlers: Vec<(String, Handler)>,
}

impl PolicyWindow {
    /// Decodes `{"<policy>": {"<handler>": {"<schema>": {…}}}}`. The policy key is looked up
    /// by name, else the first key is used; anything that is not an object is skipped.
    pub fn from_json(policy: &str, v: &Value) -> PolicyWindow {
        let body = v
            .get(policy)
            .or_else(|| v.as_object().and_then(|o| o.values().next()));
        let mut handlers = Vec::new();
        if let Some(obj) = body.and_then(Value::as_object) {
            for (name, h) in obj {
                let Some(h) = h.as_object() else { continue };
                for (schema, data) in h {
                    if data.is_object() {
                        handlers.push((name.clone(), decode(schema, J(data))));
                    }
                }
            }
        }
        PolicyWindow {
            policy: policy.to_string(),
            handlers,
        }
    }

    fn find<T>(&self, f: impl Fn(&Handler) -> Option<&T>) -> Option<&T> {
        self.handlers.iter().find_map(|(_, h)| f(h))
    }

    pub fn net_v1(&self) -> Option<&NetV1> {
        self.find(|h| match h {
            Handler::NetV1(x) => Some(x),
            _ => None,
        })
    }
    pub fn dns_v1(&self) -> Option<&DnsV1> {
        self.find(|h| match h {
            Handler::DnsV1(x) => Some(x),
            _ => None,
        })
    }
    pub fn net_v2(&self) -> Option<&NetV2> {
        self.find(|h| match h {
            Handler::NetV2(x) => Some(x),
            _ => None,
        })
    }
    pub fn dns_v2(&self) -> Option<&DnsV2> {
        self.find(|h| match h {
            Handler::DnsV2(x) => Some(x),
            _ => None,
        })
    }
    pub fn pcap(&self) -> Option<&Pcap> {
        self.find(|h| match h {
            Handler::Pcap(x) => Some(x),
            _ => None,
        })
    }
    pub fn dhcp(&self) -> Option<&Dhcp> {
        self.find(|h| match h {
            Handler::Dhcp(x) => Some(x),
            _ => None,
        })
    }
    pub fn resources(&self) -> Option<&Resources> {
        self.find(|h| match h {
            Handler::Resources(x) => Some(x),
            _ => None,
        })
    }
    /// Every flow handler's devices, in order.
    pub fn flows(&self) -> Vec<&Flow> {
        self.handlers
            .iter()
            .filter_map(|(_, h)| match h {
                Handler::Flow(x) => Some(x),
                _ => None,
            })
            .collect()
    }
    /// Every netprobe handler, in order.
    pub fn netprobes(&self) -> Vec<&Netprobe> {
        self.handlers
            .iter()
            .filter_map(|(_, h)| match h {
                Handler::Netprobe(x) => Some(x),
                _ => None,
            })
            .collect()
    }

    /// The first period found (packets first, as pktvisor's header).
    pub fn period(&self) -> Option<Period> {
        self.net_v1()
            .map(|n| n.period)
            .or_else(|| self.dns_v1().map(|d| d.period))
            .or_else(|| self.net_v2().map(|n| n.period))
            .or_else(|| self.dns_v2().map(|d| d.period))
    }
}

fn decode(schema: &str, j: J) -> Handler {
    match schema {
        "packets" => Handler::NetV1(NetV1::from(j)),
        "net" => Handler::NetV2(NetV2::from(j)),
        "dns" if DnsV2::looks_like(j) => Handler::DnsV2(DnsV2::from(j)),
        "dns" => Handler::DnsV1(DnsV1::from(j)),
        "pcap" => Handler::Pcap(Pcap::from(j)),
        "dhcp" => Handler::Dhcp(Dhcp::from(j)),
        "flow" => Handler::Flow(Flow::from(j)),
        "netprobe" => Handler::Netprobe(Netprobe::from(j)),
        "input_resources" => Handler::Resources(Resources::from(j)),
        other => Handler::Other(other.to_string()),
    }
}
