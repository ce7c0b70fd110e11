//! The net handlers' user-facing schema, both versions: the metric groups (names, defaults,
//! the index constants that test them and what they turn on) and every metric's name and
//! help text. A metric both versions emit is described once (`Both`: v1's name under the
//! `packets` schema, v2's under `net`, one help text).

use super::CONFIG_DEFS;
use super::engine::Record;
use super::family::{Both, Path, Version, group};
use crate::metric::Otel;
use crate::metric::otel::key::{ASN, DIRECTION, NETWORK_TYPE, PEER_ADDRESS, TRANSPORT};
use crate::metric::otel::{Attrs, Item, gauge, histogram, sum, top};
use crate::processor::groups::{GroupDef, GroupSet};

/// A net version (both take the same config keys).
const fn version(
    require: &'static str,
    groups: &'static [GroupDef],
    record: fn(GroupSet) -> Record,
) -> Version<Record> {
    Version {
        handler_type: "net",
        require,
        config_defs: &CONFIG_DEFS,
        groups,
        record,
    }
}

/// What a net version's enabled groups turn on; a group the version lacks (v1 has no
/// `quantiles`: its rates and sizes are always kept) is on.
fn turned_on(groups: &[GroupDef], g: GroupSet) -> Record {
    let on = |name: &str| {
        groups
            .iter()
            .position(|d| d.name == name)
            .is_none_or(|i| g.has(i))
    };
    Record {
        counters: on("counters"),
        cardinality: on("cardinality"),
        top_ips: on("top_ips"),
        top_geo: on("top_geo"),
        quantiles: on("quantiles"),
    }
}

/// A metric both versions emit with one OTel identity.
const fn both(v1: Path, v2: Path, help: &'static str, otel: Otel) -> Both {
    Both::new(["packets", "net"], v1, v2, help, [otel, otel])
}

/// Direction `in` (v1 folds directions into names; v2 has them in its scope).
const DIR_IN: Attrs = &[(DIRECTION, "in")];
/// Direction `out`.
const DIR_OUT: Attrs = &[(DIRECTION, "out")];
/// Packets by transport (other transports carry no `network.transport`).
const BY_TRANSPORT: Otel = sum("pktvisor.net.packets.by_transport", "{packet}");
/// Packets by IP version.
const BY_NETWORK_TYPE: Otel = sum("pktvisor.net.packets.by_network_type", "{packet}");
/// Packets by direction (v1).
const BY_DIRECTION: Otel = sum("pktvisor.net.packets.by_direction", "{packet}");
/// Distinct peer addresses.
const IPS_OTEL: Otel = gauge("pktvisor.net.ips.cardinality", "{address}");
/// Top peer addresses (`network.type` fixed per list).
const TOP_ADDRESSES: Otel = top(
    "pktvisor.net.top.addresses",
    "{packet}",
    Item::Key(PEER_ADDRESS),
);
/// Packets per second by direction (v1).
const PPS_BY_DIRECTION: Otel = histogram("pktvisor.net.packet.rate.by_direction", "{packet}/s");
/// Bytes per second by direction (v1).
const BYTES_BY_DIRECTION: Otel = histogram("pktvisor.net.byte.rate.by_direction", "By/s");
/// Packets before filtering, per second.
const EVENT_RATE: Otel = histogram("pktvisor.net.event.rate", "{event}/s");
/// Packets per second.
const PPS_OTEL: Otel = histogram("pktvisor.net.packet.rate", "{packet}/s");
/// Filtered packets.
const FILTERED_PACKETS: Otel = sum("pktvisor.net.filtered", "{event}");

