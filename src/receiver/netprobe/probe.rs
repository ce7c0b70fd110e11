//! The netprobe loop: one thread runs every target of an input — the drift-free test
//! schedule, ICMP echo on one shared socket per address family, non-blocking TCP
//! connects, name lookups on the resolver pool — and hands each probe's result on.
//!
//! Ping: a test sends `packets_per_test` echo requests `packets_interval_msec` apart,
//! each with the target's identifier (raw sockets; a datagram socket's identifier is the
//! kernel's) and a sequence number of its socket, and pktvisor's payload: an 8-byte
//! timestamp (IPv4 only) then "pktvisor" and zeros up to `packet_payload_size`. A reply
//! matches the request of its sequence number when it comes from the probed address with
//! the identifier and payload sent. The round trip is kernel receive time minus kernel
//! send time (see `sys`). No reply within `timeout_msec` is a timeout.
//!
//! TCP: a non-blocking connect; established is a success (time: the kernel's handshake
//! round trip when the SYN went once, else connect duration), refused or unreachable a
//! connect failure, neither within `timeout_msec` a timeout. Connections are closed with
//! an RST (zero linger), so a thousand probes a second leave no TIME_WAIT behind.
//!
//! Bounded state: the pending echo table holds at most one entry per sequence number of
//! a socket (65,536; requests refused past that are counted), pending connects at most
//! `timeout/interval + 1` per target, lookups at most `resolve::QUEUE`.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::config::{Family, NetprobeInput, TargetHost, VALIDATOR};
use super::resolve::{self, Resolver};
use super::schedule::{Timers, first_due, next_due};
use super::sys::{self, Epoll, IcmpKind, IcmpSocket, Waker};
use crate::event::{ProbeOutcome, ProbeResult, ProbeTest};
use crate::receiver::context::{Delivery, InfoSource, ReceiverContext};
use crate::time::Timespec;
use crate::wire::icmp::{Icmpv4Message, Icmpv6Message, icmpv4_type, icmpv6_type};
use crate::wire::ipv4::Ipv4Packet;

/// pktvisor numbers its probes from 1 across every input of the process.
static NEXT_IDENT: AtomicU16 = AtomicU16::new(1);

/// Results handed on at most this long after they are known.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Results handed on once this many are waiting.
const FLUSH_AT: usize = 1024;
/// Jobs due within this much of now run in the same wake-up.
const SLACK: Duration = Duration::from_micros(500);
/// The loop runs at most once per tick (sends and deadlines are at most this late; round
/// trips come from kernel timestamps and are not affected).
const TICK: Duration = Duration::from_millis(2);
/// Most pending echo requests per socket (its sequence numbers).
pub const MAX_PENDING_PINGS: usize = 65_536;

const TOKEN_WAKER: u64 = 0;
const TOKEN_ICMP: [u64; 2] = [1, 2];
const TOKEN_TCP: u64 = 16;

/// The input's own counters, shown in its policy info.
#[derive(Debug, Default)]
pub struct ProbeStats {
    /// Targets configured.
    pub targets: usize,
    /// Whether this is a ping input.
    pub ping: bool,
    /// ICMP sockets open.
    pub sockets: AtomicU64,
    /// Socket kinds: 0 none, 1 raw, 2 datagram (IPv4, IPv6).
    pub kinds: [AtomicU64; 2],
    /// Probes sent (echo requests, connects).
    pub sent: AtomicU64,
    /// Answers matched to a probe.
    pub answered: AtomicU64,
    /// Probes not answered in time.
    pub timeouts: AtomicU64,
    /// Echo replies that matched no pending request (late, or another pinger's).
    pub unmatched: AtomicU64,
    /// Sends the kernel refused, sockets that could not be opened.
    pub send_errors: AtomicU64,
    /// Tests skipped: the previous lookup of the name still running, the lookup queue
    /// full, or the loop more than an interval behind.
    pub tests_skipped: AtomicU64,
    /// Echo requests not sent because their sequence number was still pending.
    pub pending_refused: AtomicU64,
    /// Pending echo requests and connects now.
    pub pending: AtomicU64,
    /// Probes timed with kernel send timestamps.
    pub kernel_tx: AtomicU64,
    /// Probes timed with kernel receive timestamps.
    pub kernel_rx: AtomicU64,
}

