//! The engine both net versions run: the time events, the geo/ASN filter and its filtered
//! count, deep sampling, the counters by IP version, transport and SYN, the per-address
//! work of a deep-sampled packet (cardinality, top addresses, locations and ASNs),
//! building from the typed config (`family::Config`) and snapshots.
//!
//! What differs between v1 and v2 is a `Layout`: where a packet's metrics go (v1's one
//! bucket with in/out rates and cardinalities, v2's metrics of the packet's direction),
//! which addresses a packet records, and how a bucket is emitted. The engine is generic
//! over it, so the per-packet path is monomorphised.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::family::{Config, Version, Versioned};
use super::{NetFilter, dnstap_packet, message_packet, update_geo};
use crate::config::hostspec::Direction;
use crate::config::value::ConfigMap;
use crate::decode::{L3, L4, PacketInfo};
use crate::enrich::geo::{GeoLocation, GeoLookup};
use crate::event::Event;
use crate::metric::Snapshot;
use crate::processor::groups::GroupSet;
use crate::processor::snapshot::{Emit, EmitCtx, snapshot_of};
use crate::processor::{Processor, ProcessorContext, Select, time_event};
use crate::sketch::{Cardinality, Distribution, TopN};
use crate::time::Timespec;
use crate::window::{PeriodError, Window};

/// A dnstap message's (query address, response address).
pub type DnstapIps = (Option<IpAddr>, Option<IpAddr>);

/// Which shared metrics a version's enabled groups turn on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// IP version, transport, SYN and total counters (and `filtered`).
    pub counters: bool,
    /// Address cardinality.
    pub cardinality: bool,
    /// Top IPv4 and IPv6 addresses.
    pub top_ips: bool,
    /// Top locations and ASNs.
    pub top_geo: bool,
    /// Rates and payload sizes (v2; v1 always keeps them).
    pub quantiles: bool,
}

/// The counters and top lists both versions keep (v1 per bucket, v2 per direction).
#[derive(Clone, Debug, Default)]
pub struct NetMetrics {
    pub(super) udp: u64,
    pub(super) tcp: u64,
    pub(super) other_l4: u64,
    pub(super) ipv4: u64,
    pub(super) ipv6: u64,
    pub(super) syn: u64,
    pub(super) total: u64,
    pub(super) top_ipv4: TopN<Ipv4Addr>,
    pub(super) top_ipv6: TopN<Ipv6Addr>,
    pub(super) top_geo: TopN<GeoLocation>,
    pub(super) top_asn: TopN<String>,
    pub(super) payload_size: Distribution,
}

impl NetMetrics {
    /// UDP, TCP, other L4, IPv4, IPv6 and SYN packets (`schema::COUNTERS` order).
    pub fn counters(&self) -> [u64; 6] {
        [
            self.udp,
            self.tcp,
            self.other_l4,
            self.ipv4,
            self.ipv6,
            self.syn,
        ]
    }

    /// Adds another bucket's metrics.
    pub fn merge(&mut self, o: &Self) {
        for (a, b) in [
            (&mut self.udp, o.udp),
            (&mut self.tcp, o.tcp),
            (&mut self.other_l4, o.other_l4),
            (&mut self.ipv4, o.ipv4),
            (&mut self.ipv6, o.ipv6),
            (&mut self.syn, o.syn),
            (&mut self.total, o.total),
        ] {
            *a += b;
        }
        self.top_ipv4.merge(&o.top_ipv4);
        self.top_ipv6.merge(&o.top_ipv6);
        self.top_geo.merge(&o.top_geo);
        self.top_asn.merge(&o.top_asn);
        self.payload_size.merge(&o.payload_size);
    }

    /// Counts a passing packet's IP version, transport and SYN.
    #[inline]
    fn count(&mut self, p: &PacketInfo<'_>) {
        match p.l3 {
            L3::Ipv4 => self.ipv4 += 1,
            L3::Ipv6 => self.ipv6 += 1,
            L3::None => {}
        }
        match p.l4 {
            L4::Udp => self.udp += 1,
            L4::Tcp => self.tcp += 1,
            _ => self.other_l4 += 1,
        }
        if p.is_syn() {
            self.syn += 1;
        }
        self.total += 1;
    }

    /// The top-list updates of one address of a deep-sampled packet.
    #[inline]
    fn address(&mut self, ip: IpAddr, on: &Record, geo: &mut GeoLookup) {
        if on.top_ips {
            match ip {
                IpAddr::V4(a) => self.top_ipv4.update(a),
                IpAddr::V6(a) => self.top_ipv6.update(a),
            }
        }
        if on.top_geo {
            update_geo(ip, geo, &mut self.top_geo, &mut self.top_asn);
        }
    }
}

