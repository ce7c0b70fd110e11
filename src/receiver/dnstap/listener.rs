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
//! socket file (only if it is still the one bound here: see `socket`).
//!
//! Senders cannot lock the listener out or make it hold unbounded memory: a connection
//! silent for `idle_timeout` after START is closed; when `max_connections` are open, a new
//! sender takes the slot of the connection idle longest (if idle at least
//! `evict_idle_after`), else it is refused; a slot is free the moment its connection ends;
//! and bytes of frames not yet complete draw on a byte budget every connection shares
//! (`budget`), past which the connection is closed. Each of these is counted.
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

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use super::budget::ByteBudget;
use super::config::{DnstapInput, DnstapSource, TcpSpec};
use super::fstrm::{
    ControlFrame, ControlKind, DEFAULT_MAX_FRAME, DNSTAP_CONTENT_TYPE, Frame, FrameCodec,
    FstrmError, put_control,
};
use super::map::{MapError, decode_frame};
use super::proto;
use super::session::{ReaderSession, SessionError, Step};
use super::socket::{self, SocketId};
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
    /// Disconnect senders silent for this long after START (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// Time allowed to write ACCEPT or FINISH.
    pub write_timeout: Duration,
    /// Connections served at once; a new one past it takes the slot of the connection idle
    /// longest (see `evict_idle_after`) or is accepted and closed at once (counted).
    pub max_connections: usize,
    /// How long a connection must have been silent before a new sender may take its slot
    /// when every slot is taken.
    pub evict_idle_after: Duration,
    /// Bytes read per read call (and so the most data one batch comes from).
    pub read_chunk: usize,
    /// The budget of bytes held in frames not yet complete, shared by every connection
    /// (by default the process-wide one).
    pub partial_budget: Arc<ByteBudget>,
}

/// Default time a sender may stay silent after START.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

