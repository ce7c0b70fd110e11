//! The v2 handlers pktvisor's CLI does not understand: dns v2 and net v2, both per direction
//! (`in`, `out`, `unknown`: only the ones seen).

use super::json::{J, Period, Quantiles, Rate, TopItem};

const DIRECTIONS: [&str; 3] = ["in", "out", "unknown"];

/// One dns v2 direction (reference §5.2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DnsDir {
    pub direction: String,
    pub xacts: u64,
    pub udp: u64,
    pub tcp: u64,
    pub dot: u64,
    pub doh: u64,
    pub ipv4: u64,
    pub ipv6: u64,
    pub noerror: u64,
    pub nxdomain: u64,
    pub srvfail: u64,
    pub refused: u64,
    pub nodata: u64,
    pub timeouts: u64,
    pub orphans: u64,
    pub qname_card: u64,
    pub xact_rate: Rate,
    pub xact_us: Quantiles,
    pub top_qname2: Vec<TopItem>,
    pub top_qname3: Vec<TopItem>,
    pub top_nxdomain: Vec<TopItem>,
    pub top_srvfail: Vec<TopItem>,
    pub top_refused: Vec<TopItem>,
    pub top_nodata: Vec<TopItem>,
    pub top_rcode: Vec<TopItem>,
    pub top_qtype: Vec<TopItem>,
    pub top_slow: Vec<TopItem>,
    pub top_ports: Vec<TopItem>,
    pub top_response_bytes: Vec<TopItem>,
}

impl DnsDir {
    fn from(direction: &str, j: J) -> Self {
        DnsDir {
            direction: direction.to_string(),
            xacts: j.u("xacts"),
            udp: j.u("udp_xacts"),
            tcp: j.u("tcp_xacts"),
            dot: j.u("dot_xacts"),
            doh: j.u("doh_xacts"),
            ipv4: j.u("ipv4_xacts"),
            ipv6: j.u("ipv6_xacts"),
            noerror: j.u("noerror_xacts"),
            nxdomain: j.u("nxdomain_xacts"),
            srvfail: j.u("srvfail_xacts"),
            refused: j.u("refused_xacts"),
            nodata: j.u("nodata_xacts"),
            timeouts: j.u("timeout_queries"),
            orphans: j.u("orphan_responses"),
            qname_card: j.u("cardinality/qname"),
            xact_rate: j.rate("xact_rates"),
            xact_us: j.quantiles("xact_time_us"),
            top_qname2: j.top("top_qname2_xacts"),
            top_qname3: j.top("top_qname3_xacts"),
            top_nxdomain: j.top("top_nxdomain_xacts"),
            top_srvfail: j.top("top_srvfail_xacts"),
            top_refused: j.top("top_refused_xacts"),
            top_nodata: j.top("top_nodata_xacts"),
            top_rcode: j.top("top_rcode_xacts"),
            top_qtype: j.top("top_qtype_xacts"),
            top_slow: j.top("top_slow_xacts"),
            top_ports: j.top("top_udp_ports_xacts"),
            top_response_bytes: j.top("top_response_bytes"),
        }
    }
}

/// dns v2: packet counters for the handler, transactions per direction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DnsV2 {
    pub period: Period,
    pub observed: u64,
    pub deep_sampled: u64,
    pub filtered: u64,
    pub observed_pps: Rate,
    pub dirs: Vec<DnsDir>,
}

impl DnsV2 {
    /// v2 writes `observed_packets` and per-direction objects; v1 writes `wire_packets`.
    pub(crate) fn looks_like(j: J) -> bool {
        j.at("wire_packets").is_none()
            && (j.at("observed_packets").is_some() || DIRECTIONS.iter().any(|d| j.obj(d).is_some()))
    }

    /// Transactions over every direction.
    pub fn xacts(&self) -> u64 {
        self.dirs
            .iter()
            .map(|d| d.xacts)
            .fold(0, u64::saturating_add)
    }
}

impl From<J<'_>> for DnsV2 {
    fn from(j: J) -> Self {
        DnsV2 {
            period: j.period(),
            observed: j.u("observed_packets"),
            deep_sampled: j.u("deep_sampled_packets"),
            filtered: j.u("filtered_packets"),
            observed_pps: j.rate("rates/observed_pps"),
            dirs: DIRECTIONS
                .iter()
                .filter_map(|d| j.obj(d).map(|o| DnsDir::from(d, o)))
                .collect(),
        }
    }
}

/// One net v2 direction (reference §5.4).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetDir {
    pub direction: String,
    pub total: u64,
    pub udp: u64,
    pub tcp: u64,
    pub other_l4: u64,
    pub ipv4: u64,
    pub ipv6: u64,
    pub syn: u64,
    pub ips_card: u64,
    pub pps: Rate,
    /// Bytes per second, whatever the name says (reference quirk 20).
    pub bps: Rate,
    pub payload_size: Quantiles,
    pub top_ipv4: Vec<TopItem>,
    pub top_ipv6: Vec<TopItem>,
    pub top_geo: Vec<TopItem>,
    pub top_asn: Vec<TopItem>,
}

impl NetDir {
    fn from(direction: &str, j: J) -> Self {
        NetDir {
            direction: direction.to_string(),
            total: j.u("total_packets"),
            udp: j.u("udp_packets"),
            tcp: j.u("tcp_packets"),
            other_l4: j.u("other_l4_packets"),
            ipv4: j.u("ipv4_packets"),
            ipv6: j.u("ipv6_packets"),
            syn: j.u("tcp/syn_packets"),
            ips_card: j.u("cardinality/ips"),
            pps: j.rate("rates/pps"),
            bps: j.rate("rates/bps"),
            payload_size: j.quantiles("payload_size_bytes"),
            top_ipv4: j.top("top_ipv4_packets"),
            top_ipv6: j.top("top_ipv6_packets"),
            top_geo: j.top("top_geo_loc_packets"),
            top_asn: j.top("top_asn_packets"),
        }
    }
}

/// net v2: packet counters for the handler, traffic per direction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetV2 {
    pub period: Period,
    pub observed: u64,
    pub deep_sampled: u64,
    pub filtered: u64,
    pub observed_pps: Rate,
    pub dirs: Vec<NetDir>,
}

impl NetV2 {
    /// The live packet rate summed over directions, if any direction has one.
    pub fn live_pps(&self) -> Option<u64> {
        self.observed_pps.live.or_else(|| {
            let lives: Vec<u64> = self.dirs.iter().filter_map(|d| d.pps.live).collect();
            (!lives.is_empty()).then(|| lives.iter().fold(0u64, |a, b| a.saturating_add(*b)))
        })
    }
}

impl From<J<'_>> for NetV2 {
    fn from(j: J) -> Self {
        NetV2 {
            period: j.period(),
            observed: j.u("observed_packets"),
            deep_sampled: j.u("deep_sampled_packets"),
            filtered: j.u("filtered_packets"),
            observed_pps: j.rate("rates/observed_pps"),
            dirs: DIRECTIONS
                .iter()
                .filter_map(|d| j.obj(d).map(|o| NetDir::from(d, o)))
                .collect(),
        }
    }
}
