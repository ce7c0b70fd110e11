//! The flow metrics' names, help texts (pktvisor's) and OTel identities, as tables indexed
//! by direction (0 in, 1 out), aggregator (0 bytes, 1 packets) and metric.

use crate::metric::otel::key::{
    ASN, DESTINATION_ADDRESS, DESTINATION_PORT, DIRECTION, FLOW_CONVERSATION, FLOW_DSCP, FLOW_ECN,
    INTERFACE, NETWORK_TYPE, SOURCE_ADDRESS, SOURCE_PORT, TRANSPORT,
};
use crate::metric::otel::{Attrs, Item, gauge, sum, top};
use crate::metric::{Desc, Otel};

const fn d(path: &'static [&'static str], help: &'static str, otel: Otel) -> Desc {
    Desc::new("flow", path, help, otel)
}

const IN: Attrs = &[(DIRECTION, "in")];
const OUT: Attrs = &[(DIRECTION, "out")];

/// Bytes (`pktvisor.flow.io`) and packets (`pktvisor.flow.packets`) counters.
const fn bytes(name: &'static str) -> Otel {
    sum(name, "By")
}
const fn packets(name: &'static str) -> Otel {
    sum(name, "{packet}")
}

/// Counter slices: (direction, transport or IP version) attributes.
const fn slice(dir: u8, what: &'static str) -> Attrs {
    match (dir, what.as_bytes()) {
        (0, b"udp") => &[(DIRECTION, "in"), (TRANSPORT, "udp")],
        (0, b"tcp") => &[(DIRECTION, "in"), (TRANSPORT, "tcp")],
        (0, b"ipv4") => &[(DIRECTION, "in"), (NETWORK_TYPE, "ipv4")],
        (0, b"ipv6") => &[(DIRECTION, "in"), (NETWORK_TYPE, "ipv6")],
        (1, b"udp") => &[(DIRECTION, "out"), (TRANSPORT, "udp")],
        (1, b"tcp") => &[(DIRECTION, "out"), (TRANSPORT, "tcp")],
        (1, b"ipv4") => &[(DIRECTION, "out"), (NETWORK_TYPE, "ipv4")],
        (1, b"ipv6") => &[(DIRECTION, "out"), (NETWORK_TYPE, "ipv6")],
        _ => panic!("unknown flow slice"),
    }
}

const IO_BY_TRANSPORT: Otel = bytes("pktvisor.flow.io.by_transport");
const IO_BY_TYPE: Otel = bytes("pktvisor.flow.io.by_network_type");
const PK_BY_TRANSPORT: Otel = packets("pktvisor.flow.packets.by_transport");
const PK_BY_TYPE: Otel = packets("pktvisor.flow.packets.by_network_type");

/// A top list by bytes or by packets.
const fn top_io(name: &'static str, item: Item) -> Otel {
    top(name, "By", item)
}
const fn top_pk(name: &'static str, item: Item) -> Otel {
    top(name, "{packet}", item)
}

const SRC_IP_PORT: Item = Item::AddressPort {
    address: SOURCE_ADDRESS,
    port: SOURCE_PORT,
};
const DST_IP_PORT: Item = Item::AddressPort {
    address: DESTINATION_ADDRESS,
    port: DESTINATION_PORT,
};

