//! AF_PACKET capture through a TPACKET_V3 memory-mapped ring (pktvisor's
//! `pcap_source: af_packet`), Linux only.
//!
//! The kernel fills fixed-size blocks of frames; a block is handed to user space when it
//! is full or after `block_timeout_ms`, read in place, then returned. A BPF filter
//! compiled by libpcap is attached to the socket. Unlike pktvisor's AF_PACKET input this
//! one reports the kernel's drop counter. VLAN tags the kernel stripped into the frame
//! header are put back into the frame, as libpcap does.
//!
//! This is the one place that talks to the kernel directly: every `unsafe` block below is
//! a system call on a socket this module owns, or a read of the ring it mapped.

use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::time::{Duration, Instant};

use crate::event::CaptureStats;
use crate::receiver::Receiver;
use crate::receiver::batch::Batch;
use crate::receiver::context::{Delivery, ReceiverContext, backoff};
use crate::time::Timespec;

const SOL_PACKET: libc::c_int = 263;
const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_VERSION: libc::c_int = 10;
const TPACKET_V3: libc::c_int = 2;
const PACKET_MR_PROMISC: u16 = 1;
const ETH_P_ALL: u16 = 0x0003;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_VLAN_VALID: u32 = 0x10;
const TP_STATUS_VLAN_TPID_VALID: u32 = 0x40;

// struct tpacket_block_desc / tpacket_hdr_v1 offsets.
const BD_BLOCK_STATUS: usize = 8;
const BD_NUM_PKTS: usize = 12;
const BD_OFFSET_FIRST: usize = 16;
// struct tpacket3_hdr offsets.
const PH_NEXT: usize = 0;
const PH_SEC: usize = 4;
const PH_NSEC: usize = 8;
const PH_SNAPLEN: usize = 12;
const PH_LEN: usize = 16;
const PH_STATUS: usize = 20;
const PH_MAC: usize = 24;
const PH_VLAN_TCI: usize = 32;
const PH_VLAN_TPID: usize = 36;
const PH_MIN: usize = 48;

#[repr(C)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

#[repr(C)]
struct PacketMreq {
    ifindex: libc::c_int,
    mr_type: u16,
    alen: u16,
    address: [u8; 8],
}

#[repr(C)]
#[derive(Default)]
struct TpacketStatsV3 {
    packets: u32,
    drops: u32,
    freeze_q_cnt: u32,
}

/// Ring settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AfPacketConfig {
    /// Interface name (`any` captures every interface, not promiscuous).
    pub iface: String,
    /// tcpdump filter.
    pub bpf: Option<String>,
    /// Bytes per block.
    pub block_size: u32,
    /// Blocks in the ring.
    pub block_count: u32,
    /// Frame slot size (bytes captured per frame are at most this minus headers).
    pub frame_size: u32,
    /// Milliseconds before a partly filled block is handed over.
    pub block_timeout_ms: u32,
    /// The fanout group this ring joins (a stream with several workers).
    pub fanout: Option<crate::receiver::fanout::Fanout>,
}

impl AfPacketConfig {
    /// A ring of 32 × 1 MiB blocks, 64 KiB frames, 60 ms block timeout.
    pub fn new(iface: &str) -> Self {
        AfPacketConfig {
            iface: iface.to_string(),
            bpf: None,
            block_size: 1 << 20,
            block_count: 32,
            frame_size: 1 << 16,
            block_timeout_ms: 60,
            fanout: None,
        }
    }
}

/// What the capture loop reports.
pub enum Output {
    /// Frames.
    Batch(Batch),
    /// Cumulative kernel counters.
    Stats(CaptureStats),
    /// The ring is (not) capturing.
    Running(bool),
    /// Opening or reading failed (it is retried).
    Error(String),
}

struct Ring {
    fd: libc::c_int,
    map: *mut u8,
    len: usize,
    block_size: usize,
    block_count: usize,
    stats: CaptureStats,
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: `map`/`len` are the mapping this ring created and `fd` the socket it
        // opened; nothing uses them after drop.
        unsafe {
            libc::munmap(self.map.cast(), self.len);
            libc::close(self.fd);
        }
    }
}

