//! The UI's state and its reaction to keys and poll results. No I/O and no drawing: the
//! event loop feeds it `Update`s and key events and draws it; tests do the same.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::history::History;
use super::model::PolicyWindow;
use super::poll::{FIRST_WINDOW, Status, Update};

/// The pages, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// pktvisor's own screen (v1 net, dns, dhcp, pcap).
    Pktvisor,
    DnsV2,
    NetV2,
    Flow,
    Netprobe,
    Resources,
}

impl Page {
    pub const ALL: [Page; 6] = [
        Page::Pktvisor,
        Page::DnsV2,
        Page::NetV2,
        Page::Flow,
        Page::Netprobe,
        Page::Resources,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Page::Pktvisor => "pktvisor",
            Page::DnsV2 => "DNS v2",
            Page::NetV2 => "NET v2",
            Page::Flow => "Flow",
            Page::Netprobe => "Netprobe",
            Page::Resources => "Resources",
        }
    }

    fn index(self) -> usize {
        Page::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
}

/// What the poller must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Poll this policy from now on (and at once).
    SetPolicy(String),
}

/// The windows and rates on screen when the display was paused.
#[derive(Debug, Clone)]
struct Frozen {
    window: Option<PolicyWindow>,
    resources: Option<PolicyWindow>,
    history: History,
}

/// Everything the screen shows.
#[derive(Debug, Clone)]
pub struct App {
    pub endpoint: String,
    pub interval: Duration,
    pub policy: String,
    pub policies: Vec<String>,
    pub server_version: Option<String>,
    pub version_warning: Option<String>,
    pub status: Status,
    pub window_n: u32,
    /// The newest window of `policy` (kept while the agent is away).
    pub window: Option<PolicyWindow>,
    /// The newest window of the policy's input resources policy.
    pub resources: Option<PolicyWindow>,
    /// When `window` arrived.
    pub last_ok: Option<Instant>,
    /// What stays on screen while paused.
    frozen: Option<Frozen>,
    pub help: bool,
    /// The policy list's selected row, when the list is open.
    pub picker: Option<usize>,
    pub page: Page,
    /// Scroll offset of the page body (rows of tables).
    pub scroll: usize,
    pub history: History,
    /// Local time's offset from UTC (seconds), for pktvisor's time window line.
    pub utc_offset_secs: i64,
    /// The instant the screen is drawn for ("updated 3 s ago").
    pub now: Instant,
    pub quit: bool,
}

impl App {
    pub fn new(endpoint: &str, policy: &str, interval: Duration, now: Instant) -> App {
        App {
            endpoint: endpoint.to_string(),
            interval,
            policy: policy.to_string(),
            policies: Vec::new(),
            server_version: None,
            version_warning: None,
            status: Status::Connecting {
                attempts: 0,
                reason: None,
            },
            window_n: FIRST_WINDOW,
            window: None,
            resources: None,
            last_ok: None,
            frozen: None,
            help: false,
            picker: None,
            page: Page::Pktvisor,
            scroll: 0,
            history: History::default(),
            utc_offset_secs: 0,
            now,
            quit: false,
        }
    }

    pub fn paused(&self) -> bool {
        self.frozen.is_some()
    }

    /// The window on screen (the frozen one while paused).
    pub fn shown(&self) -> Option<&PolicyWindow> {
        match &self.frozen {
            Some(f) => f.window.as_ref(),
            None => self.window.as_ref(),
        }
    }

    /// The resources window on screen.
    pub fn shown_resources(&self) -> Option<&PolicyWindow> {
        match &self.frozen {
            Some(f) => f.resources.as_ref(),
            None => self.resources.as_ref(),
        }
    }

    /// The rates on screen (sparklines).
    pub fn shown_history(&self) -> &History {
        match &self.frozen {
            Some(f) => &f.history,
            None => &self.history,
        }
    }

