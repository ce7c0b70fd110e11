//! systemd's service notification protocol (sd_notify(3)) without libsystemd.
//!
//! A service started with `Type=notify` finds the address of the service manager's
//! socket in `$NOTIFY_SOCKET`: a file system path, or an abstract socket written with a
//! leading `@`. Each notification is one datagram of newline-separated `KEY=VALUE`
//! assignments (`READY=1`, `STOPPING=1`, `RELOADING=1`, `STATUS=…`). Without
//! `$NOTIFY_SOCKET` (not run by systemd) every call is a no-op.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// A notification could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// `$NOTIFY_SOCKET` is neither an absolute path nor an `@` abstract name.
    #[error("NOTIFY_SOCKET={0:?}: not an absolute path or @abstract name")]
    BadAddress(String),
    /// The socket could not be created or the datagram not sent.
    #[error("sd_notify to {addr}: {source}")]
    Io {
        /// The address from `$NOTIFY_SOCKET`.
        addr: String,
        /// The system error.
        source: io::Error,
    },
}

/// A connection to the service manager's notification socket.
#[derive(Debug)]
pub struct Notifier {
    text: String,
    addr: SocketAddr,
}

impl Notifier {
    /// The notifier of `$NOTIFY_SOCKET`, or `None` when the variable is unset or empty.
    pub fn from_env() -> Result<Option<Notifier>, NotifyError> {
        match std::env::var("NOTIFY_SOCKET") {
            Ok(v) if !v.is_empty() => Notifier::new(&v).map(Some),
            _ => Ok(None),
        }
    }

    /// A notifier for `addr`: an absolute path or `@name` (Linux abstract namespace).
    pub fn new(addr: &str) -> Result<Notifier, NotifyError> {
        let parsed = if let Some(name) = addr.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())
        } else if addr.starts_with('/') {
            SocketAddr::from_pathname(addr)
        } else {
            return Err(NotifyError::BadAddress(addr.to_string()));
        };
        let addr_text = addr.to_string();
        parsed
            .map(|a| Notifier {
                text: addr_text.clone(),
                addr: a,
            })
            .map_err(|source| NotifyError::Io {
                addr: addr_text,
                source,
            })
    }

    /// Sends one datagram of `KEY=VALUE` lines.
    pub fn notify(&self, state: &str) -> Result<(), NotifyError> {
        let io_err = |source| NotifyError::Io {
            addr: self.text.clone(),
            source,
        };
        let sock = UnixDatagram::unbound().map_err(io_err)?;
        sock.send_to_addr(state.as_bytes(), &self.addr)
            .map_err(io_err)?;
        Ok(())
    }

    /// `READY=1` with a status line: start-up is complete.
    pub fn ready(&self, status: &str) -> Result<(), NotifyError> {
        self.notify(&format!("READY=1\nSTATUS={}", one_line(status)))
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self) -> Result<(), NotifyError> {
        self.notify("STOPPING=1\nSTATUS=stopping")
    }

    /// `RELOADING=1` with the monotonic time systemd asks for; follow with [`Self::ready`].
    pub fn reloading(&self) -> Result<(), NotifyError> {
        self.notify(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading",
            monotonic_usec()
        ))
    }

    /// `STATUS=…` alone.
    pub fn status(&self, status: &str) -> Result<(), NotifyError> {
        self.notify(&format!("STATUS={}", one_line(status)))
    }
}

/// A status text without line breaks (a line break would start another assignment).
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// `CLOCK_MONOTONIC` in microseconds.
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000
        + u64::try_from(ts.tv_nsec).unwrap_or(0) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn recv(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).expect("a datagram");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn path_socket_receives_ready_and_stopping() {
        let dir = std::env::temp_dir().join(format!("pktvisor-sdnotify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(path.to_str().unwrap()).unwrap();
        n.ready("listening on 127.0.0.1:1\nsecond line").unwrap();
        assert_eq!(
            recv(&server),
            "READY=1\nSTATUS=listening on 127.0.0.1:1 second line"
        );
        n.stopping().unwrap();
        assert_eq!(recv(&server), "STOPPING=1\nSTATUS=stopping");
        n.reloading().unwrap();
        let r = recv(&server);
        let usec: u64 = r
            .lines()
            .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
            .and_then(|v| v.parse().ok())
            .expect("MONOTONIC_USEC");
        assert!(r.starts_with("RELOADING=1\n") && usec > 0, "{r}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn abstract_socket_is_reached_with_at_sign() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("pktvisor-test-notify-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier::new(&format!("@{name}")).unwrap();
        n.status("hello").unwrap();
        assert_eq!(recv(&server), "STATUS=hello");
    }

    #[test]
    fn relative_or_missing_addresses() {
        assert!(matches!(
            Notifier::new("relative/sock"),
            Err(NotifyError::BadAddress(_))
        ));
        let n = Notifier::new("/nonexistent-dir-pktvisor/notify").unwrap();
        let e = n.ready("x").unwrap_err().to_string();
        assert!(e.contains("/nonexistent-dir-pktvisor/notify"), "{e}");
    }
}
