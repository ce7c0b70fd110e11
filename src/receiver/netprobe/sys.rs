//! The Linux calls of the netprobe receiver: ICMP / ICMPv6 echo sockets (raw when the
//! process may open them, else the unprivileged datagram "ping" sockets that
//! `net.ipv4.ping_group_range` allows), kernel timestamps, epoll, an eventfd, `TCP_INFO`.
//!
//! Timestamps come from the kernel: every received datagram carries its software receive
//! time (`SO_TIMESTAMPING`, else `SO_TIMESTAMPNS`), and every echo request asks for its
//! software transmit time, keyed by our sequence number (`SCM_TS_OPT_ID`, Linux 6.13+)
//! and read back from the socket's error queue. Where the kernel cannot (older kernels),
//! the send time is the clock read just before `sendmsg`. Every `unsafe` block is a libc
//! call on memory owned here.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::config::Family;
use crate::time::Timespec;

/// `SO_TIMESTAMPING` (x86_64, arm64, …: the "old" 32-bit-time value is the native one).
const SO_TIMESTAMPING: libc::c_int = 37;
/// `SO_TIMESTAMPNS`.
const SO_TIMESTAMPNS: libc::c_int = 35;
/// `SCM_TS_OPT_ID`: a per-`sendmsg` timestamp key (Linux 6.13).
const SCM_TS_OPT_ID: libc::c_int = 81;
const SOF_TX_SOFTWARE: u32 = 1 << 1;
const SOF_RX_SOFTWARE: u32 = 1 << 3;
const SOF_SOFTWARE: u32 = 1 << 4;
const SOF_OPT_ID: u32 = 1 << 7;
const SOF_OPT_TSONLY: u32 = 1 << 11;
/// `SO_EE_ORIGIN_TIMESTAMPING`.
const EE_ORIGIN_TIMESTAMPING: u8 = 4;
/// `ICMP_FILTER` (level `SOL_RAW`): a bit mask of ICMP types the raw socket drops.
const ICMP_FILTER: libc::c_int = 1;
/// `ICMP6_FILTER` (level `IPPROTO_ICMPV6`).
const ICMP6_FILTER: libc::c_int = 1;
/// ICMP echo reply types.
const ICMP_ECHOREPLY: u32 = 0;
const ICMP6_ECHO_REPLY: u32 = 129;

/// Which kind of ICMP socket is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpKind {
    /// `SOCK_RAW` (needs `CAP_NET_RAW`): IPv4 datagrams arrive with their IP header.
    Raw,
    /// `SOCK_DGRAM` "ping" socket: the kernel sets the identifier and routes only the
    /// replies to this socket's identifier to it.
    Datagram,
}

impl IcmpKind {
    /// Name shown in the input's info.
    pub fn as_str(self) -> &'static str {
        match self {
            IcmpKind::Raw => "raw",
            IcmpKind::Datagram => "datagram",
        }
    }
}

/// What one receive returned.
#[derive(Clone, Copy, Debug)]
pub struct Received {
    /// Bytes in the buffer.
    pub len: usize,
    /// Sender.
    pub from: IpAddr,
    /// The kernel's receive time, when it gave one.
    pub stamp: Option<Timespec>,
}

/// One ICMP echo socket shared by every ping target of its family.
#[derive(Debug)]
pub struct IcmpSocket {
    sock: Socket,
    /// Address family.
    pub family: Family,
    /// Raw or datagram.
    pub kind: IcmpKind,
    /// Whether send timestamps come from the kernel.
    tx_stamps: bool,
    /// Whether receive timestamps come from the kernel.
    rx_stamps: bool,
}

