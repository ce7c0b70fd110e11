//! pktvisord's HTTP(S) server: binds `-l`/`-p`, serves the REST router (`http`) and holds
//! up against slow and numerous clients.
//!
//! Every connection is tracked from accept to close (`Tracker`): it is *reading a head*
//! from connect (or from its first byte after a response) until a request arrives, *busy*
//! while a request is handled, *idle* after the response. A head not complete within
//! `http_header_timeout` (slowloris, a stalled TLS handshake) and an idle keep-alive
//! connection past `http_idle_timeout` are closed. At most `http_max_connections`
//! connections are open, and never more than the open-file limit minus a reserve for
//! captures, sockets and files (the soft `RLIMIT_NOFILE` is raised to the hard one at
//! start); when full, a new connection takes the place of the open one that is not busy and
//! has waited longest, so clients that hold connections without using them cannot lock
//! others out. Handlers run on a bounded blocking pool (`MAX_BLOCKING_THREADS`). Counters
//! of all this are in `HttpStats`.
//!
//! Binding the admin API to a non-loopback address without an admin token is warned about.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::agent::Agent;

/// Threads the runtime may run blocking work on (every REST handler takes the registry
/// there): more requests wait instead of each taking a thread.
pub const MAX_BLOCKING_THREADS: usize = 16;

/// Open files kept back from HTTP connections for everything else (at least this, or a
/// quarter of the limit).
const FD_RESERVE: u64 = 256;

/// How often timeouts are checked.
const SWEEP: Duration = Duration::from_millis(500);

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address does not resolve or cannot be bound (pktvisor's text).
    #[error("unable to bind to {0}:{1}")]
    Bind(String, u16),
    /// `--tls` without `--tls-cert` and `--tls-key`.
    #[error("you must specify --tls-key and --tls-cert to use --tls")]
    TlsMissing,
    /// The certificate or key is unusable (pktvisor's text).
    #[error("invalid TLS configuration")]
    TlsInvalid,
    /// Serving failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Timeouts and bounds of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerOptions {
    /// Time to send a request head.
    pub header_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

/// Counters of the server.
#[derive(Debug, Default)]
pub struct HttpStats {
    accepted: AtomicU64,
    evicted: AtomicU64,
    refused: AtomicU64,
    header_timeouts: AtomicU64,
    idle_timeouts: AtomicU64,
    accept_errors: AtomicU64,
    tls_failures: AtomicU64,
    limit: AtomicU64,
    open: AtomicU64,
}

/// A copy of the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct HttpStatsSnapshot {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections open now.
    pub open: u64,
    /// The bound on open connections.
    pub limit: u64,
    /// Connections closed to make room for a new one (not busy, waiting longest).
    pub evicted: u64,
    /// Connections refused because every open one was busy.
    pub refused: u64,
    /// Connections closed because a request head did not arrive in time.
    pub header_timeouts: u64,
    /// Keep-alive connections closed after waiting too long for a request.
    pub idle_timeouts: u64,
    /// accept() failures (such as running out of file descriptors).
    pub accept_errors: u64,
    /// TLS handshakes that failed or timed out.
    pub tls_failures: u64,
}

impl HttpStats {
    /// The counters now.
    pub fn snapshot(&self) -> HttpStatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        HttpStatsSnapshot {
            accepted: g(&self.accepted),
            open: g(&self.open),
            limit: g(&self.limit),
            evicted: g(&self.evicted),
            refused: g(&self.refused),
            header_timeouts: g(&self.header_timeouts),
            idle_timeouts: g(&self.idle_timeouts),
            accept_errors: g(&self.accept_errors),
            tls_failures: g(&self.tls_failures),
        }
    }
}

/// Tunes glibc's allocator for a long-running agent whose reads build large transient
/// values (a window of a thousand flow devices, its JSON): at most 4 arenas (one per thread
/// would keep freed memory scattered over dozens of them), and allocations of 1 MiB or more
/// always mapped on their own (glibc otherwise raises that threshold after large frees, so
/// big buffers come from the heap and fragment it), so they go back to the system when
/// freed. Call once at start, before threads are spawned.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before other threads run.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 4);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Gives memory freed after a large read (a window of many devices, its JSON) back to the
/// system, at most once a second: glibc keeps freed heap pages otherwise, so every
/// transient peak would stay resident for good.
pub fn release_free_memory() {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if LAST.swap(now, Ordering::Relaxed) == now {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the heap to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Raises the soft open-file limit to the hard one; returns (soft, hard) after.
pub fn raise_nofile_limit() -> Option<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid rlimit for the call to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut r) } != 0 {
        return None;
    }
    if r.rlim_cur < r.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: r.rlim_max,
            rlim_max: r.rlim_max,
        };
        // SAFETY: as above; raising the soft limit up to the hard one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const raised) } == 0 {
            r.rlim_cur = r.rlim_max;
        }
    }
    Some((r.rlim_cur, r.rlim_max))
}