/// Packets before filtering.
pub const EVENTS: Both = both(
    &["events"],
    &["observed_packets"],
    "Total packets events generated",
    sum("pktvisor.net.events", "{event}"),
);
/// Deep-sampled packets.
pub const DEEP: Both = both(
    &["deep_samples"],
    &["deep_sampled_packets"],
    "Total packets that were sampled for deep inspection",
    sum("pktvisor.net.deep_samples", "{event}"),
);
/// The counters both versions emit first, in `NetMetrics::counters` order.
pub const COUNTERS: [Both; 6] = [
    both(
        &["udp"],
        &["udp_packets"],
        "Count of UDP packets",
        BY_TRANSPORT.with(&[(TRANSPORT, "udp")]),
    ),
    both(
        &["tcp"],
        &["tcp_packets"],
        "Count of TCP packets",
        BY_TRANSPORT.with(&[(TRANSPORT, "tcp")]),
    ),
    both(
        &["other_l4"],
        &["other_l4_packets"],
        "Count of packets which are not UDP or TCP",
        BY_TRANSPORT,
    ),
    both(
        &["ipv4"],
        &["ipv4_packets"],
        "Count of IPv4 packets",
        BY_NETWORK_TYPE.with(&[(NETWORK_TYPE, "ipv4")]),
    ),
    both(
        &["ipv6"],
        &["ipv6_packets"],
        "Count of IPv6 packets",
        BY_NETWORK_TYPE.with(&[(NETWORK_TYPE, "ipv6")]),
    ),
    both(
        &["protocol", "tcp", "syn"],
        &["tcp", "syn_packets"],
        "Count of TCP SYN packets",
        sum("pktvisor.net.tcp.syn", "{packet}"),
    ),
];
/// Packets that passed the filters.
pub const TOTAL: Both = both(
    &["total"],
    &["total_packets"],
    "Count of total packets matching the configured filter(s)",
    sum("pktvisor.net.packets", "{packet}"),
);
/// Locations.
pub const TOP_GEO: Both = both(
    &["top_geoLoc"],
    &["top_geo_loc_packets"],
    "Top GeoIP locations",
    top("pktvisor.net.top.geo_loc", "{packet}", Item::Geo),
);
/// ASNs.
pub const TOP_ASN: Both = both(
    &["top_ASN"],
    &["top_asn_packets"],
    "Top ASNs by IP",
    top("pktvisor.net.top.asn", "{packet}", Item::Key(ASN)),
);
/// Payload sizes.
pub const PAYLOAD_SIZE: Both = both(
    &["payload_size"],
    &["payload_size_bytes"],
    "Quantiles of payload sizes, in bytes",
    histogram("pktvisor.net.payload.size", "By"),
);

/// net v1: version, groups and the metrics only it emits (schemas `packets` and `payload`).
pub mod v1 {
    use super::{
        BY_DIRECTION, BYTES_BY_DIRECTION, DIR_IN, DIR_OUT, EVENT_RATE, FILTERED_PACKETS, IPS_OTEL,
        PPS_BY_DIRECTION, Record, TOP_ADDRESSES, Version, group as g, turned_on, version,
    };
    use crate::metric::otel::histogram;
    use crate::metric::otel::key::{DIRECTION, NETWORK_TYPE};
    use crate::metric::{Desc, Otel};
    use crate::processor::groups::GroupDef;

    /// net v1's version.
    pub const VERSION: Version<Record> = version("1.0", &GROUPS, |g| turned_on(&GROUPS, g));

    /// Group indexes in `GROUPS`.
    pub const G_CARDINALITY: usize = 0;
    pub const G_COUNTERS: usize = 1;
    pub const G_TOP_GEO: usize = 2;
    pub const G_TOP_IPS: usize = 3;

    /// Metric groups of net v1 (all on by default).
    pub const GROUPS: [GroupDef; 4] = [
        g("cardinality", true),
        g("counters", true),
        g("top_geo", true),
        g("top_ips", true),
    ];

