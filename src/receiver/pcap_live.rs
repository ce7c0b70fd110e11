//! Live capture through libpcap: finding the interface (by name, by address, or `auto`),
//! the host spec its addresses imply, opening it with a BPF filter, and filling batches
//! with frames and the kernel's drop counters.
//!
//! libpcap on Linux already reads through a TPACKET_V3 memory-mapped ring, so the capture
//! buffer size is the main tuning knob. Errors use pktvisor's texts.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pcap::{Active, Capture, Device};

use crate::config::hostspec::{HostSpec, IpNet};
use crate::event::CaptureStats;
use crate::receiver::Receiver;
use crate::receiver::batch::Batch;
use crate::receiver::context::{Delivery, ReceiverContext};
use crate::time::Timespec;

/// Why a live capture could not start or went on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    /// No interface given.
    #[error("no iface was specified for live capture")]
    NoInterface,
    /// `auto` found nothing suitable.
    #[error("iface was set to 'auto' but no interface was found")]
    NoAutoInterface,
    /// No interface with that name.
    #[error("Couldn't find interface by provided name: \"{0}\". Available interfaces: {1}")]
    NotFoundByName(String, String),
    /// No interface with that address.
    #[error("Couldn't find interface by provided IP: {0}")]
    NotFoundByIp(String),
    /// libpcap refused to open the interface.
    #[error("Cannot open interface for packet capture: {0}")]
    Open(String),
    /// The BPF expression did not compile or attach.
    #[error("Cannot set BPF filter to interface: {0}")]
    Bpf(String),
    /// Reading failed (interface gone, …).
    #[error("Packet capture failed: {0}")]
    Read(String),
}

/// Capture settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveConfig {
    /// Interface name, an address of it, or `auto`.
    pub iface: String,
    /// tcpdump filter.
    pub bpf: Option<String>,
    /// Bytes captured per frame.
    pub snaplen: i32,
    /// Kernel capture buffer in bytes.
    pub buffer_size: i32,
    /// Promiscuous mode.
    pub promisc: bool,
}

impl LiveConfig {
    /// Defaults for `iface`: full frames, a 64 MiB buffer, promiscuous.
    pub fn new(iface: &str) -> Self {
        LiveConfig {
            iface: iface.to_string(),
            bpf: None,
            snaplen: 65_535,
            buffer_size: 64 << 20,
            promisc: true,
        }
    }
}

