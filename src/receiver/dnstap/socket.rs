//! The unix socket file of a dnstap listener, handled so that the agent (often root) cannot
//! be used to take over or remove someone else's file:
//!
//! - before binding, a path that exists is removed only when it is a socket this process
//!   bound (same device and inode), or a socket nobody accepts on any more (a connect is
//!   refused: provably stale); a live socket, a regular file, a symlink or anything else is
//!   left alone and binding fails;
//! - the socket is created with its requested mode from the start: the umask is tightened
//!   around `bind` (never loosened, so no other file created meanwhile is more open than
//!   the process umask allows), then the exact mode is set;
//! - at shutdown the path is removed only if it is still the socket bound here.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::net::UnixListener;

use super::listener::ListenError;

/// Device and inode of a socket file.
pub type SocketId = (u64, u64);

/// Sockets this process bound and has not removed.
static CREATED: Mutex<Vec<(PathBuf, SocketId)>> = Mutex::new(Vec::new());

/// Serializes our umask changes.
static UMASK: Mutex<()> = Mutex::new(());

fn identity(path: &Path) -> Option<SocketId> {
    std::fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.file_type().is_socket())
        .map(|m| (m.dev(), m.ino()))
}

fn ours(path: &Path, id: SocketId) -> bool {
    CREATED
        .lock()
        .map(|v| v.iter().any(|(p, i)| p == path && *i == id))
        .unwrap_or(false)
}

fn forget(path: &Path) {
    if let Ok(mut v) = CREATED.lock() {
        v.retain(|(p, _)| p != path);
    }
}

/// Whether nothing accepts on the socket at `path` (a connect is refused).
fn stale(path: &Path) -> bool {
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
    }
}

/// Clears the way for binding `path` (see the module doc).
pub fn prepare(path: &Path) -> Result<(), ListenError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ListenError::Bind {
                addr: path.display().to_string(),
                source,
            });
        }
    };
    if !meta.file_type().is_socket() {
        return Err(ListenError::NotASocket(path.to_path_buf()));
    }
    let id = (meta.dev(), meta.ino());
    if ours(path, id) {
        tracing::debug!("dnstap: replacing our own socket {}", path.display());
    } else if stale(path) {
        tracing::info!("dnstap: removing stale socket {}", path.display());
    } else {
        return Err(ListenError::InUse(path.to_path_buf()));
    }
    forget(path);
    std::fs::remove_file(path).map_err(|source| ListenError::Bind {
        addr: path.display().to_string(),
        source,
    })
}

/// Binds a unix listener at `path` (must run inside a tokio runtime) with permissions
/// `mode` from the start, and records the socket as this process's.
pub fn bind(path: &Path, mode: Option<u32>) -> Result<(UnixListener, SocketId), ListenError> {
    prepare(path)?;
    let bind_err = |source| ListenError::Bind {
        addr: path.display().to_string(),
        source,
    };
    let listener = match mode {
        None => UnixListener::bind(path).map_err(bind_err)?,
        Some(m) => {
            let _guard = UMASK.lock().unwrap_or_else(|p| p.into_inner());
            // SAFETY: umask has no preconditions; it is restored below before the lock is
            // released, and only ever tightened in between.
            let old = unsafe { libc::umask(0o077) };
            let tighter = old | (!m & 0o777) as libc::mode_t;
            // SAFETY: as above.
            unsafe { libc::umask(tighter) };
            let r = UnixListener::bind(path);
            // SAFETY: as above.
            unsafe { libc::umask(old) };
            let l = r.map_err(bind_err)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(m)).map_err(
                |source| ListenError::Permissions {
                    path: path.to_path_buf(),
                    source,
                },
            )?;
            l
        }
    };
    let id = identity(path).ok_or_else(|| {
        bind_err(std::io::Error::other(
            "the socket file vanished right after bind",
        ))
    })?;
    if let Ok(mut v) = CREATED.lock() {
        v.retain(|(p, _)| p != path);
        v.push((path.to_path_buf(), id));
    }
    Ok((listener, id))
}

/// Removes `path` if it is still the socket `id` bound here.
pub fn remove_if_ours(path: &Path, id: SocketId) {
    if identity(path) == Some(id) {
        let _ = std::fs::remove_file(path);
    }
    if let Ok(mut v) = CREATED.lock() {
        v.retain(|(p, i)| !(p == path && *i == id));
    }
}