fn set_opt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` outlives the call and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn ts_of(t: &libc::timespec) -> Option<Timespec> {
    if t.tv_sec == 0 && t.tv_nsec == 0 {
        return None;
    }
    #[allow(clippy::useless_conversion)] // time_t is i32 on some targets
    let sec = i64::from(t.tv_sec);
    Some(Timespec::new(sec, u32::try_from(t.tv_nsec).unwrap_or(0)))
}

/// A sender address from `recvmsg`.
fn ip_of(ss: &libc::sockaddr_storage) -> IpAddr {
    match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it can hold.
            let a: &libc::sockaddr_in = unsafe { &*(ss as *const libc::sockaddr_storage).cast() };
            IpAddr::V4(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6, which it can hold.
            let a: &libc::sockaddr_in6 = unsafe { &*(ss as *const libc::sockaddr_storage).cast() };
            IpAddr::V6(Ipv6Addr::from(a.sin6_addr.s6_addr))
        }
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

/// Control-message buffer, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct Control([u8; 256]);

impl IcmpSocket {
    /// Opens the family's echo socket: raw when allowed, else a datagram ping socket.
    pub fn open(family: Family) -> io::Result<IcmpSocket> {
        let (domain, proto) = match family {
            Family::V4 => (Domain::IPV4, Protocol::ICMPV4),
            Family::V6 => (Domain::IPV6, Protocol::ICMPV6),
        };
        let (sock, kind) = match Socket::new(domain, Type::RAW, Some(proto)) {
            Ok(s) => (s, IcmpKind::Raw),
            Err(raw_err) => match Socket::new(domain, Type::DGRAM, Some(proto)) {
                Ok(s) => (s, IcmpKind::Datagram),
                Err(dgram_err) => {
                    return Err(io::Error::new(
                        dgram_err.kind(),
                        format!(
                            "cannot open an ICMP socket: raw: {raw_err}; datagram (net.ipv4.ping_group_range): {dgram_err}"
                        ),
                    ));
                }
            },
        };
        sock.set_nonblocking(true)?;
        let _ = sock.set_recv_buffer_size(4 << 20);
        let fd = sock.as_raw_fd();
        if kind == IcmpKind::Raw {
            // Only echo replies reach the socket (every other ICMP type is filtered in the
            // kernel).
            match family {
                Family::V4 => {
                    let mask: u32 = !(1u32 << ICMP_ECHOREPLY);
                    let _ = set_opt(fd, libc::SOL_RAW, ICMP_FILTER, &mask);
                }
                Family::V6 => {
                    let mut filter = [u32::MAX; 8];
                    filter[(ICMP6_ECHO_REPLY >> 5) as usize] &= !(1u32 << (ICMP6_ECHO_REPLY & 31));
                    let _ = set_opt(fd, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &filter);
                }
            }
        }
        let flags: u32 =
            SOF_TX_SOFTWARE | SOF_RX_SOFTWARE | SOF_SOFTWARE | SOF_OPT_ID | SOF_OPT_TSONLY;
        let (tx_stamps, rx_stamps) =
            if set_opt(fd, libc::SOL_SOCKET, SO_TIMESTAMPING, &flags).is_ok() {
                (true, true)
            } else {
                let on: libc::c_int = 1;
                (
                    false,
                    set_opt(fd, libc::SOL_SOCKET, SO_TIMESTAMPNS, &on).is_ok(),
                )
            };
        Ok(IcmpSocket {
            sock,
            family,
            kind,
            tx_stamps,
            rx_stamps,
        })
    }

    /// The descriptor (for epoll).
    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Whether send times come from the kernel.
    pub fn kernel_tx_stamps(&self) -> bool {
        self.tx_stamps
    }

    /// Whether receive times come from the kernel.
    pub fn kernel_rx_stamps(&self) -> bool {
        self.rx_stamps
    }

    /// Stops asking for send timestamps (the kernel cannot key them to our sequence
    /// numbers); receive timestamps stay.
    fn no_tx_stamps(&mut self) {
        self.tx_stamps = false;
        let flags: u32 = SOF_RX_SOFTWARE | SOF_SOFTWARE;
        let _ = set_opt(self.fd(), libc::SOL_SOCKET, SO_TIMESTAMPING, &flags);
    }

    /// Sends one echo request to `to`; with kernel send timestamps, `key` comes back with
    /// its send time from [`IcmpSocket::recv_tx_stamp`].
    pub fn send(&mut self, msg: &[u8], to: IpAddr, key: u32) -> io::Result<()> {
        let addr = SockAddr::from(SocketAddr::new(to, 0));
        if self.tx_stamps {
            match self.sendmsg(msg, &addr, Some(key)) {
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    // A kernel without SCM_TS_OPT_ID.
                    self.no_tx_stamps();
                }
                other => return other,
            }
        }
        self.sendmsg(msg, &addr, None)
    }

    fn sendmsg(&self, msg: &[u8], addr: &SockAddr, key: Option<u32>) -> io::Result<()> {
        let mut iov = libc::iovec {
            iov_base: msg.as_ptr() as *mut libc::c_void,
            iov_len: msg.len(),
        };
        let mut control = Control([0; 256]);
        // SAFETY: a zeroed msghdr is a valid empty one.
        let mut hdr: libc::msghdr = unsafe { zeroed() };
        hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
        hdr.msg_namelen = addr.len();
        hdr.msg_iov = &raw mut iov;
        hdr.msg_iovlen = 1;
        if let Some(key) = key {
            // SAFETY: CMSG_SPACE is a pure computation.
            let space = unsafe { libc::CMSG_SPACE(size_of::<u32>() as u32) } as usize;
            hdr.msg_control = control.0.as_mut_ptr().cast();
            hdr.msg_controllen = space;
            // SAFETY: msg_control points at `control`, large enough for one u32 cmsg, so
            // CMSG_FIRSTHDR is non-null and CMSG_DATA has room for the key.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(&raw const hdr);
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = SCM_TS_OPT_ID;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<u32>() as u32) as usize;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u32>(), key);
            }
        }
        // SAFETY: every pointer in `hdr` refers to memory that outlives the call.
        let rc = unsafe { libc::sendmsg(self.fd(), &raw const hdr, 0) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Receives one datagram (IPv4 raw sockets: with its IP header); None when nothing
    /// is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut control = Control([0; 256]);
        // SAFETY: a zeroed sockaddr_storage and msghdr are valid empty values.
        let mut from: libc::sockaddr_storage = unsafe { zeroed() };
        // SAFETY: as above.
        let mut hdr: libc::msghdr = unsafe { zeroed() };
        hdr.msg_name = (&raw mut from).cast();
        hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        hdr.msg_iov = &raw mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = control.0.as_mut_ptr().cast();
        hdr.msg_controllen = control.0.len();
        // SAFETY: every pointer in `hdr` refers to memory that outlives the call.
        let rc = unsafe { libc::recvmsg(self.fd(), &raw mut hdr, libc::MSG_DONTWAIT) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(None)
            } else {
                Err(e)
            };
        }
        let mut stamp = None;
        for_each_cmsg(&hdr, |level, kind, data| {
            if level != libc::SOL_SOCKET {
                return;
            }
            if kind == SO_TIMESTAMPING && data.len() >= size_of::<libc::timespec>() {
                // scm_timestamping: ts[0] is the software stamp.
                stamp = read_timespec(data);
            } else if kind == SO_TIMESTAMPNS && data.len() >= size_of::<libc::timespec>() {
                stamp = read_timespec(data);
            }
        });
        Ok(Some(Received {
            len: rc as usize,
            from: ip_of(&from),
            stamp,
        }))
    }

    /// Reads one send timestamp from the error queue: (key, send time). None when the
    /// queue is empty; `Some((key, None))` for an entry that is not a send timestamp.
    pub fn recv_tx_stamp(&self) -> io::Result<Option<(u32, Option<Timespec>)>> {
        let mut data = [0u8; 64];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        let mut control = Control([0; 256]);
        // SAFETY: a zeroed msghdr is a valid empty one.
        let mut hdr: libc::msghdr = unsafe { zeroed() };
        hdr.msg_iov = &raw mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = control.0.as_mut_ptr().cast();
        hdr.msg_controllen = control.0.len();
        // SAFETY: every pointer in `hdr` refers to memory that outlives the call.
        let rc = unsafe {
            libc::recvmsg(
                self.fd(),
                &raw mut hdr,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(None)
            } else {
                Err(e)
            };
        }
        let mut stamp = None;
        let mut key = None;
        for_each_cmsg(&hdr, |level, kind, data| {
            let is_err = (level == libc::SOL_IP && kind == libc::IP_RECVERR)
                || (level == libc::SOL_IPV6 && kind == libc::IPV6_RECVERR);
            if level == libc::SOL_SOCKET && kind == SO_TIMESTAMPING {
                stamp = read_timespec(data);
            } else if is_err && data.len() >= size_of::<libc::sock_extended_err>() {
                // SAFETY: the kernel put a sock_extended_err here; read it unaligned.
                let ee: libc::sock_extended_err =
                    unsafe { std::ptr::read_unaligned(data.as_ptr().cast()) };
                if ee.ee_origin == EE_ORIGIN_TIMESTAMPING && ee.ee_errno == libc::ENOMSG as u32 {
                    key = Some(ee.ee_data);
                }
            }
        });
        Ok(Some(match key {
            Some(k) => (k, stamp),
            None => (u32::MAX, None),
        }))
    }
}

fn read_timespec(data: &[u8]) -> Option<Timespec> {
    if data.len() < size_of::<libc::timespec>() {
        return None;
    }
    // SAFETY: the slice holds at least one timespec; read it unaligned.
    let t: libc::timespec = unsafe { std::ptr::read_unaligned(data.as_ptr().cast()) };
    ts_of(&t)
}

/// Calls `f(level, type, data)` for every control message of a received `hdr`.
fn for_each_cmsg(hdr: &libc::msghdr, mut f: impl FnMut(i32, i32, &[u8])) {
    // SAFETY: `hdr` was filled by recvmsg; the CMSG macros walk its control buffer within
    // msg_controllen, and each data slice stays inside its cmsg_len.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(hdr);
        while !c.is_null() {
            let header = libc::CMSG_LEN(0) as usize;
            let len = ((*c).cmsg_len as usize).saturating_sub(header);
            let data = std::slice::from_raw_parts(libc::CMSG_DATA(c), len);
            f((*c).cmsg_level, (*c).cmsg_type, data);
            c = libc::CMSG_NXTHDR(hdr, c);
        }
    }
}

/// An epoll instance.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
}

/// Readable.
pub const IN: u32 = libc::EPOLLIN as u32;
/// Writable.
pub const OUT: u32 = libc::EPOLLOUT as u32;
/// Error (also the ICMP error queue holding send timestamps).
pub const ERR: u32 = libc::EPOLLERR as u32;
/// Hang-up.
pub const HUP: u32 = libc::EPOLLHUP as u32;

impl Epoll {
    /// A new epoll instance.
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nobody else owns.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` outlives the call.
        let rc = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &raw mut ev) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Watches `fd` for `events`, reporting `token`.
    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
    }

    /// Stops watching `fd`.
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Waits up to `timeout_ms` for events (into `out`, cleared first).
    pub fn wait(&self, out: &mut Vec<(u64, u32)>, timeout_ms: i32) -> io::Result<()> {
        out.clear();
        // SAFETY: a zeroed epoll_event array is valid.
        let mut evs: [libc::epoll_event; 256] = unsafe { zeroed() };
        // SAFETY: `evs` outlives the call and its length is passed.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                evs.as_mut_ptr(),
                evs.len() as i32,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        for ev in evs.iter().take(n as usize) {
            let (token, events) = (ev.u64, ev.events);
            out.push((token, events));
        }
        Ok(())
    }
}

/// An eventfd other threads write to wake the probe loop.
#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    /// A new non-blocking eventfd.
    pub fn new() -> io::Result<Waker> {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nobody else owns.
        Ok(Waker {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The descriptor.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Wakes the loop.
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from `one`, which outlives the call.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&raw const one).cast(), 8) };
    }

    /// Clears pending wake-ups.
    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into `v`, which outlives the call.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), (&raw mut v).cast(), 8) };
    }
}

/// The kernel's round-trip sample of a just-connected TCP socket in microseconds, when
/// its SYN was not retransmitted (the first sample sets `tcpi_rtt` exactly).
pub fn tcp_handshake_rtt_us(fd: RawFd) -> Option<u64> {
    // SAFETY: a zeroed tcp_info is valid.
    let mut info: libc::tcp_info = unsafe { zeroed() };
    let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` and `len` outlive the call; `len` is info's size.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &raw mut len,
        )
    };
    if rc != 0 || info.tcpi_total_retrans != 0 || info.tcpi_rtt == 0 {
        return None;
    }
    Some(u64::from(info.tcpi_rtt))
}