/// The connection bound: the setting, kept below the open-file limit `nofile` minus a
/// reserve for everything else.
pub fn connection_cap(setting: u64, nofile: u64) -> usize {
    let reserve = FD_RESERVE.max(nofile / 4);
    let cap = setting.min(nofile.saturating_sub(reserve)).max(16);
    usize::try_from(cap).unwrap_or(usize::MAX)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request head since then.
    Head(Instant),
    /// Handling this many requests.
    Busy(u32),
    /// Done with its last response since then.
    Idle(Instant),
}

/// One tracked connection.
#[derive(Debug)]
struct Slot {
    id: u64,
    phase: Mutex<Phase>,
    closed: AtomicBool,
    wakers: Mutex<[Option<Waker>; 2]>,
}

impl Slot {
    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, f: impl FnOnce(Phase) -> Phase) {
        let mut g = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        *g = f(*g);
    }

    /// Ends the connection: its next read or write fails.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|p| p.into_inner()));
        for w in wakers.into_iter().flatten() {
            w.wake();
        }
    }

    fn park(&self, i: usize, cx: &Context<'_>) {
        let mut g = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
        g[i] = Some(cx.waker().clone());
    }
}

/// Every open connection.
#[derive(Debug, Default)]
struct Tracker {
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    next: AtomicU64,
    stats: Arc<HttpStats>,
}

impl Tracker {
    fn open(&self) -> Arc<Slot> {
        let slot = Arc::new(Slot {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            phase: Mutex::new(Phase::Head(Instant::now())),
            closed: AtomicBool::new(false),
            wakers: Mutex::new([None, None]),
        });
        let mut m = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(slot.id, Arc::clone(&slot));
        self.stats.open.store(m.len() as u64, Ordering::Relaxed);
        slot
    }

    fn remove(&self, id: u64) {
        let mut m = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        m.remove(&id);
        self.stats.open.store(m.len() as u64, Ordering::Relaxed);
    }

    /// Open connections not yet told to close.
    fn live(&self) -> usize {
        let m = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        m.values()
            .filter(|s| !s.closed.load(Ordering::Relaxed))
            .count()
    }

    /// Closes the connection not busy that has waited longest; false when all are busy.
    fn evict_one(&self) -> bool {
        let m = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let victim = m
            .values()
            .filter(|s| !s.closed.load(Ordering::Relaxed))
            .filter_map(|s| match s.phase() {
                Phase::Head(t) | Phase::Idle(t) => Some((t, s)),
                Phase::Busy(_) => None,
            })
            .min_by_key(|(t, _)| *t)
            .map(|(_, s)| Arc::clone(s));
        drop(m);
        match victim {
            Some(s) => {
                s.close();
                true
            }
            None => false,
        }
    }

    /// Closes connections past their head or idle timeout.
    fn sweep(&self, opts: &ServerOptions) {
        let now = Instant::now();
        let m = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        for s in m.values() {
            if s.closed.load(Ordering::Relaxed) {
                continue;
            }
            match s.phase() {
                Phase::Head(t) if now.duration_since(t) > opts.header_timeout => {
                    self.stats.header_timeouts.fetch_add(1, Ordering::Relaxed);
                    s.close();
                }
                Phase::Idle(t) if now.duration_since(t) > opts.idle_timeout => {
                    self.stats.idle_timeouts.fetch_add(1, Ordering::Relaxed);
                    s.close();
                }
                _ => {}
            }
        }
    }

    fn close_all(&self) {
        let m = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        for s in m.values() {
            s.close();
        }
    }
}

/// A connection's stream, tracked: reads mark the start of a new request head, and a
/// closed slot makes every read and write fail.
pub struct TrackedIo<T> {
    inner: T,
    slot: Arc<Slot>,
    tracker: Arc<Tracker>,
}

impl<T> Drop for TrackedIo<T> {
    fn drop(&mut self) {
        self.tracker.remove(self.slot.id);
    }
}

