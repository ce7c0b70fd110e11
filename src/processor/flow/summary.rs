//! pktvisor's IP summarization for top lists: excluded addresses stay themselves; with
//! `summarize_ips_by_asn` an address becomes its ASN string (unless that ASN is excluded,
//! or unknown and unknowns are excluded); otherwise (or then) the listed subnet it falls in,
//! as written, or the wildcard prefix (`0.0.0.0/N`, `::/N`) it falls in.

use std::net::IpAddr;
use std::sync::Arc;

use super::config::Summary;
use super::names::Endpoint;
use crate::config::hostspec::IpNet;
use crate::enrich::geo::GeoLookup;

/// pktvisor's summarization: excluded addresses stay; by ASN (unless the ASN is excluded
/// or unknown-and-excluded); else by listed subnet, else by wildcard prefix.
pub(super) fn summary_of(ip: IpAddr, s: &Summary, geo: &mut GeoLookup) -> Endpoint {
    if s.excluded.iter().any(|n| n.contains(&ip)) {
        return Endpoint::Ip(ip);
    }
    let mut check_subnet = false;
    if s.by_asn && geo.asn_enabled() {
        let asn = geo.asn(ip);
        if (s.exclude_unknown_asns && &*asn == "Unknown")
            || s.asn_excluded.iter().any(|p| asn.starts_with(p.as_str()))
        {
            check_subnet = true;
        } else {
            return Endpoint::Name(asn);
        }
    }
    if !s.by_asn || check_subnet {
        if let Some((_, text)) = s.subnets.iter().find(|(n, _)| n.contains(&ip)) {
            return Endpoint::Name(Arc::from(text.as_str()));
        }
        let wildcard = match ip {
            IpAddr::V4(_) => s.v4_wildcard,
            IpAddr::V6(_) => s.v6_wildcard,
        };
        if let Some(len) = wildcard {
            let net = match ip {
                IpAddr::V4(a) => IpNet::V4(
                    u32::from(a)
                        & if len == 0 {
                            0
                        } else {
                            u32::MAX << (32 - u32::from(len))
                        },
                    len,
                ),
                IpAddr::V6(a) => IpNet::V6(
                    u128::from(a)
                        & if len == 0 {
                            0
                        } else {
                            u128::MAX << (128 - u32::from(len))
                        },
                    len,
                ),
            };
            return Endpoint::Name(Arc::from(net.to_string()));
        }
    }
    Endpoint::Ip(ip)
}
