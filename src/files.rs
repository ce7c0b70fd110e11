//! Opening the files an operator (or a config file, or the admin API) points the agent at:
//! configuration files, the IANA service registry, GeoIP databases, TLS material, the admin
//! token and the log file. Every table is read only from a regular file of bounded size,
//! opened so that a FIFO or a device cannot block the process (`O_NONBLOCK`) and read with a
//! cap even if the file grows after it was checked; the log file is opened without following
//! a symlink (`O_NOFOLLOW`), so a link planted where the log goes cannot redirect the agent's
//! writes.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Largest configuration file (`--config`, admin bodies are bounded by the HTTP layer).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Largest IANA service registry CSV (the official one is about 1 MiB).
pub const MAX_SERVICE_REGISTRY_BYTES: u64 = 64 << 20;

/// Largest GeoIP database (commercial City databases are a few hundred MiB; they are
/// mapped, not read).
pub const MAX_GEO_DB_BYTES: u64 = 4 << 30;

/// Largest TLS certificate or key file.
pub const MAX_PEM_BYTES: u64 = 1 << 20;

/// Largest admin token file.
pub const MAX_TOKEN_BYTES: u64 = 4 << 10;

/// Why a file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A directory, FIFO, socket or device.
    #[error("not a regular file")]
    NotRegular,
    /// Larger than the bound for its kind.
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    /// Opening or reading failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl From<FileError> for io::Error {
    fn from(e: FileError) -> io::Error {
        match e {
            FileError::Io(e) => e,
            other => io::Error::other(other.to_string()),
        }
    }
}

/// Opens `path` for reading if it is a regular file of at most `max` bytes. The open does
/// not block on a FIFO and does not make a terminal the controlling one.
pub fn open_regular(path: &Path, max: u64) -> Result<File, FileError> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(FileError::NotRegular);
    }
    if meta.len() > max {
        return Err(FileError::TooLarge(max));
    }
    Ok(f)
}

/// The bytes of a regular file of at most `max` bytes (also when it grows while read).
pub fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let f = open_regular(path, max)?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    f.take(max.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(FileError::TooLarge(max));
    }
    Ok(out)
}

/// The UTF-8 text of a regular file of at most `max` bytes.
pub fn read_regular_string(path: &Path, max: u64) -> Result<String, FileError> {
    String::from_utf8(read_regular(path, max)?).map_err(|_| {
        FileError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

/// Opens (creating it with mode 0640) the log file for appending. A symlink at `path` is
/// refused (`O_NOFOLLOW`), as is anything but a regular file or a character device (a
/// FIFO would block the agent's logging).
pub fn open_log_file(path: &Path) -> Result<File, FileError> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                FileError::Io(io::Error::other("is a symbolic link; not following it"))
            } else {
                FileError::Io(e)
            }
        })?;
    let ft = f.metadata()?.file_type();
    if !(ft.is_file() || ft.is_char_device()) {
        return Err(FileError::NotRegular);
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("pktvisor-files-{}-{name}", std::process::id()))
    }

    #[test]
    fn regular_files_only_and_bounded() {
        let p = temp("small");
        std::fs::write(&p, "hello").unwrap();
        assert_eq!(read_regular_string(&p, 5).unwrap(), "hello");
        assert!(matches!(read_regular(&p, 4), Err(FileError::TooLarge(4))));
        assert!(matches!(
            read_regular(&std::env::temp_dir(), 10),
            Err(FileError::NotRegular)
        ));
        // a FIFO neither blocks nor is read
        let fifo = temp("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            read_regular(&fifo, 10),
            Err(FileError::NotRegular)
        ));
        // /dev/zero is endless: refused before a byte is read
        assert!(matches!(
            read_regular(Path::new("/dev/zero"), 10),
            Err(FileError::NotRegular)
        ));
        let _ = std::fs::remove_file(p);
        let _ = std::fs::remove_file(fifo);
    }

    #[test]
    fn log_file_is_not_opened_through_a_symlink() {
        let target = temp("log-target");
        let link = temp("log-link");
        std::fs::write(&target, "").unwrap();
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = open_log_file(&link).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let real = temp("log-real");
        let _ = std::fs::remove_file(&real);
        assert!(open_log_file(&real).is_ok());
        assert!(open_log_file(Path::new("/dev/null")).is_ok());
        for p in [target, link, real] {
            let _ = std::fs::remove_file(p);
        }
    }
}
