//! The live dnstap receiver: a unix-socket or TCP listener taking any number of Frame
//! Streams senders at once, each served by its own task that frames, runs the handshake,
//! decodes the protobuf and hands batches of messages to one consumer over a bounded
//! `tokio::sync::mpsc` channel.
//!
//! A full channel makes the sending connection wait (it stops reading, so the sender's
//! socket fills and the sender slows down): backpressure, never a silent drop. A sender that
//! misbehaves (malformed or out-of-order control frame, oversized frame, garbage, a
//! handshake or a frame that does not complete in time, an abrupt close) is disconnected and
//! counted by reason; every complete message it sent before is still delivered, and the
//! other connections are not affected. Shutdown (a `CancellationToken`) stops accepting,
//! ends every connection after handing over what it already decoded, and removes the unix
//! socket file.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pktvisor::receiver::dnstap::ListenError> {
//! use pktvisor::receiver::dnstap::{DnstapListener, ListenerConfig};
//! let listener = DnstapListener::bind(ListenerConfig::unix("/run/dnstap.sock")).await?;
//! let stats = listener.stats();
//! let (tx, mut rx) = tokio::sync::mpsc::channel(64);
//! let stop = tokio_util::sync::CancellationToken::new();
//! let task = tokio::spawn(listener.run(tx, stop.clone()));
//! while let Some(batch) = rx.recv().await {
//!     for frame in batch { /* map and dispatch frame.message */ let _ = frame; }
//! }
//! # stop.cancel(); let _final = task.await; let _ = stats.snapshot(); Ok(()) }
//! ```

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use super::config::{DnstapInput, DnstapSource, TcpSpec};
use super::fstrm::{
    ControlFrame, ControlKind, DEFAULT_MAX_FRAME, DNSTAP_CONTENT_TYPE, Frame, FrameCodec,
    FstrmError, put_control,
};
use super::map::{MapError, decode_frame};
use super::proto;
use super::session::{ReaderSession, SessionError, Step};
use super::stats::{Disconnect, ListenerStats, StatsSnapshot};

/// How long a connection may wait at shutdown to hand over what it decoded.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// One decoded dnstap message and the size of the frame that carried it.
#[derive(Clone, Debug)]
pub struct DnstapFrame {
    /// The message (its byte fields share the connection's read buffer).
    pub message: proto::Dnstap,
    /// Bytes of the data frame.
    pub frame_len: usize,
}

/// What the consumer receives: the messages one read of one connection completed.
pub type DnstapBatch = Vec<DnstapFrame>;

/// Where to listen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    /// A unix stream socket (an existing socket file is removed first).
    Unix {
        /// Path of the socket file.
        path: PathBuf,
        /// Permissions to set on it (`None`: the process umask decides).
        mode: Option<u32>,
    },
    /// A TCP listener.
    Tcp(TcpSpec),
}

/// Listener settings; `unix`/`tcp` give pktvisor-compatible defaults.
#[derive(Clone, Debug)]
pub struct ListenerConfig {
    /// Where to listen.
    pub addr: ListenAddr,
    /// The content type required of senders.
    pub content_type: Bytes,
    /// Largest data frame; a longer one disconnects the sender.
    pub max_frame_size: usize,
    /// Time from connect to START.
    pub handshake_timeout: Duration,
    /// Time a started frame may take to complete.
    pub stall_timeout: Duration,
    /// Disconnect senders silent for this long (`None`: never; resolvers idle legitimately).
    pub idle_timeout: Option<Duration>,
    /// Time allowed to write ACCEPT or FINISH.
    pub write_timeout: Duration,
    /// Connections served at once; more are accepted and closed at once (counted).
    pub max_connections: usize,
    /// Bytes read per read call (and so the most data one batch comes from).
    pub read_chunk: usize,
}

impl ListenerConfig {
    fn with_addr(addr: ListenAddr) -> ListenerConfig {
        ListenerConfig {
            addr,
            content_type: Bytes::from_static(DNSTAP_CONTENT_TYPE),
            max_frame_size: DEFAULT_MAX_FRAME,
            handshake_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(30),
            idle_timeout: None,
            write_timeout: Duration::from_secs(5),
            max_connections: 1024,
            read_chunk: 64 * 1024,
        }
    }

