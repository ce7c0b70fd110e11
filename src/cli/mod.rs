//! pktvisor-cli: the live terminal UI over pktvisord's REST API (reference §12.3), built on
//! ratatui + crossterm. It reads only the REST API, never the library's processors.
//!
//! - `args`: the command line.
//! - `client`: the `Api` trait and its HTTP implementation.
//! - `poll`: one poll (version check, policy list, window negotiation) → `Update`.
//! - `model`: the window JSON decoded per handler schema.
//! - `history`: packet and query rates for the sparklines.
//! - `app`: UI state, keys, poll results.
//! - `ui`: drawing (pktvisor's screen, dns v2, net v2, flow, netprobe, resources, overlays).
//! - `term`: the event loop, terminal setup and restore, signals, the poller thread.

pub mod app;
pub mod args;
pub mod client;
pub mod error;
pub mod history;
pub mod model;
pub mod poll;
pub mod term;
pub mod ui;

pub use args::Args;
pub use error::CliError;
pub use term::run;