impl InfoSource for ProbeStats {
    fn info(&self) -> serde_json::Value {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let kind = |a: &AtomicU64| match a.load(Ordering::Relaxed) {
            1 => "raw",
            2 => "datagram",
            _ => "none",
        };
        let mut v = json!({
            "current_targets_total": self.targets,
            "probes": {
                "sent": r(&self.sent),
                "answered": r(&self.answered),
                "timeouts": r(&self.timeouts),
                "unmatched_replies": r(&self.unmatched),
                "send_errors": r(&self.send_errors),
                "tests_skipped": r(&self.tests_skipped),
                "pending": r(&self.pending),
                "pending_limit": MAX_PENDING_PINGS,
                "pending_refused": r(&self.pending_refused),
                "kernel_tx_timestamps": r(&self.kernel_tx),
                "kernel_rx_timestamps": r(&self.kernel_rx),
            },
        });
        if self.ping {
            v["ping_sockets"] = json!(r(&self.sockets));
            v["probes"]["socket_ipv4"] = json!(kind(&self.kinds[0]));
            v["probes"]["socket_ipv6"] = json!(kind(&self.kinds[1]));
        }
        v
    }
}

/// One target's state in the loop.
#[derive(Debug)]
struct Target {
    name: Arc<str>,
    host: Arc<str>,
    def: TargetHost,
    family: Option<Family>,
    port: u16,
    ident: u16,
    next_test: Instant,
    resolving: bool,
}

#[derive(Debug)]
enum Job {
    /// A target's next test.
    Test(usize),
    /// A later echo request of a ping test.
    Packet { target: usize, addr: IpAddr },
    /// An echo request's deadline.
    PingTimeout { family: usize, seq: u16, id: u64 },
    /// A connect's deadline.
    TcpTimeout { token: u64 },
}

#[derive(Debug)]
struct Ping {
    id: u64,
    target: usize,
    addr: IpAddr,
    sent: Timespec,
    sent_kernel: Option<Timespec>,
}

#[derive(Debug)]
struct Connect {
    target: usize,
    addr: IpAddr,
    sock: Socket,
    sent: Timespec,
    started: Instant,
}

/// The probe loop of one input.
pub struct Prober {
    cfg: NetprobeInput,
    targets: Vec<Target>,
    timers: Timers<Job>,
    epoll: Epoll,
    waker: Arc<Waker>,
    resolver: Option<Resolver>,
    icmp: [Option<IcmpSocket>; 2],
    next_seq: [u16; 2],
    pings: [HashMap<u16, Ping>; 2],
    connects: HashMap<u64, Connect>,
    next_token: u64,
    next_id: u64,
    payload: Vec<u8>,
    msg: Vec<u8>,
    buf: Vec<u8>,
    out: Vec<ProbeResult>,
    last_flush: Instant,
    stats: Arc<ProbeStats>,
    timeout: Duration,
    interval: Duration,
    packet_interval: Duration,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober")
            .field("targets", &self.targets.len())
            .finish_non_exhaustive()
    }
}