    /// Takes a poll result received at `now` (results for another policy are stale).
    pub fn apply(&mut self, u: Update, now: Instant) {
        if u.policy != self.policy {
            return;
        }
        self.policies = u.policies;
        self.server_version = u.server_version.or(self.server_version.take());
        self.version_warning = u.version_warning;
        self.window_n = u.window_n;
        match (&u.status, u.window) {
            (Status::Live, Some(w)) => {
                self.history.record(now, &w);
                self.window = Some(w);
                self.resources = u.resources;
                self.last_ok = Some(now);
            }
            (Status::PolicyMissing, _) => {
                self.window = None;
                self.resources = None;
            }
            _ => {}
        }
        self.status = u.status;
    }

    /// Reacts to a key; returns what the poller must do.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Command> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => {
                self.quit = true;
                return None;
            }
            KeyCode::Char('q') => {
                self.quit = true;
                return None;
            }
            _ => {}
        }
        if let Some(sel) = self.picker {
            return self.picker_key(sel, key.code);
        }
        if self.help {
            self.help = false;
            return None;
        }
        match key.code {
            KeyCode::Char('?') | KeyCode::F(1) => self.help = true,
            KeyCode::Char('p') | KeyCode::Char(' ') => self.toggle_pause(),
            KeyCode::Left => return self.step_policy(-1),
            KeyCode::Right => return self.step_policy(1),
            KeyCode::Char('l') | KeyCode::Enter => {
                self.picker = Some(self.policy_index().unwrap_or(0));
            }
            KeyCode::Tab => self.set_page((self.page.index() + 1) % Page::ALL.len()),
            KeyCode::BackTab => {
                self.set_page((self.page.index() + Page::ALL.len() - 1) % Page::ALL.len())
            }
            KeyCode::Char(c @ '1'..='6') => self.set_page(c as usize - '1' as usize),
            KeyCode::Down | KeyCode::Char('j') => self.scroll += 1,
            KeyCode::Up | KeyCode::Char('k') => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::PageDown => self.scroll += 5,
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(5),
            KeyCode::Home => self.scroll = 0,
            _ => {}
        }
        None
    }

    fn picker_key(&mut self, sel: usize, code: KeyCode) -> Option<Command> {
        let n = self.policies.len();
        match code {
            KeyCode::Esc | KeyCode::Char('l') => self.picker = None,
            KeyCode::Down | KeyCode::Char('j') if n > 0 => self.picker = Some((sel + 1) % n),
            KeyCode::Up | KeyCode::Char('k') if n > 0 => self.picker = Some((sel + n - 1) % n),
            KeyCode::Enter => {
                self.picker = None;
                if let Some(p) = self.policies.get(sel).cloned() {
                    return self.switch_policy(p);
                }
            }
            _ => {}
        }
        None
    }

    fn toggle_pause(&mut self) {
        self.frozen = match self.frozen {
            Some(_) => None,
            None => Some(Frozen {
                window: self.window.clone(),
                resources: self.resources.clone(),
                history: self.history.clone(),
            }),
        };
    }

    fn set_page(&mut self, i: usize) {
        self.page = Page::ALL[i.min(Page::ALL.len() - 1)];
        self.scroll = 0;
    }

    fn policy_index(&self) -> Option<usize> {
        self.policies.iter().position(|p| *p == self.policy)
    }

    fn step_policy(&mut self, step: isize) -> Option<Command> {
        let n = self.policies.len() as isize;
        if n == 0 {
            return None;
        }
        let next = match self.policy_index() {
            Some(i) => (i as isize + step).rem_euclid(n),
            None => 0,
        };
        self.switch_policy(self.policies[next as usize].clone())
    }

    fn switch_policy(&mut self, p: String) -> Option<Command> {
        if p == self.policy {
            return None;
        }
        self.policy = p.clone();
        self.window = None;
        self.resources = None;
        self.last_ok = None;
        self.frozen = None;
        self.scroll = 0;
        self.window_n = FIRST_WINDOW;
        self.history.clear();
        Some(Command::SetPolicy(p))
    }
}