impl ListenerConfig {
    fn with_addr(addr: ListenAddr) -> ListenerConfig {
        ListenerConfig {
            addr,
            content_type: Bytes::from_static(DNSTAP_CONTENT_TYPE),
            max_frame_size: DEFAULT_MAX_FRAME,
            handshake_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(30),
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            write_timeout: Duration::from_secs(5),
            max_connections: 1024,
            evict_idle_after: Duration::from_secs(10),
            read_chunk: 64 * 1024,
            partial_budget: ByteBudget::global(),
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
        c.idle_timeout = input.idle_timeout;
        Ok(c)
    }
}

/// Why a listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A path exists at the socket location and is not a socket.
    #[error("{0}: exists and is not a socket; not removing it")]
    NotASocket(PathBuf),
    /// A socket someone still accepts on exists at the socket location.
    #[error("{0}: a socket in use by another process; not replacing it")]
    InUse(PathBuf),
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
    Unix(UnixListener, PathBuf, SocketId),
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

impl DnstapListener {
    /// Binds (must run inside a tokio runtime). A unix socket path is cleared only when
    /// what is there is this process's socket or a provably stale one (`socket`).
    pub async fn bind(cfg: ListenerConfig) -> Result<DnstapListener, ListenError> {
        let (bound, local) = match &cfg.addr {
            ListenAddr::Unix { path, mode } => {
                let (l, id) = socket::bind(path, *mode)?;
                (Bound::Unix(l, path.clone(), id), path.display().to_string())
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
        let stats = Arc::new(ListenerStats::default());
        stats.set_limits(cfg.max_connections, Arc::clone(&cfg.partial_budget));
        Ok(DnstapListener {
            bound,
            cfg: Arc::new(cfg),
            stats,
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
        let slots = Arc::new(Slots::default());
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
            // tasks that ended while we waited free their slots now
            while conns.try_join_next().is_some() {}
            if slots.len() >= self.cfg.max_connections {
                if slots.evict_idlest(self.cfg.evict_idle_after) {
                    self.stats.evicted();
                } else {
                    self.stats.refused();
                    drop(io);
                    continue;
                }
            }
            self.stats.accepted();
            let slot = slots.open();
            let conn = Connection {
                cfg: Arc::clone(&self.cfg),
                stats: Arc::clone(&self.stats),
                tx: tx.clone(),
                shutdown: shutdown.clone(),
                slot,
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
        if let Bound::Unix(_, path, id) = &self.bound {
            socket::remove_if_ours(path, *id);
        }
        self.stats.snapshot()
    }
}

/// The open connections of a listener: when each last received bytes, and how to end it.
#[derive(Default)]
struct Slots {
    epoch: std::sync::OnceLock<Instant>,
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<SlotState>>>,
}

struct SlotState {
    /// Milliseconds since the listener's epoch of the last bytes received (or the accept).
    last: AtomicU64,
    /// Cancelled to end the connection (eviction).
    end: CancellationToken,
}

/// A connection's hold on a slot, released when the connection ends.
struct Slot {
    slots: Arc<Slots>,
    id: u64,
    state: Arc<SlotState>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.slots.open.lock() {
            m.remove(&self.id);
        }
    }
}

impl Slot {
    fn touch(&self) {
        self.state
            .last
            .store(self.slots.now_ms(), Ordering::Relaxed);
    }
}

impl Slots {
    fn now_ms(&self) -> u64 {
        let epoch = self.epoch.get_or_init(Instant::now);
        u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn len(&self) -> usize {
        self.open.lock().map(|m| m.len()).unwrap_or(0)
    }

    fn open(self: &Arc<Self>) -> Slot {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(SlotState {
            last: AtomicU64::new(self.now_ms()),
            end: CancellationToken::new(),
        });
        if let Ok(mut m) = self.open.lock() {
            m.insert(id, Arc::clone(&state));
        }
        Slot {
            slots: Arc::clone(self),
            id,
            state,
        }
    }

    /// Ends the connection silent longest, if silent at least `min`; true when one was.
    fn evict_idlest(&self, min: Duration) -> bool {
        let now = self.now_ms();
        let min = u64::try_from(min.as_millis()).unwrap_or(u64::MAX);
        let Ok(mut m) = self.open.lock() else {
            return false;
        };
        let victim = m
            .iter()
            .filter(|(_, s)| !s.end.is_cancelled())
            .map(|(id, s)| (*id, s.last.load(Ordering::Relaxed)))
            .filter(|(_, last)| now.saturating_sub(*last) >= min)
            .min_by_key(|(_, last)| *last)
            .map(|(id, _)| id);
        match victim.and_then(|id| m.remove(&id)) {
            Some(s) => {
                s.end.cancel();
                true
            }
            None => false,
        }
    }
}

/// A connected stream of either kind.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

async fn accept(b: &Bound) -> io::Result<Option<Box<dyn Io>>> {
    match b {
        Bound::Unix(l, _, _) => {
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
    slot: Slot,
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

    async fn serve(&self, io: Box<dyn Io>) -> Disconnect {
        let mut held = 0usize;
        let end = self.serve_budgeted(io, &mut held).await;
        self.cfg.partial_budget.resize(held, 0);
        end
    }

    /// Serves the connection; `held` is what it draws on the partial-frame budget.
    async fn serve_budgeted(&self, mut io: Box<dyn Io>, held: &mut usize) -> Disconnect {
        let cfg = &self.cfg;
        let mut buf = BytesMut::with_capacity(cfg.read_chunk);
        let mut codec = FrameCodec::new(cfg.max_frame_size);
        let mut session = ReaderSession::new(&cfg.content_type);
        let opened = Instant::now();
        let mut last_read = opened;
        let mut partial_since: Option<Instant> = None;
        let evicted = self.slot.state.end.clone();
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
            // what is left is a frame not yet complete: it draws on the shared budget
            if !cfg.partial_budget.resize(*held, buf.len()) {
                self.stats.partial_frame();
                return Disconnect::MemoryBudget;
            }
            *held = buf.len();
            if buf.is_empty() && buf.capacity() > 2 * cfg.read_chunk {
                // do not keep a large frame's allocation for an idle sender
                buf = BytesMut::with_capacity(cfg.read_chunk);
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
                () = evicted.cancelled() => {
                    if !buf.is_empty() {
                        self.stats.partial_frame();
                    }
                    return Disconnect::Evicted;
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
                    self.slot.touch();
                    self.stats.bytes(n);
                }
                Err(_) => return Disconnect::IoError,
            }
        }
    }
}