    /// A unix socket listener with defaults.
    pub fn unix(path: impl Into<PathBuf>) -> ListenerConfig {
        ListenerConfig::with_addr(ListenAddr::Unix {
            path: path.into(),
            mode: None,
        })
    }

    /// A TCP listener with defaults.
    pub fn tcp(spec: TcpSpec) -> ListenerConfig {
        ListenerConfig::with_addr(ListenAddr::Tcp(spec))
    }

    /// The listener of a dnstap input config (`socket` or `tcp`); a `dnstap_file` input has
    /// none (read it with `file::DnstapFileReader`).
    pub fn from_input(input: &DnstapInput) -> Result<ListenerConfig, ListenError> {
        let mut c = match &input.source {
            DnstapSource::Unix { path, mode } => ListenerConfig::with_addr(ListenAddr::Unix {
                path: path.clone(),
                mode: *mode,
            }),
            DnstapSource::Tcp(t) => ListenerConfig::tcp(t.clone()),
            DnstapSource::File(p) => return Err(ListenError::NotALiveSource(p.clone())),
        };
        c.max_frame_size = input.max_frame_size;
        Ok(c)
    }
}

/// Why a listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A path exists at the socket location and is not a socket.
    #[error("{0}: exists and is not a socket; not removing it")]
    NotASocket(PathBuf),
    /// Binding failed.
    #[error("unable to bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The system error.
        source: io::Error,
    },
    /// The TCP host does not resolve.
    #[error("unable to resolve tcp address {0}")]
    Resolve(String),
    /// Setting the socket's permissions failed.
    #[error("unable to set permissions of {path}: {source}")]
    Permissions {
        /// Socket path.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },
    /// A file input has no listener.
    #[error("{0}: a dnstap_file input is read, not listened on")]
    NotALiveSource(PathBuf),
}

enum Bound {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
}

/// A bound dnstap listener, ready to `run`.
pub struct DnstapListener {
    bound: Bound,
    cfg: Arc<ListenerConfig>,
    stats: Arc<ListenerStats>,
    local: String,
}

impl std::fmt::Debug for DnstapListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnstapListener")
            .field("local", &self.local)
            .finish()
    }
}

fn remove_stale_socket(path: &Path) -> Result<(), ListenError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(|source| ListenError::Bind {
                addr: path.display().to_string(),
                source,
            })
        }
        Ok(_) => Err(ListenError::NotASocket(path.to_path_buf())),
        Err(_) => Ok(()),
    }
}

