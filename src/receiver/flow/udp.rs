//! The flow input's UDP listener (`bind`, `port`): one socket, IPv4 or IPv6, with a large
//! receive buffer, read by a tight `recvmmsg` loop on the caller's (dedicated) thread that
//! hands the datagrams over in batches, and the listener's own drop counters.
//!
//! Owns: the socket and its options (`SO_RCVBUFFORCE`, falling back to `SO_RCVBUF`;
//! `SO_RXQ_OVFL`; a receive timeout so the loop sees its stop flag), the receive loop, the
//! `DatagramBatch` it fills (exporter address, bytes, receive time per datagram) and
//! `UdpStats`: datagrams and bytes received, datagrams the kernel dropped because the socket
//! buffer was full (the `SO_RXQ_OVFL` count carried by every datagram, and the drops column
//! of `/proc/net/udp{,6}` for the socket's inode), datagrams we dropped because the consumer
//! queue was full (counted, never silent), datagrams truncated by the buffer and receive
//! errors. Decode failures are counted by the consumer's `FlowDecoder` (`stats`).
//!
//! This is the one place of the flow receiver that talks to the kernel directly: every
//! `unsafe` block is a libc socket call on buffers owned here.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::net::{ToSocketAddrs, UdpSocket};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use super::{FlowDecoder, FlowInput, FlowSource};
use crate::event::FlowDatagram;
use crate::time::Timespec;

/// Receive buffer asked for by default (32 MiB: a burst of about 20,000 full-size exports).
pub const DEFAULT_RCVBUF: usize = 32 << 20;

/// Datagrams read per `recvmmsg` call (and at most per batch) by default.
pub const DEFAULT_BATCH: usize = 64;

/// Pause before offering a batch to a full queue again.
const QUEUE_WAIT: Duration = Duration::from_micros(200);

/// Largest datagram kept (a UDP payload cannot be longer).
const MAX_DATAGRAM: usize = 65_536;

/// Why a listener could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum FlowListenError {
    /// The input reads a capture file (`pcap_file`), not a socket.
    #[error("the flow input reads a capture file, not a UDP socket")]
    NotListener,
    /// `bind` is not an address (or a name that resolves to one).
    #[error("invalid flow bind address \"{0}\"")]
    BadAddress(String),
    /// The socket could not be bound.
    #[error("cannot bind UDP {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// A socket option could not be set or read.
    #[error("UDP socket option {option}: {source}")]
    SocketOption {
        /// The option.
        option: &'static str,
        /// Why.
        source: io::Error,
    },
    /// Receiving failed for another reason than a timeout or a signal.
    #[error("UDP receive failed: {0}")]
    Recv(io::Error),
}

/// Listener tuning (the defaults suit an agent).
#[derive(Clone, Debug)]
pub struct ListenOptions {
    /// Receive buffer to ask for, in bytes (the kernel reports about twice that).
    pub rcvbuf: usize,
    /// Datagrams per `recvmmsg` call and per batch (1–1024).
    pub batch: usize,
    /// How often the loop looks at its stop flag while no datagram arrives.
    pub poll: Duration,
    /// When the consumer queue is full: wait for room (true: the socket buffer then takes
    /// the burst, and what overflows it is counted as kernel drops) or drop the batch at
    /// once (false: counted as queue drops). Stopping ends the wait (counted as queue drops).
    pub wait_when_full: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            rcvbuf: DEFAULT_RCVBUF,
            batch: DEFAULT_BATCH,
            poll: Duration::from_millis(100),
            wait_when_full: true,
        }
    }
}

/// One received datagram of a batch.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    /// The sender (IPv4-mapped IPv6 senders of a dual-stack socket as IPv4).
    pub from: SocketAddr,
    /// When the receive call returned it.
    pub ts: Timespec,
    /// The UDP payload.
    pub data: &'a [u8],
}

/// Datagrams of one receive call, in arrival order (their bytes in one buffer).
#[derive(Clone, Debug, Default)]
pub struct DatagramBatch {
    data: Vec<u8>,
    meta: Vec<(SocketAddr, Timespec, Range<usize>)>,
}

