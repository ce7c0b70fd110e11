//! The dns handlers' user-facing schema, both versions: the metric groups (names, defaults
//! and the index constants that test them) and every metric's name and help text. A metric
//! both versions emit is described once (`Both`: v1's name, v2's name, one help text);
//! `Version`, `Both` and `group` are the two-version families' (`net::family`).

use super::metrics::Record;
use crate::metric::otel::key::{
    ASN, CLIENT_PORT, DIRECTION, DNS_ECS, DNS_PROTOCOL, DNS_QNAME2, DNS_QNAME3, DNS_QTYPE,
    DNS_RCODE, NETWORK_TYPE, QNAME, TRANSPORT,
};
use crate::metric::otel::{Attrs, Convert, Item, gauge, histogram, sum, top};
use crate::metric::{Desc, Otel, TopEntry};
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
pub const fn desc(path: Path, help: &'static str, otel: Otel) -> Desc {
    Desc::new("dns", path, help, otel)
}

/// A metric both versions emit with one OTel identity.
const fn both(v1: Path, v2: Path, help: &'static str, otel: Otel) -> Both {
    Both::new(["dns", "dns"], v1, v2, help, [otel, otel])
}

/// A metric both versions emit, v1 counting messages and v2 transactions.
const fn both2(v1: Path, v2: Path, help: &'static str, o1: Otel, o2: Otel) -> Both {
    Both::new(["dns", "dns"], v1, v2, help, [o1, o2])
}

/// Direction `in` (v1's transaction metrics; v2 has directions in its scope).
const DIR_IN: Attrs = &[(DIRECTION, "in")];
/// Direction `out`.
const DIR_OUT: Attrs = &[(DIRECTION, "out")];

/// Transport attributes: `network.transport` and the DNS flavour.
const fn transport(t: &'static str) -> Attrs {
    match t.as_bytes() {
        b"udp" => &[(TRANSPORT, "udp"), (DNS_PROTOCOL, "do53")],
        b"tcp" => &[(TRANSPORT, "tcp"), (DNS_PROTOCOL, "do53")],
        b"dot" => &[(TRANSPORT, "tcp"), (DNS_PROTOCOL, "dot")],
        b"doh" => &[(TRANSPORT, "tcp"), (DNS_PROTOCOL, "doh")],
        b"doq" => &[(TRANSPORT, "quic"), (DNS_PROTOCOL, "doq")],
        b"dnscrypt_udp" => &[(TRANSPORT, "udp"), (DNS_PROTOCOL, "dnscrypt")],
        b"dnscrypt_tcp" => &[(TRANSPORT, "tcp"), (DNS_PROTOCOL, "dnscrypt")],
        _ => panic!("unknown DNS transport"),
    }
}

/// Top lists of v1 (messages) and v2 (transactions).
const fn top_packets(name: &'static str, item: Item) -> Otel {
    top(name, "{packet}", item)
}
const fn top_xacts(name: &'static str, item: Item) -> Otel {
    top(name, "{transaction}", item)
}

/// Transaction times, in seconds.
const DURATION: Otel =
    histogram("pktvisor.dns.xact.duration", "s").convert(Convert::MicrosToSeconds);
/// Top QNAMEs by rcode.
const TOP_BY_RCODE_V1: Otel = top_packets("pktvisor.dns.top.by_rcode", Item::Key(QNAME));
const TOP_BY_RCODE_V2: Otel = top_xacts("pktvisor.dns.xacts.top.by_rcode", Item::Key(QNAME));
/// Slow transactions.
const TOP_SLOW: Otel = top_xacts("pktvisor.dns.xacts.top.slow", Item::Key(QNAME));

/// A top list of QNAMEs of one rcode, v1 and v2.
const fn by_rcode(v1: Path, v2: Path, help: &'static str, rcode: Attrs) -> Both {
    both2(
        v1,
        v2,
        help,
        TOP_BY_RCODE_V1.with(rcode),
        TOP_BY_RCODE_V2.with(rcode),
    )
}

