//! netprobe (per target: attempts, successes, loss, failures, latency) and input_resources
//! (the input stream's event rate, CPU and memory, policies and handlers).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use super::{rate, total};
use crate::cli::app::App;
use crate::cli::model::{PolicyWindow, ProbeTarget, Resources};
use crate::cli::ui::fmt::{bytes, count_pct, ms};

fn targets(w: &PolicyWindow) -> Vec<&ProbeTarget> {
    w.netprobes()
        .into_iter()
        .flat_map(|n| n.targets.iter())
        .collect()
}

/// The netprobe page's header line.
pub fn netprobe_summary(w: &PolicyWindow) -> Vec<String> {
    if w.netprobes().is_empty() {
        return super::missing(w, "netprobe");
    }
    let t = targets(w);
    let attempts = total(t.iter().map(|x| x.attempts));
    let ok = total(t.iter().map(|x| x.successes));
    vec![format!(
        "Netprobe Targets {} | Attempts {} | Successes {} | Loss {:.1}% | Timeouts {} | Connect Failures {} | DNS Failures {}",
        t.len(),
        attempts,
        count_pct(ok, attempts),
        crate::cli::ui::fmt::pct(attempts.saturating_sub(ok), attempts),
        total(t.iter().map(|x| x.timeouts)),
        total(t.iter().map(|x| x.connect_failures)),
        total(t.iter().map(|x| x.dns_lookup_failures)),
    )]
}

/// Draws the netprobe page body: one row per target.
pub fn netprobe(f: &mut Frame, area: Rect, _app: &App, w: &PolicyWindow) {
    if w.netprobes().is_empty() {
        crate::cli::ui::empty(
            f,
            area,
            &format!("policy '{}' has no netprobe handler", w.policy),
        );
        return;
    }
    let lat = |v: Option<f64>| v.map(ms).unwrap_or_else(|| "-".into());
    let rows = targets(w).into_iter().map(|t| {
        let loss = t.loss_pct();
        let style = if loss >= 50.0 {
            Style::default().fg(Color::Red)
        } else if loss > 0.0 {
            Style::default().fg(Color::Yellow)
        } else {
            Style::default()
        };
        Row::new(vec![
            Cell::from(t.name.clone()),
            Cell::from(t.attempts.to_string()),
            Cell::from(t.successes.to_string()),
            Cell::from(format!("{loss:.1}%")),
            Cell::from(t.timeouts.to_string()),
            Cell::from(t.connect_failures.to_string()),
            Cell::from(t.dns_lookup_failures.to_string()),
            Cell::from(lat(t.min_us.map(|v| v as f64))),
            Cell::from(lat(t.latency_us(0.5))),
            Cell::from(lat(t.latency_us(0.9))),
            Cell::from(lat(t.latency_us(0.99))),
            Cell::from(lat(t.max_us.map(|v| v as f64))),
        ])
        .style(style)
    });
    let n = Constraint::Length(8);
    let table = Table::new(
        rows,
        [
            Constraint::Fill(1),
            n,
            n,
            Constraint::Length(7),
            n,
            Constraint::Length(9),
            n,
            n,
            n,
            n,
            n,
            n,
        ],
    )
    .header(
        Row::new([
            "Target",
            "Attempts",
            "Success",
            "Loss",
            "Timeouts",
            "Conn fail",
            "DNS fail",
            "Min ms",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "Max ms",
        ])
        .style(
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        ),
    )
    .block(Block::default().borders(Borders::ALL).title("Targets"));
    f.render_widget(table, area);
}

/// The resources shown for this policy: its own handler (a `…-resources` policy) or its
/// input's resources policy.
fn pick<'a>(
    resources: Option<&'a PolicyWindow>,
    w: &'a PolicyWindow,
) -> Option<(&'a str, &'a Resources)> {
    w.resources()
        .map(|r| (w.policy.as_str(), r))
        .or_else(|| resources.and_then(|p| p.resources().map(|r| (p.policy.as_str(), r))))
}

/// The resources page's header line.
pub fn resources_summary(resources: Option<&PolicyWindow>, w: &PolicyWindow) -> Vec<String> {
    match pick(resources, w) {
        None => vec![format!(
            "no input resources policy found for policy '{}'",
            w.policy
        )],
        Some((name, r)) => vec![format!(
            "Input Resources {name} | Events {} | Deep Samples {} | Policies {} | Handlers {}",
            r.total,
            count_pct(r.deep_samples, r.total),
            r.policy_count,
            r.handler_count
        )],
    }
}

/// Draws the resources page body.
pub fn resources(f: &mut Frame, area: Rect, app: &App, w: &PolicyWindow) {
    let Some((name, r)) = pick(app.shown_resources(), w) else {
        crate::cli::ui::empty(
            f,
            area,
            &format!(
                "no input resources for policy '{}' (pktvisord adds an '<input>-resources' policy to every input)",
                w.policy
            ),
        );
        return;
    };
    let [c50, c90, c95, c99] = r.cpu_pct.values();
    let [m50, m90, m95, m99] = r.memory_bytes.values();
    let lines = [
        format!("Event Rate      {} events/s", rate(&r.event_rate)),
        format!("Events          {}", r.total),
        format!("Deep Samples    {}", count_pct(r.deep_samples, r.total)),
        format!(
            "CPU             {c50:.1}/{c90:.1}/{c95:.1}/{c99:.1} % (p50/p90/p95/p99 of 5 s averages)"
        ),
        format!(
            "Memory          {} / {} / {} / {} (p50/p90/p95/p99)",
            bytes(m50),
            bytes(m90),
            bytes(m95),
            bytes(m99)
        ),
        format!("Policies        {}", r.policy_count),
        format!("Handlers        {}", r.handler_count),
    ];
    f.render_widget(
        Paragraph::new(lines.join("\n")).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!("Input stream of {name}")),
        ),
        area,
    );
}
