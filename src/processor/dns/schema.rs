//! The dns handlers' user-facing schema, both versions: the metric groups (names, defaults
//! and the index constants that test them) and every metric's name and help text. A metric
//! both versions emit is described once (`Both`: v1's name, v2's name, one help text);
//! `Version`, `Both` and `group` are the two-version families' (`net::family`).

use super::metrics::Record;
use crate::metric::{Desc, TopEntry};
use crate::processor::groups::{GroupDef, GroupSet};
use crate::processor::net::family::{Both, Path, Version, group};
use crate::processor::snapshot::EmitCtx;
use crate::sketch::TopN;

/// A dns version.
const fn version(
    require: &'static str,
    config_defs: &'static [&'static str],
    groups: &'static [GroupDef],
    record: fn(GroupSet) -> Record,
) -> Version<Record> {
    Version {
        handler_type: "dns",
        require,
        config_defs,
        groups,
        record,
    }
}

/// The description of a dns metric.
pub const fn desc(path: Path, help: &'static str) -> Desc {
    Desc {
        schema: "dns",
        path,
        help,
    }
}

const fn both(v1: Path, v2: Path, help: &'static str) -> Both {
    Both::new(["dns", "dns"], v1, v2, help)
}

/// Messages before filtering, per second.
pub const EVENT_RATE: Both = both(
    &["rates", "events"],
    &["rates", "observed_pps"],
    "Rate of all DNS wire packets before filtering per second",
);
/// Messages before filtering.
pub const EVENTS: Both = both(
    &["wire_packets", "events"],
    &["observed_packets"],
    "Total DNS wire packets events",
);
/// Deep-sampled messages.
pub const DEEP: Both = both(
    &["wire_packets", "deep_samples"],
    &["deep_sampled_packets"],
    "Total DNS wire packets that were sampled for deep inspection",
);
/// Filtered messages.
pub const FILTERED: Both = both(
    &["wire_packets", "filtered"],
    &["filtered_packets"],
    "Total DNS wire packets seen that did not match the configured filter(s) (if any)",
);
/// QNAME cardinality.
pub const CARD_QNAME: Desc = desc(
    &["cardinality", "qname"],
    "Cardinality of unique QNAMES, both ingress and egress",
);
/// Client ports.
pub const TOP_PORTS: Both = both(
    &["top_udp_ports"],
    &["top_udp_ports_xacts"],
    "Top UDP source port on the query side of a transaction",
);
/// ECS locations.
pub const TOP_GEO_ECS: Both = both(
    &["top_geoLoc_ecs"],
    &["top_geo_loc_ecs_xacts"],
    "Top GeoIP ECS locations",
);
/// ECS ASNs.
pub const TOP_ASN_ECS: Both = both(&["top_asn_ecs"], &["top_asn_ecs_xacts"], "Top ASNs by ECS");
/// NXDOMAIN QNAMEs.
pub const TOP_NXDOMAIN: Both = both(
    &["top_nxdomain"],
    &["top_nxdomain_xacts"],
    "Top QNAMES with result code NXDOMAIN",
);
/// REFUSED QNAMEs.
pub const TOP_REFUSED: Both = both(
    &["top_refused"],
    &["top_refused_xacts"],
    "Top QNAMES with result code REFUSED",
);
/// SRVFAIL QNAMEs.
pub const TOP_SRVFAIL: Both = both(
    &["top_srvfail"],
    &["top_srvfail_xacts"],
    "Top QNAMES with result code SRVFAIL",
);
/// NOERROR QNAMEs.
pub const TOP_NOERROR: Both = both(
    &["top_noerror"],
    &["top_noerror_xacts"],
    "Top QNAMES with result code NOERROR",
);
/// QNAMEs at two labels.
pub const TOP_QNAME2: Both = both(
    &["top_qname2"],
    &["top_qname2_xacts"],
    "Top QNAMES, aggregated at a depth of two labels",
);
/// QNAMEs at three labels.
pub const TOP_QNAME3: Both = both(
    &["top_qname3"],
    &["top_qname3_xacts"],
    "Top QNAMES, aggregated at a depth of three labels",
);
/// QNAMEs by response bytes.
pub const TOP_RESP_BYTES: Both = both(
    &["top_qname_by_resp_bytes"],
    &["top_response_bytes"],
    "Top QNAMES by response volume in bytes",
);
/// Response/query size ratio.
pub const RATIO: Both = both(
    &["xact", "ratio", "quantiles"],
    &["response_query_size_ratio"],
    "Quantiles of ratio of packet sizes in a DNS transaction (reply/query)",
);
/// Result codes.
pub const TOP_RCODE: Both = both(&["top_rcode"], &["top_rcode_xacts"], "Top result codes");
/// Query types.
pub const TOP_QTYPE: Both = both(&["top_qtype"], &["top_qtype_xacts"], "Top query types");
/// Slow transactions where the host is the server (v2: of the direction).
pub const TOP_SLOW_IN: Both = both(
    &["xact", "in", "top_slow"],
    &["top_slow_xacts"],
    "Top QNAMES in transactions where host is the server and transaction speed is slower than p90",
);