/// Messages before filtering, per second.
pub const EVENT_RATE: Both = both(
    &["rates", "events"],
    &["rates", "observed_pps"],
    "Rate of all DNS wire packets before filtering per second",
    histogram("pktvisor.dns.event.rate", "{event}/s"),
);
/// Messages before filtering.
pub const EVENTS: Both = both(
    &["wire_packets", "events"],
    &["observed_packets"],
    "Total DNS wire packets events",
    sum("pktvisor.dns.events", "{event}"),
);
/// Deep-sampled messages.
pub const DEEP: Both = both(
    &["wire_packets", "deep_samples"],
    &["deep_sampled_packets"],
    "Total DNS wire packets that were sampled for deep inspection",
    sum("pktvisor.dns.deep_samples", "{event}"),
);
/// Filtered messages.
pub const FILTERED: Both = both(
    &["wire_packets", "filtered"],
    &["filtered_packets"],
    "Total DNS wire packets seen that did not match the configured filter(s) (if any)",
    sum("pktvisor.dns.filtered", "{event}"),
);
/// QNAME cardinality.
pub const CARD_QNAME: Desc = desc(
    &["cardinality", "qname"],
    "Cardinality of unique QNAMES, both ingress and egress",
    gauge("pktvisor.dns.qname.cardinality", "{name}"),
);
/// Client ports.
pub const TOP_PORTS: Both = both2(
    &["top_udp_ports"],
    &["top_udp_ports_xacts"],
    "Top UDP source port on the query side of a transaction",
    top_packets("pktvisor.dns.top.client_ports", Item::Key(CLIENT_PORT))
        .with(&[(TRANSPORT, "udp")]),
    top_xacts(
        "pktvisor.dns.xacts.top.client_ports",
        Item::Key(CLIENT_PORT),
    )
    .with(&[(TRANSPORT, "udp")]),
);
/// ECS locations.
pub const TOP_GEO_ECS: Both = both2(
    &["top_geoLoc_ecs"],
    &["top_geo_loc_ecs_xacts"],
    "Top GeoIP ECS locations",
    top_packets("pktvisor.dns.top.geo_loc_ecs", Item::Geo),
    top_xacts("pktvisor.dns.xacts.top.geo_loc_ecs", Item::Geo),
);
/// ECS ASNs.
pub const TOP_ASN_ECS: Both = both2(
    &["top_asn_ecs"],
    &["top_asn_ecs_xacts"],
    "Top ASNs by ECS",
    top_packets("pktvisor.dns.top.asn_ecs", Item::Key(ASN)),
    top_xacts("pktvisor.dns.xacts.top.asn_ecs", Item::Key(ASN)),
);
/// NXDOMAIN QNAMEs.
pub const TOP_NXDOMAIN: Both = by_rcode(
    &["top_nxdomain"],
    &["top_nxdomain_xacts"],
    "Top QNAMES with result code NXDOMAIN",
    &[(DNS_RCODE, "NXDOMAIN")],
);
/// REFUSED QNAMEs.
pub const TOP_REFUSED: Both = by_rcode(
    &["top_refused"],
    &["top_refused_xacts"],
    "Top QNAMES with result code REFUSED",
    &[(DNS_RCODE, "REFUSED")],
);
/// SRVFAIL QNAMEs.
pub const TOP_SRVFAIL: Both = by_rcode(
    &["top_srvfail"],
    &["top_srvfail_xacts"],
    "Top QNAMES with result code SRVFAIL",
    &[(DNS_RCODE, "SERVFAIL")],
);
/// NOERROR QNAMEs.
pub const TOP_NOERROR: Both = by_rcode(
    &["top_noerror"],
    &["top_noerror_xacts"],
    "Top QNAMES with result code NOERROR",
    &[(DNS_RCODE, "NOERROR")],
);
/// QNAMEs at two labels.
pub const TOP_QNAME2: Both = both2(
    &["top_qname2"],
    &["top_qname2_xacts"],
    "Top QNAMES, aggregated at a depth of two labels",
    top_packets("pktvisor.dns.top.qname2", Item::Key(DNS_QNAME2)),
    top_xacts("pktvisor.dns.xacts.top.qname2", Item::Key(DNS_QNAME2)),
);
/// QNAMEs at three labels.
pub const TOP_QNAME3: Both = both2(
    &["top_qname3"],
    &["top_qname3_xacts"],
    "Top QNAMES, aggregated at a depth of three labels",
    top_packets("pktvisor.dns.top.qname3", Item::Key(DNS_QNAME3)),
    top_xacts("pktvisor.dns.xacts.top.qname3", Item::Key(DNS_QNAME3)),
);
/// QNAMEs by response bytes.
pub const TOP_RESP_BYTES: Both = both(
    &["top_qname_by_resp_bytes"],
    &["top_response_bytes"],
    "Top QNAMES by response volume in bytes",
    top("pktvisor.dns.top.response_bytes", "By", Item::Key(QNAME)),
);
/// Response/query size ratio.
pub const RATIO: Both = both(
    &["xact", "ratio", "quantiles"],
    &["response_query_size_ratio"],
    "Quantiles of ratio of packet sizes in a DNS transaction (reply/query)",
    histogram("pktvisor.dns.xact.size_ratio", "1"),
);
/// Result codes.
pub const TOP_RCODE: Both = both2(
    &["top_rcode"],
    &["top_rcode_xacts"],
    "Top result codes",
    top_packets("pktvisor.dns.top.rcode", Item::Rcode),
    top_xacts("pktvisor.dns.xacts.top.rcode", Item::Rcode),
);
/// Query types.
pub const TOP_QTYPE: Both = both2(
    &["top_qtype"],
    &["top_qtype_xacts"],
    "Top query types",
    top_packets("pktvisor.dns.top.qtype", Item::Key(DNS_QTYPE)),
    top_xacts("pktvisor.dns.xacts.top.qtype", Item::Key(DNS_QTYPE)),
);
/// Slow transactions where the host is the server (v2: of the direction).
pub const TOP_SLOW_IN: Both = both2(
    &["xact", "in", "top_slow"],
    &["top_slow_xacts"],
    "Top QNAMES in transactions where host is the server and transaction speed is slower than p90",
    TOP_SLOW.with(DIR_IN),
    TOP_SLOW,
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
    use super::{
        DIR_IN, DIR_OUT, DNS_ECS, DNS_RCODE, DURATION, NETWORK_TYPE, QNAME, TOP_SLOW, Version,
        desc as d, group as g, histogram, sum, top_packets, transport, version,
    };
    use crate::metric::Desc;
    use crate::metric::otel::{Item, Otel};
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

    const BY_TRANSPORT: Otel = sum("pktvisor.dns.packets.by_transport", "{packet}");
    const BY_NETWORK_TYPE: Otel = sum("pktvisor.dns.packets.by_network_type", "{packet}");
    const BY_RCODE: Otel = sum("pktvisor.dns.replies.by_rcode", "{packet}");
    const XACTS_BY_DIRECTION: Otel = sum("pktvisor.dns.xacts.by_direction", "{transaction}");

    pub const RATE_TOTAL: Desc = d(
        &["rates", "total"],
        "Rate of all DNS wire packets (combined ingress and egress) in packets per second",
        histogram("pktvisor.dns.packet.rate", "{packet}/s"),
    );
    pub const QUERIES: Desc = d(
        &["wire_packets", "queries"],
        "Total DNS wire packets flagged as query (ingress and egress)",
        sum("pktvisor.dns.queries", "{packet}"),
    );
    pub const REPLIES: Desc = d(
        &["wire_packets", "replies"],
        "Total DNS wire packets flagged as reply (ingress and egress)",
        sum("pktvisor.dns.replies", "{packet}"),
    );
    pub const TCP: Desc = d(
        &["wire_packets", "tcp"],
        "Total DNS wire packets received over TCP (ingress and egress)",
        BY_TRANSPORT.with(transport("tcp")),
    );
    pub const UDP: Desc = d(
        &["wire_packets", "udp"],
        "Total DNS wire packets received over UDP (ingress and egress)",
        BY_TRANSPORT.with(transport("udp")),
    );
    pub const IPV4: Desc = d(
        &["wire_packets", "ipv4"],
        "Total DNS wire packets received over IPv4 (ingress and egress)",
        BY_NETWORK_TYPE.with(&[(NETWORK_TYPE, "ipv4")]),
    );
    pub const IPV6: Desc = d(
        &["wire_packets", "ipv6"],
        "Total DNS wire packets received over IPv6 (ingress and egress)",
        BY_NETWORK_TYPE.with(&[(NETWORK_TYPE, "ipv6")]),
    );
    pub const NXDOMAIN: Desc = d(
        &["wire_packets", "nxdomain"],
        "Total DNS wire packets flagged as reply with response code NXDOMAIN (ingress and egress)",
        BY_RCODE.with(&[(DNS_RCODE, "NXDOMAIN")]),
    );
    pub const REFUSED: Desc = d(
        &["wire_packets", "refused"],
        "Total DNS wire packets flagged as reply with response code REFUSED (ingress and egress)",
        BY_RCODE.with(&[(DNS_RCODE, "REFUSED")]),
    );
    pub const SRVFAIL: Desc = d(
        &["wire_packets", "srvfail"],
        "Total DNS wire packets flagged as reply with response code SRVFAIL (ingress and egress)",
        BY_RCODE.with(&[(DNS_RCODE, "SERVFAIL")]),
    );
    pub const NOERROR: Desc = d(
        &["wire_packets", "noerror"],
        "Total DNS wire packets flagged as reply with response code NOERROR (ingress and egress)",
        BY_RCODE.with(&[(DNS_RCODE, "NOERROR")]),
    );
    pub const NODATA: Desc = d(
        &["wire_packets", "nodata"],
        "Total DNS wire packets flagged as reply with response code NOERROR and no answer section data (ingress and egress)",
        sum("pktvisor.dns.replies.nodata", "{packet}"),
    );
    pub const TOTAL: Desc = d(
        &["wire_packets", "total"],
        "Total DNS wire packets matching the configured filter(s)",
        sum("pktvisor.dns.packets", "{packet}"),
    );
    pub const QUERY_ECS: Desc = d(
        &["wire_packets", "query_ecs"],
        "Total queries that have EDNS Client Subnet (ECS) field set",
        sum("pktvisor.dns.queries.ecs", "{packet}"),
    );
    pub const XACT_TOTAL: Desc = d(
        &["xact", "counts", "total"],
        "Total DNS transactions (query/reply pairs)",
        sum("pktvisor.dns.xacts", "{transaction}"),
    );
    pub const XACT_TIMED_OUT: Desc = d(
        &["xact", "counts", "timed_out"],
        "Total number of DNS transactions that timed out",
        sum("pktvisor.dns.xacts.timed_out", "{transaction}"),
    );
    pub const XACT_IN_TOTAL: Desc = d(
        &["xact", "in", "total"],
        "Total ingress DNS transactions (host is server)",
        XACTS_BY_DIRECTION.with(DIR_IN),
    );
    pub const XACT_OUT_Q: Desc = d(
        &["xact", "out", "quantiles_us"],
        "Quantiles of transaction timing (query/reply pairs) when host is client, in microseconds",
        DURATION.with(DIR_OUT),
    );
    pub const XACT_IN_Q: Desc = d(
        &["xact", "in", "quantiles_us"],
        "Quantiles of transaction timing (query/reply pairs) when host is server, in microseconds",
        DURATION.with(DIR_IN),
    );
    pub const XACT_IN_H: Desc = d(
        &["xact", "in", "histogram_us"],
        "Histogram of transaction timing (query/reply pairs) when host is server, in microseconds",
        DURATION.with(DIR_IN),
    );
    pub const XACT_OUT_H: Desc = d(
        &["xact", "out", "histogram_us"],
        "Histogram of transaction timing (query/reply pairs) when host is client, in microseconds",
        DURATION.with(DIR_OUT),
    );
    pub const XACT_OUT_TOTAL: Desc = d(
        &["xact", "out", "total"],
        "Total egress DNS transactions (host is client)",
        XACTS_BY_DIRECTION.with(DIR_OUT),
    );
    pub const XACT_OUT_SLOW: Desc = d(
        &["xact", "out", "top_slow"],
        "Top QNAMES in transactions where host is the client and transaction speed is slower than p90",
        TOP_SLOW.with(DIR_OUT),
    );
    pub const TOP_QUERY_ECS: Desc = d(
        &["top_query_ecs"],
        "Top EDNS Client Subnet (ECS) observed in DNS queries",
        top_packets("pktvisor.dns.top.ecs", Item::Key(DNS_ECS)),
    );
    pub const TOP_NODATA: Desc = d(
        &["top_nodata"],
        "Top QNAMES with result code NOERROR and no answer section",
        top_packets("pktvisor.dns.top.nodata", Item::Key(QNAME)),
    );
}

