//! The flow metrics' names and help texts (pktvisor's), as tables indexed by direction
//! (0 in, 1 out), aggregator (0 bytes, 1 packets) and metric.

use crate::metric::Desc;

const fn d(path: &'static [&'static str], help: &'static str) -> Desc {
    Desc {
        schema: "flow",
        path,
        help,
    }
}

/// `records_flows`.
pub const RECORDS_FLOWS: Desc = d(
    &["records_flows"],
    "Count of total flows records that match the configured filter(s) (if any)",
);
/// `records_filtered`.
pub const RECORDS_FILTERED: Desc = d(
    &["records_filtered"],
    "Count of total flows records seen that did not match the configured filter(s) (if any)",
);
/// Device top interfaces, `[dir][aggregator]`.
pub const TOP_INTERFACES: [[Desc; 2]; 2] = [
    [
        d(
            &["top_in_interfaces_bytes"],
            "Top input interfaces by bytes",
        ),
        d(
            &["top_in_interfaces_packets"],
            "Top input interfaces by packets",
        ),
    ],
    [
        d(
            &["top_out_interfaces_bytes"],
            "Top output interfaces by bytes",
        ),
        d(
            &["top_out_interfaces_packets"],
            "Top output interfaces by packets",
        ),
    ],
];
/// Interface cardinalities: conversations, src IPs, dst IPs, src ports, dst ports.
pub const CARDINALITY: [Desc; 5] = [
    d(
        &["cardinality", "conversations"],
        "Conversations cardinality",
    ),
    d(&["cardinality", "src_ips_in"], "Source IP cardinality"),
    d(
        &["cardinality", "dst_ips_out"],
        "Destination IP cardinality",
    ),
    d(&["cardinality", "src_ports_in"], "Source ports cardinality"),
    d(
        &["cardinality", "dst_ports_out"],
        "Destination ports cardinality",
    ),
];
/// Interface counters `[dir][aggregator][udp, tcp, other_l4, ipv4, ipv6, total]`.
pub const COUNTERS: [[[Desc; 6]; 2]; 2] = [
    [
        [
            d(&["in_udp_bytes"], "Count of in UDP by bytes"),
            d(&["in_tcp_bytes"], "Count of in TCP by bytes"),
            d(
                &["in_other_l4_bytes"],
                "Count of in bytes which are not UDP or TCP",
            ),
            d(&["in_ipv4_bytes"], "Count of in IPv4 by bytes"),
            d(&["in_ipv6_bytes"], "Count of in IPv6 by bytes"),
            d(&["in_bytes"], "Count of in bytes"),
        ],
        [
            d(&["in_udp_packets"], "Count of in UDP by packets"),
            d(&["in_tcp_packets"], "Count of in TCP by packets"),
            d(
                &["in_other_l4_packets"],
                "Count of in packets which are not UDP or TCP",
            ),
            d(&["in_ipv4_packets"], "Count of in IPv4 by packets"),
            d(&["in_ipv6_packets"], "Count of in IPv6 by packets"),
            d(&["in_packets"], "Count of in packets"),
        ],
    ],
    [
        [
            d(&["out_udp_bytes"], "Count of out UDP by bytes"),
            d(&["out_tcp_bytes"], "Count of out TCP by bytes"),
            d(
                &["out_other_l4_bytes"],
                "Count of out bytes which are not UDP or TCP",
            ),
            d(&["out_ipv4_bytes"], "Count of out IPv4 by bytes"),
            d(&["out_ipv6_bytes"], "Count of out IPv6 by bytes"),
            d(&["out_bytes"], "Count of out bytes"),
        ],
        [
            d(&["out_udp_packets"], "Count of out UDP by packets"),
            d(&["out_tcp_packets"], "Count of out TCP by packets"),
            d(
                &["out_other_l4_packets"],
                "Count of out packets which are not UDP or TCP",
            ),
            d(&["out_ipv4_packets"], "Count of out IPv4 by packets"),
            d(&["out_ipv6_packets"], "Count of out IPv6 by packets"),
            d(&["out_packets"], "Count of out packets"),
        ],
    ],
];
/// Interface tops `[dir][aggregator][src ips, dst ips, src ports, dst ports, src ip ports,
/// dst ip ports, dscp, ecn]`.
pub const TOPS: [[[Desc; 8]; 2]; 2] = [
    [
        [
            d(
                &["top_in_src_ips_bytes"],
                "Top in source IP addresses by bytes",
            ),
            d(
                &["top_in_dst_ips_bytes"],
                "Top in destination IP addresses by bytes",
            ),
            d(&["top_in_src_ports_bytes"], "Top in source ports by bytes"),
            d(
                &["top_in_dst_ports_bytes"],
                "Top in destination ports by bytes",
            ),
            d(
                &["top_in_src_ip_ports_bytes"],
                "Top in source IP addresses and port by bytes",
            ),
            d(
                &["top_in_dst_ip_ports_bytes"],
                "Top in destination IP addresses and port by bytes",
            ),
            d(&["top_in_dscp_bytes"], "Top in IP DSCP by bytes"),
            d(&["top_in_ecn_bytes"], "Top in IP ECN by bytes"),
        ],
        [
            d(
                &["top_in_src_ips_packets"],
                "Top in source IP addresses by packets",
            ),
            d(
                &["top_in_dst_ips_packets"],
                "Top in destination IP addresses by packets",
            ),
            d(
                &["top_in_src_ports_packets"],
                "Top in source ports by packets",
            ),
            d(
                &["top_in_dst_ports_packets"],
                "Top in destination ports by packets",
            ),
            d(
                &["top_in_src_ip_ports_packets"],
                "Top in source IP addresses and port by packets",
            ),
            d(
                &["top_in_dst_ip_ports_packets"],
                "Top in destination IP addresses and port by packets",
            ),
            d(&["top_in_dscp_packets"], "Top in IP DSCP by packets"),
            d(&["top_in_ecn_packets"], "Top in IP ECN by packets"),
        ],
    ],
    [
        [
            d(
                &["top_out_src_ips_bytes"],
                "Top out source IP addresses by bytes",
            ),
            d(
                &["top_out_dst_ips_bytes"],
                "Top out destination IP addresses by bytes",
            ),
            d(
                &["top_out_src_ports_bytes"],
                "Top out source ports by bytes",
            ),
            d(
                &["top_out_dst_ports_bytes"],
                "Top out destination ports by bytes",
            ),
            d(
                &["top_out_src_ip_ports_bytes"],
                "Top out source IP addresses and port by bytes",
            ),
            d(
                &["top_out_dst_ip_ports_bytes"],
                "Top out destination IP addresses and port by bytes",
            ),
            d(&["top_out_dscp_bytes"], "Top out IP DSCP by bytes"),
            d(&["top_out_ecn_bytes"], "Top out IP ECN by bytes"),
        ],
        [
            d(
                &["top_out_src_ips_packets"],
                "Top out source IP addresses by packets",
            ),
            d(
                &["top_out_dst_ips_packets"],
                "Top out destination IP addresses by packets",
            ),
            d(
                &["top_out_src_ports_packets"],
                "Top out source ports by packets",
            ),
            d(
                &["top_out_dst_ports_packets"],
                "Top out destination ports by packets",
            ),
            d(
                &["top_out_src_ip_ports_packets"],
                "Top out source IP addresses and port by packets",
            ),
            d(
                &["top_out_dst_ip_ports_packets"],
                "Top out destination IP addresses and port by packets",
            ),
            d(&["top_out_dscp_packets"], "Top out IP DSCP by packets"),
            d(&["top_out_ecn_packets"], "Top out IP ECN by packets"),
        ],
    ],
];
/// Item labels of `TOPS`.
pub const TOP_LABELS: [&str; 8] = [
    "ip", "ip", "port", "port", "ip_port", "ip_port", "dscp", "ecn",
];
/// Interface geo, ASN and conversation tops `[aggregator][geo, asn, conversations]`.
pub const TOP_OTHER: [[Desc; 3]; 2] = [
    [
        d(&["top_geo_loc_bytes"], "Top GeoIP locations by bytes"),
        d(&["top_asn_bytes"], "Top ASNs by IP by bytes"),
        d(
            &["top_conversations_bytes"],
            "Top source IP addresses and port by bytes",
        ),
    ],
    [
        d(&["top_geo_loc_packets"], "Top GeoIP locations by packets"),
        d(&["top_asn_packets"], "Top ASNs by IP by packets"),
        d(
            &["top_conversations_packets"],
            "Top source IP addresses and port by packets",
        ),
    ],
];