/// A top list of numbers printed by name (rcodes, qtypes).
pub fn named(ctx: &EmitCtx, t: &TopN<u16>, label: fn(u16) -> String) -> Vec<TopEntry> {
    t.top(ctx.topn_count, ctx.topn_threshold)
        .into_iter()
        .map(|e| TopEntry {
            name: label(*e.item),
            estimate: e.estimate,
            lat_lon: None,
        })
        .collect()
}

/// dns v1: version, groups and the metrics only it emits.
pub mod v1 {
    use super::{Version, desc as d, group as g, version};
    use crate::metric::Desc;
    use crate::processor::dns::config::V1_CONFIG_DEFS;
    use crate::processor::dns::metrics::Record;
    use crate::processor::groups::GroupDef;
    use crate::processor::groups::GroupSet;

    /// Group indexes in `GROUPS`.
    pub const G_CARDINALITY: usize = 0;
    pub const G_COUNTERS: usize = 1;
    pub const G_XACT: usize = 2;
    pub const G_HISTOGRAMS: usize = 3;
    pub const G_QUANTILES: usize = 4;
    pub const G_TOP_ECS: usize = 5;
    pub const G_TOP_PORTS: usize = 6;
    pub const G_TOP_QNAMES: usize = 7;
    pub const G_TOP_QNAMES_DETAILS: usize = 8;

    /// dns v1's version.
    pub const VERSION: Version<Record> = version("1.0", &V1_CONFIG_DEFS, &GROUPS, record);

    /// What dns v1's groups turn on: qtype tops always, the rcode QNAME tops with
    /// `top_qnames`, the NOERROR and response-bytes tops with `top_qnames_details` too.
    pub fn record(g: GroupSet) -> Record {
        let details = g.has(G_TOP_QNAMES) && g.has(G_TOP_QNAMES_DETAILS);
        Record {
            counters: g.has(G_COUNTERS),
            cardinality: g.has(G_CARDINALITY),
            top_ports: g.has(G_TOP_PORTS),
            top_ecs: g.has(G_TOP_ECS),
            top_qtype: true,
            top_qnames: g.has(G_TOP_QNAMES),
            top_rcodes: g.has(G_TOP_QNAMES),
            top_noerror: details,
            top_resp_bytes: details,
        }
    }

    /// Metric groups of dns v1.
    pub const GROUPS: [GroupDef; 9] = [
        g("cardinality", true),
        g("counters", true),
        g("dns_transaction", true),
        g("histograms", false),
        g("quantiles", true),
        g("top_ecs", false),
        g("top_ports", true),
        g("top_qnames", true),
        g("top_qnames_details", false),
    ];