impl DatagramBatch {
    /// Datagrams in the batch.
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// Payload bytes in the batch.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Appends a datagram.
    pub fn push(&mut self, from: SocketAddr, ts: Timespec, data: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(data);
        self.meta.push((from, ts, start..self.data.len()));
    }

    /// The datagrams.
    pub fn iter(&self) -> impl Iterator<Item = Datagram<'_>> {
        self.meta.iter().map(|(from, ts, r)| Datagram {
            from: *from,
            ts: *ts,
            data: self.data.get(r.clone()).unwrap_or(&[]),
        })
    }
}

/// What the consumer's queue did with a batch (the hand-over must not block).
#[derive(Debug)]
pub enum Delivery {
    /// Queued.
    Sent,
    /// The queue is full: the batch comes back (see `ListenOptions::wait_when_full`).
    Full(DatagramBatch),
    /// The consumer is gone: the loop ends.
    Closed,
}

/// Hands batches to a bounded std channel without blocking.
pub fn sync_sender(tx: SyncSender<DatagramBatch>) -> impl FnMut(DatagramBatch) -> Delivery {
    move |b| match tx.try_send(b) {
        Ok(()) => Delivery::Sent,
        Err(TrySendError::Full(b)) => Delivery::Full(b),
        Err(TrySendError::Disconnected(_)) => Delivery::Closed,
    }
}

/// Decodes every datagram of `batch` with `decoder`, handing each decoded datagram to `f`.
pub fn decode_batch(
    decoder: &mut FlowDecoder,
    batch: &DatagramBatch,
    mut f: impl FnMut(&FlowDatagram<'_>),
) {
    for d in batch.iter() {
        if let Some(dg) = decoder.decode(d.from.ip(), d.data, d.ts) {
            f(&dg);
        }
    }
}

/// The listener's counters (shared with readers of its metrics).
#[derive(Debug, Default)]
pub struct UdpStats {
    local: String,
    inode: Option<u64>,
    v6: bool,
    rcvbuf_requested: u64,
    rcvbuf_effective: u64,
    rcvbuf_forced: bool,
    datagrams: AtomicU64,
    bytes: AtomicU64,
    batches: AtomicU64,
    queue_drops: AtomicU64,
    queue_drop_batches: AtomicU64,
    queue_waits: AtomicU64,
    kernel_drops: AtomicU64,
    truncated: AtomicU64,
    recv_errors: AtomicU64,
}

/// A copy of `UdpStats` (what the agent reports).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UdpStatsSnapshot {
    /// The bound address.
    pub local: String,
    /// Receive buffer asked for (bytes).
    pub rcvbuf_requested: u64,
    /// Receive buffer the kernel granted (bytes, as `SO_RCVBUF` reports it: about twice the
    /// payload it holds).
    pub rcvbuf_effective: u64,
    /// Whether `SO_RCVBUFFORCE` (beyond `net.core.rmem_max`) was allowed.
    pub rcvbuf_forced: bool,
    /// Datagrams received.
    pub datagrams: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Batches handed to the consumer (or dropped).
    pub batches: u64,
    /// Datagrams dropped because the consumer queue was full.
    pub queue_drops: u64,
    /// Batches dropped because the consumer queue was full.
    pub queue_drop_batches: u64,
    /// Times the listener waited for room in the consumer queue.
    pub queue_waits: u64,
    /// Datagrams the kernel dropped because the socket buffer was full.
    pub kernel_drops: u64,
    /// Datagrams longer than the receive buffer (dropped).
    pub truncated: u64,
    /// Receive calls that failed.
    pub recv_errors: u64,
}

