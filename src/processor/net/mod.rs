//! The net processors (v1 `packets`, v2 `net`) and what they share besides their engine:
//! the geo/ASN filters, packets seen in TCP messages and dnstap messages, geo top lists.
//!
//! Both versions are one engine (`engine`) over a metric layout (`v1`: one bucket with
//! in/out rates; `v2`: per direction); `schema` holds both versions' groups and metric
//! names. What the two-version families share (`family`: versions, typed configs, kinds)
//! and the v2 per-direction bucket (`directions`) serve the dns processors too.
//!
//! Filters look at the *remote* address of a packet (the source of an ingress packet, the
//! destination of an egress one) and keep it when its location / ASN string begins with one
//! of the configured prefixes (`geoloc_notfound` / `asn_notfound` add the prefix `Unknown`,
//! an ASN number `N` becomes the prefix `N/`). With a geo filter but no database loaded, or
//! an unknown direction, every IP packet is filtered; non-IP packets always pass.
//! A dnstap message counts as one packet of its frame's size (`dnstap_packet`).

pub mod directions;
pub mod engine;
pub mod family;
pub mod schema;
pub mod v1;
pub mod v2;

/// The net v1 processor (`packets`).
pub type NetV1 = engine::Net<v1::V1>;
/// The net v1 handler's configuration.
pub type NetV1Config = family::Config<NetV1>;
/// The net v2 processor (`net`, per direction).
pub type NetV2 = engine::Net<v2::V2>;
/// The net v2 handler's configuration.
pub type NetV2Config = family::Config<NetV2>;

use std::net::IpAddr;

use crate::config::hostspec::Direction;
use crate::config::value::ConfigMap;
use crate::decode::PacketInfo;
use crate::enrich::geo::{GeoLocation, GeoLookup};
use crate::metric::TopEntry;
use crate::processor::snapshot::EmitCtx;
use crate::sketch::TopN;

/// Config keys of both net versions, in pktvisor's order.
pub const CONFIG_DEFS: [&str; 5] = [
    "geoloc_notfound",
    "asn_notfound",
    "only_geoloc_prefix",
    "only_asn_number",
    "recorded_stream",
];

/// The geo and ASN prefix filters.
#[derive(Clone, Debug, Default)]
pub struct NetFilter {
    geo: Option<Vec<String>>,
    asn: Option<Vec<String>>,
}

impl NetFilter {
    /// Reads the filters from a handler config.
    pub fn from_config(cfg: &ConfigMap) -> Result<NetFilter, String> {
        let mut geo: Option<Vec<String>> = None;
        let mut asn: Option<Vec<String>> = None;
        if cfg.flag("geoloc_notfound").map_err(|e| e.to_string())? {
            geo.get_or_insert_with(Vec::new).push("Unknown".to_string());
        }
        if cfg.flag("asn_notfound").map_err(|e| e.to_string())? {
            asn.get_or_insert_with(Vec::new).push("Unknown".to_string());
        }
        if let Some(list) = cfg
            .get_list("only_geoloc_prefix")
            .map_err(|e| e.to_string())?
        {
            geo.get_or_insert_with(Vec::new)
                .extend(list.iter().cloned());
        }
        if let Some(list) = cfg.get_list("only_asn_number").map_err(|e| e.to_string())? {
            for n in list {
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!(
                        "NetStreamHandler: only_asn_number filter contained an invalid/unsupported value: {n}"
                    ));
                }
                asn.get_or_insert_with(Vec::new).push(format!("{n}/"));
            }
        }
        Ok(NetFilter { geo, asn })
    }

    /// Whether any filter is configured.
    pub fn active(&self) -> bool {
        self.geo.is_some() || self.asn.is_some()
    }

    /// Whether the packet passes.
    pub fn keep(&self, p: &PacketInfo<'_>, lookup: &mut GeoLookup) -> bool {
        let (Some(src), Some(dst)) = (p.src_ip, p.dst_ip) else {
            return true;
        };
        let remote = match p.direction {
            Direction::ToHost => src,
            Direction::FromHost => dst,
            Direction::Unknown => return !self.active(),
        };
        if let Some(prefixes) = &self.geo {
            if !lookup.city_enabled() {
                return false;
            }
            let loc = lookup.location(remote);
            if !prefixes
                .iter()
                .any(|p| loc.location.starts_with(p.as_str()))
            {
                return false;
            }
        }
        if let Some(prefixes) = &self.asn {
            if !lookup.asn_enabled() {
                return false;
            }
            let asn = lookup.asn(remote);
            if !prefixes.iter().any(|p| asn.starts_with(p.as_str())) {
                return false;
            }
        }
        true
    }
}

/// A framed TCP message (forwarded by a chained DNS processor) seen as one TCP packet.
pub fn message_packet<'a>(m: &crate::event::TcpMessage<'a>) -> PacketInfo<'a> {
    let len = u32::try_from(m.data.len()).unwrap_or(u32::MAX);
    PacketInfo {
        ts: m.ts,
        frame_len: len,
        wire_len: len,
        l3: m.flow.l3,
        l4: crate::decode::L4::Tcp,
        src_ip: Some(m.flow.src_ip),
        dst_ip: Some(m.flow.dst_ip),
        src_port: m.flow.src_port,
        dst_port: m.flow.dst_port,
        payload: m.data,
        transport_ok: true,
        direction: m.flow.direction,
        ..PacketInfo::default()
    }
}

/// A dnstap message seen as one packet: the frame size, the dnstap addresses and ports by
/// message side, the direction from the message type; UDP and TCP as themselves, every other
/// `socket_protocol` (DoT, DoH, DNSCrypt, DoQ) as "other L4", as pktvisor does.
pub fn dnstap_packet<'a>(ev: &crate::event::DnstapEvent<'a>) -> PacketInfo<'a> {
    use crate::event::DnsTransport;
    let len = u32::try_from(ev.frame_len).unwrap_or(u32::MAX);
    PacketInfo {
        ts: ev.ts,
        frame_len: len,
        wire_len: len,
        l3: ev.l3,
        l4: match ev.transport {
            Some(DnsTransport::Udp) => crate::decode::L4::Udp,
            Some(DnsTransport::Tcp) => crate::decode::L4::Tcp,
            _ => crate::decode::L4::None,
        },
        src_ip: ev.src_ip(),
        dst_ip: ev.dst_ip(),
        src_port: ev.src_port(),
        dst_port: ev.dst_port(),
        direction: ev.direction(),
        ..PacketInfo::default()
    }
}

/// Records an address into the geo and ASN tops when the databases are loaded.
pub fn update_geo(
    ip: IpAddr,
    lookup: &mut GeoLookup,
    geo: &mut TopN<GeoLocation>,
    asn: &mut TopN<String>,
) {
    if lookup.city_enabled() {
        let loc = lookup.location(ip);
        geo.update_ref(&loc, 1);
    }
    if lookup.asn_enabled() {
        let a = lookup.asn(ip);
        asn.update_ref(&*a, 1);
    }
}

/// A geo top list ready for output (names are locations, with lat/lon when both known).
pub fn geo_entries(ctx: &EmitCtx, t: &TopN<GeoLocation>) -> Vec<TopEntry> {
    t.top(ctx.topn_count, ctx.topn_threshold)
        .into_iter()
        .map(|e| TopEntry {
            name: e.item.location.clone(),
            estimate: e.estimate,
            lat_lon: (!e.item.latitude.is_empty() && !e.item.longitude.is_empty())
                .then(|| (e.item.latitude.clone(), e.item.longitude.clone())),
        })
        .collect()
}
