//! flow: every exporter's interfaces (bytes and packets in and out) and the top talkers,
//! destinations, conversations and destination ports over all of them.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

use super::total;
use crate::cli::app::App;
use crate::cli::model::{Flow, PolicyWindow};
use crate::cli::ui::classic::{draw_grid, grid};
use crate::cli::ui::fmt::{bytes, si};

/// Every flow handler's devices as one flow.
fn combined(w: &PolicyWindow) -> Option<Flow> {
    let flows = w.flows();
    let first = flows.first()?;
    Some(Flow {
        period: first.period,
        devices: flows.iter().flat_map(|f| f.devices.clone()).collect(),
    })
}

/// The flow page's header line.
pub fn summary(w: &PolicyWindow) -> Vec<String> {
    let Some(fl) = combined(w) else {
        return super::missing(w, "flow");
    };
    let ifs: Vec<_> = fl
        .devices
        .iter()
        .flat_map(|d| d.interfaces.iter())
        .collect();
    vec![format!(
        "Flow Devices {} | Records {} | Filtered {} | Interfaces {} | In {} | Out {} | In Pkts {} | Out Pkts {}",
        fl.devices.len(),
        total(fl.devices.iter().map(|d| d.records)),
        total(fl.devices.iter().map(|d| d.filtered)),
        ifs.len(),
        bytes(total(ifs.iter().map(|i| i.in_bytes)) as f64),
        bytes(total(ifs.iter().map(|i| i.out_bytes)) as f64),
        total(ifs.iter().map(|i| i.in_packets)),
        total(ifs.iter().map(|i| i.out_packets)),
    )]
}

/// Draws the flow page body.
pub fn flow(f: &mut Frame, area: Rect, app: &App, w: &PolicyWindow) {
    let Some(fl) = combined(w) else {
        crate::cli::ui::empty(
            f,
            area,
            &format!("policy '{}' has no flow handler", w.policy),
        );
        return;
    };
    let mut ifs: Vec<(String, String, u64, u64, u64, u64)> = fl
        .devices
        .iter()
        .flat_map(|d| {
            d.interfaces.iter().map(|i| {
                (
                    d.name.clone(),
                    i.name.clone(),
                    i.in_bytes,
                    i.out_bytes,
                    i.in_packets,
                    i.out_packets,
                )
            })
        })
        .collect();
    ifs.sort_by(|a, b| {
        (b.2.saturating_add(b.3))
            .cmp(&a.2.saturating_add(a.3))
            .then_with(|| a.0.cmp(&b.0))
    });
    let (left, right) = if area.width >= 110 {
        let [l, r] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Fill(1)]).areas(area);
        (l, r)
    } else {
        let h = (ifs.len().min(1000) as u16 + 3).min(area.height / 3).max(4);
        let [t, b] = Layout::vertical([Constraint::Length(h), Constraint::Fill(1)]).areas(area);
        (t, b)
    };
    let rows = ifs.iter().map(|(d, i, ib, ob, ip, op)| {
        Row::new(vec![
            Cell::from(d.clone()),
            Cell::from(i.clone()),
            Cell::from(bytes(*ib as f64)),
            Cell::from(bytes(*ob as f64)),
            Cell::from(si(*ip)),
            Cell::from(si(*op)),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Fill(3),
            Constraint::Fill(2),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(8),
        ],
    )
    .header(
        Row::new(["Device", "Interface", "In", "Out", "In pkts", "Out pkts"]).style(
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        ),
    )
    .block(Block::default().borders(Borders::ALL).title("Interfaces"));
    f.render_widget(table, left);

    let by_bytes = fl.by_bytes();
    let base = if by_bytes {
        total(ifs.iter().map(|i| i.2))
    } else {
        total(ifs.iter().map(|i| i.4))
    };
    let t = |b: &'static str, p: &'static str| if by_bytes { b } else { p };
    let tables = vec![
        (
            t("Top Talkers (bytes)", "Top Talkers (packets)"),
            fl.top_talkers(),
            base,
        ),
        (
            t("Top Destinations (bytes)", "Top Destinations (packets)"),
            fl.top_destinations(),
            base,
        ),
        (
            t("Top Conversations (bytes)", "Top Conversations (packets)"),
            fl.top_conversations(),
            base,
        ),
        (
            t("Top Dst Ports (bytes)", "Top Dst Ports (packets)"),
            fl.top_ports(),
            base,
        ),
    ];
    let g = grid(right, tables.len(), app.scroll, false);
    draw_grid(f, &g, &tables);
}