fn family_index(f: Family) -> usize {
    match f {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

/// RFC 1071 checksum.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Builds an echo request: type, code, checksum, identifier, sequence, then the payload
/// (IPv4: pktvisor's 8-byte nanosecond timestamp first).
pub fn echo_request(
    family: Family,
    ident: u16,
    seq: u16,
    stamp: Timespec,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    out.clear();
    let kind = match family {
        Family::V4 => icmpv4_type::ECHO_REQUEST,
        Family::V6 => icmpv6_type::ECHO_REQUEST,
    };
    out.extend_from_slice(&[kind, 0, 0, 0]);
    out.extend_from_slice(&ident.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    if family == Family::V4 {
        let ns = u64::try_from(stamp.as_nanos()).unwrap_or(0);
        out.extend_from_slice(&ns.to_le_bytes());
    }
    out.extend_from_slice(payload);
    if family == Family::V4 {
        // IPv6 (and datagram sockets) have the kernel compute it.
        let c = checksum(out);
        out[2..4].copy_from_slice(&c.to_be_bytes());
    }
}

/// An echo reply's identifier, sequence number and whether it carries pktvisor's payload.
pub fn parse_reply(family: Family, kind: IcmpKind, data: &[u8]) -> Option<(u16, u16, bool)> {
    match family {
        Family::V4 => {
            let icmp = if kind == IcmpKind::Raw {
                let ip = Ipv4Packet::new_checked(data).ok()?;
                if ip.protocol() != 1 {
                    return None;
                }
                ip.payload()
            } else {
                data
            };
            let m = Icmpv4Message::new_checked(icmp).ok()?;
            if m.msg_type() != icmpv4_type::ECHO_REPLY {
                return None;
            }
            let marked = m.payload().get(8..16) == Some(&VALIDATOR[..]);
            Some((m.echo_ident(), m.echo_seq(), marked))
        }
        Family::V6 => {
            let m = Icmpv6Message::new_checked(data).ok()?;
            if m.msg_type() != icmpv6_type::ECHO_REPLY {
                return None;
            }
            let marked = m.payload().get(..8) == Some(&VALIDATOR[..]);
            Some((m.echo_ident()?, m.echo_seq()?, marked))
        }
    }
}

fn nanos_between(later: Timespec, earlier: Timespec) -> u64 {
    u64::try_from((later.as_nanos() - earlier.as_nanos()).max(0)).unwrap_or(u64::MAX)
}

impl Prober {
    /// A loop for `cfg` counting into `stats`; opens its epoll and wake-up descriptors and
    /// starts the resolver pool when a target is a host name.
    pub fn new(cfg: NetprobeInput, stats: Arc<ProbeStats>) -> io::Result<Prober> {
        let epoll = Epoll::new()?;
        let waker = Arc::new(Waker::new()?);
        epoll.add(waker.fd(), sys::IN, TOKEN_WAKER)?;
        let names = cfg
            .targets
            .iter()
            .filter(|t| matches!(t.host, TargetHost::Name(_)))
            .count();
        let resolver = if names > 0 {
            Some(Resolver::start(names.min(4), Arc::clone(&waker))?)
        } else {
            None
        };
        let start = Instant::now();
        let interval = Duration::from_millis(cfg.interval_ms.max(1));
        let n = cfg.targets.len();
        let targets = cfg
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut ident = NEXT_IDENT.fetch_add(1, Ordering::Relaxed);
                if ident == 0 {
                    ident = NEXT_IDENT.fetch_add(1, Ordering::Relaxed);
                }
                Target {
                    name: Arc::from(t.name.as_str()),
                    host: Arc::from(t.host_text.as_str()),
                    def: t.host.clone(),
                    family: t.family,
                    port: t.port,
                    ident,
                    next_test: first_due(start, interval, i, n),
                    resolving: false,
                }
            })
            .collect::<Vec<_>>();
        let mut timers = Timers::default();
        for (i, t) in targets.iter().enumerate() {
            timers.push(t.next_test, Job::Test(i));
        }
        let mut payload = VALIDATOR.to_vec();
        payload.resize(cfg.payload_size, 0);
        Ok(Prober {
            timeout: Duration::from_millis(cfg.timeout_ms),
            interval,
            packet_interval: Duration::from_millis(cfg.packets_interval_ms),
            cfg,
            targets,
            timers,
            epoll,
            waker,
            resolver,
            icmp: [None, None],
            next_seq: [0, 0],
            pings: [HashMap::new(), HashMap::new()],
            connects: HashMap::new(),
            next_token: TOKEN_TCP,
            next_id: 0,
            payload,
            msg: Vec::with_capacity(128),
            buf: vec![0u8; 65_536 + 128],
            out: Vec::new(),
            last_flush: Instant::now(),
            stats,
        })
    }

    /// Runs until the stream stops (or its worker is gone).
    pub fn run(&mut self, ctx: &ReceiverContext) {
        let mut events = Vec::with_capacity(256);
        let mut last = Instant::now();
        while !ctx.shutdown.is_triggered() {
            // At most one pass per TICK: replies carry kernel timestamps, so reading them
            // a moment late costs no accuracy, and a thousand probes a second take a few
            // hundred wake-ups instead of thousands.
            let since = last.elapsed();
            if since < TICK {
                std::thread::sleep(TICK - since);
            }
            last = Instant::now();
            let wait = self
                .timers
                .next_at()
                .map_or(FLUSH_EVERY, |at| at.saturating_duration_since(last))
                .min(FLUSH_EVERY);
            let ms = i32::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(100);
            if let Err(e) = self.epoll.wait(&mut events, ms) {
                ctx.status.set_error(Some(format!("netprobe: epoll: {e}")));
                ctx.shutdown.sleep(Duration::from_millis(10));
                continue;
            }
            // Answers first: one that came in before its deadline counts before the
            // deadline's job runs.
            for &(token, ev) in &events {
                match token {
                    TOKEN_WAKER => {
                        self.waker.drain();
                        self.answers(ctx);
                    }
                    t if t == TOKEN_ICMP[0] => self.icmp_ready(0, ev),
                    t if t == TOKEN_ICMP[1] => self.icmp_ready(1, ev),
                    t => self.connected(t),
                }
            }
            let now = Instant::now();
            while let Some((due, job)) = self.timers.pop_due(now + SLACK) {
                self.run_job(due, job, ctx);
            }
            if !self.flush(ctx, false) {
                return;
            }
        }
        self.flush(ctx, true);
    }

    /// Hands waiting results on (all of them when `force`, else when enough waited);
    /// false when the stream is gone.
    fn flush(&mut self, ctx: &ReceiverContext, force: bool) -> bool {
        let due = force
            || self.out.len() >= FLUSH_AT
            || (!self.out.is_empty() && self.last_flush.elapsed() >= FLUSH_EVERY);
        if !due {
            return true;
        }
        self.last_flush = Instant::now();
        if self.out.is_empty() {
            return true;
        }
        let pending = self.pings[0].len() + self.pings[1].len() + self.connects.len();
        self.stats.pending.store(pending as u64, Ordering::Relaxed);
        ctx.send(Delivery::Probes(std::mem::take(&mut self.out)))
    }

    fn result(
        &mut self,
        target: usize,
        address: Option<IpAddr>,
        outcome: ProbeOutcome,
        attempted: bool,
        sent: Timespec,
        ts: Timespec,
    ) {
        let Some(t) = self.targets.get(target) else {
            return;
        };
        let port = (self.cfg.test == ProbeTest::Tcp).then_some(t.port);
        self.out.push(ProbeResult {
            target: Arc::clone(&t.name),
            host: Arc::clone(&t.host),
            port,
            address,
            test: self.cfg.test,
            outcome,
            attempted,
            sent,
            ts,
            timeout_ms: self.cfg.timeout_ms,
        });
    }

    fn run_job(&mut self, due: Instant, job: Job, ctx: &ReceiverContext) {
        match job {
            Job::Test(i) => self.test(i, due, ctx),
            Job::Packet { target, addr } => self.ping(target, addr, ctx),
            Job::PingTimeout { family, seq, id } => {
                if self.pings[family].get(&seq).is_some_and(|p| p.id == id)
                    && let Some(p) = self.pings[family].remove(&seq)
                {
                    self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                    let sent = p.sent_kernel.unwrap_or(p.sent);
                    self.result(
                        p.target,
                        Some(p.addr),
                        ProbeOutcome::Timeout,
                        true,
                        sent,
                        Timespec::now(),
                    );
                }
            }
            Job::TcpTimeout { token } => {
                if let Some(c) = self.connects.remove(&token) {
                    let _ = self.epoll.delete(c.sock.as_raw_fd());
                    self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                    self.result(
                        c.target,
                        Some(c.addr),
                        ProbeOutcome::Timeout,
                        true,
                        c.sent,
                        Timespec::now(),
                    );
                }
            }
        }
    }

    /// A target's test is due: schedule the next one on the grid, then resolve or probe.
    fn test(&mut self, i: usize, due: Instant, ctx: &ReceiverContext) {
        let now = Instant::now();
        let Some(t) = self.targets.get_mut(i) else {
            return;
        };
        let (next, skipped) = next_due(due, self.interval, now);
        t.next_test = next;
        self.timers.push(next, Job::Test(i));
        if skipped > 0 {
            self.stats
                .tests_skipped
                .fetch_add(skipped, Ordering::Relaxed);
        }
        match &t.def {
            TargetHost::Ip(ip) => {
                let ip = *ip;
                self.start(i, ip, ctx);
            }
            TargetHost::Name(name) => {
                if t.resolving {
                    self.stats.tests_skipped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                let submitted = self.resolver.as_ref().is_some_and(|r| r.submit(i, name));
                if submitted {
                    t.resolving = true;
                } else {
                    self.stats.tests_skipped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Name lookups that finished.
    fn answers(&mut self, ctx: &ReceiverContext) {
        while let Some(a) = self.resolver.as_ref().and_then(Resolver::answer) {
            let Some(t) = self.targets.get_mut(a.target) else {
                continue;
            };
            t.resolving = false;
            let addr = a
                .addrs
                .ok()
                .and_then(|addrs| resolve::pick(&addrs, t.family));
            match addr {
                Some(ip) => self.start(a.target, ip, ctx),
                None => {
                    let now = Timespec::now();
                    self.result(
                        a.target,
                        None,
                        ProbeOutcome::DnsLookupFailure,
                        false,
                        now,
                        now,
                    );
                }
            }
        }
    }

    /// Starts a test of target `i` at `addr`.
    fn start(&mut self, i: usize, addr: IpAddr, ctx: &ReceiverContext) {
        match self.cfg.test {
            ProbeTest::Ping => {
                self.ping(i, addr, ctx);
                let now = Instant::now();
                for k in 1..self.cfg.packets_per_test {
                    let at = now + self.packet_interval.saturating_mul(k as u32);
                    self.timers.push(at, Job::Packet { target: i, addr });
                }
            }
            ProbeTest::Tcp => self.connect(i, addr),
        }
    }

    /// The family's echo socket, opened on first use.
    fn socket(&mut self, f: usize, family: Family, ctx: &ReceiverContext) -> bool {
        if self.icmp[f].is_some() {
            return true;
        }
        match IcmpSocket::open(family) {
            Ok(s) => {
                if let Err(e) = self.epoll.add(s.fd(), sys::IN | sys::ERR, TOKEN_ICMP[f]) {
                    ctx.status.set_error(Some(format!("netprobe: epoll: {e}")));
                    return false;
                }
                let kind = match s.kind {
                    IcmpKind::Raw => 1,
                    IcmpKind::Datagram => 2,
                };
                self.stats.kinds[f].store(kind, Ordering::Relaxed);
                self.stats.sockets.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    "netprobe: {} ICMP{} socket (send times from the {}, receive times from the {})",
                    s.kind.as_str(),
                    if family == Family::V6 { "v6" } else { "" },
                    if s.kernel_tx_stamps() {
                        "kernel"
                    } else {
                        "clock"
                    },
                    if s.kernel_rx_stamps() {
                        "kernel"
                    } else {
                        "clock"
                    },
                );
                self.icmp[f] = Some(s);
                true
            }
            Err(e) => {
                ctx.status.set_error(Some(format!("netprobe: {e}")));
                false
            }
        }
    }

    /// Sends one echo request of target `i` to `addr`.
    fn ping(&mut self, i: usize, addr: IpAddr, ctx: &ReceiverContext) {
        let family = Family::of(&addr);
        let f = family_index(family);
        let now = Timespec::now();
        if !self.socket(f, family, ctx) {
            self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
            self.result(i, Some(addr), ProbeOutcome::ConnectFailure, false, now, now);
            return;
        }
        let seq = self.next_seq[f];
        self.next_seq[f] = seq.wrapping_add(1);
        if self.pings[f].contains_key(&seq) || self.pings[f].len() >= MAX_PENDING_PINGS {
            self.stats.pending_refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(t) = self.targets.get(i) else {
            return;
        };
        echo_request(family, t.ident, seq, now, &self.payload, &mut self.msg);
        let key = (f as u32) << 16 | u32::from(seq);
        let sent = Timespec::now();
        let Some(sock) = self.icmp[f].as_mut() else {
            return;
        };
        if let Err(e) = sock.send(&self.msg, addr, key) {
            tracing::debug!("netprobe: echo request to {addr}: {e}");
            self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
            self.result(
                i,
                Some(addr),
                ProbeOutcome::ConnectFailure,
                false,
                sent,
                sent,
            );
            return;
        }
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        self.next_id += 1;
        let id = self.next_id;
        self.pings[f].insert(
            seq,
            Ping {
                id,
                target: i,
                addr,
                sent,
                sent_kernel: None,
            },
        );
        self.timers.push(
            Instant::now() + self.timeout,
            Job::PingTimeout { family: f, seq, id },
        );
    }

    /// The family's echo socket is readable (replies) or has an error (send timestamps).
    fn icmp_ready(&mut self, f: usize, _events: u32) {
        let Some(sock) = self.icmp[f].as_ref() else {
            return;
        };
        // Send timestamps first: a reply is timed against its request's kernel send time.
        loop {
            match sock.recv_tx_stamp() {
                Ok(Some((key, Some(stamp)))) => {
                    let (kf, seq) = ((key >> 16) as usize, (key & 0xffff) as u16);
                    if kf == f
                        && let Some(p) = self.pings[f].get_mut(&seq)
                    {
                        // Only a stamp within a second after the clock read belongs to
                        // this request.
                        let d = stamp.as_nanos() - p.sent.as_nanos();
                        if (-1_000_000..1_000_000_000).contains(&d) {
                            p.sent_kernel = Some(stamp);
                        }
                    }
                }
                Ok(Some((_, None))) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let family = sock.family;
        let kind = sock.kind;
        loop {
            let Some(sock) = self.icmp[f].as_ref() else {
                return;
            };
            let got = match sock.recv(&mut self.buf) {
                Ok(Some(r)) => r,
                Ok(None) | Err(_) => break,
            };
            let now = Timespec::now();
            let data = self.buf.get(..got.len).unwrap_or(&[]);
            let Some((ident, seq, marked)) = parse_reply(family, kind, data) else {
                continue;
            };
            let matched = self.pings[f].get(&seq).is_some_and(|p| {
                let ident_ok = kind == IcmpKind::Datagram
                    || self.targets.get(p.target).is_some_and(|t| t.ident == ident);
                ident_ok && marked && p.addr == got.from
            });
            if !matched {
                self.stats.unmatched.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let Some(p) = self.pings[f].remove(&seq) else {
                continue;
            };
            let rx = got.stamp.unwrap_or(now);
            if got.stamp.is_some() {
                self.stats.kernel_rx.fetch_add(1, Ordering::Relaxed);
            }
            if p.sent_kernel.is_some() {
                self.stats.kernel_tx.fetch_add(1, Ordering::Relaxed);
            }
            let sent = p.sent_kernel.unwrap_or(p.sent);
            let rtt_ns = nanos_between(rx, sent);
            let outcome = if rtt_ns > self.cfg.timeout_ms.saturating_mul(1_000_000) {
                self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                ProbeOutcome::Timeout
            } else {
                self.stats.answered.fetch_add(1, Ordering::Relaxed);
                ProbeOutcome::Success { rtt_ns }
            };
            self.result(p.target, Some(p.addr), outcome, true, sent, rx);
        }
    }

    /// Starts a TCP connect of target `i` to `addr`.
    fn connect(&mut self, i: usize, addr: IpAddr) {
        let Some(t) = self.targets.get(i) else {
            return;
        };
        let dest = SocketAddr::new(addr, t.port);
        let now = Timespec::now();
        let domain = Domain::for_address(dest);
        let sock = match Socket::new(domain, Type::STREAM, Some(Protocol::TCP)) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("netprobe: TCP socket: {e}");
                self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                self.result(i, Some(addr), ProbeOutcome::ConnectFailure, false, now, now);
                return;
            }
        };
        let _ = sock.set_nonblocking(true);
        let _ = sock.set_linger(Some(Duration::ZERO));
        let started = Instant::now();
        let sent = Timespec::now();
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        match sock.connect(&SockAddr::from(dest)) {
            Ok(()) => {
                self.stats.answered.fetch_add(1, Ordering::Relaxed);
                let rtt_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.result(
                    i,
                    Some(addr),
                    ProbeOutcome::Success { rtt_ns },
                    true,
                    sent,
                    Timespec::now(),
                );
            }
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                let token = self.next_token;
                self.next_token += 1;
                if self
                    .epoll
                    .add(sock.as_raw_fd(), sys::OUT | sys::ERR | sys::HUP, token)
                    .is_err()
                {
                    self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                    self.result(
                        i,
                        Some(addr),
                        ProbeOutcome::ConnectFailure,
                        true,
                        sent,
                        sent,
                    );
                    return;
                }
                self.timers
                    .push(started + self.timeout, Job::TcpTimeout { token });
                self.connects.insert(
                    token,
                    Connect {
                        target: i,
                        addr,
                        sock,
                        sent,
                        started,
                    },
                );
            }
            Err(_) => {
                self.result(
                    i,
                    Some(addr),
                    ProbeOutcome::ConnectFailure,
                    true,
                    sent,
                    Timespec::now(),
                );
            }
        }
    }

    /// A pending connect finished (or failed).
    fn connected(&mut self, token: u64) {
        let Some(c) = self.connects.remove(&token) else {
            return;
        };
        let fd = c.sock.as_raw_fd();
        let _ = self.epoll.delete(fd);
        let now = Timespec::now();
        match c.sock.take_error() {
            Ok(None) => {
                let rtt_ns = match sys::tcp_handshake_rtt_us(fd) {
                    Some(us) => {
                        self.stats.kernel_rx.fetch_add(1, Ordering::Relaxed);
                        us.saturating_mul(1000)
                    }
                    None => u64::try_from(c.started.elapsed().as_nanos()).unwrap_or(u64::MAX),
                };
                let outcome = if rtt_ns > self.cfg.timeout_ms.saturating_mul(1_000_000) {
                    self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                    ProbeOutcome::Timeout
                } else {
                    self.stats.answered.fetch_add(1, Ordering::Relaxed);
                    ProbeOutcome::Success { rtt_ns }
                };
                self.result(c.target, Some(c.addr), outcome, true, c.sent, now);
            }
            Ok(Some(_)) | Err(_) => {
                self.result(
                    c.target,
                    Some(c.addr),
                    ProbeOutcome::ConnectFailure,
                    true,
                    c.sent,
                    now,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_bytes_and_checksum() {
        let mut out = Vec::new();
        let mut payload = VALIDATOR.to_vec();
        payload.resize(48, 0);
        echo_request(
            Family::V4,
            7,
            0x0102,
            Timespec::new(1, 5),
            &payload,
            &mut out,
        );
        assert_eq!(out.len(), 8 + 8 + 48);
        assert_eq!(&out[..2], &[8, 0]);
        assert_eq!(&out[4..8], &[0, 7, 1, 2]);
        assert_eq!(&out[8..16], &1_000_000_005u64.to_le_bytes());
        assert_eq!(&out[16..24], b"pktvisor");
        assert_eq!(checksum(&out), 0, "a valid checksum sums to zero");
        echo_request(Family::V6, 7, 3, Timespec::new(1, 5), &payload, &mut out);
        assert_eq!(out.len(), 8 + 48);
        assert_eq!(out[0], 128);
        assert_eq!(&out[8..16], b"pktvisor");
    }

    #[test]
    fn replies_parse_for_both_families_and_socket_kinds() {
        let mut payload = VALIDATOR.to_vec();
        payload.resize(16, 0);
        let mut req = Vec::new();
        echo_request(Family::V4, 9, 4, Timespec::new(0, 0), &payload, &mut req);
        let mut reply = req.clone();
        reply[0] = 0;
        assert_eq!(
            parse_reply(Family::V4, IcmpKind::Datagram, &reply),
            Some((9, 4, true))
        );
        // raw: with an IPv4 header in front
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
        ];
        let total = (ip.len() + reply.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&reply);
        assert_eq!(
            parse_reply(Family::V4, IcmpKind::Raw, &ip),
            Some((9, 4, true))
        );
        // a request is not a reply; another pinger's payload is not ours
        assert_eq!(parse_reply(Family::V4, IcmpKind::Datagram, &req), None);
        let mut foreign = reply.clone();
        foreign[16] = b'x';
        assert_eq!(
            parse_reply(Family::V4, IcmpKind::Datagram, &foreign),
            Some((9, 4, false))
        );
        echo_request(Family::V6, 9, 5, Timespec::new(0, 0), &payload, &mut req);
        req[0] = 129;
        assert_eq!(
            parse_reply(Family::V6, IcmpKind::Raw, &req),
            Some((9, 5, true))
        );
    }
}
