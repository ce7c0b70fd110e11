//! The event loop and everything with side effects: the terminal (raw mode and alternate
//! screen, restored on exit, on error, on a panic in any thread and on SIGTERM/SIGHUP/SIGINT),
//! the poller thread, the key reader thread and redraws; a terminal that hangs up ends the UI.

use std::io::{Stdout, stdout};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossterm::event::{self, Event, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use super::app::{App, Command};
use super::args::Args;
use super::client::{Api, HttpApi};
use super::error::CliError;
use super::poll::{Poller, Update};
use super::ui;

/// Set by the panic hook: the loop must stop drawing.
static PANICKED: AtomicBool = AtomicBool::new(false);
/// Whether the terminal is in raw mode on the alternate screen (ours to restore).
static ON_SCREEN: AtomicBool = AtomicBool::new(false);

/// Puts the terminal back the way the shell expects it. Only the first call after `enter`
/// does anything: leaving the alternate screen twice would move the cursor back up over
/// what was printed in between (a panic message).
pub fn restore_terminal() {
    if ON_SCREEN.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
    }
}

/// Raw mode, alternate screen and hidden cursor for as long as it lives.
struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    fn enter() -> Result<Screen, CliError> {
        enable_raw_mode().map_err(CliError::NoTerminal)?;
        ON_SCREEN.store(true, Ordering::SeqCst);
        let screen = Screen {
            terminal: Terminal::new(CrosstermBackend::new(stdout()))?,
        };
        execute!(stdout(), EnterAlternateScreen, crossterm::cursor::Hide)?;
        Ok(screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        PANICKED.store(true, Ordering::SeqCst);
        previous(info);
    }));
}

/// Local time's offset from UTC now, in seconds (0 if the C library cannot tell).
pub fn local_utc_offset() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: `tm` is a plain C struct for which all-zero bytes are valid; localtime_r only
    // writes into it and reads `now`, both live for the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&now, &mut tm).is_null() };
    if ok { tm.tm_gmtoff } else { 0 }
}

/// Polls `policy` every `interval` until the UI goes away; a `SetPolicy` polls at once.
fn poll_loop(
    api: Box<dyn Api>,
    mut policy: String,
    interval: Duration,
    commands: Receiver<Command>,
    updates: Sender<Update>,
) {
    let mut poller = Poller::new();
    // Fault injection for the end-to-end test of the panic hook (debug builds only).
    #[cfg(debug_assertions)]
    if std::env::var_os("PKTVISOR_CLI_TEST_PANIC").is_some() {
        std::thread::sleep(Duration::from_millis(500));
        panic!("injected panic (PKTVISOR_CLI_TEST_PANIC)");
    }
    loop {
        let u = poller.poll(api.as_ref(), &policy);
        if updates.send(u).is_err() {
            return;
        }
        match commands.recv_timeout(interval) {
            Ok(Command::SetPolicy(p)) => policy = p,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Reads terminal events on its own thread: crossterm's reader spins without returning once
/// the terminal is gone (crossterm-rs/crossterm#793), so the UI loop must never wait inside it.
fn input_loop(events: Sender<Event>) {
    while let Ok(ev) = event::read() {
        if events.send(ev).is_err() {
            return;
        }
    }
}

/// Whether the terminal we draw on has hung up (its window or session closed).
fn terminal_hung_up() -> bool {
    let mut fds = [libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    }];
    // SAFETY: `fds` is one valid pollfd that lives for the call; a zero timeout never blocks.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) };
    n > 0 && fds[0].revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

/// Runs the UI until `q`, Ctrl-C, a termination signal or the terminal going away.
pub fn run(args: &Args) -> Result<(), CliError> {
    let api = HttpApi::new(&args.base_url(), args.tls_noverify)?;
    let endpoint = api.base_url().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let (cmd_tx, cmd_rx) = mpsc::channel();
    let (upd_tx, upd_rx) = mpsc::channel();
    let (policy, interval) = (args.policy.clone(), args.interval);
    std::thread::Builder::new()
        .name("poller".into())
        .spawn(move || poll_loop(Box::new(api), policy, interval, cmd_rx, upd_tx))?;

    install_panic_hook();
    let mut screen = Screen::enter()?;
    let (key_tx, key_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("keys".into())
        .spawn(move || input_loop(key_tx))?;
    let mut app = App::new(&endpoint, &args.policy, interval, Instant::now());
    app.utc_offset_secs = local_utc_offset();
    let result = event_loop(&mut screen, &mut app, &upd_rx, &key_rx, &cmd_tx, &stop);
    drop(screen);
    if PANICKED.load(Ordering::SeqCst) {
        return Err(CliError::Client("a thread panicked (see above)".into()));
    }
    result
}

/// Applies poll results and keys and draws, until told to stop.
fn event_loop(
    screen: &mut Screen,
    app: &mut App,
    updates: &Receiver<Update>,
    keys: &Receiver<Event>,
    commands: &Sender<Command>,
    stop: &AtomicBool,
) -> Result<(), CliError> {
    loop {
        loop {
            match updates.try_recv() {
                Ok(u) => app.apply(u, Instant::now()),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    return Err(CliError::Client("the poller thread stopped".into()));
                }
            }
        }
        if app.quit || stop.load(Ordering::SeqCst) || PANICKED.load(Ordering::SeqCst) {
            return Ok(());
        }
        if terminal_hung_up() {
            return Err(CliError::TerminalGone);
        }
        app.now = Instant::now();
        screen.terminal.draw(|f| ui::draw(f, app))?;
        match keys.recv_timeout(Duration::from_millis(200)) {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => {
                if let Some(cmd) = app.on_key(k) {
                    let _ = commands.send(cmd);
                }
            }
            Ok(Event::Resize(..)) => screen.terminal.autoresize()?,
            Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Err(CliError::TerminalGone),
        }
    }
}
