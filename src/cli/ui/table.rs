//! pktvisor's top-N table: a bordered box, one item per row, name on the left and the
//! estimate on the right; the first three rows also show the share of a base count
//! (`N (xx.x%)`) when the base is not zero.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::cli::model::TopItem;

/// The text rows of a table `width` characters wide, at most `rows` of them.
pub fn top_rows(items: &[TopItem], base: u64, width: usize, rows: usize) -> Vec<(String, String)> {
    items
        .iter()
        .take(rows)
        .enumerate()
        .map(|(i, it)| {
            let num = if base > 0 && i < 3 {
                format!(
                    "{} ({:4.1}%)",
                    it.estimate,
                    it.estimate as f64 * 100.0 / base as f64
                )
            } else {
                it.estimate.to_string()
            };
            let room = width.saturating_sub(num.chars().count() + 1);
            (fit_name(&it.name, room), num)
        })
        .collect()
}

/// `name` padded or cut (with `…`) to exactly `room` characters.
pub fn fit_name(name: &str, room: usize) -> String {
    let n = name.chars().count();
    if n <= room {
        format!("{name}{}", " ".repeat(room - n))
    } else if room == 0 {
        String::new()
    } else {
        let mut s: String = name.chars().take(room - 1).collect();
        s.push('…');
        s
    }
}

/// Draws one table in `area` (borders included).
pub fn draw_top(f: &mut Frame, area: Rect, title: &str, items: &[TopItem], base: u64) {
    let block = Block::default().borders(Borders::ALL).title(Span::styled(
        title.to_string(),
        Style::default().fg(Color::Yellow),
    ));
    let inner = block.inner(area);
    let lines: Vec<Line> = top_rows(items, base, inner.width as usize, inner.height as usize)
        .into_iter()
        .map(|(name, num)| {
            Line::from(vec![
                Span::raw(name),
                Span::raw(" "),
                Span::styled(num, Style::default().fg(Color::Cyan)),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(block), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, estimate: u64) -> TopItem {
        TopItem {
            name: name.into(),
            estimate,
        }
    }

    #[test]
    fn first_three_rows_show_shares() {
        let items = [item("a", 50), item("b", 25), item("c", 10), item("d", 5)];
        let rows = top_rows(&items, 100, 16, 10);
        assert_eq!(rows[0], ("a    ".into(), "50 (50.0%)".into()));
        assert_eq!(rows[2].1, "10 (10.0%)");
        assert_eq!(rows[3], ("d             ".into(), "5".into()));
        assert_eq!(top_rows(&items, 0, 16, 2)[0].1, "50");
        assert_eq!(top_rows(&items, 100, 16, 2).len(), 2);
    }

    #[test]
    fn long_names_are_cut() {
        assert_eq!(fit_name("abcdefgh", 5), "abcd…");
        assert_eq!(fit_name("ab", 4), "ab  ");
        assert_eq!(fit_name("ab", 0), "");
    }
}
