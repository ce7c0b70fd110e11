//! A metric's OpenTelemetry identity, declared beside its `Desc`: the OTel name, the
//! instrument, the UCUM unit, the attributes its pktvisor name fixes (the dimension pktvisor
//! folds into a name, such as `udp` in `dns_wire_packets_udp`), where a top-N item goes and
//! how values convert (microseconds to seconds, percent to ratio). The OTLP encoder reads
//! only this: nothing is guessed from pktvisor names, so a metric cannot reach OTLP without
//! an identity someone wrote down.
//!
//! This file also owns the attribute vocabulary (`key`): OpenTelemetry semantic-convention
//! keys where one exists (`network.transport`, `network.type`, `network.interface.name`,
//! `network.peer.address`, `source.*`, `destination.*`, `client.port`, `server.*`,
//! `dns.question.name`, `error.type`, `geo.*`), everything else under `pktvisor.`; the
//! values `network.transport` may take; and the typed value of a key (ports are integers,
//! coordinates doubles, the rest strings).
//!
//! Conventions followed by the declarations: durations in seconds (`s`), bytes in `By`,
//! counts of things in curly-brace annotations (`{packet}`, `{address}`, `{name}`), never
//! `1` for a count; a metric never mixes a total with its slices (`pktvisor.net.packets`
//! is the total, `pktvisor.net.packets.by_transport` its slices), so summing a metric over
//! an attribute never double counts.

use super::TopEntry;

/// Attributes as (key, value) pairs.
pub type Attrs = &'static [(&'static str, &'static str)];

/// The OTLP data shape of a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Instrument {
    /// A monotonic Sum (counters).
    Sum,
    /// A Gauge (current values: cardinalities, top-N items, counts of attached things).
    Gauge,
    /// A histogram (ExponentialHistogram, or an explicit-bucket Histogram by config).
    Histogram,
    /// The minimum or maximum of a histogram exported under the same name: no point of its
    /// own, the histogram point's `min`/`max` carry it (netprobe's `response_min_us`).
    InHistogram,
}

/// How a value is converted on its way to OTLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Convert {
    /// As it is.
    None,
    /// Microseconds to seconds (values times 1e-6).
    MicrosToSeconds,
    /// Percent to a ratio (values times 0.01).
    PercentToRatio,
}

impl Convert {
    /// The factor values are multiplied by.
    pub fn factor(self) -> f64 {
        match self {
            Convert::None => 1.0,
            Convert::MicrosToSeconds => 1e-6,
            Convert::PercentToRatio => 0.01,
        }
    }
}

/// Where the item of a top-N entry goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    /// Not a top-N list.
    None,
    /// The item's text is the value of this key.
    Key(&'static str),
    /// An rcode name, as its IANA mnemonic (`SRVFAIL` → `SERVFAIL`), under
    /// `pktvisor.dns.rcode`.
    Rcode,
    /// `address:port` text, split at the last `:` into two keys.
    AddressPort {
        /// Key of the address.
        address: &'static str,
        /// Key of the port.
        port: &'static str,
    },
    /// A pktvisor location (`NA/United States/WA/Milton`): `pktvisor.geo.location`, its
    /// continent as `geo.continent.code`, and `geo.location.lat`/`geo.location.lon` when known.
    Geo,
}

/// The seven continent codes of `geo.continent.code`.
const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

impl Item {
    /// The attributes one top-N entry adds to its point.
    pub fn attributes(self, e: &TopEntry) -> Vec<(&'static str, String)> {
        match self {
            Item::None => Vec::new(),
            Item::Key(k) => vec![port_or_name(k, &e.name)],
            Item::Rcode => vec![(key::DNS_RCODE, iana_rcode(&e.name).to_string())],
            Item::AddressPort { address, port } => match e.name.rsplit_once(':') {
                Some((a, p)) if !a.is_empty() && !p.is_empty() => {
                    vec![(address, a.to_string()), port_or_name(port, p)]
                }
                _ => vec![(address, e.name.clone())],
            },
            Item::Geo => {
                let mut v = vec![(key::GEO_LOCATION, e.name.clone())];
                if let Some(c) = e.name.split('/').next()
                    && CONTINENTS.contains(&c)
                {
                    v.push((key::GEO_CONTINENT_CODE, c.to_string()));
                }
                if let Some((lat, lon)) = &e.lat_lon {
                    v.push((key::GEO_LAT, lat.clone()));
                    v.push((key::GEO_LON, lon.clone()));
                }
                v
            }
        }
    }

