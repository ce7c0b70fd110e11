//! The metrics dns v1 and v2 both keep and how one message (v1) or transaction (v2)
//! updates them: counters by transport, IP version and rcode, the deep-sample top lists,
//! QNAME cardinality, the response/query size ratio, and transaction timing with its slow
//! QNAMEs.
//!
//! v1 keeps one `Metrics` per bucket, v2 one per transaction direction. A `Record`, derived
//! once from a version's enabled metric groups, says which of them are updated; a
//! version's own counters and its emission live in its layout module, names and help texts
//! in `schema`.

use std::net::IpAddr;
use std::sync::Arc;

use super::qname::{aggregate, public_suffix_size};
use super::{DnsPacket, qname_original};
use crate::config::hostspec::Direction;
use crate::decode::L3;
use crate::enrich::geo::{GeoLocation, GeoLookup};
use crate::event::DnsTransport;
use crate::processor::net::directions::{IN, OUT, UNKNOWN};
use crate::sketch::{Cardinality, Distribution, TopN};
use crate::wire::dns::{DnsMessage, rcode};

/// The transaction direction of a message (`IN`: the host answered, `OUT`: it asked): a
/// query toward the host or a response from it is `in`, the other way `out`.
pub fn xact_dir(d: Direction, response: bool) -> usize {
    match (d, response) {
        (Direction::ToHost, false) | (Direction::FromHost, true) => IN,
        (Direction::FromHost, false) | (Direction::ToHost, true) => OUT,
        (Direction::Unknown, _) => UNKNOWN,
    }
}

/// Which shared metrics a version's enabled groups turn on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// Transport, IP version, rcode and ECS counters (and `filtered`).
    pub counters: bool,
    /// QNAME cardinality.
    pub cardinality: bool,
    /// Client ports.
    pub top_ports: bool,
    /// ECS addresses with their location and ASN.
    pub top_ecs: bool,
    /// Query types.
    pub top_qtype: bool,
    /// QNAMEs aggregated at two and three labels.
    pub top_qnames: bool,
    /// QNAMEs of NXDOMAIN, REFUSED, SRVFAIL and NODATA responses.
    pub top_rcodes: bool,
    /// QNAMEs of NOERROR responses.
    pub top_noerror: bool,
    /// QNAMEs by response bytes.
    pub top_resp_bytes: bool,
}

/// A QNAME (or other short text) as a top-list key: names up to 24 bytes are kept inline.
pub type NameKey = compact_str::CompactString;

/// Transaction times and the QNAMEs of the slow ones.
#[derive(Clone, Debug, Default)]
pub struct Timing {
    /// Transaction times in microseconds.
    pub us: Distribution,
    /// QNAMEs (original case) of transactions at least as slow as the threshold.
    pub slow: TopN<NameKey>,
}

impl Timing {
    /// Records a transaction of `us`; slow when a threshold is set and reached.
    #[inline]
    pub fn record(&mut self, us: u64, threshold: u64, response: &DnsMessage<'_>) {
        self.us.record_u64(us);
        if threshold > 0
            && us >= threshold
            && let Some(name) = qname_original(response)
        {
            self.slow.update(name.into());
        }
    }

    /// The p90 time (0 when empty): the next bucket's slow threshold.
    pub fn p90(&self) -> u64 {
        self.us.quantile_u64(0.9).unwrap_or(0)
    }

    /// Adds another bucket's timing.
    pub fn merge(&mut self, o: &Self) {
        self.us.merge(&o.us);
        self.slow.merge(&o.slow);
    }
}

/// What the engine decided about a message before the layout counts it.
#[derive(Clone, Copy, Debug)]
pub struct Verdict {
    /// It passed the filters.
    pub passed: bool,
    /// It is deep-sampled.
    pub deep: bool,
    /// The matched `only_qname_suffix` length (0: none).
    pub suffix: usize,
}

