//! pktvisor's screen below the header: the sparklines when there is room, then its fourteen
//! top-N tables in its own order (four columns at 120 characters, fewer or more with the
//! width), with pktvisor's shares: packet tables against deep samples, DNS tables against
//! wire packets, replies or transactions scaled by the packet deep-sample ratio.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::spark;
use super::table::draw_top;
use crate::cli::app::App;
use crate::cli::model::{PolicyWindow, TopItem};

/// The smallest table: borders and three rows (pktvisor's shares).
const MIN_TABLE: u16 = 5;
/// The largest table: borders and ten rows (pktvisor's top 10).
const MAX_TABLE: u16 = 12;
/// The narrowest column.
const MIN_COLUMN: u16 = 28;

/// One table to draw: title, items, base of the shares (0: no shares).
pub type TableSpec = (&'static str, Vec<TopItem>, u64);

/// The fourteen tables.
pub fn tables(w: &PolicyWindow) -> Vec<TableSpec> {
    let p = w.net_v1().cloned().unwrap_or_default();
    let d = w.dns_v1().cloned().unwrap_or_default();
    let ratio = if p.total > 0 {
        p.deep_samples as f64 / p.total as f64
    } else if d.wire.events > 0 {
        d.wire.deep_samples as f64 / d.wire.events as f64
    } else {
        1.0
    };
    let scaled = |n: u64| (n as f64 * ratio) as u64;
    let (wire, replies, xacts) = (
        scaled(d.wire.total),
        scaled(d.wire.replies),
        scaled(d.xact.total),
    );
    vec![
        ("Top QName 2", d.top_qname2, wire),
        ("Top QName 3", d.top_qname3, wire),
        ("Top NX", d.top_nxdomain, replies),
        ("Slow In", d.xact.in_top_slow, xacts),
        ("Top QTypes", d.top_qtype, wire),
        ("Top RCodes", d.top_rcode, replies),
        ("Top SRVFAILS", d.top_srvfail, replies),
        ("Slow Out", d.xact.out_top_slow, xacts),
        ("Top REFUSED", d.top_refused, replies),
        ("IPv4", p.top_ipv4, p.deep_samples),
        ("IPv6", p.top_ipv6, p.deep_samples),
        ("Top DNS UDP Ports", d.top_udp_ports, wire),
        ("Top GeoLoc", p.top_geo, p.deep_samples),
        ("Top ASN", p.top_asn, p.deep_samples),
    ]
}

/// Where things go in `area`: the sparkline strip (if it fits), each visible table's rect by
/// index, and whether tables are hidden below or above (scroll).
#[derive(Debug, PartialEq, Eq)]
pub struct Grid {
    pub spark: Option<Rect>,
    pub cells: Vec<(usize, Rect)>,
    pub hint: Option<Rect>,
    pub first_row: usize,
    pub rows: usize,
}

/// Lays out `n` tables in `area`, scrolled by `scroll` rows of tables, with the sparkline
/// strip on top when `spark` is asked for and everything still fits.
pub fn grid(area: Rect, n: usize, scroll: usize, with_spark: bool) -> Grid {
    let cols = (area.width / MIN_COLUMN).clamp(1, 7) as usize;
    let rows = n.div_ceil(cols);
    let need = rows as u16 * MIN_TABLE;
    let mut spark: Option<Rect> =
        (with_spark && area.height >= need + spark::HEIGHT).then_some(Rect {
            height: spark::HEIGHT,
            ..area
        });
    let mut body = area;
    if spark.is_some() {
        body.y += spark::HEIGHT;
        body.height -= spark::HEIGHT;
    }
    let (visible, first_row, hint) = if body.height >= need {
        (rows, 0, None)
    } else {
        // A row for the scroll hint when at least one table still fits beside it.
        let hint_rows = u16::from(body.height > MIN_TABLE);
        let fit = ((body.height - hint_rows) / MIN_TABLE).max(1) as usize;
        let first = scroll.min(rows - fit.min(rows));
        let hint = (hint_rows == 1).then(|| Rect {
            y: body.y + body.height - 1,
            height: 1,
            ..body
        });
        body.height -= hint_rows;
        (fit.min(rows), first, hint)
    };
    let mut h = (body.height / visible.max(1) as u16).min(MAX_TABLE);
    if let Some(s) = spark.as_mut() {
        // Room the tables cannot use (they stop at ten rows) goes to the sparklines.
        let spare = body.height.saturating_sub(h * visible as u16);
        s.height += spare;
        body.y += spare;
        body.height -= spare;
        h = (body.height / visible.max(1) as u16).min(MAX_TABLE);
    }
    let w = body.width / cols as u16;
    let mut cells = Vec::new();
    for r in 0..visible {
        for c in 0..cols {
            let i = (first_row + r) * cols + c;
            if i >= n {
                break;
            }
            let last_col = c == cols - 1;
            cells.push((
                i,
                Rect {
                    x: body.x + c as u16 * w,
                    y: body.y + r as u16 * h,
                    width: if last_col {
                        body.width - c as u16 * w
                    } else {
                        w
                    },
                    height: h,
                },
            ));
        }
    }
    Grid {
        spark,
        cells,
        hint,
        first_row,
        rows,
    }
}

/// Draws the page body.
pub fn draw(f: &mut Frame, area: Rect, app: &App, w: &PolicyWindow) {
    if w.net_v1().is_none() && w.dns_v1().is_none() {
        super::empty(
            f,
            area,
            &format!(
                "policy '{}' has no v1 net or dns handler (pktvisor's screen): see pages 2-6",
                w.policy
            ),
        );
        return;
    }
    let tables = tables(w);
    let g = grid(area, tables.len(), app.scroll, true);
    if let Some(s) = g.spark {
        spark::draw_rates(f, s, app);
    }
    draw_grid(f, &g, &tables);
}

/// Draws the tables of a grid and its scroll hint.
pub fn draw_grid(f: &mut Frame, g: &Grid, tables: &[TableSpec]) {
    for (i, rect) in &g.cells {
        let (title, items, base) = &tables[*i];
        draw_top(f, *rect, title, items, *base);
    }
    if let Some(h) = g.hint {
        let first = g.cells.first().map(|c| c.0 + 1).unwrap_or(0);
        let last = g.cells.last().map(|c| c.0 + 1).unwrap_or(0);
        let text = if h.width >= 32 {
            format!("tables {first}-{last} of {} · ↑/↓ scroll", tables.len())
        } else {
            format!("{first}-{last}/{} ↑↓", tables.len())
        };
        super::hint(f, h, &text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_columns_at_120_with_sparklines_at_40_rows() {
        let g = grid(Rect::new(0, 13, 120, 25), 14, 0, true);
        assert!(g.spark.is_some());
        assert_eq!(g.cells.len(), 14);
        assert_eq!(g.cells[4].1.x, 0, "fifth table starts the second row");
        assert!(g.hint.is_none());
    }

    #[test]
    fn small_screens_scroll() {
        let g = grid(Rect::new(0, 9, 80, 13), 14, 0, true);
        assert!(g.spark.is_none());
        assert_eq!(g.cells.len(), 4, "two columns, two rows");
        assert!(g.hint.is_some());
        let g = grid(Rect::new(0, 9, 80, 13), 14, 100, true);
        assert_eq!(
            g.cells.last().unwrap().0,
            13,
            "scrolling stops at the last row"
        );
    }
}