impl DnstapListener {
    /// Binds (must run inside a tokio runtime). A stale unix socket file is removed first.
    pub async fn bind(cfg: ListenerConfig) -> Result<DnstapListener, ListenError> {
        let (bound, local) = match &cfg.addr {
            ListenAddr::Unix { path, mode } => {
                remove_stale_socket(path)?;
                let l = UnixListener::bind(path).map_err(|source| ListenError::Bind {
                    addr: path.display().to_string(),
                    source,
                })?;
                if let Some(m) = mode {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(*m)).map_err(
                        |source| ListenError::Permissions {
                            path: path.clone(),
                            source,
                        },
                    )?;
                }
                (Bound::Unix(l, path.clone()), path.display().to_string())
            }
            ListenAddr::Tcp(spec) => {
                let addr = tokio::net::lookup_host((spec.host.as_str(), spec.port))
                    .await
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| ListenError::Resolve(spec.to_string()))?;
                let l = TcpListener::bind(addr)
                    .await
                    .map_err(|source| ListenError::Bind {
                        addr: addr.to_string(),
                        source,
                    })?;
                let local = l.local_addr().map_or(addr, |a| a).to_string();
                (Bound::Tcp(l), local)
            }
        };
        Ok(DnstapListener {
            bound,
            cfg: Arc::new(cfg),
            stats: Arc::new(ListenerStats::default()),
            local,
        })
    }

    /// The bound address (socket path, or `ip:port` with the real port when 0 was asked).
    pub fn local_addr(&self) -> &str {
        &self.local
    }

    /// The live counters (shared; read them any time with `snapshot()`).
    pub fn stats(&self) -> Arc<ListenerStats> {
        Arc::clone(&self.stats)
    }

    /// Accepts and serves senders until `shutdown` is cancelled; then waits for every
    /// connection to hand over what it decoded, removes the socket file and returns the
    /// final counters.
    pub async fn run(
        self,
        tx: mpsc::Sender<DnstapBatch>,
        shutdown: CancellationToken,
    ) -> StatsSnapshot {
        let mut conns = JoinSet::new();
        loop {
            while conns.try_join_next().is_some() {}
            let accepted: io::Result<Option<Box<dyn Io>>> = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                r = accept(&self.bound) => r,
            };
            let io = match accepted {
                Ok(Some(io)) => io,
                Ok(None) => continue,
                Err(e) => {
                    self.stats.accept_error();
                    tracing::warn!("dnstap {}: accept failed: {e}", self.local);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if conns.len() >= self.cfg.max_connections {
                self.stats.refused();
                drop(io);
                continue;
            }
            self.stats.accepted();
            let conn = Connection {
                cfg: Arc::clone(&self.cfg),
                stats: Arc::clone(&self.stats),
                tx: tx.clone(),
                shutdown: shutdown.clone(),
            };
            let label = self.local.clone();
            conns.spawn(async move {
                let reason = conn.serve(io).await;
                conn.stats.ended(reason);
                if reason.is_misbehaviour() {
                    tracing::info!("dnstap {label}: sender disconnected: {}", reason.as_str());
                }
            });
        }
        while conns.join_next().await.is_some() {}
        if let Bound::Unix(_, path) = &self.bound {
            let _ = remove_stale_socket(path);
        }
        self.stats.snapshot()
    }
}

/// A connected stream of either kind.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

async fn accept(b: &Bound) -> io::Result<Option<Box<dyn Io>>> {
    match b {
        Bound::Unix(l, _) => {
            let (s, _) = l.accept().await?;
            Ok(Some(Box::new(s)))
        }
        Bound::Tcp(l) => {
            let (s, _) = l.accept().await?;
            let _ = s.set_nodelay(true);
            Ok(Some(Box::new(s)))
        }
    }
}

struct Connection {
    cfg: Arc<ListenerConfig>,
    stats: Arc<ListenerStats>,
    tx: mpsc::Sender<DnstapBatch>,
    shutdown: CancellationToken,
}

/// What one pass over the buffered bytes produced.
struct Pass {
    batch: DnstapBatch,
    replies: BytesMut,
    progressed: bool,
    end: Option<Disconnect>,
}

/// Frames, handshakes and decodes everything complete in `buf` (sans I/O).
fn drain(
    buf: &mut BytesMut,
    codec: &mut FrameCodec,
    session: &mut ReaderSession,
    stats: &ListenerStats,
) -> Pass {
    let mut p = Pass {
        batch: Vec::new(),
        replies: BytesMut::new(),
        progressed: false,
        end: None,
    };
    let (mut data, mut control, mut invalid, mut not_message) = (0u64, 0u64, 0u64, 0u64);
    loop {
        let frame = match codec.decode(buf) {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(FstrmError::Oversized { .. }) => {
                p.end = Some(if session.started() {
                    Disconnect::OversizedFrame
                } else {
                    Disconnect::Garbage
                });
                break;
            }
            Err(_) => {
                p.end = Some(Disconnect::BadFrame);
                break;
            }
        };
        p.progressed = true;
        match &frame {
            Frame::Data(_) => data += 1,
            Frame::Control(_) => control += 1,
        }
        match session.on_frame(frame) {
            Ok(Step::Continue) => {}
            Ok(Step::Reply(c)) => put_control(&c, &mut p.replies),
            Ok(Step::Data(d)) => {
                let frame_len = d.len();
                match decode_frame(d) {
                    Ok(message) => p.batch.push(DnstapFrame { message, frame_len }),
                    Err(MapError::NotMessage) => not_message += 1,
                    Err(_) => invalid += 1,
                }
            }
            Ok(Step::Stopped { finish }) => {
                if finish {
                    put_control(&ControlFrame::bare(ControlKind::Finish), &mut p.replies);
                }
                p.end = Some(Disconnect::Stopped);
                break;
            }
            Err(SessionError::ContentType { .. }) => {
                p.end = Some(Disconnect::ContentType);
                break;
            }
            Err(SessionError::DataBeforeStart) => {
                p.end = Some(Disconnect::Garbage);
                break;
            }
            Err(_) => {
                p.end = Some(Disconnect::Protocol);
                break;
            }
        }
    }
    stats.frames(data, control);
    stats.skipped(invalid, not_message);
    p
}

