//! Drawing: one frame from the `App`. The frame is a header box titled like pktvisor's
//! (`pktvisor-cli (client: … | server: …) Policy: …`) holding the page's summary lines, the
//! page tabs, the page body and a status line. Pages: pktvisor's screen, dns v2, net v2,
//! flow, netprobe, input resources; overlays: help and the policy list.

mod classic;
mod fmt;
mod header;
mod overlay;
mod pages;
mod spark;
mod table;

pub use classic::{TableSpec, grid, tables};
pub use header::{fit, header_lines, wrap};
pub use table::top_rows;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::app::{App, Page};
use super::poll::Status;
use fmt::{ago, kitchen};

/// The client version in the title (pktvisor's `VisorVersionNum`).
pub const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// pktvisor's header title.
pub fn title(app: &App) -> String {
    format!(
        "pktvisor-cli (client: {CLIENT_VERSION} | server: {}) Policy: {}",
        app.server_version.as_deref().unwrap_or("unknown"),
        app.policy
    )
}

/// Rows the header may use inside its borders on a screen `height` rows tall: pktvisor's six,
/// plus one for every two rows above 30, never leaving the body fewer than five.
fn header_budget(height: u16) -> usize {
    let extra = height.saturating_sub(30) / 2;
    (6 + extra).min(height.saturating_sub(9)).max(1) as usize
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    let width = area.width.saturating_sub(2) as usize;
    let lines = page_header(app, width, header_budget(area.height));
    let [head, tabs, body, status] = Layout::vertical([
        Constraint::Length(lines.len().min(200) as u16 + 2),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let block = Block::default().borders(Borders::ALL).title(Span::styled(
        title(app),
        Style::default().add_modifier(Modifier::BOLD),
    ));
    f.render_widget(
        Paragraph::new(lines.into_iter().map(Line::from).collect::<Vec<_>>()).block(block),
        head,
    );
    draw_tabs(f, tabs, app);
    draw_body(f, body, app);
    draw_status(f, status, app);
    if app.help {
        overlay::help(f, area);
    }
    if let Some(sel) = app.picker {
        overlay::picker(f, area, app, sel);
    }
}

fn page_header(app: &App, width: usize, budget: usize) -> Vec<String> {
    let Some(w) = app.shown() else {
        return vec![String::new(); 6.min(budget)];
    };
    let lines = match app.page {
        Page::Pktvisor => header_lines(w, app.utc_offset_secs),
        Page::Resources => pages::resources_summary(app.shown_resources(), w),
        page => pages::summary(page, w),
    };
    let mut lines = fit(&lines, width, budget);
    if app.page != Page::Pktvisor
        && lines.len() < budget
        && let Some(p) = w.period()
    {
        lines.push(format!(
            "Time Window {} to {}, Period {}s · window {}m",
            kitchen(p.start_ts, app.utc_offset_secs),
            kitchen(p.start_ts.saturating_add(p.length), app.utc_offset_secs),
            p.length,
            app.window_n
        ));
    }
    lines
}

fn draw_tabs(f: &mut Frame, area: Rect, app: &App) {
    let mut spans = Vec::new();
    for (i, page) in Page::ALL.iter().enumerate() {
        let has = app
            .shown()
            .is_some_and(|w| pages::has_data(*page, w, app.shown_resources()));
        let mut style = Style::default();
        if !has {
            style = style.fg(Color::DarkGray);
        }
        if *page == app.page {
            style = style.add_modifier(Modifier::REVERSED | Modifier::BOLD);
        }
        spans.push(Span::styled(format!(" {} {} ", i + 1, page.title()), style));
        spans.push(Span::raw(" "));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_body(f: &mut Frame, area: Rect, app: &App) {
    let Some(w) = app.shown() else {
        let msg = match &app.status {
            Status::PolicyMissing => policy_missing(app),
            _ => format!("waiting for the first window from {}", app.endpoint),
        };
        empty(f, area, &msg);
        return;
    };
    match app.page {
        Page::Pktvisor => classic::draw(f, area, app, w),
        Page::DnsV2 => pages::dns_v2(f, area, app, w),
        Page::NetV2 => pages::net_v2(f, area, app, w),
        Page::Flow => pages::flow(f, area, app, w),
        Page::Netprobe => pages::netprobe(f, area, app, w),
        Page::Resources => pages::resources(f, area, app, w),
    }
}

fn policy_missing(app: &App) -> String {
    let others = app.policies.len();
    format!(
        "policy '{}' does not exist on {}: retrying · {} polic{} there (←/→ or l to pick)",
        app.policy,
        app.endpoint,
        others,
        if others == 1 { "y" } else { "ies" }
    )
}

/// The status line's text and color.
pub fn status_text(app: &App) -> (String, Color) {
    let since = |t: Option<std::time::Instant>| {
        t.map(|t| ago(app.now.saturating_duration_since(t).as_secs()))
    };
    let (mut text, color) = match &app.status {
        Status::Connecting { attempts, reason } => (
            format!(
                "connecting to {}{}{}",
                app.endpoint,
                if *attempts > 0 {
                    format!(": attempt {attempts}")
                } else {
                    String::new()
                },
                reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
            ),
            Color::Yellow,
        ),
        Status::Live => (
            format!(
                "● live · window {}m · every {}s · updated {} ago · {}",
                app.window_n,
                app.interval.as_secs_f64(),
                since(app.last_ok).unwrap_or_else(|| "-".into()),
                app.endpoint
            ),
            Color::Green,
        ),
        Status::Reconnecting { attempts, reason } => (
            format!(
                "⚠ agent lost, reconnecting to {}: attempt {attempts} ({reason}){}",
                app.endpoint,
                since(app.last_ok)
                    .map(|a| format!(" · data from {a} ago"))
                    .unwrap_or_default()
            ),
            Color::Red,
        ),
        Status::PolicyMissing => (format!("⚠ {}", policy_missing(app)), Color::Yellow),
        Status::ServerError(e) => (format!("⚠ {e}: retrying"), Color::Red),
    };
    if app.paused() {
        text = format!("⏸ PAUSED (p to resume) · {text}");
    }
    if let Some(w) = &app.version_warning {
        text = format!("{w} · {text}");
    }
    (text, color)
}

fn draw_status(f: &mut Frame, area: Rect, app: &App) {
    let keys = " ? help · q quit ";
    let [left, right] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(keys.chars().count() as u16),
    ])
    .areas(area);
    let (text, color) = status_text(app);
    let mut style = Style::default().fg(color);
    if app.paused() {
        style = style.add_modifier(Modifier::REVERSED);
    }
    f.render_widget(Paragraph::new(Span::styled(text, style)), left);
    f.render_widget(
        Paragraph::new(Span::styled(keys, Style::default().fg(Color::DarkGray)))
            .alignment(Alignment::Right),
        right,
    );
}

/// A centered message in a bordered box.
fn empty(f: &mut Frame, area: Rect, text: &str) {
    f.render_widget(
        Paragraph::new(text.to_string())
            .alignment(Alignment::Center)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL)),
        area,
    );
}

/// A dim one-line note.
fn hint(f: &mut Frame, area: Rect, text: &str) {
    f.render_widget(
        Paragraph::new(Span::styled(
            text.to_string(),
            Style::default().fg(Color::DarkGray),
        ))
        .alignment(Alignment::Right),
        area,
    );
}

/// Draws `app` on a `width`×`height` in-memory terminal and returns its rows as text (tests,
/// and anything that wants the screen without a terminal).
pub fn render_lines(app: &App, width: u16, height: u16) -> Vec<String> {
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height))
        .expect("an in-memory terminal cannot fail");
    t.draw(|f| draw(f, app))
        .expect("drawing to memory cannot fail");
    let buf = t.backend().buffer();
    (0..height)
        .map(|y| (0..width).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect()
}