/// `records_flows`.
pub const RECORDS_FLOWS: Desc = d(
    &["records_flows"],
    "Count of total flows records that match the configured filter(s) (if any)",
    sum("pktvisor.flow.records", "{record}"),
);
/// `records_filtered`.
pub const RECORDS_FILTERED: Desc = d(
    &["records_filtered"],
    "Count of total flows records seen that did not match the configured filter(s) (if any)",
    sum("pktvisor.flow.records.filtered", "{record}"),
);
/// Device top interfaces, `[dir][aggregator]`.
pub const TOP_INTERFACES: [[Desc; 2]; 2] = [
    [
        d(
            &["top_in_interfaces_bytes"],
            "Top input interfaces by bytes",
            top_io("pktvisor.flow.io.top.interfaces", Item::Key(INTERFACE)).with(IN),
        ),
        d(
            &["top_in_interfaces_packets"],
            "Top input interfaces by packets",
            top_pk("pktvisor.flow.packets.top.interfaces", Item::Key(INTERFACE)).with(IN),
        ),
    ],
    [
        d(
            &["top_out_interfaces_bytes"],
            "Top output interfaces by bytes",
            top_io("pktvisor.flow.io.top.interfaces", Item::Key(INTERFACE)).with(OUT),
        ),
        d(
            &["top_out_interfaces_packets"],
            "Top output interfaces by packets",
            top_pk("pktvisor.flow.packets.top.interfaces", Item::Key(INTERFACE)).with(OUT),
        ),
    ],
];
/// Interface cardinalities: conversations, src IPs, dst IPs, src ports, dst ports.
pub const CARDINALITY: [Desc; 5] = [
    d(
        &["cardinality", "conversations"],
        "Conversations cardinality",
        gauge("pktvisor.flow.conversations.cardinality", "{conversation}"),
    ),
    d(
        &["cardinality", "src_ips_in"],
        "Source IP cardinality",
        gauge("pktvisor.flow.src_ips.cardinality", "{address}").with(IN),
    ),
    d(
        &["cardinality", "dst_ips_out"],
        "Destination IP cardinality",
        gauge("pktvisor.flow.dst_ips.cardinality", "{address}").with(OUT),
    ),
    d(
        &["cardinality", "src_ports_in"],
        "Source ports cardinality",
        gauge("pktvisor.flow.src_ports.cardinality", "{port}").with(IN),
    ),
    d(
        &["cardinality", "dst_ports_out"],
        "Destination ports cardinality",
        gauge("pktvisor.flow.dst_ports.cardinality", "{port}").with(OUT),
    ),
];
/// Interface counters `[dir][aggregator][udp, tcp, other_l4, ipv4, ipv6, total]`.
pub const COUNTERS: [[[Desc; 6]; 2]; 2] = [
    [
        [
            d(
                &["in_udp_bytes"],
                "Count of in UDP by bytes",
                IO_BY_TRANSPORT.with(slice(0, "udp")),
            ),
            d(
                &["in_tcp_bytes"],
                "Count of in TCP by bytes",
                IO_BY_TRANSPORT.with(slice(0, "tcp")),
            ),
            d(
                &["in_other_l4_bytes"],
                "Count of in bytes which are not UDP or TCP",
                IO_BY_TRANSPORT.with(IN),
            ),
            d(
                &["in_ipv4_bytes"],
                "Count of in IPv4 by bytes",
                IO_BY_TYPE.with(slice(0, "ipv4")),
            ),
            d(
                &["in_ipv6_bytes"],
                "Count of in IPv6 by bytes",
                IO_BY_TYPE.with(slice(0, "ipv6")),
            ),
            d(
                &["in_bytes"],
                "Count of in bytes",
                bytes("pktvisor.flow.io").with(IN),
            ),
        ],
        [
            d(
                &["in_udp_packets"],
                "Count of in UDP by packets",
                PK_BY_TRANSPORT.with(slice(0, "udp")),
            ),
            d(
                &["in_tcp_packets"],
                "Count of in TCP by packets",
                PK_BY_TRANSPORT.with(slice(0, "tcp")),
            ),
            d(
                &["in_other_l4_packets"],
                "Count of in packets which are not UDP or TCP",
                PK_BY_TRANSPORT.with(IN),
            ),
            d(
                &["in_ipv4_packets"],
                "Count of in IPv4 by packets",
                PK_BY_TYPE.with(slice(0, "ipv4")),
            ),
            d(
                &["in_ipv6_packets"],
                "Count of in IPv6 by packets",
                PK_BY_TYPE.with(slice(0, "ipv6")),
            ),
            d(
                &["in_packets"],
                "Count of in packets",
                packets("pktvisor.flow.packets").with(IN),
            ),
        ],
    ],
    [
        [
            d(
                &["out_udp_bytes"],
                "Count of out UDP by bytes",
                IO_BY_TRANSPORT.with(slice(1, "udp")),
            ),
            d(
                &["out_tcp_bytes"],
                "Count of out TCP by bytes",
                IO_BY_TRANSPORT.with(slice(1, "tcp")),
            ),
            d(
                &["out_other_l4_bytes"],
                "Count of out bytes which are not UDP or TCP",
                IO_BY_TRANSPORT.with(OUT),
            ),
            d(
                &["out_ipv4_bytes"],
                "Count of out IPv4 by bytes",
                IO_BY_TYPE.with(slice(1, "ipv4")),
            ),
            d(
                &["out_ipv6_bytes"],
                "Count of out IPv6 by bytes",
                IO_BY_TYPE.with(slice(1, "ipv6")),
            ),
            d(
                &["out_bytes"],
                "Count of out bytes",
                bytes("pktvisor.flow.io").with(OUT),
            ),
        ],
        [
            d(
                &["out_udp_packets"],
                "Count of out UDP by packets",
                PK_BY_TRANSPORT.with(slice(1, "udp")),
            ),
            d(
                &["out_tcp_packets"],
                "Count of out TCP by packets",
                PK_BY_TRANSPORT.with(slice(1, "tcp")),
            ),
            d(
                &["out_other_l4_packets"],
                "Count of out packets which are not UDP or TCP",
                PK_BY_TRANSPORT.with(OUT),
            ),
            d(
                &["out_ipv4_packets"],
                "Count of out IPv4 by packets",
                PK_BY_TYPE.with(slice(1, "ipv4")),
            ),
            d(
                &["out_ipv6_packets"],
                "Count of out IPv6 by packets",
                PK_BY_TYPE.with(slice(1, "ipv6")),
            ),
            d(
                &["out_packets"],
                "Count of out packets",
                packets("pktvisor.flow.packets").with(OUT),
            ),
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
                top_io("pktvisor.flow.io.top.src_ips", Item::Key(SOURCE_ADDRESS)).with(IN),
            ),
            d(
                &["top_in_dst_ips_bytes"],
                "Top in destination IP addresses by bytes",
                top_io(
                    "pktvisor.flow.io.top.dst_ips",
                    Item::Key(DESTINATION_ADDRESS),
                )
                .with(IN),
            ),
            d(
                &["top_in_src_ports_bytes"],
                "Top in source ports by bytes",
                top_io("pktvisor.flow.io.top.src_ports", Item::Key(SOURCE_PORT)).with(IN),
            ),
            d(
                &["top_in_dst_ports_bytes"],
                "Top in destination ports by bytes",
                top_io(
                    "pktvisor.flow.io.top.dst_ports",
                    Item::Key(DESTINATION_PORT),
                )
                .with(IN),
            ),
            d(
                &["top_in_src_ip_ports_bytes"],
                "Top in source IP addresses and port by bytes",
                top_io("pktvisor.flow.io.top.src_ip_ports", SRC_IP_PORT).with(IN),
            ),
            d(
                &["top_in_dst_ip_ports_bytes"],
                "Top in destination IP addresses and port by bytes",
                top_io("pktvisor.flow.io.top.dst_ip_ports", DST_IP_PORT).with(IN),
            ),
            d(
                &["top_in_dscp_bytes"],
                "Top in IP DSCP by bytes",
                top_io("pktvisor.flow.io.top.dscp", Item::Key(FLOW_DSCP)).with(IN),
            ),
            d(
                &["top_in_ecn_bytes"],
                "Top in IP ECN by bytes",
                top_io("pktvisor.flow.io.top.ecn", Item::Key(FLOW_ECN)).with(IN),
            ),
        ],
        [
            d(
                &["top_in_src_ips_packets"],
                "Top in source IP addresses by packets",
                top_pk(
                    "pktvisor.flow.packets.top.src_ips",
                    Item::Key(SOURCE_ADDRESS),
                )
                .with(IN),
            ),
            d(
                &["top_in_dst_ips_packets"],
                "Top in destination IP addresses by packets",
                top_pk(
                    "pktvisor.flow.packets.top.dst_ips",
                    Item::Key(DESTINATION_ADDRESS),
                )
                .with(IN),
            ),
            d(
                &["top_in_src_ports_packets"],
                "Top in source ports by packets",
                top_pk(
                    "pktvisor.flow.packets.top.src_ports",
                    Item::Key(SOURCE_PORT),
                )
                .with(IN),
            ),
            d(
                &["top_in_dst_ports_packets"],
                "Top in destination ports by packets",
                top_pk(
                    "pktvisor.flow.packets.top.dst_ports",
                    Item::Key(DESTINATION_PORT),
                )
                .with(IN),
            ),
            d(
                &["top_in_src_ip_ports_packets"],
                "Top in source IP addresses and port by packets",
                top_pk("pktvisor.flow.packets.top.src_ip_ports", SRC_IP_PORT).with(IN),
            ),
            d(
                &["top_in_dst_ip_ports_packets"],
                "Top in destination IP addresses and port by packets",
                top_pk("pktvisor.flow.packets.top.dst_ip_ports", DST_IP_PORT).with(IN),
            ),
            d(
                &["top_in_dscp_packets"],
                "Top in IP DSCP by packets",
                top_pk("pktvisor.flow.packets.top.dscp", Item::Key(FLOW_DSCP)).with(IN),
            ),
            d(
                &["top_in_ecn_packets"],
                "Top in IP ECN by packets",
                top_pk("pktvisor.flow.packets.top.ecn", Item::Key(FLOW_ECN)).with(IN),
            ),
        ],
    ],
    [
        [
            d(
                &["top_out_src_ips_bytes"],
                "Top out source IP addresses by bytes",
                top_io("pktvisor.flow.io.top.src_ips", Item::Key(SOURCE_ADDRESS)).with(OUT),
            ),
            d(
                &["top_out_dst_ips_bytes"],
                "Top out destination IP addresses by bytes",
                top_io(
                    "pktvisor.flow.io.top.dst_ips",
                    Item::Key(DESTINATION_ADDRESS),
                )
                .with(OUT),
            ),
            d(
                &["top_out_src_ports_bytes"],
                "Top out source ports by bytes",
                top_io("pktvisor.flow.io.top.src_ports", Item::Key(SOURCE_PORT)).with(OUT),
            ),
            d(
                &["top_out_dst_ports_bytes"],
                "Top out destination ports by bytes",
                top_io(
                    "pktvisor.flow.io.top.dst_ports",
                    Item::Key(DESTINATION_PORT),
                )
                .with(OUT),
            ),
            d(
                &["top_out_src_ip_ports_bytes"],
                "Top out source IP addresses and port by bytes",
                top_io("pktvisor.flow.io.top.src_ip_ports", SRC_IP_PORT).with(OUT),
            ),
            d(
                &["top_out_dst_ip_ports_bytes"],
                "Top out destination IP addresses and port by bytes",
                top_io("pktvisor.flow.io.top.dst_ip_ports", DST_IP_PORT).with(OUT),
            ),
            d(
                &["top_out_dscp_bytes"],
                "Top out IP DSCP by bytes",
                top_io("pktvisor.flow.io.top.dscp", Item::Key(FLOW_DSCP)).with(OUT),
            ),
            d(
                &["top_out_ecn_bytes"],
                "Top out IP ECN by bytes",
                top_io("pktvisor.flow.io.top.ecn", Item::Key(FLOW_ECN)).with(OUT),
            ),
        ],
        [
            d(
                &["top_out_src_ips_packets"],
                "Top out source IP addresses by packets",
                top_pk(
                    "pktvisor.flow.packets.top.src_ips",
                    Item::Key(SOURCE_ADDRESS),
                )
                .with(OUT),
            ),
            d(
                &["top_out_dst_ips_packets"],
                "Top out destination IP addresses by packets",
                top_pk(
                    "pktvisor.flow.packets.top.dst_ips",
                    Item::Key(DESTINATION_ADDRESS),
                )
                .with(OUT),
            ),
            d(
                &["top_out_src_ports_packets"],
                "Top out source ports by packets",
                top_pk(
                    "pktvisor.flow.packets.top.src_ports",
                    Item::Key(SOURCE_PORT),
                )
                .with(OUT),
            ),
            d(
                &["top_out_dst_ports_packets"],
                "Top out destination ports by packets",
                top_pk(
                    "pktvisor.flow.packets.top.dst_ports",
                    Item::Key(DESTINATION_PORT),
                )
                .with(OUT),
            ),
            d(
                &["top_out_src_ip_ports_packets"],
                "Top out source IP addresses and port by packets",
                top_pk("pktvisor.flow.packets.top.src_ip_ports", SRC_IP_PORT).with(OUT),
            ),
            d(
                &["top_out_dst_ip_ports_packets"],
                "Top out destination IP addresses and port by packets",
                top_pk("pktvisor.flow.packets.top.dst_ip_ports", DST_IP_PORT).with(OUT),
            ),
            d(
                &["top_out_dscp_packets"],
                "Top out IP DSCP by packets",
                top_pk("pktvisor.flow.packets.top.dscp", Item::Key(FLOW_DSCP)).with(OUT),
            ),
            d(
                &["top_out_ecn_packets"],
                "Top out IP ECN by packets",
                top_pk("pktvisor.flow.packets.top.ecn", Item::Key(FLOW_ECN)).with(OUT),
            ),
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
        d(
            &["top_geo_loc_bytes"],
            "Top GeoIP locations by bytes",
            top_io("pktvisor.flow.io.top.geo_loc", Item::Geo),
        ),
        d(
            &["top_asn_bytes"],
            "Top ASNs by IP by bytes",
            top_io("pktvisor.flow.io.top.asn", Item::Key(ASN)),
        ),
        d(
            &["top_conversations_bytes"],
            "Top source IP addresses and port by bytes",
            top_io(
                "pktvisor.flow.io.top.conversations",
                Item::Key(FLOW_CONVERSATION),
            ),
        ),
    ],
    [
        d(
            &["top_geo_loc_packets"],
            "Top GeoIP locations by packets",
            top_pk("pktvisor.flow.packets.top.geo_loc", Item::Geo),
        ),
        d(
            &["top_asn_packets"],
            "Top ASNs by IP by packets",
            top_pk("pktvisor.flow.packets.top.asn", Item::Key(ASN)),
        ),
        d(
            &["top_conversations_packets"],
            "Top source IP addresses and port by packets",
            top_pk(
                "pktvisor.flow.packets.top.conversations",
                Item::Key(FLOW_CONVERSATION),
            ),
        ),
    ],
];
