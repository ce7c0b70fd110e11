//! pktvisor's six header lines (reference §12.3), word for word, and their wrapping at
//! ` | ` boundaries into the rows the screen can spare.

use super::fmt::{count_pct, kitchen, ms};
use crate::cli::model::{PolicyWindow, Quantiles, Rate};

fn rate(r: &Rate) -> String {
    let [a, b, c, d] = r.quantiles().values();
    format!("{}/s {a:.0}/{b:.0}/{c:.0}/{d:.0}", r.live.unwrap_or(0))
}

fn quantiles_ms(q: &Quantiles) -> String {
    let [a, b, c, d] = q.values();
    format!("{}/{}/{}/{}", ms(a), ms(b), ms(c), ms(d))
}

/// The six lines for a window (missing handlers read as zeros, as in pktvisor).
pub fn header_lines(w: &PolicyWindow, utc_offset: i64) -> Vec<String> {
    let p = w.net_v1().cloned().unwrap_or_default();
    let pcap = w.pcap().cloned().unwrap_or_default();
    let dhcp = w.dhcp().cloned().unwrap_or_default();
    let dns = w.dns_v1().cloned().unwrap_or_default();
    let (d, x) = (&dns.wire, &dns.xact);
    let in_out = p.in_.saturating_add(p.out);
    let period = if w.net_v1().is_some() {
        p.period
    } else {
        w.period().unwrap_or_default()
    };
    vec![
        format!(
            "Pkts  {} | UDP {} | TCP {} | Other {} | IPv4 {} | IPv6 {} | In {} | Out {} | Deep Samples {}",
            p.total,
            count_pct(p.udp, p.total),
            count_pct(p.tcp, p.total),
            count_pct(p.other_l4, p.total),
            count_pct(p.ipv4, p.total),
            count_pct(p.ipv6, p.total),
            count_pct(p.in_, in_out),
            count_pct(p.out, in_out),
            count_pct(p.deep_samples, p.total),
        ),
        format!(
            "Pkt Rates Total {} pps | In {} pps | Out {} pps | IP Card. In: {} | Out: {} | TCP Errors {} | OS Drops {} | IF Drops {}",
            rate(&p.pps_total),
            rate(&p.pps_in),
            rate(&p.pps_out),
            p.src_ips_in,
            p.dst_ips_out,
            pcap.tcp_reassembly_errors,
            pcap.os_drops,
            pcap.if_drops,
        ),
        format!(
            "DHCP Wire Pkts {}/{} | Rates Total {} | Discover {} | Offer {} | Request {} | Ack {}",
            dhcp.total.saturating_sub(dhcp.filtered),
            dhcp.total,
            rate(&dhcp.rate_total),
            dhcp.discover,
            dhcp.offer,
            dhcp.request,
            dhcp.ack,
        ),
        format!(
            "DNS Wire Pkts {}/{} | Rates Total {} | UDP {} | TCP {} | IPv4 {} | IPv6 {} | Query {} | Response {}",
            d.total,
            d.events,
            rate(&dns.rate_total),
            count_pct(d.udp, d.total),
            count_pct(d.tcp, d.total),
            count_pct(d.ipv4, d.total),
            count_pct(d.ipv6, d.total),
            count_pct(d.queries, d.total),
            count_pct(d.replies, d.total),
        ),
        format!(
            "DNS Xacts {} | Timed Out {} | In {} | Out {} | In {} ms | Out {} ms | Qname Card. {}",
            x.total,
            x.timed_out,
            count_pct(x.in_total, x.total),
            count_pct(x.out_total, x.total),
            quantiles_ms(&x.in_us),
            quantiles_ms(&x.out_us),
            dns.qname_card,
        ),
        format!(
            "DNS NOERROR {} | SRVFAIL {} | NXDOMAIN {} | REFUSED {} | Time Window {} to {}, Period {}s",
            count_pct(d.noerror, d.replies),
            count_pct(d.srvfail, d.replies),
            count_pct(d.nxdomain, d.replies),
            count_pct(d.refused, d.replies),
            kitchen(period.start_ts, utc_offset),
            kitchen(period.start_ts.saturating_add(period.length), utc_offset),
            period.length,
        ),
    ]
}

/// Splits `line` at ` | ` into rows of at most `width` characters (continuations indented
/// by two spaces); a segment longer than a row stays whole (the terminal cuts it).
pub fn wrap(line: &str, width: usize) -> Vec<String> {
    let mut rows: Vec<String> = Vec::new();
    let mut cur = String::new();
    for seg in line.split(" | ") {
        let candidate = if cur.is_empty() {
            seg.to_string()
        } else {
            format!("{cur} | {seg}")
        };
        if candidate.chars().count() <= width || cur.trim().is_empty() {
            cur = candidate;
        } else {
            rows.push(cur);
            cur = format!("  {seg}");
        }
    }
    rows.push(cur);
    rows
}

/// Fits `lines` into `budget` rows of `width`: every line gets its first row, then lines
/// get their wrapped rows in order while the budget lasts; a line that cannot be wrapped
/// whole stays on one row (the terminal cuts it). With fewer rows than lines, the first
/// `budget` lines are kept.
pub fn fit(lines: &[String], width: usize, budget: usize) -> Vec<String> {
    let mut extra = budget.saturating_sub(lines.len());
    let mut out = Vec::new();
    for line in lines.iter().take(budget) {
        let rows = wrap(line, width);
        if rows.len() > 1 && rows.len() - 1 <= extra {
            extra -= rows.len() - 1;
            out.extend(rows);
        } else {
            out.push(line.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_separators() {
        let rows = wrap("aaaa | bbbb | cccc", 11);
        assert_eq!(rows, vec!["aaaa | bbbb", "  cccc"]);
        assert_eq!(wrap("short", 80), vec!["short"]);
    }

    #[test]
    fn fit_spends_the_budget_in_order() {
        let lines = vec!["a1 | a2".to_string(), "b1 | b2".to_string()];
        assert_eq!(fit(&lines, 4, 2), lines);
        assert_eq!(fit(&lines, 4, 3), vec!["a1", "  a2", "b1 | b2"]);
        assert_eq!(fit(&lines, 4, 1), vec!["a1 | a2"]);
    }
}
