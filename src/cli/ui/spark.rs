//! Sparklines of the packet rate and the DNS query rate over the last minutes (one sample per
//! poll, as many as the panel is wide).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::widgets::{Block, Borders, Sparkline};

use super::fmt::{ago, si};
use crate::cli::app::App;

/// Rows the strip takes.
pub const HEIGHT: u16 = 4;

fn one(
    f: &mut Frame,
    area: Rect,
    label: &str,
    data: &[u64],
    now: Option<u64>,
    span_secs: u64,
    color: Color,
) {
    let max = data.iter().copied().max().unwrap_or(0);
    let now = now.map(si).unwrap_or_else(|| "-".into());
    let title = format!(
        "{label} now {now} max {} (last {})",
        si(max),
        ago(span_secs)
    );
    let block = Block::default().borders(Borders::ALL).title(title);
    f.render_widget(
        Sparkline::default()
            .block(block)
            .data(data)
            .style(Style::default().fg(color)),
        area,
    );
}

/// Draws both sparklines side by side.
pub fn draw_rates(f: &mut Frame, area: Rect, app: &App) {
    let [left, right] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(area);
    let n = left.width.saturating_sub(2) as usize;
    let h = app.shown_history();
    let pps = h.pps(n);
    let qps = h.qps(n);
    let span = |len: usize| (len as f64 * app.interval.as_secs_f64()).round() as u64;
    let last = h.last().unwrap_or_default();
    one(
        f,
        left,
        "Packets/s",
        &pps,
        last.pps,
        span(pps.len()),
        Color::Green,
    );
    one(
        f,
        right,
        "DNS queries/s",
        &qps,
        last.qps.map(|q| q.round() as u64),
        span(qps.len()),
        Color::Magenta,
    );
}