    /// Every key `attributes` may produce (for docs and checks).
    pub fn keys(self) -> Vec<&'static str> {
        match self {
            Item::None => Vec::new(),
            Item::Key(k) if value_type(k) == ValueType::Int => vec![k, key::PORT_NAME],
            Item::Key(k) => vec![k],
            Item::Rcode => vec![key::DNS_RCODE],
            Item::AddressPort { address, port } => vec![address, port, key::PORT_NAME],
            Item::Geo => vec![
                key::GEO_LOCATION,
                key::GEO_CONTINENT_CODE,
                key::GEO_LAT,
                key::GEO_LON,
            ],
        }
    }
}

/// A port item under its (integer) port key, or under `pktvisor.port.name` when it is a
/// service name (the flow handler names ports from the IANA registry).
fn port_or_name(k: &'static str, text: &str) -> (&'static str, String) {
    if value_type(k) == ValueType::Int && text.parse::<u16>().is_err() {
        (key::PORT_NAME, text.to_string())
    } else {
        (k, text.to_string())
    }
}

/// pktvisor's rcode name as its IANA mnemonic: pktvisor writes `SRVFAIL` for SERVFAIL (2);
/// every other name already is the mnemonic (upper case).
pub fn iana_rcode(name: &str) -> &str {
    if name == "SRVFAIL" { "SERVFAIL" } else { name }
}

/// The OpenTelemetry identity of a metric (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Otel {
    /// Metric name (`pktvisor.<handler>.…`).
    pub name: &'static str,
    /// Data shape.
    pub instrument: Instrument,
    /// UCUM unit.
    pub unit: &'static str,
    /// Attributes every point of this pktvisor metric carries.
    pub attrs: Attrs,
    /// For top-N lists: where the item goes.
    pub item: Item,
    /// Value conversion.
    pub convert: Convert,
}

const fn otel(name: &'static str, instrument: Instrument, unit: &'static str) -> Otel {
    Otel {
        name,
        instrument,
        unit,
        attrs: &[],
        item: Item::None,
        convert: Convert::None,
    }
}

/// A monotonic Sum.
pub const fn sum(name: &'static str, unit: &'static str) -> Otel {
    otel(name, Instrument::Sum, unit)
}

/// A Gauge.
pub const fn gauge(name: &'static str, unit: &'static str) -> Otel {
    otel(name, Instrument::Gauge, unit)
}

/// A histogram.
pub const fn histogram(name: &'static str, unit: &'static str) -> Otel {
    otel(name, Instrument::Histogram, unit)
}

/// The minimum or maximum of the histogram `of` (see `Instrument::InHistogram`).
pub const fn in_histogram(of: Otel) -> Otel {
    let mut o = of;
    o.instrument = Instrument::InHistogram;
    o
}

/// A top-N list: a Gauge with a point per item, the item under `item`.
pub const fn top(name: &'static str, unit: &'static str, item: Item) -> Otel {
    let mut o = otel(name, Instrument::Gauge, unit);
    o.item = item;
    o
}

impl Otel {
    /// The same identity with these fixed attributes.
    pub const fn with(mut self, attrs: Attrs) -> Otel {
        self.attrs = attrs;
        self
    }

    /// The same identity with a value conversion.
    pub const fn convert(mut self, c: Convert) -> Otel {
        self.convert = c;
        self
    }
}

