//! The net handlers' user-facing schema, both versions: the metric groups (names, defaults,
//! the index constants that test them and what they turn on) and every metric's name and
//! help text. A metric both versions emit is described once (`Both`: v1's name under the
//! `packets` schema, v2's under `net`, one help text).

use super::CONFIG_DEFS;
use super::engine::Record;
use super::family::{Both, Path, Version, group};
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

const fn both(v1: Path, v2: Path, help: &'static str) -> Both {
    Both::new(["packets", "net"], v1, v2, help)
}

/// Packets before filtering.
pub const EVENTS: Both = both(
    &["events"],
    &["observed_packets"],
    "Total packets events generated",
);
/// Deep-sampled packets.
pub const DEEP: Both = both(
    &["deep_samples"],
    &["deep_sampled_packets"],
    "Total packets that were sampled for deep inspection",
);
/// The counters both versions emit first, in `NetMetrics::counters` order.
pub const COUNTERS: [Both; 6] = [
    both(&["udp"], &["udp_packets"], "Count of UDP packets"),
    both(&["tcp"], &["tcp_packets"], "Count of TCP packets"),
    both(
        &["other_l4"],
        &["other_l4_packets"],
        "Count of packets which are not UDP or TCP",
    ),
    both(&["ipv4"], &["ipv4_packets"], "Count of IPv4 packets"),
    both(&["ipv6"], &["ipv6_packets"], "Count of IPv6 packets"),
    both(
        &["protocol", "tcp", "syn"],
        &["tcp", "syn_packets"],
        "Count of TCP SYN packets",
    ),
];
/// Packets that passed the filters.
pub const TOTAL: Both = both(
    &["total"],
    &["total_packets"],
    "Count of total packets matching the configured filter(s)",
);
/// Locations.
pub const TOP_GEO: Both = both(
    &["top_geoLoc"],
    &["top_geo_loc_packets"],
    "Top GeoIP locations",
);
/// ASNs.
pub const TOP_ASN: Both = both(&["top_ASN"], &["top_asn_packets"], "Top ASNs by IP");
/// Payload sizes.
pub const PAYLOAD_SIZE: Both = both(
    &["payload_size"],
    &["payload_size_bytes"],
    "Quantiles of payload sizes, in bytes",
);

/// net v1: version, groups and the metrics only it emits (schemas `packets` and `payload`).
pub mod v1 {
    use super::{Record, Version, group as g, turned_on, version};
    use crate::metric::Desc;
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

    const fn d(schema: &'static str, path: &'static [&'static str], help: &'static str) -> Desc {
        Desc { schema, path, help }
    }

    pub const PPS_IN: Desc = d(
        "packets",
        &["rates", "pps_in"],
        "Rate of ingress in packets per second",
    );
    pub const PPS_OUT: Desc = d(
        "packets",
        &["rates", "pps_out"],
        "Rate of egress in packets per second",
    );
    pub const PPS_TOTAL: Desc = d(
        "packets",
        &["rates", "pps_total"],
        "Rate of all packets (combined ingress and egress) in packets per second",
    );
    pub const BYTES_IN: Desc = d(
        "payload",
        &["rates", "bytes_in"],
        "Data rate of ingress packets in bytes per second",
    );
    pub const BYTES_OUT: Desc = d(
        "payload",
        &["rates", "bytes_out"],
        "Data rate of egress packets in bytes per second",
    );
    pub const BYTES_TOTAL: Desc = d(
        "payload",
        &["rates", "bytes_total"],
        "Data rate of all packets (combined ingress and egress) in bytes per second",
    );
    pub const PPS_EVENTS: Desc = d(
        "packets",
        &["rates", "pps_events"],
        "Rate of all packets before filtering in packets per second",
    );
    pub const IN: Desc = d("packets", &["in"], "Count of total ingress packets");
    pub const OUT: Desc = d("packets", &["out"], "Count of total egress packets");
    pub const UNKNOWN_DIR: Desc = d(
        "packets",
        &["unknown_dir"],
        "Count of total unknown direction packets",
    );
    pub const FILTERED: Desc = d(
        "packets",
        &["filtered"],
        "Count of total packets that did not match the configured filter(s) (if any)",
    );
    pub const SRC_IPS_IN: Desc = d(
        "packets",
        &["cardinality", "src_ips_in"],
        "Source IP cardinality",
    );
    pub const DST_IPS_OUT: Desc = d(
        "packets",
        &["cardinality", "dst_ips_out"],
        "Destination IP cardinality",
    );
    pub const TOP_IPV4: Desc = d("packets", &["top_ipv4"], "Top IPv4 IP addresses");
    pub const TOP_IPV6: Desc = d("packets", &["top_ipv6"], "Top IPv6 IP addresses");
}

/// net v2: version, groups and the metrics only it emits (per direction but the first
/// four).
pub mod v2 {
    use super::{Record, Version, group as g, turned_on, version};
    use crate::metric::Desc;
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

    const fn d(path: &'static [&'static str], help: &'static str) -> Desc {
        Desc {
            schema: "net",
            path,
            help,
        }
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
    );
    pub const FILTERED: Desc = d(
        &["filtered_packets"],
        "Total packets seen that did not match the configured filter(s) (if any)",
    );
    pub const PPS: Desc = d(&["rates", "pps"], "Rate of packets per second");
    pub const BPS: Desc = d(&["rates", "bps"], "Data rate of bits per second");
    pub const IPS: Desc = d(&["cardinality", "ips"], "IP cardinality");
    pub const TOP_IPV4: Desc = d(&["top_ipv4_packets"], "Top IPv4 addresses");
    pub const TOP_IPV6: Desc = d(&["top_ipv6_packets"], "Top IPv6 addresses");
}