impl Connection {
    /// Hands a batch to the consumer, waiting while its channel is full.
    async fn deliver(&self, batch: DnstapBatch) -> bool {
        let n = batch.len();
        let batch = match self.tx.try_send(batch) {
            Ok(()) => {
                self.stats.delivered(n);
                return true;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.stats.dropped(n);
                return false;
            }
            Err(mpsc::error::TrySendError::Full(b)) => b,
        };
        self.stats.backpressure();
        // Wait for room; once shutting down, give the consumer a grace period to take what
        // this connection already decoded.
        let permit = tokio::select! {
            p = self.tx.reserve() => p.ok(),
            () = self.shutdown.cancelled() => {
                timeout(SHUTDOWN_GRACE, self.tx.reserve()).await.ok().and_then(Result::ok)
            }
        };
        match permit {
            Some(p) => {
                p.send(batch);
                self.stats.delivered(n);
                true
            }
            None => {
                self.stats.dropped(n);
                false
            }
        }
    }

    async fn serve(&self, mut io: Box<dyn Io>) -> Disconnect {
        let cfg = &self.cfg;
        let mut buf = BytesMut::with_capacity(cfg.read_chunk);
        let mut codec = FrameCodec::new(cfg.max_frame_size);
        let mut session = ReaderSession::new(&cfg.content_type);
        let opened = Instant::now();
        let mut last_read = opened;
        let mut partial_since: Option<Instant> = None;
        loop {
            let pass = drain(&mut buf, &mut codec, &mut session, &self.stats);
            if !pass.batch.is_empty() && !self.deliver(pass.batch).await {
                return Disconnect::ConsumerGone;
            }
            if !pass.replies.is_empty() {
                let written = timeout(cfg.write_timeout, io.write_all(&pass.replies)).await;
                // a sender may close right after STOP without waiting for FINISH (unbound
                // does at exit): that is still a clean end
                if !matches!(written, Ok(Ok(()))) && pass.end != Some(Disconnect::Stopped) {
                    return Disconnect::IoError;
                }
            }
            if let Some(end) = pass.end {
                if end == Disconnect::Stopped {
                    let _ = timeout(cfg.write_timeout, io.shutdown()).await;
                }
                return end;
            }
            let now = Instant::now();
            if buf.is_empty() {
                partial_since = None;
            } else if pass.progressed || partial_since.is_none() {
                partial_since = Some(now);
            }
            let deadline = if !session.started() {
                Some((opened + cfg.handshake_timeout, Disconnect::HandshakeTimeout))
            } else if let Some(t) = partial_since {
                Some((t + cfg.stall_timeout, Disconnect::Stalled))
            } else {
                cfg.idle_timeout
                    .map(|d| (last_read + d, Disconnect::IdleTimeout))
            };
            let (at, why) = deadline.unwrap_or((now, Disconnect::IdleTimeout));
            buf.reserve(cfg.read_chunk);
            let read = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => {
                    if !buf.is_empty() {
                        self.stats.partial_frame();
                    }
                    return Disconnect::Shutdown;
                }
                () = sleep_until(at), if deadline.is_some() => {
                    if !buf.is_empty() {
                        self.stats.partial_frame();
                    }
                    return why;
                }
                r = io.read_buf(&mut buf) => r,
            };
            match read {
                Ok(0) => {
                    if !buf.is_empty() {
                        self.stats.partial_frame();
                    }
                    return Disconnect::AbruptClose;
                }
                Ok(n) => {
                    last_read = Instant::now();
                    self.stats.bytes(n);
                }
                Err(_) => return Disconnect::IoError,
            }
        }
    }
}