/// What a deep-sampled message contributes to the top lists besides its question.
#[derive(Clone, Copy)]
pub struct Deep<'a> {
    /// The message (v2: the transaction's response).
    pub msg: DnsMessage<'a>,
    /// Whether it is a response.
    pub response: bool,
    /// Its size in bytes.
    pub size: usize,
    /// The matched `only_qname_suffix` length (0: none).
    pub suffix: usize,
    /// The client port to count, if any.
    pub port: Option<u16>,
    /// The query's ECS address, if any (and wanted).
    pub ecs: Option<IpAddr>,
}

/// The counters and top lists both versions keep (v1 per bucket, v2 per direction).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub(super) udp: u64,
    pub(super) tcp: u64,
    pub(super) dot: u64,
    pub(super) doh: u64,
    pub(super) dnscrypt_udp: u64,
    pub(super) dnscrypt_tcp: u64,
    pub(super) doq: u64,
    pub(super) ipv4: u64,
    pub(super) ipv6: u64,
    pub(super) nxdomain: u64,
    pub(super) refused: u64,
    pub(super) srvfail: u64,
    pub(super) noerror: u64,
    pub(super) nodata: u64,
    pub(super) ecs: u64,
    pub(super) qnames: Cardinality,
    pub(super) top_ports: TopN<u16>,
    pub(super) top_geo_ecs: TopN<GeoLocation>,
    pub(super) top_asn_ecs: TopN<Arc<str>>,
    pub(super) top_ecs: TopN<NameKey>,
    pub(super) top_nxdomain: TopN<NameKey>,
    pub(super) top_refused: TopN<NameKey>,
    pub(super) top_srvfail: TopN<NameKey>,
    pub(super) top_noerror: TopN<NameKey>,
    pub(super) top_nodata: TopN<NameKey>,
    pub(super) top_rcode: TopN<u16>,
    pub(super) top_qtype: TopN<u16>,
    pub(super) top_qname2: TopN<NameKey>,
    pub(super) top_qname3: TopN<NameKey>,
    pub(super) top_resp_bytes: TopN<NameKey>,
    pub(super) ratio: Distribution,
}

impl Metrics {
    fn counters_mut(&mut self) -> [&mut u64; 15] {
        [
            &mut self.udp,
            &mut self.tcp,
            &mut self.dot,
            &mut self.doh,
            &mut self.dnscrypt_udp,
            &mut self.dnscrypt_tcp,
            &mut self.doq,
            &mut self.ipv4,
            &mut self.ipv6,
            &mut self.nxdomain,
            &mut self.refused,
            &mut self.srvfail,
            &mut self.noerror,
            &mut self.nodata,
            &mut self.ecs,
        ]
    }

    /// Adds another bucket's metrics.
    pub fn merge(&mut self, o: &Self) {
        for (a, b) in self.counters_mut().into_iter().zip(o.counters()) {
            *a += b;
        }
        self.qnames.merge(&o.qnames);
        for (a, b) in [
            (&mut self.top_ecs, &o.top_ecs),
            (&mut self.top_nxdomain, &o.top_nxdomain),
            (&mut self.top_refused, &o.top_refused),
            (&mut self.top_srvfail, &o.top_srvfail),
            (&mut self.top_noerror, &o.top_noerror),
            (&mut self.top_nodata, &o.top_nodata),
            (&mut self.top_qname2, &o.top_qname2),
            (&mut self.top_qname3, &o.top_qname3),
            (&mut self.top_resp_bytes, &o.top_resp_bytes),
        ] {
            a.merge(b);
        }
        self.top_asn_ecs.merge(&o.top_asn_ecs);
        self.top_ports.merge(&o.top_ports);
        self.top_geo_ecs.merge(&o.top_geo_ecs);
        self.top_rcode.merge(&o.top_rcode);
        self.top_qtype.merge(&o.top_qtype);
        self.ratio.merge(&o.ratio);
    }

    fn counters(&self) -> [u64; 15] {
        [
            self.udp,
            self.tcp,
            self.dot,
            self.doh,
            self.dnscrypt_udp,
            self.dnscrypt_tcp,
            self.doq,
            self.ipv4,
            self.ipv6,
            self.nxdomain,
            self.refused,
            self.srvfail,
            self.noerror,
            self.nodata,
            self.ecs,
        ]
    }

