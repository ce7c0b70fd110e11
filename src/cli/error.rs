//! The terminal UI's typed errors: transport, HTTP status, JSON shape and terminal failures.

use thiserror::Error;

/// Everything that can go wrong between the UI and pktvisord, or with the terminal.
#[derive(Debug, Error)]
pub enum CliError {
    /// No answer: connection refused, reset, timed out, DNS failure, TLS handshake.
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// An answer that is not 200; `message` is the body's `error` when it has one.
    #[error("HTTP {status} from {path}: {message}")]
    Status {
        status: u16,
        path: String,
        message: String,
    },
    /// A 200 whose body is not the JSON we expect.
    #[error("unexpected answer from {path}: {reason}")]
    Json { path: String, reason: String },
    /// The HTTP client could not be built (TLS setup).
    #[error("HTTP client: {0}")]
    Client(String),
    /// Standard input/output is not an interactive terminal (raw mode refused).
    #[error("pktvisor-cli needs an interactive terminal")]
    NoTerminal(#[source] std::io::Error),
    /// The terminal hung up or its input ended while the UI ran.
    #[error("the terminal went away")]
    TerminalGone,
    /// Reading keys from or drawing to the terminal failed.
    #[error("terminal I/O failed")]
    Terminal(#[from] std::io::Error),
}

impl CliError {
    /// Whether the agent could not be reached at all (as opposed to answering badly).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, CliError::Unreachable { .. })
    }
}