impl UdpStats {
    /// The counters now (kernel drops: the larger of the last `SO_RXQ_OVFL` count and the
    /// socket's line of `/proc/net/udp{,6}`).
    pub fn snapshot(&self) -> UdpStatsSnapshot {
        if let Some(d) = self.inode.and_then(|i| proc_drops(i, self.v6)) {
            self.kernel_drops.fetch_max(d, Ordering::Relaxed);
        }
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        UdpStatsSnapshot {
            local: self.local.clone(),
            rcvbuf_requested: self.rcvbuf_requested,
            rcvbuf_effective: self.rcvbuf_effective,
            rcvbuf_forced: self.rcvbuf_forced,
            datagrams: g(&self.datagrams),
            bytes: g(&self.bytes),
            batches: g(&self.batches),
            queue_drops: g(&self.queue_drops),
            queue_drop_batches: g(&self.queue_drop_batches),
            queue_waits: g(&self.queue_waits),
            kernel_drops: g(&self.kernel_drops),
            truncated: g(&self.truncated),
            recv_errors: g(&self.recv_errors),
        }
    }
}

/// The drops column of the `/proc/net/udp` (or `udp6`) line of socket `inode`.
fn proc_drops(inode: u64, v6: bool) -> Option<u64> {
    let file = if v6 {
        "/proc/net/udp6"
    } else {
        "/proc/net/udp"
    };
    let text = std::fs::read_to_string(file).ok()?;
    let want = inode.to_string();
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
        (f.get(9) == Some(&want.as_str()))
            .then(|| f.last()?.parse().ok())
            .flatten()
    })
}

/// A bound flow listener.
#[derive(Debug)]
pub struct FlowUdpListener {
    socket: UdpSocket,
    local: SocketAddr,
    opts: ListenOptions,
    stats: Arc<UdpStats>,
}