fn closed_err() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection closed by the server")
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.slot.closed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(closed_err()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        match &r {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                self.slot.set(|p| match p {
                    Phase::Idle(_) => Phase::Head(Instant::now()),
                    other => other,
                });
            }
            Poll::Pending => {
                self.slot.park(0, cx);
                if self.slot.closed.load(Ordering::SeqCst) {
                    return Poll::Ready(Err(closed_err()));
                }
            }
            _ => {}
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.slot.closed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(closed_err()));
        }
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if r.is_pending() {
            self.slot.park(1, cx);
            if self.slot.closed.load(Ordering::SeqCst) {
                return Poll::Ready(Err(closed_err()));
            }
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.slot.closed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(closed_err()));
        }
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        if r.is_pending() {
            self.slot.park(1, cx);
        }
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A served connection: plain or TLS.
pub enum Conn {
    /// HTTP.
    Plain(TrackedIo<TcpStream>),
    /// HTTPS.
    Tls(Box<tokio_rustls::server::TlsStream<TrackedIo<TcpStream>>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(c) => Pin::new(c).poll_read(cx, buf),
            Conn::Tls(c) => Pin::new(c.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(c) => Pin::new(c).poll_write(cx, data),
            Conn::Tls(c) => Pin::new(c.as_mut()).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(c) => Pin::new(c).poll_flush(cx),
            Conn::Tls(c) => Pin::new(c.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(c) => Pin::new(c).poll_shutdown(cx),
            Conn::Tls(c) => Pin::new(c.as_mut()).poll_shutdown(cx),
        }
    }
}

/// What a request knows of its connection (its peer, and its slot to mark busy/idle).
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    slot: Option<Arc<Slot>>,
}

/// The accepted connections, ready (TLS handshaken) and tracked, for `axum::serve`.
pub struct TrackedListener {
    rx: mpsc::Receiver<(Conn, ConnInfo)>,
    local: SocketAddr,
}

impl axum::serve::Listener for TrackedListener {
    type Io = Conn;
    type Addr = ConnInfo;

