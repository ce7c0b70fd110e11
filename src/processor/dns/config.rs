//! DNS handler options: parsing pktvisor's filter keys with its error texts, and the
//! filter predicates themselves (which side of a transaction each applies to is decided
//! by the v1 and v2 processors).

use crate::config::value::{ConfigMap, ConfigValue};
use crate::wire::dns::{qtype_from_name, rcode_from_name};

/// Config keys of dns v1, in pktvisor's order.
pub const V1_CONFIG_DEFS: [&str; 16] = [
    "exclude_noerror",
    "only_rcode",
    "only_queries",
    "only_responses",
    "only_dnssec_response",
    "answer_count",
    "only_qtype",
    "only_qname",
    "only_qname_suffix",
    "geoloc_notfound",
    "asn_notfound",
    "dnstap_msg_type",
    "public_suffix_list",
    "recorded_stream",
    "xact_ttl_secs",
    "xact_ttl_ms",
];

/// Config keys of dns v2 (v1's without `only_queries` / `only_responses`).
pub const V2_CONFIG_DEFS: [&str; 14] = [
    "exclude_noerror",
    "only_rcode",
    "only_dnssec_response",
    "answer_count",
    "only_qtype",
    "only_qname",
    "only_qname_suffix",
    "geoloc_notfound",
    "asn_notfound",
    "dnstap_msg_type",
    "public_suffix_list",
    "recorded_stream",
    "xact_ttl_secs",
    "xact_ttl_ms",
];

/// dnstap message families (`dnstap_msg_type`).
pub const DNSTAP_MSG_TYPES: [&str; 7] = [
    "auth",
    "client",
    "forwarder",
    "resolver",
    "stub",
    "tool",
    "update",
];

/// Parsed DNS options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsOptions {
    /// Drop NOERROR messages (queries too: their rcode is 0).
    pub exclude_noerror: bool,
    /// Keep these header rcodes.
    pub only_rcode: Option<Vec<u16>>,
    /// Keep queries only (v1).
    pub only_queries: bool,
    /// Keep responses only (v1).
    pub only_responses: bool,
    /// Keep responses with an RRSIG answer.
    pub only_dnssec_response: bool,
    /// Keep messages with this ANCOUNT.
    pub answer_count: Option<u64>,
    /// Keep these first-question QTYPEs.
    pub only_qtype: Option<Vec<u16>>,
    /// Keep these QNAMEs (lower-cased).
    pub only_qname: Option<Vec<String>>,
    /// Keep QNAMEs ending with one of these (lower-cased).
    pub only_qname_suffix: Option<Vec<String>>,
    /// Keep queries whose ECS location is unknown.
    pub geoloc_notfound: bool,
    /// Keep queries whose ECS ASN is unknown.
    pub asn_notfound: bool,
    /// dnstap message family to keep (dnstap input only).
    pub dnstap_msg_type: Option<String>,
    /// Aggregate qname2/qname3 at the public suffix list.
    pub public_suffix_list: bool,
    /// Transaction timeout.
    pub ttl_ms: u64,
}

fn err(msg: impl Into<String>) -> String {
    msg.into()
}

fn rcode_of(text: &str) -> Option<u16> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let v: u16 = text.parse().ok()?;
        return crate::wire::dns::rcode_name(v).map(|_| v);
    }
    rcode_from_name(text)
}

fn qtype_of(text: &str) -> Option<u16> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let v: u16 = text.parse().ok()?;
        return crate::wire::dns::qtype_name(v).map(|_| v);
    }
    qtype_from_name(text)
}

fn lower_list(cfg: &ConfigMap, key: &str) -> Result<Option<Vec<String>>, String> {
    match cfg.get(key) {
        None => Ok(None),
        Some(ConfigValue::List(l)) => Ok(Some(l.iter().map(|s| s.to_ascii_lowercase()).collect())),
        Some(ConfigValue::Str(s)) => Ok(Some(vec![s.to_ascii_lowercase()])),
        Some(_) => Err(err(format!(
            "DnsStreamHandler: wrong value type for {key} filter. It should be an array"
        ))),
    }
}

