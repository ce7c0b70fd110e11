//! The pages beyond pktvisor's screen: their header summaries, whether a window has data for
//! them, and a shared per-direction column layout (dns v2, net v2).

mod dns2;
mod flow;
mod net2;
mod probe;

pub use dns2::dns_v2;
pub use flow::flow;
pub use net2::net_v2;
pub use probe::{netprobe, resources, resources_summary};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::classic::{Grid, TableSpec, draw_grid, grid};
use super::fmt::{count_pct, si};
use super::header::wrap;
use crate::cli::app::{App, Page};
use crate::cli::model::{PolicyWindow, Rate};

/// Whether `page` has something to show for this window.
pub fn has_data(page: Page, w: &PolicyWindow, resources: Option<&PolicyWindow>) -> bool {
    match page {
        Page::Pktvisor => w.net_v1().is_some() || w.dns_v1().is_some(),
        Page::DnsV2 => w.dns_v2().is_some(),
        Page::NetV2 => w.net_v2().is_some(),
        Page::Flow => !w.flows().is_empty(),
        Page::Netprobe => !w.netprobes().is_empty(),
        Page::Resources => {
            w.resources().is_some() || resources.is_some_and(|r| r.resources().is_some())
        }
    }
}

/// `L/s p50/p90/p95/p99`.
pub(crate) fn rate(r: &Rate) -> String {
    let [a, b, c, d] = r.quantiles().values();
    match r.live {
        Some(l) => format!("{l}/s {a:.0}/{b:.0}/{c:.0}/{d:.0}"),
        None => format!("{a:.0}/{b:.0}/{c:.0}/{d:.0}"),
    }
}

fn missing(w: &PolicyWindow, what: &str) -> Vec<String> {
    vec![format!("policy '{}' has no {what} handler", w.policy)]
}

/// The header lines of a page other than pktvisor's and Resources.
pub fn summary(page: Page, w: &PolicyWindow) -> Vec<String> {
    match page {
        Page::DnsV2 => match w.dns_v2() {
            None => missing(w, "dns v2"),
            Some(d) => vec![format!(
                "DNS v2 Observed Pkts {} | Deep Sampled {} | Filtered {} | Rate {} pps | Xacts {}",
                d.observed,
                count_pct(d.deep_sampled, d.observed),
                d.filtered,
                rate(&d.observed_pps),
                d.dirs
                    .iter()
                    .map(|x| format!("{} {}", x.direction, x.xacts))
                    .collect::<Vec<_>>()
                    .join(" | ")
            )],
        },
        Page::NetV2 => match w.net_v2() {
            None => missing(w, "net v2"),
            Some(n) => vec![format!(
                "NET v2 Observed Pkts {} | Deep Sampled {} | Filtered {} | Rate {} pps | Pkts {}",
                n.observed,
                count_pct(n.deep_sampled, n.observed),
                n.filtered,
                rate(&n.observed_pps),
                n.dirs
                    .iter()
                    .map(|x| format!("{} {}", x.direction, x.total))
                    .collect::<Vec<_>>()
                    .join(" | ")
            )],
        },
        Page::Flow => flow::summary(w),
        Page::Netprobe => probe::netprobe_summary(w),
        Page::Pktvisor | Page::Resources => Vec::new(),
    }
}

/// One direction: title, counter lines, tables.
pub(crate) type Column = (String, String, Vec<TableSpec>);

/// One column per direction: a box of counters (wrapped at ` | `) over a grid of tables.
pub(crate) fn direction_columns(f: &mut Frame, area: Rect, app: &App, columns: Vec<Column>) {
    if columns.is_empty() {
        return;
    }
    let rects = Layout::horizontal(vec![Constraint::Fill(1); columns.len()]).split(area);
    for ((title, stats, tables), rect) in columns.into_iter().zip(rects.iter()) {
        let inner_w = rect.width.saturating_sub(2) as usize;
        let lines: Vec<String> = stats.lines().flat_map(|l| wrap(l, inner_w)).collect();
        let stats_h = (lines.len().min(200) as u16 + 2)
            .min(rect.height / 2)
            .max(3);
        let [top, rest] =
            Layout::vertical([Constraint::Length(stats_h), Constraint::Fill(1)]).areas(*rect);
        f.render_widget(
            Paragraph::new(lines.join("\n"))
                .block(Block::default().borders(Borders::ALL).title(title)),
            top,
        );
        let g: Grid = grid(rest, tables.len(), app.scroll, false);
        draw_grid(f, &g, &tables);
    }
}

/// The sum of counts, saturating (the agent's counters are u64 and may be anything).
pub(crate) fn total(counts: impl IntoIterator<Item = u64>) -> u64 {
    counts.into_iter().fold(0, u64::saturating_add)
}

/// A count as `12.3k (4.5%)`.
pub(crate) fn short_pct(part: u64, whole: u64) -> String {
    format!("{} ({:.1}%)", si(part), super::fmt::pct(part, whole))
}