/// Attribute keys.
pub mod key {
    /// OSI transport (semconv): only `TRANSPORTS` values.
    pub const TRANSPORT: &str = "network.transport";
    /// IP version (semconv): `ipv4`, `ipv6`.
    pub const NETWORK_TYPE: &str = "network.type";
    /// Interface name (semconv).
    pub const INTERFACE: &str = "network.interface.name";
    /// The remote end's address (semconv).
    pub const PEER_ADDRESS: &str = "network.peer.address";
    /// Source address (semconv).
    pub const SOURCE_ADDRESS: &str = "source.address";
    /// Source port (semconv).
    pub const SOURCE_PORT: &str = "source.port";
    /// Destination address (semconv).
    pub const DESTINATION_ADDRESS: &str = "destination.address";
    /// Destination port (semconv).
    pub const DESTINATION_PORT: &str = "destination.port";
    /// Client port (semconv).
    pub const CLIENT_PORT: &str = "client.port";
    /// Server address (semconv).
    pub const SERVER_ADDRESS: &str = "server.address";
    /// Server port (semconv).
    pub const SERVER_PORT: &str = "server.port";
    /// Error class (semconv).
    pub const ERROR_TYPE: &str = "error.type";
    /// A DNS question name as on the wire (semconv; pktvisor lower-cases it in most lists).
    pub const QNAME: &str = "dns.question.name";
    /// Continent code (semconv).
    pub const GEO_CONTINENT_CODE: &str = "geo.continent.code";
    /// Latitude (semconv).
    pub const GEO_LAT: &str = "geo.location.lat";
    /// Longitude (semconv).
    pub const GEO_LON: &str = "geo.location.lon";

    /// The policy of a point.
    pub const POLICY: &str = "pktvisor.policy";
    /// The handler (instance name) of a point.
    pub const HANDLER: &str = "pktvisor.handler";
    /// The tap of a point.
    pub const TAP: &str = "pktvisor.tap";
    /// pktvisor's direction relative to the host (`in`, `out`, `unknown`; flow: the
    /// interface direction `in`, `out`).
    pub const DIRECTION: &str = "pktvisor.direction";
    /// DNS flavour: `do53` (plain DNS), `dot`, `doh`, `doq`, `dnscrypt`.
    pub const DNS_PROTOCOL: &str = "pktvisor.dns.protocol";
    /// A DNS response code, as its IANA mnemonic (`NOERROR`, `SERVFAIL`, …).
    pub const DNS_RCODE: &str = "pktvisor.dns.rcode";
    /// A DNS query type name (`A`, `AAAA`, …).
    pub const DNS_QTYPE: &str = "pktvisor.dns.qtype";
    /// A question name cut to its last two labels (`.example.com`).
    pub const DNS_QNAME2: &str = "pktvisor.dns.qname2";
    /// A question name cut to its last three labels.
    pub const DNS_QNAME3: &str = "pktvisor.dns.qname3";
    /// An EDNS Client Subnet address.
    pub const DNS_ECS: &str = "pktvisor.dns.ecs";
    /// An autonomous system (`16509/AMAZON-02`).
    pub const ASN: &str = "pktvisor.asn";
    /// pktvisor's location text (`NA/United States/WA/Milton`).
    pub const GEO_LOCATION: &str = "pktvisor.geo.location";
    /// DHCP message type.
    pub const DHCP_MESSAGE_TYPE: &str = "pktvisor.dhcp.message.type";
    /// A DHCP client (`mac/hostname/address`).
    pub const DHCP_CLIENT: &str = "pktvisor.dhcp.client";
    /// A DHCP server (`mac/address`).
    pub const DHCP_SERVER: &str = "pktvisor.dhcp.server";
    /// BGP message type.
    pub const BGP_MESSAGE_TYPE: &str = "pktvisor.bgp.message.type";
    /// A port's IANA service name (`https`), where a port number is not known.
    pub const PORT_NAME: &str = "pktvisor.port.name";
    /// A netprobe target's name.
    pub const NETPROBE_TARGET: &str = "pktvisor.netprobe.target";
    /// A flow exporter (its name or address).
    pub const FLOW_DEVICE: &str = "pktvisor.flow.device";
    /// A flow conversation.
    pub const FLOW_CONVERSATION: &str = "pktvisor.flow.conversation";
    /// A DSCP name.
    pub const FLOW_DSCP: &str = "pktvisor.flow.dscp";
    /// An ECN name.
    pub const FLOW_ECN: &str = "pktvisor.flow.ecn";
}