/// What makes a net version: its metric layout and the rules that differ.
pub trait Layout: Sized + 'static {
    /// One bucket.
    type Bucket: Emit;
    /// Where one packet's metrics go.
    type Side;
    /// Its `require_version` and metric groups.
    const VERSION: Version<Record>;

    /// The metrics a packet of direction `d` counts into.
    fn side(b: &mut Self::Bucket, d: Direction) -> &mut Self::Side;
    /// The bucket's count of filtered packets.
    fn filtered(b: &mut Self::Bucket) -> &mut u64;
    /// Records a passing packet's rates and sizes (and v1's direction counters).
    fn volume(s: &mut Self::Side, p: &PacketInfo<'_>, on: &Record);
    /// The shared metrics of a side.
    fn metrics(s: &mut Self::Side) -> &mut NetMetrics;
    /// The address cardinality an address counts into (`inbound`: v1's ingress side).
    fn ips(s: &mut Self::Side, inbound: bool) -> &mut Cardinality;
    /// The addresses a deep-sampled packet records, each with whether it is inbound;
    /// `dnstap` is a dnstap message's addresses.
    fn addresses(p: &PacketInfo<'_>, dnstap: Option<DnstapIps>) -> [(Option<IpAddr>, bool); 2];
}

/// A net processor of layout `L`.
pub struct Net<L: Layout> {
    window: Window<L::Bucket>,
    groups: GroupSet,
    on: Record,
    filter: NetFilter,
    geo: GeoLookup,
}

impl<L: Layout> Versioned for Net<L> {
    type Record = Record;
    type Options = NetFilter;
    const VERSION: Version<Record> = L::VERSION;

    fn options(cfg: &ConfigMap) -> Result<NetFilter, String> {
        NetFilter::from_config(cfg)
    }

    fn with_config(c: &Config<Self>, ctx: &ProcessorContext) -> Self {
        Net {
            window: Window::new(c.settings.clone()),
            groups: c.groups,
            on: (L::VERSION.record)(c.groups),
            filter: c.options.clone(),
            geo: ctx.geo.lookup(ctx.geo_cache_size),
        }
    }
}

impl<L: Layout> Net<L> {
    /// Handles one packet; returns whether it passed the filter.
    fn process(&mut self, p: &PacketInfo<'_>, dnstap: Option<DnstapIps>) -> bool {
        let filtered = self.filter.active() && !self.filter.keep(p, &mut self.geo);
        // Counted (and a deep sample) before the filter, as in pktvisor.
        let deep = self.window.new_event(p.ts, !filtered);
        let on = self.on;
        let b = self.window.live_mut();
        if filtered {
            if on.counters {
                *L::filtered(b) += 1;
            }
            return false;
        }
        let s = L::side(b, p.direction);
        L::volume(s, p, &on);
        if on.counters {
            L::metrics(s).count(p);
        }
        if deep {
            for (ip, inbound) in L::addresses(p, dnstap) {
                let Some(ip) = ip else { continue };
                if on.cardinality {
                    L::ips(s, inbound).insert(&ip);
                }
                L::metrics(s).address(ip, &on, &mut self.geo);
            }
        }
        true
    }

    fn ctx(&self) -> EmitCtx {
        EmitCtx::new(self.window.settings(), self.groups, L::VERSION.groups.len())
    }
}

impl<L: Layout> Processor for Net<L> {
    fn schema_key(&self) -> &'static str {
        L::Bucket::SCHEMA_KEY
    }

    fn handle(&mut self, ev: &Event<'_>) -> bool {
        if time_event(&mut self.window, ev).is_some() {
            return true;
        }
        match ev {
            Event::Packet(p) => self.process(p, None),
            Event::TcpMessage(m) => self.process(&message_packet(m), None),
            Event::Dnstap(d) => self.process(
                &dnstap_packet(d),
                Some((d.query_address, d.response_address)),
            ),
            _ => true,
        }
    }

    fn finish(&mut self) {
        self.window.finish();
    }

    fn snapshot(&self, sel: Select, now: Timespec) -> Result<Box<dyn Snapshot>, PeriodError> {
        snapshot_of(&self.window, sel, now, self.ctx())
    }

    fn shard_window(&self) -> Box<dyn crate::processor::snapshot::ShardWindow> {
        crate::processor::snapshot::shard_window_of(&self.window, self.ctx())
    }

    fn into_shard_window(self: Box<Self>) -> Box<dyn crate::processor::snapshot::ShardWindow> {
        let ctx = self.ctx();
        crate::processor::snapshot::into_shard_window(self.window, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::net::{v1, v2};

    use crate::processor::net::family::config_map as cfg;

    #[test]
    fn typed_configs_check_keys_then_groups_then_filters() {
        let bad_asn = "only_asn_number: [\"12x\"]\n";
        let e = Config::<Net<v2::V2>>::parse(&cfg(&format!("{bad_asn}enable: [nope]\nx: 1\n")))
            .unwrap_err();
        assert!(
            e.starts_with("x is an invalid/unsupported config or filter."),
            "{e}"
        );
        let e = Config::<Net<v1::V1>>::parse(&cfg(&format!("{bad_asn}enable: [quantiles]\n")))
            .unwrap_err();
        assert!(
            e.starts_with("quantiles is an invalid/unsupported metric group."),
            "{e}"
        );
        let e = Config::<Net<v2::V2>>::parse(&cfg(bad_asn)).unwrap_err();
        assert_eq!(
            e,
            "NetStreamHandler: only_asn_number filter contained an invalid/unsupported value: 12x"
        );
    }

    #[test]
    fn kinds_name_their_version_and_build_what_they_parsed() {
        let ctx = ProcessorContext::default();
        for (kind, version, key) in [(v1::KIND, "1.0", "packets"), (v2::KIND, "2.0", "net")] {
            assert_eq!((kind.handler_type, kind.version), ("net", version));
            let parsed = (kind.parse)(&cfg("deep_sample_rate: 50\n")).expect("valid config");
            assert_eq!(parsed.build(&ctx).schema_key(), key);
        }
    }
}