fn os_error(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

fn setsockopt<T>(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> Result<(), String> {
    // SAFETY: `value` points to a live `T` of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(os_error("setsockopt"))
    }
}

/// The classic BPF program of `expr` for Ethernet frames, compiled by libpcap.
fn compile_bpf(expr: &str) -> Result<Vec<libc::sock_filter>, String> {
    let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET).map_err(|e| e.to_string())?;
    let prog = dead
        .compile(expr, true)
        .map_err(|e| format!("Cannot set BPF filter to interface: {e}"))?;
    prog.get_instructions()
        .iter()
        .map(|i| {
            let text = i.to_string();
            let f: Vec<u64> = text.split(' ').filter_map(|x| x.parse().ok()).collect();
            match f.as_slice() {
                [code, jt, jf, k] => Ok(libc::sock_filter {
                    code: *code as u16,
                    jt: *jt as u8,
                    jf: *jf as u8,
                    k: *k as u32,
                }),
                _ => Err(format!("unexpected BPF instruction {text}")),
            }
        })
        .collect()
}

impl Ring {
    fn open(cfg: &AfPacketConfig) -> Result<Ring, String> {
        let protocol = ETH_P_ALL.to_be();
        // SAFETY: plain socket creation.
        let fd =
            unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, libc::c_int::from(protocol)) };
        if fd < 0 {
            return Err(os_error("Cannot open interface for packet capture"));
        }
        let mut ring = Ring {
            fd,
            map: std::ptr::null_mut(),
            len: 0,
            block_size: cfg.block_size as usize,
            block_count: cfg.block_count as usize,
            stats: CaptureStats::default(),
        };
        let ifindex = if cfg.iface == "any" {
            0
        } else {
            let name = std::ffi::CString::new(cfg.iface.as_str()).map_err(|e| e.to_string())?;
            // SAFETY: `name` is a valid C string.
            let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
            if idx == 0 {
                return Err(format!(
                    "Couldn't find interface by provided name: \"{}\". Available interfaces: {}",
                    cfg.iface,
                    crate::receiver::pcap_live::available_interfaces()
                ));
            }
            idx as libc::c_int
        };
        setsockopt(fd, SOL_PACKET, PACKET_VERSION, &TPACKET_V3)?;
        if let Some(expr) = cfg.bpf.as_deref().filter(|b| !b.trim().is_empty()) {
            let mut prog = compile_bpf(expr)?;
            let fprog = libc::sock_fprog {
                len: prog.len() as u16,
                filter: prog.as_mut_ptr(),
            };
            setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
                .map_err(|e| format!("Cannot set BPF filter to interface: {e}"))?;
        }
        let frames_per_block = cfg.block_size / cfg.frame_size.max(1);
        let req = TpacketReq3 {
            block_size: cfg.block_size,
            block_nr: cfg.block_count,
            frame_size: cfg.frame_size,
            frame_nr: frames_per_block * cfg.block_count,
            retire_blk_tov: cfg.block_timeout_ms,
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req)?;
        ring.len = ring.block_size * ring.block_count;
        // SAFETY: maps the ring the kernel just allocated for this socket.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring.len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED,
                fd,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            ring.len = 0;
            return Err(os_error("mmap of the capture ring"));
        }
        ring.map = map.cast();
        // SAFETY: sockaddr_ll is plain data; zeroed is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = protocol;
        sll.sll_ifindex = ifindex;
        // SAFETY: `sll` is a valid sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                fd,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(os_error("Cannot open interface for packet capture"));
        }
        if ifindex != 0 {
            let mreq = PacketMreq {
                ifindex,
                mr_type: PACKET_MR_PROMISC,
                alen: 0,
                address: [0; 8],
            };
            setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq)?;
        }
        if let Some(f) = cfg.fanout {
            use crate::receiver::fanout::{PACKET_FANOUT, PACKET_FANOUT_DATA};
            setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &f.option())
                .map_err(|e| format!("Cannot join the AF_PACKET fanout group: {e}"))?;
            let mut prog = f.program();
            let fprog = libc::sock_fprog {
                len: prog.len() as u16,
                filter: prog.as_mut_ptr(),
            };
            setsockopt(fd, SOL_PACKET, PACKET_FANOUT_DATA, &fprog)
                .map_err(|e| format!("Cannot set the AF_PACKET fanout program: {e}"))?;
        }
        Ok(ring)
    }

    fn block(&self, i: usize) -> &[u8] {
        // SAFETY: block `i` (< block_count) lies inside the mapping, which lives as long
        // as `self`; the kernel does not write a block while its status is USER.
        unsafe { std::slice::from_raw_parts(self.map.add(i * self.block_size), self.block_size) }
    }

    fn block_status(&self, i: usize) -> u32 {
        // SAFETY: the status word is inside block `i`; a volatile read sees the kernel's
        // latest store.
        let s = unsafe {
            std::ptr::read_volatile(
                self.map
                    .add(i * self.block_size + BD_BLOCK_STATUS)
                    .cast::<u32>(),
            )
        };
        fence(Ordering::Acquire);
        s
    }

    fn release(&self, i: usize) {
        fence(Ordering::Release);
        // SAFETY: as in `block_status`; writing KERNEL hands the block back.
        unsafe {
            std::ptr::write_volatile(
                self.map
                    .add(i * self.block_size + BD_BLOCK_STATUS)
                    .cast::<u32>(),
                TP_STATUS_KERNEL,
            );
        }
    }

    fn wait(&self, timeout_ms: i32) {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe {
            libc::poll(&mut pfd, 1, timeout_ms);
        }
    }

    /// Cumulative counters (the kernel resets them on every read).
    fn stats(&mut self) -> CaptureStats {
        let mut s = TpacketStatsV3::default();
        let mut len = std::mem::size_of::<TpacketStatsV3>() as libc::socklen_t;
        // SAFETY: `s` is a live buffer of `len` bytes.
        let rc = unsafe {
            libc::getsockopt(
                self.fd,
                SOL_PACKET,
                PACKET_STATISTICS,
                (&mut s as *mut TpacketStatsV3).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            self.stats.os_drops += u64::from(s.drops);
        }
        self.stats
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(0, u32::from_ne_bytes)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .and_then(|s| <[u8; 2]>::try_from(s).ok())
        .map_or(0, u16::from_ne_bytes)
}

/// Copies every frame of a block into `batch` (putting stripped VLAN tags back).
fn read_block(block: &[u8], batch: &mut Batch, scratch: &mut Vec<u8>) {
    let n = u32_at(block, BD_NUM_PKTS);
    let mut off = u32_at(block, BD_OFFSET_FIRST) as usize;
    for _ in 0..n {
        let Some(h) = block.get(off..off + PH_MIN) else {
            return;
        };
        let snap = u32_at(h, PH_SNAPLEN) as usize;
        let mac = usize::from(u16_at(h, PH_MAC));
        let status = u32_at(h, PH_STATUS);
        let ts = Timespec::new(i64::from(u32_at(h, PH_SEC)), u32_at(h, PH_NSEC));
        let wire = u32_at(h, PH_LEN);
        if let Some(data) = block.get(off + mac..off + mac + snap) {
            if status & TP_STATUS_VLAN_VALID != 0 && data.len() >= 12 {
                let tci = u32_at(h, PH_VLAN_TCI) as u16;
                let tpid = if status & TP_STATUS_VLAN_TPID_VALID != 0 {
                    u16_at(h, PH_VLAN_TPID)
                } else {
                    0x8100
                };
                scratch.clear();
                scratch.extend_from_slice(&data[..12]);
                scratch.extend_from_slice(&tpid.to_be_bytes());
                scratch.extend_from_slice(&tci.to_be_bytes());
                scratch.extend_from_slice(&data[12..]);
                batch.push(ts, crate::decode::linktype::ETHERNET, scratch, wire + 4);
            } else {
                batch.push(ts, crate::decode::linktype::ETHERNET, data, wire);
            }
        }
        let next = u32_at(h, PH_NEXT) as usize;
        if next == 0 {
            return;
        }
        off += next;
    }
}

/// Captures until `stop`, reopening the ring with backoff after failures; `out` returning
/// false ends the loop.
pub fn run(cfg: &AfPacketConfig, out: &mut dyn FnMut(Output) -> bool, stop: &AtomicBool) {
    let mut attempt = 0u32;
    let mut scratch = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let mut ring = match Ring::open(cfg) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("af_packet capture on {}: {e}; retrying", cfg.iface);
                if !out(Output::Error(e)) {
                    return;
                }
                let until = Instant::now() + backoff(attempt);
                while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                attempt = attempt.saturating_add(1);
                continue;
            }
        };
        attempt = 0;
        if !out(Output::Running(true)) {
            return;
        }
        let mut current = 0usize;
        let mut last_stats = Instant::now();
        let mut batch = Batch::default();
        while !stop.load(Ordering::SeqCst) {
            if ring.block_status(current) & TP_STATUS_USER == 0 {
                if !batch.is_empty() && !out(Output::Batch(std::mem::take(&mut batch))) {
                    return;
                }
                ring.wait(100);
            } else {
                read_block(ring.block(current), &mut batch, &mut scratch);
                ring.release(current);
                current = (current + 1) % ring.block_count;
                if batch.len() >= 2048 && !out(Output::Batch(std::mem::take(&mut batch))) {
                    return;
                }
            }
            if last_stats.elapsed() >= Duration::from_secs(1) {
                last_stats = Instant::now();
                if !out(Output::Stats(ring.stats())) {
                    return;
                }
            }
        }
        if !batch.is_empty() {
            out(Output::Batch(batch));
        }
        out(Output::Running(false));
    }
}

