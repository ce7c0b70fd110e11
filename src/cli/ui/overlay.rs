//! Pop-ups over the page: the key help and the policy list.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph};

use crate::cli::app::App;

/// The keys, as the help shows them.
pub const KEYS: [(&str, &str); 9] = [
    ("q, Ctrl-C", "quit (the terminal is restored)"),
    ("p, space", "pause / resume the display (polling goes on)"),
    ("?, F1", "this help (any key closes it)"),
    ("←, →", "previous / next policy"),
    ("l, Enter", "policy list (↑/↓, Enter, Esc)"),
    (
        "Tab, 1-6",
        "pages: pktvisor, DNS v2, NET v2, Flow, Netprobe, Resources",
    ),
    ("↑/↓, j/k", "scroll the tables"),
    ("PgUp/PgDn", "scroll faster"),
    ("Home", "back to the top"),
];

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    h
}

/// Draws the help box.
pub fn help(f: &mut Frame, area: Rect) {
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:<11}"), Style::default().fg(Color::Yellow)),
                Span::raw(*what),
            ])
        })
        .collect();
    let rect = centered(area, 76, KEYS.len() as u16 + 2);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title("Keys")),
        rect,
    );
}

/// Draws the policy list with row `sel` selected.
pub fn picker(f: &mut Frame, area: Rect, app: &App, sel: usize) {
    let items: Vec<ListItem> = if app.policies.is_empty() {
        vec![ListItem::new("(no policy list yet)")]
    } else {
        app.policies
            .iter()
            .map(|p| {
                let mark = if *p == app.policy { "● " } else { "  " };
                ListItem::new(format!("{mark}{p}"))
            })
            .collect()
    };
    let width = app
        .policies
        .iter()
        .map(|p| p.chars().count().min(200) as u16 + 6)
        .max()
        .unwrap_or(24)
        .max(24);
    let rect = centered(area, width, items.len().min(1000) as u16 + 2);
    let mut state = ListState::default().with_selected(Some(sel));
    f.render_widget(Clear, rect);
    f.render_stateful_widget(
        List::new(items)
            .block(Block::default().borders(Borders::ALL).title("Policies"))
            .highlight_style(Style::default().add_modifier(Modifier::REVERSED)),
        rect,
        &mut state,
    );
}
