//! net v2 per direction: packet counters by protocol and IP version, rates (packets and
//! bytes per second), payload sizes, and the address tables.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::{direction_columns, rate, short_pct};
use crate::cli::app::App;
use crate::cli::model::{NetDir, PolicyWindow};
use crate::cli::ui::fmt::bytes;

fn stats(d: &NetDir) -> String {
    let t = d.total;
    let [a, b, c, e] = d.payload_size.values();
    [
        format!("Pkts {} | SYN {} | IP Card. {}", t, d.syn, d.ips_card),
        format!(
            "UDP {} | TCP {} | Other {}",
            short_pct(d.udp, t),
            short_pct(d.tcp, t),
            short_pct(d.other_l4, t)
        ),
        format!(
            "IPv4 {} | IPv6 {}",
            short_pct(d.ipv4, t),
            short_pct(d.ipv6, t)
        ),
        format!("Rate {} pps", rate(&d.pps)),
        format!(
            "Bytes {}/s | p50 {}/s | p99 {}/s",
            bytes(d.bps.live.unwrap_or(0) as f64),
            bytes(d.bps.p50.unwrap_or(0.0)),
            bytes(d.bps.p99.unwrap_or(0.0))
        ),
        format!("Payload {a:.0}/{b:.0}/{c:.0}/{e:.0} B"),
    ]
    .join("\n")
}

/// Draws the net v2 page body.
pub fn net_v2(f: &mut Frame, area: Rect, app: &App, w: &PolicyWindow) {
    let Some(net) = w.net_v2() else {
        crate::cli::ui::empty(
            f,
            area,
            &format!("policy '{}' has no net v2 handler", w.policy),
        );
        return;
    };
    let ratio = if net.observed > 0 {
        net.deep_sampled as f64 / net.observed as f64
    } else {
        1.0
    };
    let columns = net
        .dirs
        .iter()
        .map(|d| {
            // The unknown direction records both addresses of a packet.
            let both = if d.direction == "unknown" { 2 } else { 1 };
            let base = ((d.total as f64 * ratio) as u64).saturating_mul(both);
            let tables = vec![
                ("Top IPv4", d.top_ipv4.clone(), base),
                ("Top IPv6", d.top_ipv6.clone(), base),
                ("Top GeoLoc", d.top_geo.clone(), base),
                ("Top ASN", d.top_asn.clone(), base),
            ];
            (d.direction.clone(), stats(d), tables)
        })
        .collect();
    direction_columns(f, area, app, columns);
}