/// The AF_PACKET receiver: `run` on the stream's shutdown flag, its output delivered.
#[derive(Debug)]
pub struct AfPacketReceiver {
    cfg: AfPacketConfig,
}

impl AfPacketReceiver {
    /// A receiver capturing with `cfg`.
    pub fn new(cfg: AfPacketConfig) -> Self {
        AfPacketReceiver { cfg }
    }
}

impl Receiver for AfPacketReceiver {
    fn run(self: Box<Self>, ctx: &ReceiverContext) -> Result<(), String> {
        let status = &ctx.status;
        run(
            &self.cfg,
            &mut |ev| match ev {
                Output::Batch(mut b) => ctx.send_frames(&mut b),
                Output::Stats(s) => ctx.send(Delivery::Stats(s)),
                Output::Running(r) => {
                    status.running.store(r, Ordering::SeqCst);
                    true
                }
                Output::Error(e) => {
                    status.set_error(Some(e));
                    status.restarts.fetch_add(1, Ordering::Relaxed);
                    true
                }
            },
            ctx.shutdown.flag(),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpf_compiles_to_socket_filter() {
        let prog = compile_bpf("udp port 53").expect("compiles");
        assert!(prog.len() > 4);
        assert!(
            compile_bpf("not ( valid")
                .unwrap_err()
                .contains("Cannot set BPF filter")
        );
    }

    #[test]
    fn reads_frames_and_restores_vlan_tags() {
        // One block, two frames laid out as the kernel does.
        let mut block = vec![0u8; 4096];
        block[BD_NUM_PKTS..BD_NUM_PKTS + 4].copy_from_slice(&2u32.to_ne_bytes());
        block[BD_OFFSET_FIRST..BD_OFFSET_FIRST + 4].copy_from_slice(&64u32.to_ne_bytes());
        let frame: Vec<u8> = (0..20u8).collect();
        for (i, (off, vlan)) in [(64usize, false), (256usize, true)].into_iter().enumerate() {
            let h = &mut block[off..off + PH_MIN];
            h[PH_NEXT..4].copy_from_slice(&(if i == 0 { 192u32 } else { 0 }).to_ne_bytes());
            h[PH_SEC..PH_SEC + 4].copy_from_slice(&7u32.to_ne_bytes());
            h[PH_SNAPLEN..PH_SNAPLEN + 4].copy_from_slice(&20u32.to_ne_bytes());
            h[PH_LEN..PH_LEN + 4].copy_from_slice(&20u32.to_ne_bytes());
            h[PH_MAC..PH_MAC + 2].copy_from_slice(&64u16.to_ne_bytes());
            if vlan {
                h[PH_STATUS..PH_STATUS + 4].copy_from_slice(&TP_STATUS_VLAN_VALID.to_ne_bytes());
                h[PH_VLAN_TCI..PH_VLAN_TCI + 4].copy_from_slice(&100u32.to_ne_bytes());
            }
            block[off + 64..off + 84].copy_from_slice(&frame);
        }
        let mut batch = Batch::default();
        read_block(&block, &mut batch, &mut Vec::new());
        let frames: Vec<Vec<u8>> = batch.iter().map(|(_, d)| d.to_vec()).collect();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0], frame);
        assert_eq!(&frames[1][12..16], &[0x81, 0x00, 0, 100]);
        assert_eq!(frames[1].len(), 24);
    }
}