impl DnsOptions {
    /// Reads the DNS keys of a handler config with pktvisor's error texts.
    pub fn from_config(cfg: &ConfigMap) -> Result<DnsOptions, String> {
        let flag = |k: &str| cfg.flag(k).map_err(|e| e.to_string());
        let mut o = DnsOptions {
            exclude_noerror: flag("exclude_noerror")?,
            only_queries: flag("only_queries")?,
            only_responses: flag("only_responses")?,
            only_dnssec_response: flag("only_dnssec_response")?,
            geoloc_notfound: flag("geoloc_notfound")?,
            asn_notfound: flag("asn_notfound")?,
            public_suffix_list: flag("public_suffix_list")?,
            ..DnsOptions::default()
        };
        o.only_rcode = match cfg.get("only_rcode") {
            None => None,
            Some(ConfigValue::U64(v)) => {
                let code = u16::try_from(*v)
                    .ok()
                    .filter(|c| crate::wire::dns::rcode_name(*c).is_some())
                    .ok_or_else(|| {
                        err("DnsStreamHandler: only_rcode filter contained an invalid/unsupported rcode")
                    })?;
                Some(vec![code])
            }
            Some(ConfigValue::List(list)) => {
                let mut codes = Vec::with_capacity(list.len());
                for item in list {
                    codes.push(rcode_of(item).ok_or_else(|| {
                        err(format!(
                            "DnsStreamHandler: only_rcode filter contained an invalid/unsupported rcode: {item}"
                        ))
                    })?);
                }
                Some(codes)
            }
            Some(_) => {
                return Err(err(
                    "DnsStreamHandler: wrong value type for only_rcode filter. It should be an integer or an array",
                ));
            }
        };
        o.answer_count = match cfg.get("answer_count") {
            None => None,
            Some(ConfigValue::U64(v)) => Some(*v),
            Some(_) => {
                return Err(err(
                    "DnsStreamHandler: wrong value type for answer_count filter. It should be an integer",
                ));
            }
        };
        o.only_qtype = match cfg.get("only_qtype") {
            None => None,
            Some(ConfigValue::List(list)) => {
                let mut types = Vec::with_capacity(list.len());
                for item in list {
                    types.push(qtype_of(item).ok_or_else(|| {
                        err(format!(
                            "DnsStreamHandler: only_qtype filter contained an invalid/unsupported qtype: {item}"
                        ))
                    })?);
                }
                Some(types)
            }
            Some(ConfigValue::U64(v)) => {
                let text = v.to_string();
                Some(vec![qtype_of(&text).ok_or_else(|| {
                    err(format!(
                        "DnsStreamHandler: only_qtype filter contained an invalid/unsupported qtype: {text}"
                    ))
                })?])
            }
            Some(_) => {
                return Err(err(
                    "DnsStreamHandler: wrong value type for only_qtype filter. It should be an array",
                ));
            }
        };
        o.only_qname = lower_list(cfg, "only_qname")?;
        o.only_qname_suffix = lower_list(cfg, "only_qname_suffix")?;
        o.dnstap_msg_type = match cfg.get("dnstap_msg_type") {
            None => None,
            Some(ConfigValue::Str(t)) if DNSTAP_MSG_TYPES.contains(&t.as_str()) => Some(t.clone()),
            Some(_) => {
                return Err(err(format!(
                    "DnsStreamHandler: dnstap_msg_type contained an invalid/unsupported type. Valid types: {}",
                    DNSTAP_MSG_TYPES.join(", ")
                )));
            }
        };
        let u = |k: &str| cfg.get_u64(k).map_err(|e| e.to_string());
        o.ttl_ms = match u("xact_ttl_ms")? {
            Some(ms) => ms,
            None => u("xact_ttl_secs")?.map_or(5000, |s| s.saturating_mul(1000)),
        };
        Ok(o)
    }

    /// Whether a message passes `dnstap_msg_type`: dnstap messages of another family do
    /// not; messages from packets (`None`) always do, as in pktvisor.
    pub fn dnstap_type_ok(&self, family: Option<crate::event::MsgFamily>) -> bool {
        match (&self.dnstap_msg_type, family) {
            (Some(want), Some(f)) => f.name() == want,
            _ => true,
        }
    }

    /// Whether a filter needs the DNS message itself (a dnstap message without one cannot
    /// pass it).
    pub fn has_message_filters(&self) -> bool {
        self.exclude_noerror
            || self.only_rcode.is_some()
            || self.only_queries
            || self.only_responses
            || self.only_dnssec_response
            || self.answer_count.is_some()
            || self.only_qtype.is_some()
            || self.only_qname.is_some()
            || self.only_qname_suffix.is_some()
            || self.geoloc_notfound
            || self.asn_notfound
    }

    /// The length of the first `only_qname_suffix` entry `qname` ends with, if any.
    pub fn suffix_match(&self, qname: &str) -> Option<usize> {
        self.only_qname_suffix
            .as_ref()?
            .iter()
            .find(|s| qname.ends_with(s.as_str()))
            .map(String::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::processor::net::family::config_map as cfg;

    #[test]
    fn parses_filters_with_names_and_numbers() {
        let o = DnsOptions::from_config(&cfg(
            "only_rcode: [nxdomain, \"5\", SRVFAIL]\nonly_qtype: [AAAA, TxT, 1]\nonly_qname: [Play.GooGle.com]\nxact_ttl_secs: 2\n",
        ))
        .unwrap();
        assert_eq!(o.only_rcode, Some(vec![3, 5, 2]));
        assert_eq!(o.only_qtype, Some(vec![28, 16, 1]));
        assert_eq!(o.only_qname, Some(vec!["play.google.com".to_string()]));
        assert_eq!(o.ttl_ms, 2000);
        let o =
            DnsOptions::from_config(&cfg("only_rcode: 3\nxact_ttl_ms: 250\nxact_ttl_secs: 9\n"))
                .unwrap();
        assert_eq!((o.only_rcode, o.ttl_ms), (Some(vec![3]), 250));
    }

    #[test]
    fn bad_options_use_pktvisor_texts() {
        let e = |y: &str| DnsOptions::from_config(&cfg(y)).unwrap_err();
        assert_eq!(
            e("only_rcode: x\n"),
            "DnsStreamHandler: wrong value type for only_rcode filter. It should be an integer or an array"
        );
        assert_eq!(
            e("only_rcode: [nope]\n"),
            "DnsStreamHandler: only_rcode filter contained an invalid/unsupported rcode: nope"
        );
        assert_eq!(
            e("only_rcode: 99\n"),
            "DnsStreamHandler: only_rcode filter contained an invalid/unsupported rcode"
        );
        assert_eq!(
            e("answer_count: x\n"),
            "DnsStreamHandler: wrong value type for answer_count filter. It should be an integer"
        );
        assert_eq!(
            e("only_qtype: [BOGUS]\n"),
            "DnsStreamHandler: only_qtype filter contained an invalid/unsupported qtype: BOGUS"
        );
        assert_eq!(
            e("dnstap_msg_type: nope\n"),
            "DnsStreamHandler: dnstap_msg_type contained an invalid/unsupported type. Valid types: auth, client, forwarder, resolver, stub, tool, update"
        );
    }
}
