//! The dnstap input filter `only_hosts` (a policy's `input.filter`): keep a message when its
//! `query_address` or `response_address` is inside one of the CIDRs. With only one address
//! present that one must match; a message without addresses is dropped. An invalid CIDR is
//! pktvisor's `unable to create event proxy due to invalid input filter config: invalid
//! CIDR: X`. Each policy reading a dnstap input applies its own filter (pktvisor's event
//! proxies); dropped messages never reach that policy's handlers.

use crate::config::hostspec::IpNet;
use crate::config::value::{ConfigMap, ConfigValue};

use crate::event::DnstapEvent;

/// A parsed `only_hosts` filter (no filter keeps everything).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostFilter {
    nets: Option<Vec<IpNet>>,
}

/// Keys valid in a dnstap policy's `input.filter`.
pub const FILTER_KEYS: &[&str] = &["only_hosts"];

impl HostFilter {
    /// Reads `only_hosts` (a list, or one string of comma-separated CIDRs) from a filter map.
    pub fn from_filter(filter: &ConfigMap) -> Result<HostFilter, String> {
        let wrap = |e: String| {
            format!("unable to create event proxy due to invalid input filter config: {e}")
        };
        let items: Vec<String> = match filter.get("only_hosts") {
            None => return Ok(HostFilter::default()),
            Some(ConfigValue::List(l)) => l.clone(),
            Some(ConfigValue::Str(s)) => s.split(',').map(str::to_string).collect(),
            Some(other) => {
                return Err(wrap(format!(
                    "only_hosts must be a list of CIDRs, not {other}"
                )));
            }
        };
        let mut nets = Vec::with_capacity(items.len());
        for item in items.iter().filter(|s| !s.trim().is_empty()) {
            nets.push(IpNet::parse(item).map_err(|e| wrap(e.to_string()))?);
        }
        Ok(HostFilter { nets: Some(nets) })
    }

    /// The filter of one policy: `only_hosts` of its input `filter`, else of the input
    /// config (pktvisor accepts the key in both places).
    pub fn for_input(config: &ConfigMap, filter: &ConfigMap) -> Result<HostFilter, String> {
        if filter.contains("only_hosts") {
            HostFilter::from_filter(filter)
        } else {
            HostFilter::from_filter(config)
        }
    }

    /// A filter from prefixes.
    pub fn from_nets(nets: Vec<IpNet>) -> HostFilter {
        HostFilter { nets: Some(nets) }
    }

    /// Whether a filter is set.
    pub fn active(&self) -> bool {
        self.nets.is_some()
    }

    /// Whether the message passes.
    pub fn keep(&self, ev: &DnstapEvent<'_>) -> bool {
        let Some(nets) = &self.nets else {
            return true;
        };
        let inside = |ip: &std::net::IpAddr| nets.iter().any(|n| n.contains(ip));
        match (ev.query_address, ev.response_address) {
            (Some(q), Some(r)) => inside(&q) || inside(&r),
            (Some(a), None) | (None, Some(a)) => inside(&a),
            (None, None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::dnstap::proto;
    use crate::time::Timespec;

    fn filter(list: &[&str]) -> Result<HostFilter, String> {
        let mut f = ConfigMap::new();
        f.set(
            "only_hosts",
            ConfigValue::List(list.iter().map(|s| s.to_string()).collect()),
        );
        HostFilter::from_filter(&f)
    }

    #[test]
    fn matches_either_address() {
        let f = filter(&["192.168.0.0/24", "2001:db8::/48"]).unwrap();
        let mut m = proto::Message {
            r#type: 5,
            query_address: Some(bytes::Bytes::from_static(&[10, 0, 0, 1])),
            response_address: Some(bytes::Bytes::from_static(&[192, 168, 0, 1])),
            ..Default::default()
        };
        let ev = |m: &proto::Message| {
            f.keep(&DnstapEvent::from_message(m, 0, Timespec::default()).unwrap())
        };
        assert!(ev(&m));
        m.response_address = None;
        assert!(!ev(&m));
        m.query_address = None;
        assert!(!ev(&m));
        assert!(
            HostFilter::default()
                .keep(&DnstapEvent::from_message(&m, 0, Timespec::default()).unwrap())
        );
        assert_eq!(
            filter(&["10.0.0.1"]).unwrap_err(),
            "unable to create event proxy due to invalid input filter config: invalid CIDR: 10.0.0.1"
        );
    }
}
