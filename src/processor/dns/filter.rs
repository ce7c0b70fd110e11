//! The DNS message filters, in pktvisor's order: the response side (`exclude_noerror`,
//! `only_rcode`, `answer_count`, `only_dnssec_response`, `only_qtype`) and the query side
//! (`only_qname`, `only_qname_suffix`, `geoloc_notfound`, `asn_notfound`). v2 applies each
//! side to its own messages; v1 applies both to every message, with its role rules.

use super::config::DnsOptions;
use super::{DnsPacket, QuestionCache, ecs_address, has_rrsig_answer};
use crate::enrich::geo::{GeoLookup, UNKNOWN};
use crate::wire::dns::{DnsMessage, rcode};

/// What the filters look at besides the message, and what they find.
pub struct Filters<'a> {
    /// The options.
    pub o: &'a DnsOptions,
    /// The message's first question, decoded at most once.
    pub q: &'a mut QuestionCache,
    /// The geo databases (ECS filters).
    pub geo: &'a mut GeoLookup,
    /// The matched `only_qname_suffix` length (0: none).
    pub suffix: usize,
}

impl Filters<'_> {
    /// Whether a message passes the response-side filters.
    pub fn response_side(&mut self, m: &DnsMessage<'_>) -> bool {
        let o = self.o;
        if o.exclude_noerror {
            if m.rcode() == rcode::NOERROR {
                return false;
            }
        } else if let Some(set) = &o.only_rcode
            && !set.contains(&u16::from(m.rcode()))
        {
            return false;
        }
        if let Some(n) = o.answer_count
            && u64::from(m.ancount()) != n
        {
            return false;
        }
        if o.only_dnssec_response && !has_rrsig_answer(m) {
            return false;
        }
        if let Some(set) = &o.only_qtype
            && !self.q.qtype(m).is_some_and(|t| set.contains(&t))
        {
            return false;
        }
        true
    }

    /// Whether a message passes the query-side filters (setting `suffix`).
    pub fn query_side(&mut self, m: &DnsMessage<'_>) -> bool {
        let (o, q, geo) = (self.o, &mut *self.q, &mut *self.geo);
        if let Some(names) = &o.only_qname {
            q.qtype(m);
            if !names.iter().any(|n| n == q.name()) {
                return false;
            }
        }
        if o.only_qname_suffix.is_some() {
            q.qtype(m);
            match o.suffix_match(q.name()) {
                Some(len) => self.suffix = len,
                None => return false,
            }
        }
        if o.geoloc_notfound || o.asn_notfound {
            let Some(ecs) = ecs_address(m) else {
                return false;
            };
            if o.geoloc_notfound && !(geo.city_enabled() && geo.location(ecs).location == UNKNOWN) {
                return false;
            }
            if o.asn_notfound && !(geo.asn_enabled() && &*geo.asn(ecs) == UNKNOWN) {
                return false;
            }
        }
        true
    }

    /// dns v2: a response passes the response side, a query the query side.
    pub fn by_role(&mut self, pkt: &DnsPacket<'_>) -> bool {
        if pkt.msg.is_response() {
            self.response_side(&pkt.msg)
        } else {
            self.query_side(&pkt.msg)
        }
    }

    /// dns v1: both sides on every message, after its role rules (`only_queries`,
    /// `only_responses`; `only_dnssec_response` keeps responses only, the ECS filters
    /// queries only). The filters are pure, so this equals pktvisor's one ordered list.
    pub fn every_message(&mut self, pkt: &DnsPacket<'_>) -> bool {
        let o = self.o;
        let response = pkt.msg.is_response();
        let queries_only = o.only_queries || o.geoloc_notfound || o.asn_notfound;
        let responses_only = o.only_responses || o.only_dnssec_response;
        if (response && queries_only) || (!response && responses_only) {
            return false;
        }
        self.response_side(&pkt.msg) && self.query_side(&pkt.msg)
    }
}