/// The semantic-convention keys points may carry; every other key is `pktvisor.*`.
pub const SEMCONV_KEYS: [&str; 16] = [
    key::TRANSPORT,
    key::NETWORK_TYPE,
    key::INTERFACE,
    key::PEER_ADDRESS,
    key::SOURCE_ADDRESS,
    key::SOURCE_PORT,
    key::DESTINATION_ADDRESS,
    key::DESTINATION_PORT,
    key::CLIENT_PORT,
    key::SERVER_ADDRESS,
    key::SERVER_PORT,
    key::ERROR_TYPE,
    key::QNAME,
    key::GEO_CONTINENT_CODE,
    key::GEO_LAT,
    key::GEO_LON,
];

/// The values `network.transport` may take (semantic conventions).
pub const TRANSPORTS: [&str; 5] = ["tcp", "udp", "quic", "unix", "pipe"];

/// Whether a point may carry attribute `k`.
pub fn allowed_key(k: &str) -> bool {
    SEMCONV_KEYS.contains(&k) || k.starts_with("pktvisor.")
}

/// The value type of an attribute key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// A string.
    Str,
    /// An integer (ports), when the text is one (flow port names stay strings).
    Int,
    /// A double (coordinates).
    Double,
}

/// The value type of key `k`.
pub fn value_type(k: &str) -> ValueType {
    match k {
        key::SOURCE_PORT | key::DESTINATION_PORT | key::CLIENT_PORT | key::SERVER_PORT => {
            ValueType::Int
        }
        key::GEO_LAT | key::GEO_LON => ValueType::Double,
        _ => ValueType::Str,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, lat_lon: Option<(&str, &str)>) -> TopEntry {
        TopEntry {
            name: name.into(),
            estimate: 1,
            lat_lon: lat_lon.map(|(a, b)| (a.into(), b.into())),
        }
    }

    #[test]
    fn items_become_semantic_attributes() {
        let g = Item::Geo.attributes(&entry(
            "NA/United States/WA/Milton",
            Some(("47.2", "-122.3")),
        ));
        assert_eq!(
            g,
            vec![
                (key::GEO_LOCATION, "NA/United States/WA/Milton".to_string()),
                (key::GEO_CONTINENT_CODE, "NA".to_string()),
                (key::GEO_LAT, "47.2".to_string()),
                (key::GEO_LON, "-122.3".to_string()),
            ]
        );
        assert_eq!(
            Item::Geo.attributes(&entry("Unknown", None)),
            vec![(key::GEO_LOCATION, "Unknown".to_string())]
        );
        assert_eq!(
            Item::Rcode.attributes(&entry("SRVFAIL", None)),
            vec![(key::DNS_RCODE, "SERVFAIL".to_string())]
        );
        let ap = Item::AddressPort {
            address: key::SOURCE_ADDRESS,
            port: key::SOURCE_PORT,
        };
        assert_eq!(
            ap.attributes(&entry("2001:db8::1:443", None)),
            vec![
                (key::SOURCE_ADDRESS, "2001:db8::1".to_string()),
                (key::SOURCE_PORT, "443".to_string())
            ]
        );
        assert_eq!(
            ap.attributes(&entry("192.0.2.1:https", None)),
            vec![
                (key::SOURCE_ADDRESS, "192.0.2.1".to_string()),
                (key::PORT_NAME, "https".to_string())
            ]
        );
        assert_eq!(
            Item::Key(key::DESTINATION_PORT).attributes(&entry("domain", None)),
            vec![(key::PORT_NAME, "domain".to_string())]
        );
        for i in [Item::Geo, Item::Rcode, ap, Item::Key(key::QNAME)] {
            assert!(i.keys().iter().all(|k| allowed_key(k)), "{i:?}");
        }
    }

    #[test]
    fn declarations_are_const() {
        const O: Otel = sum("pktvisor.x.packets", "{packet}")
            .with(&[(key::TRANSPORT, "udp")])
            .convert(Convert::MicrosToSeconds);
        assert_eq!(O.instrument, Instrument::Sum);
        assert_eq!(O.attrs, &[("network.transport", "udp")]);
        assert_eq!(O.convert.factor(), 1e-6);
        assert!(!allowed_key("direction"));
        assert!(allowed_key("pktvisor.direction"));
        assert_eq!(value_type(key::CLIENT_PORT), ValueType::Int);
    }
}