    pub const RATE_TOTAL: Desc = d(
        &["rates", "total"],
        "Rate of all DNS wire packets (combined ingress and egress) in packets per second",
    );
    pub const QUERIES: Desc = d(
        &["wire_packets", "queries"],
        "Total DNS wire packets flagged as query (ingress and egress)",
    );
    pub const REPLIES: Desc = d(
        &["wire_packets", "replies"],
        "Total DNS wire packets flagged as reply (ingress and egress)",
    );
    pub const TCP: Desc = d(
        &["wire_packets", "tcp"],
        "Total DNS wire packets received over TCP (ingress and egress)",
    );
    pub const UDP: Desc = d(
        &["wire_packets", "udp"],
        "Total DNS wire packets received over UDP (ingress and egress)",
    );
    pub const IPV4: Desc = d(
        &["wire_packets", "ipv4"],
        "Total DNS wire packets received over IPv4 (ingress and egress)",
    );
    pub const IPV6: Desc = d(
        &["wire_packets", "ipv6"],
        "Total DNS wire packets received over IPv6 (ingress and egress)",
    );
    pub const NXDOMAIN: Desc = d(
        &["wire_packets", "nxdomain"],
        "Total DNS wire packets flagged as reply with response code NXDOMAIN (ingress and egress)",
    );
    pub const REFUSED: Desc = d(
        &["wire_packets", "refused"],
        "Total DNS wire packets flagged as reply with response code REFUSED (ingress and egress)",
    );
    pub const SRVFAIL: Desc = d(
        &["wire_packets", "srvfail"],
        "Total DNS wire packets flagged as reply with response code SRVFAIL (ingress and egress)",
    );
    pub const NOERROR: Desc = d(
        &["wire_packets", "noerror"],
        "Total DNS wire packets flagged as reply with response code NOERROR (ingress and egress)",
    );
    pub const NODATA: Desc = d(
        &["wire_packets", "nodata"],
        "Total DNS wire packets flagged as reply with response code NOERROR and no answer section data (ingress and egress)",
    );
    pub const TOTAL: Desc = d(
        &["wire_packets", "total"],
        "Total DNS wire packets matching the configured filter(s)",
    );
    pub const QUERY_ECS: Desc = d(
        &["wire_packets", "query_ecs"],
        "Total queries that have EDNS Client Subnet (ECS) field set",
    );
    pub const XACT_TOTAL: Desc = d(
        &["xact", "counts", "total"],
        "Total DNS transactions (query/reply pairs)",
    );
    pub const XACT_TIMED_OUT: Desc = d(
        &["xact", "counts", "timed_out"],
        "Total number of DNS transactions that timed out",
    );
    pub const XACT_IN_TOTAL: Desc = d(
        &["xact", "in", "total"],
        "Total ingress DNS transactions (host is server)",
    );
    pub const XACT_OUT_Q: Desc = d(
        &["xact", "out", "quantiles_us"],
        "Quantiles of transaction timing (query/reply pairs) when host is client, in microseconds",
    );
    pub const XACT_IN_Q: Desc = d(
        &["xact", "in", "quantiles_us"],
        "Quantiles of transaction timing (query/reply pairs) when host is server, in microseconds",
    );
    pub const XACT_IN_H: Desc = d(
        &["xact", "in", "histogram_us"],
        "Histogram of transaction timing (query/reply pairs) when host is server, in microseconds",
    );
    pub const XACT_OUT_H: Desc = d(
        &["xact", "out", "histogram_us"],
        "Histogram of transaction timing (query/reply pairs) when host is client, in microseconds",
    );
    pub const XACT_OUT_TOTAL: Desc = d(
        &["xact", "out", "total"],
        "Total egress DNS transactions (host is client)",
    );
    pub const XACT_OUT_SLOW: Desc = d(
        &["xact", "out", "top_slow"],
        "Top QNAMES in transactions where host is the client and transaction speed is slower than p90",
    );
    pub const TOP_QUERY_ECS: Desc = d(
        &["top_query_ecs"],
        "Top EDNS Client Subnet (ECS) observed in DNS queries",
    );
    pub const TOP_NODATA: Desc = d(
        &["top_nodata"],
        "Top QNAMES with result code NOERROR and no answer section",
    );
}

/// dns v2: version, groups and the metrics only it emits.
pub mod v2 {
    use super::{Version, desc as d, group as g, version};
    use crate::metric::Desc;
    use crate::processor::dns::config::V2_CONFIG_DEFS;
    use crate::processor::dns::metrics::Record;
    use crate::processor::groups::GroupDef;
    use crate::processor::groups::GroupSet;
    use crate::processor::net::directions::Root;

    /// Group indexes in `GROUPS`.
    pub const G_CARDINALITY: usize = 0;
    pub const G_COUNTERS: usize = 1;
    pub const G_QUANTILES: usize = 2;
    pub const G_TOP_ECS: usize = 3;
    pub const G_TOP_PORTS: usize = 4;
    pub const G_TOP_QNAMES: usize = 5;
    pub const G_TOP_QTYPES: usize = 6;
    pub const G_TOP_RCODES: usize = 7;
    pub const G_TOP_SIZE: usize = 8;
    pub const G_XACT_TIMES: usize = 9;

    /// dns v2's version.
    pub const VERSION: Version<Record> = version("2.0", &V2_CONFIG_DEFS, &GROUPS, record);

    /// What dns v2's groups turn on.
    pub fn record(g: GroupSet) -> Record {
        Record {
            counters: g.has(G_COUNTERS),
            cardinality: g.has(G_CARDINALITY),
            top_ports: g.has(G_TOP_PORTS),
            top_ecs: g.has(G_TOP_ECS),
            top_qtype: g.has(G_TOP_QTYPES),
            top_qnames: g.has(G_TOP_QNAMES),
            top_rcodes: g.has(G_TOP_RCODES),
            top_noerror: g.has(G_TOP_RCODES),
            top_resp_bytes: g.has(G_TOP_SIZE),
        }
    }