fn set_int(fd: i32, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` outlives the call and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn get_int(fd: i32, level: i32, name: i32) -> io::Result<i32> {
    let mut value: i32 = 0;
    let mut len = size_of::<i32>() as libc::socklen_t;
    // SAFETY: `value` and `len` outlive the call; `len` is value's size.
    let rc = unsafe { libc::getsockopt(fd, level, name, (&raw mut value).cast(), &raw mut len) };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The socket's inode (`/proc/self/fd/N` → `socket:[inode]`).
fn socket_inode(fd: i32) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    let s = link.to_str()?;
    s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// A sender address from `recvmmsg`.
fn sockaddr(ss: &libc::sockaddr_storage) -> SocketAddr {
    match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it can hold.
            let a: &libc::sockaddr_in = unsafe { &*(ss as *const libc::sockaddr_storage).cast() };
            SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6, which it can hold.
            let a: &libc::sockaddr_in6 = unsafe { &*(ss as *const libc::sockaddr_storage).cast() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            let port = u16::from_be(a.sin6_port);
            match ip.to_ipv4_mapped() {
                Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
                None => SocketAddr::V6(SocketAddrV6::new(ip, port, 0, a.sin6_scope_id)),
            }
        }
        _ => SocketAddr::from(([0, 0, 0, 0], 0)),
    }
}

impl FlowUdpListener {
    /// Binds the input's `bind`:`port` with the default options.
    pub fn bind(input: &FlowInput) -> Result<Self, FlowListenError> {
        Self::bind_with(input, ListenOptions::default())
    }

    /// Binds the input's `bind`:`port`.
    pub fn bind_with(input: &FlowInput, opts: ListenOptions) -> Result<Self, FlowListenError> {
        let FlowSource::Listen { bind, port } = &input.source else {
            return Err(FlowListenError::NotListener);
        };
        let addr = match bind.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, *port),
            Err(_) => (bind.as_str(), *port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| FlowListenError::BadAddress(bind.clone()))?,
        };
        Self::bind_addr(addr, opts)
    }

    /// Binds `addr` (port 0: any free port, see `local_addr`).
    pub fn bind_addr(addr: SocketAddr, opts: ListenOptions) -> Result<Self, FlowListenError> {
        let opt_err = |option| move |source| FlowListenError::SocketOption { option, source };
        let socket =
            UdpSocket::bind(addr).map_err(|source| FlowListenError::Bind { addr, source })?;
        let local = socket.local_addr().unwrap_or(addr);
        let fd = socket.as_raw_fd();
        let want = i32::try_from(opts.rcvbuf.max(4096)).unwrap_or(i32::MAX);
        // beyond net.core.rmem_max needs CAP_NET_ADMIN; else the kernel caps SO_RCVBUF
        let forced = set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, want).is_ok();
        if !forced {
            set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, want).map_err(opt_err("SO_RCVBUF"))?;
        }
        let effective =
            get_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF).map_err(opt_err("SO_RCVBUF"))?;
        set_int(fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1).map_err(opt_err("SO_RXQ_OVFL"))?;
        socket
            .set_read_timeout(Some(opts.poll.max(Duration::from_millis(1))))
            .map_err(opt_err("SO_RCVTIMEO"))?;
        let stats = Arc::new(UdpStats {
            local: local.to_string(),
            inode: socket_inode(fd),
            v6: local.is_ipv6(),
            rcvbuf_requested: opts.rcvbuf as u64,
            rcvbuf_effective: u64::try_from(effective).unwrap_or(0),
            rcvbuf_forced: forced,
            ..UdpStats::default()
        });
        tracing::info!(
            %local,
            rcvbuf = effective,
            forced,
            "flow listener bound"
        );
        Ok(FlowUdpListener {
            socket,
            local,
            opts,
            stats,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The listener's counters.
    pub fn stats(&self) -> Arc<UdpStats> {
        Arc::clone(&self.stats)
    }

    /// Receives until `stop` is set or the consumer is gone, handing each receive call's
    /// datagrams to `deliver` as one batch. Returns on a receive error other than a timeout
    /// or a signal.
    pub fn run(
        &self,
        stop: &AtomicBool,
        mut deliver: impl FnMut(DatagramBatch) -> Delivery,
    ) -> Result<(), FlowListenError> {
        let n = self.opts.batch.clamp(1, 1024);
        let fd = self.socket.as_raw_fd();
        let mut bufs = vec![0u8; n * MAX_DATAGRAM];
        // SAFETY (zeroed): plain C structs for which all-zero is a valid value.
        let mut addrs: Vec<libc::sockaddr_storage> = vec![unsafe { zeroed() }; n];
        // room for one SO_RXQ_OVFL control message (u32) per datagram, 8-byte aligned
        let mut ctrl = vec![[0u64; 8]; n];
        let mut iovs: Vec<libc::iovec> = bufs
            .chunks_exact_mut(MAX_DATAGRAM)
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { zeroed() }; n];
        let s = &self.stats;
        while !stop.load(Ordering::Relaxed) {
            for i in 0..n {
                let h = &mut msgs[i].msg_hdr;
                h.msg_name = (&raw mut addrs[i]).cast();
                h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_iov = &raw mut iovs[i];
                h.msg_iovlen = 1;
                h.msg_control = ctrl[i].as_mut_ptr().cast();
                h.msg_controllen = size_of::<[u64; 8]>() as _;
                h.msg_flags = 0;
                msgs[i].msg_len = 0;
            }
            // SAFETY: every header points at buffers owned by this frame that outlive the
            // call, with their true lengths; `n` headers are passed.
            let got = unsafe {
                libc::recvmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    n as libc::c_uint,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if got < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::Interrupted => {
                        continue;
                    }
                    _ => {
                        s.recv_errors.fetch_add(1, Ordering::Relaxed);
                        return Err(FlowListenError::Recv(e));
                    }
                }
            }
            let got = usize::try_from(got).unwrap_or(0).min(n);
            let ts = Timespec::now();
            let mut batch = DatagramBatch {
                data: Vec::with_capacity(msgs.iter().take(got).map(|m| m.msg_len as usize).sum()),
                meta: Vec::with_capacity(got),
            };
            let mut ovfl = None;
            for i in 0..got {
                let m = &msgs[i];
                if let Some(d) = rxq_ovfl(&m.msg_hdr) {
                    ovfl = Some(d);
                }
                if m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                    s.truncated.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let len = (m.msg_len as usize).min(MAX_DATAGRAM);
                let start = i * MAX_DATAGRAM;
                if let Some(data) = bufs.get(start..start + len) {
                    batch.push(sockaddr(&addrs[i]), ts, data);
                }
            }
            if let Some(d) = ovfl {
                s.kernel_drops.fetch_max(u64::from(d), Ordering::Relaxed);
            }
            s.datagrams.fetch_add(got as u64, Ordering::Relaxed);
            s.bytes.fetch_add(batch.bytes() as u64, Ordering::Relaxed);
            s.batches.fetch_add(1, Ordering::Relaxed);
            if batch.is_empty() {
                continue;
            }
            let count = batch.len() as u64;
            let mut pending = batch;
            loop {
                match deliver(pending) {
                    Delivery::Sent => break,
                    Delivery::Closed => return Ok(()),
                    Delivery::Full(b)
                        if self.opts.wait_when_full && !stop.load(Ordering::Relaxed) =>
                    {
                        s.queue_waits.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(QUEUE_WAIT);
                        pending = b;
                    }
                    Delivery::Full(_) => {
                        s.queue_drops.fetch_add(count, Ordering::Relaxed);
                        s.queue_drop_batches.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs the listener on its own thread (`pktvisor-flow-udp`), feeding `tx`.
    pub fn spawn(
        self,
        tx: SyncSender<DatagramBatch>,
        stop: Arc<AtomicBool>,
    ) -> io::Result<JoinHandle<Result<(), FlowListenError>>> {
        std::thread::Builder::new()
            .name("pktvisor-flow-udp".into())
            .spawn(move || self.run(&stop, sync_sender(tx)))
    }
}

/// The `SO_RXQ_OVFL` drop count carried by a received message, if any.
fn rxq_ovfl(h: &libc::msghdr) -> Option<u32> {
    // SAFETY: `h` was filled by recvmmsg; the CMSG_* macros walk its control buffer within
    // `msg_controllen`, and the data of an SO_RXQ_OVFL message is one u32.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_RXQ_OVFL {
                return Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u32>()));
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::flow::FlowType;
    use std::sync::mpsc::sync_channel;

    fn input(bind: &str, port: u16) -> FlowInput {
        FlowInput {
            flow_type: FlowType::Netflow,
            flow_type_defaulted: false,
            source: FlowSource::Listen {
                bind: bind.into(),
                port,
            },
        }
    }

    #[test]
    fn bind_errors_and_buffer() {
        let file = FlowInput {
            source: FlowSource::File {
                path: "x.pcap".into(),
                port: None,
            },
            ..input("127.0.0.1", 0)
        };
        assert!(matches!(
            FlowUdpListener::bind(&file),
            Err(FlowListenError::NotListener)
        ));
        assert!(matches!(
            FlowUdpListener::bind(&input("no such host.invalid", 0)),
            Err(FlowListenError::BadAddress(_))
        ));
        let l = FlowUdpListener::bind(&input("127.0.0.1", 0)).unwrap();
        assert_ne!(l.local_addr().port(), 0);
        // taken port
        let again = FlowUdpListener::bind(&input("127.0.0.1", l.local_addr().port()));
        assert!(matches!(again, Err(FlowListenError::Bind { .. })));
        let s = l.stats().snapshot();
        assert!(s.rcvbuf_effective > 0);
        if s.rcvbuf_forced {
            assert!(s.rcvbuf_effective >= DEFAULT_RCVBUF as u64);
        }
    }

    /// Datagrams over loopback (IPv4 and IPv6) arrive whole, with their sender, and a full
    /// queue is counted as drops.
    #[test]
    fn receives_batches_and_counts_queue_drops() {
        for bind in ["127.0.0.1", "::1"] {
            let Ok(l) = FlowUdpListener::bind_with(
                &input(bind, 0),
                ListenOptions {
                    poll: Duration::from_millis(10),
                    wait_when_full: false,
                    ..ListenOptions::default()
                },
            ) else {
                eprintln!("note: cannot bind {bind}; skipped");
                continue;
            };
            let to = l.local_addr();
            let stats = l.stats();
            let stop = Arc::new(AtomicBool::new(false));
            let (tx, rx) = sync_channel(1);
            let h = l.spawn(tx, Arc::clone(&stop)).unwrap();
            let sender = UdpSocket::bind(SocketAddr::new(to.ip(), 0)).unwrap();
            let from = sender.local_addr().unwrap();
            for i in 0..200u32 {
                let mut d = vec![0u8; 100 + i as usize];
                d[..4].copy_from_slice(&i.to_be_bytes());
                sender.send_to(&d, to).unwrap();
            }
            // nobody reads: the one-slot queue fills, later batches are dropped and counted
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while stats.snapshot().datagrams < 200 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let mut got = Vec::new();
            while let Ok(b) = rx.try_recv() {
                for d in b.iter() {
                    assert_eq!(d.from, from);
                    assert_eq!(d.data.len(), 100 + got.len());
                    got.push(u32::from_be_bytes(d.data[..4].try_into().unwrap()));
                }
            }
            stop.store(true, Ordering::Relaxed);
            h.join().unwrap().unwrap();
            let s = stats.snapshot();
            assert_eq!(s.datagrams, 200, "{bind}");
            assert_eq!(s.kernel_drops, 0, "{bind}");
            assert_eq!(got.len() as u64 + s.queue_drops, 200, "{bind}: {s:?}");
            assert!(s.queue_drops > 0, "{bind}: {s:?}");
            assert_eq!(got, (0..got.len() as u32).collect::<Vec<_>>());
        }
    }

    /// A burst into a small buffer that nobody reads: the kernel's drops are counted, and
    /// with what was received they make up every datagram sent.
    #[test]
    fn counts_kernel_drops() {
        let l = FlowUdpListener::bind_with(
            &input("127.0.0.1", 0),
            ListenOptions {
                rcvbuf: 4096,
                poll: Duration::from_millis(10),
                ..ListenOptions::default()
            },
        )
        .unwrap();
        let to = l.local_addr();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..500 {
            sender.send_to(&[7u8; 1000], to).unwrap();
        }
        let stats = l.stats();
        assert!(stats.snapshot().kernel_drops > 0, "/proc/net/udp drops");
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = sync_channel(1024);
        let h = l.spawn(tx, Arc::clone(&stop)).unwrap();
        // one more datagram carries the SO_RXQ_OVFL count
        std::thread::sleep(Duration::from_millis(50));
        sender.send_to(&[8u8; 10], to).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut received = 0;
        while received == 0 || stats.snapshot().datagrams < received + 1 {
            received += rx.try_iter().map(|b| b.len() as u64).sum::<u64>();
            if std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap().unwrap();
        received += rx.try_iter().map(|b| b.len() as u64).sum::<u64>();
        let s = stats.snapshot();
        assert!(s.kernel_drops > 0);
        assert_eq!(s.queue_drops, 0);
        assert_eq!(received, s.datagrams);
        assert_eq!(s.datagrams + s.kernel_drops, 501, "{s:?}");
    }

    /// With `wait_when_full` (the default) a slow consumer loses nothing: the listener waits
    /// for room while the socket buffer takes the burst.
    #[test]
    fn waits_for_a_slow_consumer() {
        let l = FlowUdpListener::bind(&input("127.0.0.1", 0)).unwrap();
        let to = l.local_addr();
        let stats = l.stats();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = sync_channel(1);
        let h = l.spawn(tx, Arc::clone(&stop)).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..300u32 {
            sender.send_to(&i.to_be_bytes(), to).unwrap();
        }
        let mut got = Vec::new();
        while got.len() < 300 {
            let Ok(b) = rx.recv_timeout(Duration::from_secs(5)) else {
                break;
            };
            std::thread::sleep(Duration::from_millis(2));
            got.extend(
                b.iter()
                    .map(|d| u32::from_be_bytes(d.data.try_into().unwrap())),
            );
        }
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap().unwrap();
        let s = stats.snapshot();
        assert_eq!(got, (0..300).collect::<Vec<u32>>());
        assert_eq!((s.queue_drops, s.kernel_drops), (0, 0));
        assert!(s.queue_waits > 0, "{s:?}");
    }
}