/// `name(desc),name,…` of every interface (pktvisor's `available_iface` info).
pub fn available_interfaces() -> String {
    Device::list()
        .map(|devs| {
            devs.iter()
                .flat_map(|d| {
                    let mut v = Vec::new();
                    if let Some(desc) = &d.desc {
                        v.push(format!("{}({desc})", d.name));
                    }
                    v.push(d.name.clone());
                    v
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn packets_of(name: &str) -> u64 {
    ["rx_packets", "tx_packets"]
        .iter()
        .filter_map(|f| {
            std::fs::read_to_string(format!("/sys/class/net/{name}/statistics/{f}"))
                .ok()?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// Finds the interface named by `spec`: a name, one of its addresses, or `auto` (the
/// non-loopback interface that is up with the most packets received and sent).
pub fn resolve_interface(spec: &str) -> Result<Device, LiveError> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(LiveError::NoInterface);
    }
    let devices = Device::list().map_err(|e| LiveError::Open(e.to_string()))?;
    if spec == "auto" {
        return devices
            .into_iter()
            .filter(|d| !d.flags.is_loopback() && d.flags.is_up() && d.name != "any")
            .max_by_key(|d| packets_of(&d.name))
            .ok_or(LiveError::NoAutoInterface);
    }
    if let Ok(ip) = spec.parse::<IpAddr>() {
        return devices
            .into_iter()
            .find(|d| d.addresses.iter().any(|a| a.addr == ip))
            .ok_or_else(|| LiveError::NotFoundByIp(spec.to_string()));
    }
    let names = available_interfaces();
    devices
        .into_iter()
        .find(|d| d.name == spec)
        .ok_or_else(|| LiveError::NotFoundByName(spec.to_string(), names))
}

fn prefix_len(mask: &IpAddr) -> u8 {
    match mask {
        IpAddr::V4(m) => u32::from(*m).count_ones() as u8,
        IpAddr::V6(m) => u128::from(*m).count_ones() as u8,
    }
}

/// The host spec an interface implies: each of its addresses with its netmask.
pub fn interface_host_spec(dev: &Device) -> HostSpec {
    let nets = dev
        .addresses
        .iter()
        .filter_map(|a| {
            let len = a.netmask.as_ref().map(prefix_len).unwrap_or(match a.addr {
                IpAddr::V4(_) => 32,
                IpAddr::V6(_) => 128,
            });
            IpNet::parse(&format!("{}/{len}", a.addr)).ok()
        })
        .collect();
    HostSpec::from_nets(nets)
}

/// An open live capture.
pub struct LiveCapture {
    cap: Capture<Active>,
    linktype: u16,
    /// The interface captured.
    pub device: String,
}

impl std::fmt::Debug for LiveCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCapture")
            .field("device", &self.device)
            .field("linktype", &self.linktype)
            .finish()
    }
}

/// Frames per batch before it is handed on.
const BATCH_FRAMES: usize = 2048;
/// Longest wait for frames before the capture loop checks for a stop request.
const POLL_MS: i32 = 100;
/// Bytes per batch before it is handed on.
const BATCH_BYTES: usize = 1 << 20;

impl LiveCapture {
    /// Opens the interface of `cfg`.
    pub fn open(cfg: &LiveConfig) -> Result<LiveCapture, LiveError> {
        let dev = resolve_interface(&cfg.iface)?;
        let name = dev.name.clone();
        let mut cap = Capture::from_device(dev)
            .map_err(|e| LiveError::Open(e.to_string()))?
            .promisc(cfg.promisc)
            .snaplen(cfg.snaplen)
            .buffer_size(cfg.buffer_size)
            .timeout(10)
            .open()
            .map_err(|e| LiveError::Open(e.to_string()))?
            // Non-blocking reads plus our own poll: libpcap's timeout does not fire on
            // TPACKET_V3 until a frame arrives, which would hold a partial batch (and stop)
            // on a quiet interface.
            .setnonblock()
            .map_err(|e| LiveError::Open(e.to_string()))?;
        if let Some(bpf) = cfg.bpf.as_deref().filter(|b| !b.trim().is_empty()) {
            cap.filter(bpf, true)
                .map_err(|e| LiveError::Bpf(e.to_string()))?;
        }
        let linktype = u16::try_from(cap.get_datalink().0).unwrap_or(0);
        Ok(LiveCapture {
            cap,
            linktype,
            device: name,
        })
    }

    /// Reads frames into `batch` until it is full or none is waiting; with nothing waiting
    /// and an empty batch, waits up to `POLL_MS` for the capture to become readable.
    pub fn fill(&mut self, batch: &mut Batch) -> Result<(), LiveError> {
        while batch.len() < BATCH_FRAMES && batch.bytes() < BATCH_BYTES {
            match self.cap.next_packet() {
                Ok(p) => {
                    let ts = Timespec::new(
                        p.header.ts.tv_sec,
                        u32::try_from(p.header.ts.tv_usec.max(0)).unwrap_or(0) * 1000,
                    );
                    batch.push(ts, self.linktype, p.data, p.header.len);
                }
                Err(pcap::Error::TimeoutExpired) => {
                    if batch.is_empty() {
                        self.wait_readable();
                    }
                    return Ok(());
                }
                Err(e) => return Err(LiveError::Read(e.to_string())),
            }
        }
        Ok(())
    }

    /// Waits until the capture has frames or `POLL_MS` pass.
    fn wait_readable(&self) {
        use std::os::fd::AsRawFd;
        let mut fds = libc::pollfd {
            fd: self.cap.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut fds, 1, POLL_MS) };
    }

    /// The kernel's cumulative counters.
    pub fn stats(&mut self) -> Option<CaptureStats> {
        self.cap.stats().ok().map(|s| CaptureStats {
            os_drops: u64::from(s.dropped),
            if_drops: u64::from(s.if_dropped),
            tcp_reassembly_errors: 0,
        })
    }
}

/// The libpcap receiver: opens the interface (retrying with backoff while it fails),
/// hands batches of frames to the stream and the kernel's drop counters every second.
#[derive(Debug)]
pub struct LibpcapReceiver {
    cfg: LiveConfig,
}

impl LibpcapReceiver {
    /// A receiver capturing with `cfg`.
    pub fn new(cfg: LiveConfig) -> Self {
        LibpcapReceiver { cfg }
    }
}

impl Receiver for LibpcapReceiver {
    fn run(self: Box<Self>, ctx: &ReceiverContext) -> Result<(), String> {
        let cfg = &self.cfg;
        let mut attempt = 0u32;
        let what = format!("capture on {}", cfg.iface);
        while let Some(mut cap) = ctx.open_retrying(&what, &mut attempt, || LiveCapture::open(cfg))
        {
            ctx.status.running.store(true, Ordering::SeqCst);
            let mut batch = ctx.frame_batch();
            let mut last_stats = Instant::now();
            while !ctx.shutdown.is_triggered() {
                if let Err(e) = cap.fill(&mut batch) {
                    tracing::warn!("capture on {}: {e}", cfg.iface);
                    ctx.status.set_error(Some(e.to_string()));
                    break;
                }
                if !ctx.send_frames(&mut batch) {
                    return Ok(());
                }
                if last_stats.elapsed() >= Duration::from_secs(1) {
                    last_stats = Instant::now();
                    if let Some(s) = cap.stats()
                        && !ctx.send(Delivery::Stats(s))
                    {
                        return Ok(());
                    }
                }
            }
            let _ = ctx.send_frames(&mut batch);
            ctx.status.running.store(false, Ordering::SeqCst);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_loopback_by_name_and_address() {
        let lo = resolve_interface("lo").expect("lo exists");
        assert_eq!(lo.name, "lo");
        let by_ip = resolve_interface("127.0.0.1").expect("127.0.0.1 is lo's");
        assert_eq!(by_ip.name, "lo");
        let spec = interface_host_spec(&lo);
        assert!(spec.contains(&"127.0.0.1".parse().unwrap()));
        let err = resolve_interface("nope0").unwrap_err().to_string();
        assert!(err.starts_with(
            "Couldn't find interface by provided name: \"nope0\". Available interfaces: "
        ));
        assert!(err.contains("lo"));
        assert_eq!(
            resolve_interface("203.0.113.99").unwrap_err().to_string(),
            "Couldn't find interface by provided IP: 203.0.113.99"
        );
        assert_eq!(resolve_interface("").unwrap_err(), LiveError::NoInterface);
    }
}
