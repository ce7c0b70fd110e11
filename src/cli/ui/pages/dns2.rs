//! dns v2 per direction: transaction counters by protocol, IP version and rcode, timeouts,
//! orphans, latency, and the top tables, with shares of the direction's transactions.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::{direction_columns, rate, short_pct};
use crate::cli::app::App;
use crate::cli::model::{DnsDir, PolicyWindow};
use crate::cli::ui::fmt::ms;

fn stats(d: &DnsDir) -> String {
    let x = d.xacts;
    let [a, b, c, e] = d.xact_us.values();
    [
        format!("Xacts {} | Rate {}", x, rate(&d.xact_rate)),
        format!(
            "UDP {} | TCP {} | DoT {} | DoH {}",
            short_pct(d.udp, x),
            short_pct(d.tcp, x),
            d.dot,
            d.doh
        ),
        format!(
            "IPv4 {} | IPv6 {}",
            short_pct(d.ipv4, x),
            short_pct(d.ipv6, x)
        ),
        format!(
            "NOERROR {} | NXDOMAIN {} | SRVFAIL {} | REFUSED {} | NODATA {}",
            short_pct(d.noerror, x),
            short_pct(d.nxdomain, x),
            short_pct(d.srvfail, x),
            short_pct(d.refused, x),
            short_pct(d.nodata, x)
        ),
        format!(
            "Timeouts {} | Orphans {} | Qname Card. {}",
            d.timeouts, d.orphans, d.qname_card
        ),
        format!("Time {}/{}/{}/{} ms", ms(a), ms(b), ms(c), ms(e)),
    ]
    .join("\n")
}

fn title(direction: &str) -> String {
    match direction {
        "in" => "in (host is server)".into(),
        "out" => "out (host is client)".into(),
        other => other.to_string(),
    }
}

/// Draws the dns v2 page body.
pub fn dns_v2(f: &mut Frame, area: Rect, app: &App, w: &PolicyWindow) {
    let Some(dns) = w.dns_v2() else {
        crate::cli::ui::empty(
            f,
            area,
            &format!("policy '{}' has no dns v2 handler", w.policy),
        );
        return;
    };
    let ratio = if dns.observed > 0 {
        dns.deep_sampled as f64 / dns.observed as f64
    } else {
        1.0
    };
    let columns = dns
        .dirs
        .iter()
        .map(|d| {
            let base = (d.xacts as f64 * ratio) as u64;
            let tables = vec![
                ("Top QName 2", d.top_qname2.clone(), base),
                ("Top NX", d.top_nxdomain.clone(), base),
                ("Top RCodes", d.top_rcode.clone(), base),
                ("Top QTypes", d.top_qtype.clone(), base),
                ("Top SRVFAIL", d.top_srvfail.clone(), base),
                ("Top REFUSED", d.top_refused.clone(), base),
                ("Slow", d.top_slow.clone(), base),
                ("Top QName 3", d.top_qname3.clone(), base),
                ("Top NODATA", d.top_nodata.clone(), base),
                ("Top UDP Ports", d.top_ports.clone(), base),
                ("Top Response Bytes", d.top_response_bytes.clone(), 0),
            ];
            (title(&d.direction), stats(d), tables)
        })
        .collect();
    direction_columns(f, area, app, columns);
}