    /// Counts a message's transport (`None`: unknown, nothing moves).
    #[inline]
    pub fn count_transport(&mut self, t: Option<DnsTransport>) {
        match t {
            None => {}
            Some(DnsTransport::Udp) => self.udp += 1,
            Some(DnsTransport::Tcp) => self.tcp += 1,
            Some(DnsTransport::Dot) => self.dot += 1,
            Some(DnsTransport::Doh) => self.doh += 1,
            Some(DnsTransport::DnscryptUdp) => self.dnscrypt_udp += 1,
            Some(DnsTransport::DnscryptTcp) => self.dnscrypt_tcp += 1,
            Some(DnsTransport::Doq) => self.doq += 1,
        }
    }

    /// Counts a message's IP version.
    #[inline]
    pub fn count_l3(&mut self, l3: L3) {
        match l3 {
            L3::Ipv4 => self.ipv4 += 1,
            L3::Ipv6 => self.ipv6 += 1,
            L3::None => {}
        }
    }

    /// Counts a message's transport and IP version, and a response's rcode.
    #[inline]
    pub fn count(&mut self, pkt: &DnsPacket<'_>, response: bool) {
        self.count_transport(pkt.transport_known().then_some(pkt.transport));
        self.count_l3(pkt.l3);
        if !response {
            return;
        }
        match pkt.msg.rcode() {
            rcode::NOERROR => {
                self.noerror += 1;
                if pkt.msg.ancount() == 0 {
                    self.nodata += 1;
                }
            }
            rcode::NXDOMAIN => self.nxdomain += 1,
            rcode::REFUSED => self.refused += 1,
            rcode::SERVFAIL => self.srvfail += 1,
            _ => {}
        }
    }

    /// The top-list updates of a deep-sampled message whose first question is `qtype` and
    /// lower-cased `name`; `public_suffix` aggregates QNAMEs at the public suffix list.
    #[inline(always)]
    pub fn deep(
        &mut self,
        on: &Record,
        d: &Deep<'_>,
        question: Option<(u16, &str)>,
        public_suffix: bool,
        geo: &mut GeoLookup,
    ) {
        let rc = d.msg.rcode();
        if on.top_ports
            && let Some(port) = d.port
        {
            self.top_ports.update(port);
        }
        if d.response {
            self.top_rcode.update(u16::from(rc));
        }
        if on.top_ecs
            && let Some(ecs) = d.ecs
        {
            if on.counters {
                self.ecs += 1;
            }
            self.top_ecs.update(ecs.to_string().into());
            if geo.city_enabled() {
                let l = geo.location(ecs);
                self.top_geo_ecs.update_ref(&*l, 1);
            }
            if geo.asn_enabled() {
                let a = geo.asn(ecs);
                self.top_asn_ecs.update_ref(&*a, 1);
            }
        }
        let Some((qtype, name)) = question else {
            return;
        };
        if on.top_qtype {
            self.top_qtype.update(qtype);
        }
        if on.cardinality {
            self.qnames.insert_bytes(name.as_bytes());
        }
        if on.top_qnames {
            let size = if d.suffix > 0 {
                d.suffix
            } else if public_suffix {
                public_suffix_size(name)
            } else {
                0
            };
            let (q2, q3) = aggregate(name, size);
            if !q2.is_empty() {
                self.top_qname2.update_ref(q2, 1);
            }
            if !q3.is_empty() {
                self.top_qname3.update_ref(q3, 1);
            }
        }
        if !d.response {
            return;
        }
        if on.top_rcodes {
            match rc {
                rcode::NXDOMAIN => self.top_nxdomain.update_ref(name, 1),
                rcode::REFUSED => self.top_refused.update_ref(name, 1),
                rcode::SERVFAIL => self.top_srvfail.update_ref(name, 1),
                rcode::NOERROR if d.msg.ancount() == 0 => self.top_nodata.update_ref(name, 1),
                _ => {}
            }
        }
        if on.top_noerror && rc == rcode::NOERROR {
            self.top_noerror.update_ref(name, 1);
        }
        if on.top_resp_bytes {
            self.top_resp_bytes.update_ref(name, d.size as u64);
        }
    }
}