    const fn d(
        schema: &'static str,
        path: &'static [&'static str],
        help: &'static str,
        otel: Otel,
    ) -> Desc {
        Desc::new(schema, path, help, otel)
    }

    pub const PPS_IN: Desc = d(
        "packets",
        &["rates", "pps_in"],
        "Rate of ingress in packets per second",
        PPS_BY_DIRECTION.with(DIR_IN),
    );
    pub const PPS_OUT: Desc = d(
        "packets",
        &["rates", "pps_out"],
        "Rate of egress in packets per second",
        PPS_BY_DIRECTION.with(DIR_OUT),
    );
    pub const PPS_TOTAL: Desc = d(
        "packets",
        &["rates", "pps_total"],
        "Rate of all packets (combined ingress and egress) in packets per second",
        super::PPS_OTEL,
    );
    pub const BYTES_IN: Desc = d(
        "payload",
        &["rates", "bytes_in"],
        "Data rate of ingress packets in bytes per second",
        BYTES_BY_DIRECTION.with(DIR_IN),
    );
    pub const BYTES_OUT: Desc = d(
        "payload",
        &["rates", "bytes_out"],
        "Data rate of egress packets in bytes per second",
        BYTES_BY_DIRECTION.with(DIR_OUT),
    );
    pub const BYTES_TOTAL: Desc = d(
        "payload",
        &["rates", "bytes_total"],
        "Data rate of all packets (combined ingress and egress) in bytes per second",
        histogram("pktvisor.net.byte.rate", "By/s"),
    );
    pub const PPS_EVENTS: Desc = d(
        "packets",
        &["rates", "pps_events"],
        "Rate of all packets before filtering in packets per second",
        EVENT_RATE,
    );
    pub const IN: Desc = d(
        "packets",
        &["in"],
        "Count of total ingress packets",
        BY_DIRECTION.with(DIR_IN),
    );
    pub const OUT: Desc = d(
        "packets",
        &["out"],
        "Count of total egress packets",
        BY_DIRECTION.with(DIR_OUT),
    );
    pub const UNKNOWN_DIR: Desc = d(
        "packets",
        &["unknown_dir"],
        "Count of total unknown direction packets",
        BY_DIRECTION.with(&[(DIRECTION, "unknown")]),
    );
    pub const FILTERED: Desc = d(
        "packets",
        &["filtered"],
        "Count of total packets that did not match the configured filter(s) (if any)",
        FILTERED_PACKETS,
    );
    pub const SRC_IPS_IN: Desc = d(
        "packets",
        &["cardinality", "src_ips_in"],
        "Source IP cardinality",
        IPS_OTEL.with(DIR_IN),
    );
    pub const DST_IPS_OUT: Desc = d(
        "packets",
        &["cardinality", "dst_ips_out"],
        "Destination IP cardinality",
        IPS_OTEL.with(DIR_OUT),
    );
    pub const TOP_IPV4: Desc = d(
        "packets",
        &["top_ipv4"],
        "Top IPv4 IP addresses",
        TOP_ADDRESSES.with(&[(NETWORK_TYPE, "ipv4")]),
    );
    pub const TOP_IPV6: Desc = d(
        "packets",
        &["top_ipv6"],
        "Top IPv6 IP addresses",
        TOP_ADDRESSES.with(&[(NETWORK_TYPE, "ipv6")]),
    );
}

/// net v2: version, groups and the metrics only it emits (per direction but the first
/// four).
pub mod v2 {
    use super::{
        EVENT_RATE, FILTERED_PACKETS, IPS_OTEL, PPS_OTEL, Record, TOP_ADDRESSES, Version,
        group as g, turned_on, version,
    };
    use crate::metric::otel::histogram;
    use crate::metric::otel::key::NETWORK_TYPE;
    use crate::metric::{Desc, Otel};
    use crate::processor::groups::GroupDef;
    use crate::processor::net::directions::Root;

    /// net v2's version.
    pub const VERSION: Version<Record> = version("2.0", &GROUPS, |g| turned_on(&GROUPS, g));

    /// Group indexes in `GROUPS`.
    pub const G_CARDINALITY: usize = 0;
    pub const G_COUNTERS: usize = 1;
    pub const G_QUANTILES: usize = 2;
    pub const G_TOP_GEO: usize = 3;
    pub const G_TOP_IPS: usize = 4;

    /// Metric groups of net v2 (all on by default).
    pub const GROUPS: [GroupDef; 5] = [
        g("cardinality", true),
        g("counters", true),
        g("quantiles", true),
        g("top_geo", true),
        g("top_ips", true),
    ];

    const fn d(path: &'static [&'static str], help: &'static str, otel: Otel) -> Desc {
        Desc::new("net", path, help, otel)
    }

    /// What net v2 emits before its directions.
    pub const ROOT: Root = Root {
        schema_key: "net",
        observed_pps: OBSERVED_PPS,
        observed: super::EVENTS.v2,
        deep: super::DEEP.v2,
        filtered: FILTERED,
        counters_group: G_COUNTERS,
    };

    pub const OBSERVED_PPS: Desc = d(
        &["rates", "observed_pps"],
        "Rate of all packets before filtering per second",
        EVENT_RATE,
    );
    pub const FILTERED: Desc = d(
        &["filtered_packets"],
        "Total packets seen that did not match the configured filter(s) (if any)",
        FILTERED_PACKETS,
    );
    pub const PPS: Desc = d(&["rates", "pps"], "Rate of packets per second", PPS_OTEL);
    pub const BPS: Desc = d(
        &["rates", "bps"],
        "Data rate of bits per second",
        histogram("pktvisor.net.bit.rate", "bit/s"),
    );
    pub const IPS: Desc = d(&["cardinality", "ips"], "IP cardinality", IPS_OTEL);
    pub const TOP_IPV4: Desc = d(
        &["top_ipv4_packets"],
        "Top IPv4 addresses",
        TOP_ADDRESSES.with(&[(NETWORK_TYPE, "ipv4")]),
    );
    pub const TOP_IPV6: Desc = d(
        &["top_ipv6_packets"],
        "Top IPv6 addresses",
        TOP_ADDRESSES.with(&[(NETWORK_TYPE, "ipv6")]),
    );
}
