//! The log output of pktvisord: human-readable text or JSON lines (one object per event,
//! for log collectors such as the OpenTelemetry Collector's filelog receiver, Fluent Bit
//! or journald), written to stdout, a file (opened safely: `files::open_log_file`) or
//! syslog, filtered by `PKTVISOR_LOG` (tracing's `EnvFilter` syntax; a value that does not
//! parse is an error) or else `-v`'s level.
//!
//! ANSI colour codes are written only when the stream is a terminal: logs sent to a pipe,
//! a file, journald or syslog are plain text.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// How each log event is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-01-01T00:00:00.000000Z  INFO target: message` (colours on a terminal only).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the fields.
    Json,
}

/// Where the log goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard output (pktvisor's default).
    Stdout,
    /// Standard error.
    Stderr,
    /// Appended to this file.
    File(PathBuf),
    /// syslog(3) with this ident, facility daemon.
    Syslog(&'static std::ffi::CStr),
}

/// The log could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log file could not be opened.
    #[error("cannot open log file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why (a system error, a symlink, not a regular file).
        source: crate::files::FileError,
    },
    /// A global subscriber was already installed.
    #[error("logging already initialised: {0}")]
    Init(String),
}

/// Whether colour codes go to `target`: only stdout/stderr that are terminals.
pub fn ansi_for(target: &LogTarget) -> bool {
    match target {
        LogTarget::Stdout => std::io::stdout().is_terminal(),
        LogTarget::Stderr => std::io::stderr().is_terminal(),
        LogTarget::File(_) | LogTarget::Syslog(_) => false,
    }
}

/// A log sink that sends each line to syslog.
struct Syslog;

impl Write for Syslog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        for line in text.lines().filter(|l| !l.is_empty()) {
            if let Ok(c) = std::ffi::CString::new(line.replace('%', "%%")) {
                // SAFETY: a valid NUL-terminated format string without conversions.
                unsafe { libc::syslog(libc::LOG_INFO, c.as_ptr()) };
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the global `tracing` subscriber: `filter` decides what is logged, `format`
/// how, `target` where.
pub fn init(format: LogFormat, target: &LogTarget, filter: EnvFilter) -> Result<(), LogError> {
    let ansi = ansi_for(target);
    let writer = match target {
        LogTarget::Stdout => BoxMakeWriter::new(std::io::stdout),
        LogTarget::Stderr => BoxMakeWriter::new(std::io::stderr),
        LogTarget::File(p) => {
            let f = crate::files::open_log_file(p).map_err(|source| LogError::File {
                path: p.clone(),
                source,
            })?;
            BoxMakeWriter::new(std::sync::Mutex::new(f))
        }
        LogTarget::Syslog(ident) => {
            // SAFETY: the ident is a static C string that outlives the process's logging.
            unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
            BoxMakeWriter::new(std::sync::Mutex::new(Syslog))
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let syslog = matches!(target, LogTarget::Syslog(_));
    let res = match (format, syslog) {
        (LogFormat::Text, false) => builder.try_init(),
        // syslog stamps each line itself.
        (LogFormat::Text, true) => builder.without_time().try_init(),
        (LogFormat::Json, _) => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    res.map_err(|e| LogError::Init(e.to_string()))
}

/// The environment variable holding the filter.
pub const LOG_ENV: &str = "PKTVISOR_LOG";

/// The filter from `PKTVISOR_LOG`, or the level `-v` selects.
pub fn env_filter(verbose: bool) -> Result<EnvFilter, String> {
    filter_from(std::env::var(LOG_ENV).ok().as_deref(), verbose)
}

/// The filter from a `PKTVISOR_LOG` value (if any), or the level `-v` selects.
pub fn filter_from(value: Option<&str>, verbose: bool) -> Result<EnvFilter, String> {
    match value {
        Some(v) => EnvFilter::try_new(v).map_err(|e| format!("invalid {LOG_ENV} value '{v}': {e}")),
        None => Ok(EnvFilter::new(if verbose { "debug" } else { "info" })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_syslog_never_get_colours() {
        assert!(!ansi_for(&LogTarget::File("/tmp/x.log".into())));
        assert!(!ansi_for(&LogTarget::Syslog(c"pktvisord")));
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(filter_from(None, true).is_ok());
        assert!(filter_from(Some("info,pktvisor=debug"), false).is_ok());
        let e = filter_from(Some("pktvisor=loud"), false).unwrap_err();
        assert!(
            e.starts_with("invalid PKTVISOR_LOG value 'pktvisor=loud'"),
            "{e}"
        );
    }
}