    async fn accept(&mut self) -> (Conn, ConnInfo) {
        match self.rx.recv().await {
            Some(c) => c,
            // the accept loop ended: nothing more will come
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<ConnInfo> {
        Ok(ConnInfo {
            peer: self.local,
            slot: None,
        })
    }
}

impl Connected<IncomingStream<'_, TrackedListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, TrackedListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Middleware: marks the connection busy while a request is handled.
pub async fn track_request(req: Request, next: Next) -> Response {
    let slot = req
        .extensions()
        .get::<ConnectInfo<ConnInfo>>()
        .and_then(|c| c.0.slot.clone());
    if let Some(s) = &slot {
        s.set(|p| match p {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        });
    }
    let resp = next.run(req).await;
    if let Some(s) = &slot {
        s.set(|p| match p {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }
    resp
}

fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, ServerError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read = |p: &std::path::Path| {
        crate::files::read_regular(p, crate::files::MAX_PEM_BYTES)
            .map_err(|_| ServerError::TlsInvalid)
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| ServerError::TlsInvalid)?;
    if certs.is_empty() {
        return Err(ServerError::TlsInvalid);
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| ServerError::TlsInvalid)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| ServerError::TlsInvalid)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|_| ServerError::TlsInvalid)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// Accepts, bounds and (for TLS) handshakes connections, handing them to `tx`.
async fn accept_loop(
    listener: TcpListener,
    tracker: Arc<Tracker>,
    opts: ServerOptions,
    tls: Option<tokio_rustls::TlsAcceptor>,
    tx: mpsc::Sender<(Conn, ConnInfo)>,
) {
    let stats = Arc::clone(&tracker.stats);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("HTTP accept failed: {e}");
                // out of descriptors: let idle connections go and try again shortly
                tracker.evict_one();
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        if tracker.live() >= opts.max_connections {
            if tracker.evict_one() {
                stats.evicted.fetch_add(1, Ordering::Relaxed);
            } else {
                stats.refused.fetch_add(1, Ordering::Relaxed);
                drop(tcp);
                continue;
            }
        }
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let slot = tracker.open();
        let info = ConnInfo {
            peer,
            slot: Some(Arc::clone(&slot)),
        };
        let io = TrackedIo {
            inner: tcp,
            slot,
            tracker: Arc::clone(&tracker),
        };
        match &tls {
            None => {
                if tx.send((Conn::Plain(io), info)).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                let stats = Arc::clone(&stats);
                // the head timeout covers the handshake (the slot is reading a head)
                tokio::spawn(async move {
                    match acceptor.accept(io).await {
                        Ok(s) => {
                            let _ = tx.send((Conn::Tls(Box::new(s)), info)).await;
                        }
                        Err(_) => {
                            stats.tls_failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        }
    }
}

/// Binds and serves the agent's REST API until the agent's shutdown token is cancelled;
/// `ready` is called with the scheme and the bound address once it accepts connections.
pub async fn serve(
    agent: Arc<Agent>,
    ready: impl FnOnce(&str, SocketAddr),
) -> Result<(), ServerError> {
    let s = &agent.settings;
    let tls = if s.tls {
        let (Some(cert), Some(key)) = (&s.tls_cert, &s.tls_key) else {
            return Err(ServerError::TlsMissing);
        };
        Some(tls_acceptor(cert, key)?)
    } else {
        None
    };
    let addr = (s.host.as_str(), s.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| ServerError::Bind(s.host.clone(), s.port))?;
    let std_listener =
        std::net::TcpListener::bind(addr).map_err(|_| ServerError::Bind(s.host.clone(), s.port))?;
    std_listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(std_listener)?;
    let local = listener.local_addr().unwrap_or(addr);
    let nofile = raise_nofile_limit().map_or(1024, |(soft, _)| soft);
    let opts = ServerOptions {
        header_timeout: Duration::from_secs(s.http_header_timeout.max(1)),
        idle_timeout: Duration::from_secs(s.http_idle_timeout.max(1)),
        max_connections: connection_cap(s.http_max_connections, nofile),
    };
    if s.admin_api && agent.admin_token().is_none() && !local.ip().is_loopback() {
        tracing::warn!(
            "the admin API listens on {local} without an admin token: anyone who can reach it \
             can create and delete taps and policies and stop the agent; set \
             --admin-token-file (or bind to a loopback address)"
        );
    }
    let tracker = Arc::new(Tracker {
        stats: agent.http_stats(),
        ..Tracker::default()
    });
    tracker
        .stats
        .limit
        .store(opts.max_connections as u64, Ordering::Relaxed);
    let scheme = if tls.is_some() { "https" } else { "http" };
    // pktvisor's line (tools wait for it before talking to the agent), then ours.
    tracing::info!("web server listening on {}:{}", s.host, s.port);
    tracing::info!(
        "{} listening on {scheme}://{local} (at most {} connections, open-file limit {nofile})",
        crate::VISOR_VERSION,
        opts.max_connections,
    );
    let (tx, rx) = mpsc::channel(64);
    let acceptor = tokio::spawn(accept_loop(listener, Arc::clone(&tracker), opts, tls, tx));
    let sweeper = {
        let tracker = Arc::clone(&tracker);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP);
            loop {
                tick.tick().await;
                tracker.sweep(&opts);
            }
        })
    };
    let stop = agent.shutdown.clone();
    let closer = {
        let tracker = Arc::clone(&tracker);
        let stop = stop.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            // in-flight requests get a moment; then every connection is closed
            tokio::time::sleep(Duration::from_secs(2)).await;
            tracker.close_all();
        })
    };
    let app =
        crate::agent::http::router(agent.clone()).into_make_service_with_connect_info::<ConnInfo>();
    ready(scheme, local);
    let served = axum::serve(TrackedListener { rx, local }, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    acceptor.abort();
    sweeper.abort();
    closer.abort();
    served.map_err(ServerError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_cap_stays_below_the_file_limit() {
        assert_eq!(connection_cap(1024, 1024), 768);
        assert_eq!(connection_cap(1024, 1 << 20), 1024);
        assert_eq!(connection_cap(100, 1 << 20), 100);
        assert_eq!(connection_cap(1024, 100), 16);
    }

    #[test]
    fn eviction_takes_the_longest_waiting_connection_that_is_not_busy() {
        let t = Tracker::default();
        let a = t.open();
        std::thread::sleep(Duration::from_millis(5));
        let b = t.open();
        let c = t.open();
        a.set(|_| Phase::Busy(1));
        assert!(t.evict_one());
        assert!(!a.closed.load(Ordering::Relaxed), "busy: kept");
        assert!(b.closed.load(Ordering::Relaxed), "oldest waiting: closed");
        assert!(!c.closed.load(Ordering::Relaxed));
        assert_eq!(t.live(), 2);
        c.set(|_| Phase::Busy(1));
        assert!(!t.evict_one(), "everything left is busy");
        let opts = ServerOptions {
            header_timeout: Duration::from_millis(1),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4,
        };
        let d = t.open();
        std::thread::sleep(Duration::from_millis(5));
        t.sweep(&opts);
        assert!(d.closed.load(Ordering::Relaxed), "head timed out");
        assert_eq!(t.stats.snapshot().header_timeouts, 1);
    }
}
