//! Operating the binaries as services: capabilities, systemd's readiness notifications
//! (`sd_notify`) and the log output (text or JSON lines, ANSI colours only on a
//! terminal). Nothing here knows about packets or metrics.
//!
//! - `sd_notify`: `READY=1`, `STOPPING=1`, `RELOADING=1` and `STATUS=` to `$NOTIFY_SOCKET`
//!   (path or abstract `@` socket) over a plain unix datagram socket, no libsystemd.
//! - `caps`: raising the permitted CAP_NET_RAW / CAP_NET_ADMIN (file capabilities) into
//!   the effective set at start.
//! - `logging`: the `tracing` subscriber of pktvisord (`--log-format text|json`, stdout,
//!   a file or syslog).

pub mod caps;
pub mod logging;
pub mod sd_notify;