    /// Metric groups of dns v2.
    pub const GROUPS: [GroupDef; 10] = [
        g("cardinality", true),
        g("counters", true),
        g("quantiles", true),
        g("top_ecs", false),
        g("top_ports", false),
        g("top_qnames", true),
        g("top_qtypes", true),
        g("top_rcodes", true),
        g("top_size", false),
        g("xact_times", false),
    ];

    /// What dns v2 emits before its directions.
    pub const ROOT: Root = Root {
        schema_key: "dns",
        observed_pps: super::EVENT_RATE.v2,
        observed: super::EVENTS.v2,
        deep: super::DEEP.v2,
        filtered: super::FILTERED.v2,
        counters_group: G_COUNTERS,
    };

    pub const XACT_RATES: Desc = d(
        &["xact_rates"],
        "Rate of all DNS transaction (reply/query) per second",
    );
    pub const COUNTER_DESCS: [Desc; 21] = [
        d(&["xacts"], "Total DNS transactions (query/reply pairs)"),
        d(
            &["udp_xacts"],
            "Total DNS transactions (query/reply pairs) received over UDP",
        ),
        d(
            &["tcp_xacts"],
            "Total DNS transactions (query/reply pairs) received over TCP",
        ),
        d(
            &["dot_xacts"],
            "Total DNS transactions (query/reply pairs) received over DNS over TLS",
        ),
        d(
            &["doh_xacts"],
            "Total DNS transactions (query/reply pairs) received over DNS over HTTPS",
        ),
        d(
            &["dnscrypt_udp_xacts"],
            "Total DNS transactions (query/reply pairs) received over DNSCrypt over UDP",
        ),
        d(
            &["dnscrypt_tcp_xacts"],
            "Total DNS transactions (query/reply pairs) received over DNSCrypt over TCP",
        ),
        d(
            &["doq_xacts"],
            "Total DNS transactions (query/reply pairs) received over DNS over QUIC",
        ),
        d(
            &["ipv4_xacts"],
            "Total DNS transactions (query/reply pairs) received over IPv4",
        ),
        d(
            &["ipv6_xacts"],
            "Total DNS transactions (query/reply pairs) received over IPv6",
        ),
        d(
            &["nxdomain_xacts"],
            "Total DNS transactions (query/reply pairs) flagged as reply with response code NXDOMAIN",
        ),
        d(
            &["refused_xacts"],
            "Total DNS transactions (query/reply pairs) flagged as reply with response code REFUSED",
        ),
        d(
            &["srvfail_xacts"],
            "Total DNS transactions (query/reply pairs) flagged as reply with response code SRVFAIL",
        ),
        d(
            &["noerror_xacts"],
            "Total DNS transactions (query/reply pairs) flagged as reply with response code NOERROR",
        ),
        d(
            &["nodata_xacts"],
            "Total DNS transactions (query/reply pairs) flagged as reply with response code NOERROR but with an empty answers section",
        ),
        d(
            &["ecs_xacts"],
            "Total DNS transactions (query/reply pairs) with the EDNS Client Subnet option set",
        ),
        d(
            &["authenticated_data_xacts"],
            "Total DNS transactions (query/reply pairs) with the AD flag set in the response",
        ),
        d(
            &["authoritative_answer_xacts"],
            "Total DNS transactions (query/reply pairs) with the AA flag set in the response",
        ),
        d(
            &["checking_disabled_xacts"],
            "Total DNS transactions (query/reply pairs) with the CD flag set in the query",
        ),
        d(
            &["timeout_queries"],
            "Total number of DNS queries that timed out",
        ),
        d(
            &["orphan_responses"],
            "Total number of DNS responses that do not have a corresponding query",
        ),
    ];
    /// Index of `ecs_xacts` in `COUNTER_DESCS` (also needs the top_ecs group).
    pub const ECS_COUNTER: usize = 15;
    pub const TOP_ECS: Desc = d(
        &["top_ecs_xacts"],
        "Top EDNS Client Subnet (ECS) observed in DNS transaction",
    );
    pub const TOP_NODATA: Desc = d(
        &["top_nodata_xacts"],
        "Top QNAMES with result code NOERROR and empty answer section",
    );
    pub const XACT_US: Desc = d(
        &["xact_time_us"],
        "Quantiles of transaction timing (query/reply pairs) in microseconds",
    );
    pub const XACT_HIST: Desc = d(
        &["xact_histogram_us"],
        "Histogram of transaction timing (query/reply pairs) in microseconds",
    );
}
