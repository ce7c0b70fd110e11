//! pktvisor's v1 handlers, the ones its own CLI shows: net (`packets`), dns, pcap, dhcp.

use super::json::{J, Period, Quantiles, Rate, TopItem};

/// net v1 (`packets`, reference §5.3).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetV1 {
    pub period: Period,
    pub total: u64,
    pub events: u64,
    pub deep_samples: u64,
    pub filtered: u64,
    pub udp: u64,
    pub tcp: u64,
    pub other_l4: u64,
    pub ipv4: u64,
    pub ipv6: u64,
    pub in_: u64,
    pub out: u64,
    pub unknown_dir: u64,
    pub tcp_syn: u64,
    pub pps_total: Rate,
    pub pps_in: Rate,
    pub pps_out: Rate,
    pub bytes_total: Rate,
    pub src_ips_in: u64,
    pub dst_ips_out: u64,
    pub payload_size: Quantiles,
    pub top_ipv4: Vec<TopItem>,
    pub top_ipv6: Vec<TopItem>,
    pub top_geo: Vec<TopItem>,
    pub top_asn: Vec<TopItem>,
}

impl From<J<'_>> for NetV1 {
    fn from(j: J) -> Self {
        NetV1 {
            period: j.period(),
            total: j.u("total"),
            events: j.u("events"),
            deep_samples: j.u("deep_samples"),
            filtered: j.u("filtered"),
            udp: j.u("udp"),
            tcp: j.u("tcp"),
            other_l4: j.u("other_l4"),
            ipv4: j.u("ipv4"),
            ipv6: j.u("ipv6"),
            in_: j.u("in"),
            out: j.u("out"),
            unknown_dir: j.u("unknown_dir"),
            tcp_syn: j.u("protocol/tcp/syn"),
            pps_total: j.rate("rates/pps_total"),
            pps_in: j.rate("rates/pps_in"),
            pps_out: j.rate("rates/pps_out"),
            bytes_total: j.rate("rates/bytes_total"),
            src_ips_in: j.u("cardinality/src_ips_in"),
            dst_ips_out: j.u("cardinality/dst_ips_out"),
            payload_size: j.quantiles("payload_size"),
            top_ipv4: j.top("top_ipv4"),
            top_ipv6: j.top("top_ipv6"),
            top_geo: j.top("top_geoLoc"),
            top_asn: j.top("top_ASN"),
        }
    }
}

/// dns v1 `wire_packets` counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsWire {
    pub total: u64,
    pub events: u64,
    pub deep_samples: u64,
    pub filtered: u64,
    pub queries: u64,
    pub replies: u64,
    pub udp: u64,
    pub tcp: u64,
    pub ipv4: u64,
    pub ipv6: u64,
    pub noerror: u64,
    pub nxdomain: u64,
    pub srvfail: u64,
    pub refused: u64,
    pub nodata: u64,
}

/// dns v1 `xact` (transactions).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DnsXact {
    pub total: u64,
    pub timed_out: u64,
    pub in_total: u64,
    pub out_total: u64,
    pub in_us: Quantiles,
    pub out_us: Quantiles,
    pub in_top_slow: Vec<TopItem>,
    pub out_top_slow: Vec<TopItem>,
}

/// dns v1 (reference §5.1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DnsV1 {
    pub period: Period,
    pub wire: DnsWire,
    pub rate_total: Rate,
    pub qname_card: u64,
    pub xact: DnsXact,
    pub top_qname2: Vec<TopItem>,
    pub top_qname3: Vec<TopItem>,
    pub top_nxdomain: Vec<TopItem>,
    pub top_srvfail: Vec<TopItem>,
    pub top_refused: Vec<TopItem>,
    pub top_qtype: Vec<TopItem>,
    pub top_rcode: Vec<TopItem>,
    pub top_udp_ports: Vec<TopItem>,
}

impl From<J<'_>> for DnsV1 {
    fn from(j: J) -> Self {
        let w = |k: &str| j.u(&format!("wire_packets/{k}"));
        DnsV1 {
            period: j.period(),
            wire: DnsWire {
                total: w("total"),
                events: w("events"),
                deep_samples: w("deep_samples"),
                filtered: w("filtered"),
                queries: w("queries"),
                replies: w("replies"),
                udp: w("udp"),
                tcp: w("tcp"),
                ipv4: w("ipv4"),
                ipv6: w("ipv6"),
                noerror: w("noerror"),
                nxdomain: w("nxdomain"),
                srvfail: w("srvfail"),
                refused: w("refused"),
                nodata: w("nodata"),
            },
            rate_total: j.rate("rates/total"),
            qname_card: j.u("cardinality/qname"),
            xact: DnsXact {
                total: j.u("xact/counts/total"),
                timed_out: j.u("xact/counts/timed_out"),
                in_total: j.u("xact/in/total"),
                out_total: j.u("xact/out/total"),
                in_us: j.quantiles("xact/in/quantiles_us"),
                out_us: j.quantiles("xact/out/quantiles_us"),
                in_top_slow: j.top("xact/in/top_slow"),
                out_top_slow: j.top("xact/out/top_slow"),
            },
            top_qname2: j.top("top_qname2"),
            top_qname3: j.top("top_qname3"),
            top_nxdomain: j.top("top_nxdomain"),
            top_srvfail: j.top("top_srvfail"),
            top_refused: j.top("top_refused"),
            top_qtype: j.top("top_qtype"),
            top_rcode: j.top("top_rcode"),
            top_udp_ports: j.top("top_udp_ports"),
        }
    }
}

/// pcap (reference §5.5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pcap {
    pub tcp_reassembly_errors: u64,
    pub os_drops: u64,
    pub if_drops: u64,
}

impl From<J<'_>> for Pcap {
    fn from(j: J) -> Self {
        Pcap {
            tcp_reassembly_errors: j.u("tcp_reassembly_errors"),
            os_drops: j.u("os_drops"),
            if_drops: j.u("if_drops"),
        }
    }
}

/// dhcp (reference §5.6).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dhcp {
    pub total: u64,
    pub filtered: u64,
    pub discover: u64,
    pub offer: u64,
    pub request: u64,
    pub ack: u64,
    pub rate_total: Rate,
    pub top_clients: Vec<TopItem>,
    pub top_servers: Vec<TopItem>,
}

impl From<J<'_>> for Dhcp {
    fn from(j: J) -> Self {
        Dhcp {
            total: j.u("wire_packets/total"),
            filtered: j.u("wire_packets/filtered"),
            discover: j.u("wire_packets/discover"),
            offer: j.u("wire_packets/offer"),
            request: j.u("wire_packets/request"),
            ack: j.u("wire_packets/ack"),
            rate_total: j.rate("rates/total"),
            top_clients: j.top("top_clients"),
            top_servers: j.top("top_servers"),
        }
    }
}