/// dns v2: version, groups and the metrics only it emits.
pub mod v2 {
    use super::{
        DNS_ECS, DNS_RCODE, DURATION, NETWORK_TYPE, QNAME, Version, desc as d, group as g,
        histogram, sum, top_xacts, transport, version,
    };
    use crate::metric::Desc;
    use crate::metric::otel::{Item, Otel};
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

    const BY_TRANSPORT: Otel = sum("pktvisor.dns.xacts.by_transport", "{transaction}");
    const BY_NETWORK_TYPE: Otel = sum("pktvisor.dns.xacts.by_network_type", "{transaction}");
    const BY_RCODE: Otel = sum("pktvisor.dns.xacts.by_rcode", "{transaction}");
    const fn xacts(name: &'static str) -> Otel {
        sum(name, "{transaction}")
    }

    pub const XACT_RATES: Desc = d(
        &["xact_rates"],
        "Rate of all DNS transaction (reply/query) per second",
        histogram("pktvisor.dns.xact.rate", "{transaction}/s"),
    );
    pub const COUNTER_DESCS: [Desc; 21] = [
        d(
            &["xacts"],
            "Total DNS transactions (query/reply pairs)",
            xacts("pktvisor.dns.xacts"),
        ),
        d(
            &["udp_xacts"],
            "Total DNS transactions (query/reply pairs) received over UDP",
            BY_TRANSPORT.with(transport("udp")),
        ),
        d(
            &["tcp_xacts"],
            "Total DNS transactions (query/reply pairs) received over TCP",
            BY_TRANSPORT.with(transport("tcp")),
        ),
        d(
            &["dot_xacts"],
            "Total DNS transactions (query/reply pairs) received over DNS over TLS",
            BY_TRANSPORT.with(transport("dot")),
        ),
        d(
            &["doh_xacts"],
            "Total DNS transactions (query/reply pairs) received over DNS over HTTPS",
            BY_TRANSPORT.with(transport("doh")),
        ),
        d(
            &["dnscrypt_udp_xacts"],
            "Total DNS transactions (query/reply pairs) received over DNSCrypt over UDP",
            BY_TRANSPORT.with(transport("dnscrypt_udp")),
        ),
        d(
            &["dnscrypt_tcp_xacts"],
            "Total DNS transactions (query/reply pairs) received over DNSCrypt over TCP",
            BY_TRANSPORT.with(transport("dnscrypt_tcp")),
        ),
        d(
            &["doq_xacts"],
            "Total DNS transactions (query/reply pairs) received over DNS over QUIC",
            BY_TRANSPORT.with(transport("doq")),
        ),
        d(
            &["ipv4_xacts"],
            "Total DNS transactions (query/reply pairs) received over IPv4",
            BY_NETWORK_TYPE.with(&[(NETWORK_TYPE, "ipv4")]),
        ),
        d(
            &["ipv6_xacts"],
            "Total DNS transactions (query/reply pairs) received over IPv6",
            BY_NETWORK_TYPE.with(&[(NETWORK_TYPE, "ipv6")]),
        ),
        d(
            &["nxdomain_xacts"],
            "Total DNS transactions (query/reply pairs) flagged as reply with response code NXDOMAIN",
            BY_RCODE.with(&[(DNS_RCODE, "NXDOMAIN")]),
        ),
        d(
            &["refused_xacts"],
            "Total DNS transactions (query/reply pairs) flagged as reply with response code REFUSED",
            BY_RCODE.with(&[(DNS_RCODE, "REFUSED")]),
        ),
        d(
            &["srvfail_xacts"],
            "Total DNS transactions (query/reply pairs) flagged as reply with response code SRVFAIL",
            BY_RCODE.with(&[(DNS_RCODE, "SERVFAIL")]),
        ),
        d(
            &["noerror_xacts"],
            "Total DNS transactions (query/reply pairs) flagged as reply with response code NOERROR",
            BY_RCODE.with(&[(DNS_RCODE, "NOERROR")]),
        ),
        d(
            &["nodata_xacts"],
            "Total DNS transactions (query/reply pairs) flagged as reply with response code NOERROR but with an empty answers section",
            xacts("pktvisor.dns.xacts.nodata"),
        ),
        d(
            &["ecs_xacts"],
            "Total DNS transactions (query/reply pairs) with the EDNS Client Subnet option set",
            xacts("pktvisor.dns.xacts.ecs"),
        ),
        d(
            &["authenticated_data_xacts"],
            "Total DNS transactions (query/reply pairs) with the AD flag set in the response",
            xacts("pktvisor.dns.xacts.authenticated_data"),
        ),
        d(
            &["authoritative_answer_xacts"],
            "Total DNS transactions (query/reply pairs) with the AA flag set in the response",
            xacts("pktvisor.dns.xacts.authoritative_answer"),
        ),
        d(
            &["checking_disabled_xacts"],
            "Total DNS transactions (query/reply pairs) with the CD flag set in the query",
            xacts("pktvisor.dns.xacts.checking_disabled"),
        ),
        d(
            &["timeout_queries"],
            "Total number of DNS queries that timed out",
            xacts("pktvisor.dns.xacts.timed_out"),
        ),
        d(
            &["orphan_responses"],
            "Total number of DNS responses that do not have a corresponding query",
            sum("pktvisor.dns.orphan_responses", "{response}"),
        ),
    ];
    /// Index of `ecs_xacts` in `COUNTER_DESCS` (also needs the top_ecs group).
    pub const ECS_COUNTER: usize = 15;
    pub const TOP_ECS: Desc = d(
        &["top_ecs_xacts"],
        "Top EDNS Client Subnet (ECS) observed in DNS transaction",
        top_xacts("pktvisor.dns.xacts.top.ecs", Item::Key(DNS_ECS)),
    );
    pub const TOP_NODATA: Desc = d(
        &["top_nodata_xacts"],
        "Top QNAMES with result code NOERROR and empty answer section",
        top_xacts("pktvisor.dns.xacts.top.nodata", Item::Key(QNAME)),
    );
    pub const XACT_US: Desc = d(
        &["xact_time_us"],
        "Quantiles of transaction timing (query/reply pairs) in microseconds",
        DURATION,
    );
    pub const XACT_HIST: Desc = d(
        &["xact_histogram_us"],
        "Histogram of transaction timing (query/reply pairs) in microseconds",
        DURATION,
    );
}
