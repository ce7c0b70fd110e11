//! Bounded TCP stream reassembly for processors that read byte streams (BGP, DNS over TCP).
//!
//! Only connections on ports some processor asked for are tracked. Each direction of a
//! connection delivers its bytes in sequence order exactly once: retransmissions are
//! trimmed, out-of-order segments wait in a small per-direction buffer, and when that
//! buffer overflows the missing bytes are given up on (a *gap*: the next delivery is
//! flagged so a framing consumer can resynchronise). Connections end on RST, on FIN in both
//! directions, after `idle_timeout_secs` of packet time without traffic, or when the table
//! is full (least recently used first). Every eviction, timeout and gap is counted.
//!
//! A connection evicted for lack of room is remembered (in a bounded list) and its later
//! segments are ignored until it ends or a new SYN reuses its addresses: its earlier bytes
//! are gone, so picking it up mid-stream would hand framing consumers garbage.

use std::net::IpAddr;
use std::num::NonZeroUsize;

use lru::LruCache;

use crate::config::hostspec::Direction;
use crate::decode::{L3, L4, PacketInfo};
use crate::time::Timespec;
use crate::wire::tcp::flags;

/// Default bound on tracked connections (pktvisor's `tcp_packet_reassembly_cache_limit`).
pub const DEFAULT_CONNECTION_LIMIT: usize = 300_000;
/// Connections idle longer than this many seconds are closed.
pub const DEFAULT_IDLE_TIMEOUT_SECS: i64 = 30;
/// At most this many idle connections are closed per packet.
const IDLE_CLOSES_PER_PACKET: usize = 100;
/// Out-of-order segments kept per direction before giving up on the gap.
const MAX_OOO_SEGMENTS: usize = 32;
/// Out-of-order bytes kept per direction before giving up on the gap.
const MAX_OOO_BYTES: usize = 256 * 1024;
/// Segments further ahead than this are treated as unrelated (garbage or very old).
const MAX_AHEAD: u32 = 1 << 30;

/// A set of TCP ports, as a 65,536-bit map.
#[derive(Clone)]
pub struct PortSet {
    bits: Box<[u64; 1024]>,
    any: bool,
}

impl std::fmt::Debug for PortSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortSet").field("any", &self.any).finish()
    }
}

impl Default for PortSet {
    fn default() -> Self {
        PortSet {
            bits: Box::new([0u64; 1024]),
            any: false,
        }
    }
}

impl PortSet {
    /// Adds a port.
    pub fn insert(&mut self, port: u16) {
        self.bits[usize::from(port) / 64] |= 1u64 << (port % 64);
        self.any = true;
    }

    /// Whether the port is in the set.
    pub fn contains(&self, port: u16) -> bool {
        self.bits[usize::from(port) / 64] & (1u64 << (port % 64)) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        !self.any
    }

    /// Adds every port of another set.
    pub fn extend(&mut self, other: &PortSet) {
        for (a, b) in self.bits.iter_mut().zip(other.bits.iter()) {
            *a |= b;
        }
        self.any |= other.any;
    }
}

/// One endpoint pair, ordered so both directions share a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ConnKey {
    lo: ([u8; 16], u16),
    hi: ([u8; 16], u16),
}

fn ip_bytes(ip: &IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&a.octets());
            b[15] ^= 0x80; // keep v4 and v6 keys apart
            b
        }
        IpAddr::V6(a) => a.octets(),
    }
}

/// Identity of a delivered chunk's connection and direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpFlow {
    /// Connection id, unique within this reassembler.
    pub conn_id: u64,
    /// Network layer.
    pub l3: L3,
    /// Sender of these bytes.
    pub src_ip: IpAddr,
    /// Receiver of these bytes.
    pub dst_ip: IpAddr,
    /// Sender port.
    pub src_port: u16,
    /// Receiver port.
    pub dst_port: u16,
    /// Host direction of the segment that delivered the bytes.
    pub direction: Direction,
}

/// What the reassembler reports for one packet.
#[derive(Debug)]
pub enum TcpStreamEvent<'a> {
    /// A new tracked connection.
    Start { flow: TcpFlow, ts: Timespec },
    /// In-order bytes of one direction.
    Data {
        /// Flow of these bytes.
        flow: TcpFlow,
        /// Timestamp of the packet that made them deliverable.
        ts: Timespec,
        /// The bytes.
        data: &'a [u8],
        /// Bytes before these were lost: a framing consumer must resynchronise.
        after_gap: bool,
    },
    /// The connection ended (FIN both ways, RST, idle, or evicted).
    End { flow: TcpFlow, ts: Timespec },
}

/// Counters of the reassembler.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpReassemblyStats {
    /// Connections started.
    pub connections: u64,
    /// Connections dropped because the table was full.
    pub evicted: u64,
    /// Connections closed for being idle.
    pub timed_out: u64,
    /// Times bytes were given up on (out-of-order overflow).
    pub gaps: u64,
    /// Segments ignored as far outside the expected sequence window.
    pub out_of_window: u64,
    /// Segments ignored because their connection had been evicted.
    pub after_eviction: u64,
}

impl TcpReassemblyStats {
    /// Adds another reassembler's counts (the workers of a sharded stream).
    pub fn merge(&mut self, o: &TcpReassemblyStats) {
        self.connections += o.connections;
        self.evicted += o.evicted;
        self.timed_out += o.timed_out;
        self.gaps += o.gaps;
        self.out_of_window += o.out_of_window;
        self.after_eviction += o.after_eviction;
    }
}

#[derive(Debug, Default)]
struct Half {
    next_seq: Option<u32>,
    ooo: Vec<(u32, Vec<u8>)>,
    ooo_bytes: usize,
    fin: bool,
    gap: bool,
}

#[derive(Debug)]
struct Conn {
    id: u64,
    last_seen: Timespec,
    /// `half[0]`: bytes sent from `lo` to `hi`; `half[1]`: the other way.
    half: [Half; 2],
    flow_lo_to_hi: TcpFlow,
}

/// The reassembler.
pub struct TcpReassembler {
    conns: LruCache<ConnKey, Conn>,
    evicted: LruCache<ConnKey, ()>,
    ports: PortSet,
    idle_timeout_secs: i64,
    next_id: u64,
    stats: TcpReassemblyStats,
}

impl std::fmt::Debug for TcpReassembler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpReassembler")
            .field("connections", &self.conns.len())
            .field("stats", &self.stats)
            .finish()
    }
}

fn flip(f: &TcpFlow) -> TcpFlow {
    TcpFlow {
        src_ip: f.dst_ip,
        dst_ip: f.src_ip,
        src_port: f.dst_port,
        dst_port: f.src_port,
        ..*f
    }
}

impl TcpReassembler {
    /// A reassembler tracking connections on `ports`, at most `limit` at a time.
    pub fn new(limit: usize, ports: PortSet) -> Self {
        let tombstones = limit.clamp(4096, 1 << 20);
        TcpReassembler {
            conns: LruCache::new(NonZeroUsize::new(limit.max(1)).unwrap_or(NonZeroUsize::MIN)),
            evicted: LruCache::new(NonZeroUsize::new(tombstones).unwrap_or(NonZeroUsize::MIN)),
            ports,
            idle_timeout_secs: DEFAULT_IDLE_TIMEOUT_SECS,
            next_id: 1,
            stats: TcpReassemblyStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &TcpReassemblyStats {
        &self.stats
    }

    /// Adds ports of interest.
    pub fn add_ports(&mut self, ports: &PortSet) {
        self.ports.extend(ports);
    }

    /// The bound on tracked connections.
    pub fn limit(&self) -> usize {
        self.conns.cap().get()
    }

    /// Connections currently tracked.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether no connection is tracked.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Whether any port is of interest.
    pub fn is_active(&self) -> bool {
        !self.ports.is_empty()
    }

    /// Feeds one packet; events go to `out`.
    pub fn process(&mut self, p: &PacketInfo<'_>, out: &mut dyn FnMut(TcpStreamEvent<'_>)) {
        if p.l4 != L4::Tcp || !p.transport_ok {
            return;
        }
        self.close_idle(p.ts, out);
        if !(self.ports.contains(p.src_port) || self.ports.contains(p.dst_port)) {
            return;
        }
        let (Some(src), Some(dst)) = (p.src_ip, p.dst_ip) else {
            return;
        };
        let a = (ip_bytes(&src), p.src_port);
        let b = (ip_bytes(&dst), p.dst_port);
        let (key, side) = if a <= b {
            (ConnKey { lo: a, hi: b }, 0usize)
        } else {
            (ConnKey { lo: b, hi: a }, 1usize)
        };
        let syn = p.tcp_flags & flags::SYN != 0;
        let rst = p.tcp_flags & flags::RST != 0;
        let fin = p.tcp_flags & flags::FIN != 0;
        let this_flow = TcpFlow {
            conn_id: 0,
            l3: p.l3,
            src_ip: src,
            dst_ip: dst,
            src_port: p.src_port,
            dst_port: p.dst_port,
            direction: p.direction,
        };
        if !self.conns.contains(&key) {
            if self.evicted.contains(&key) {
                if rst || fin {
                    self.evicted.pop(&key);
                }
                if !syn {
                    self.stats.after_eviction += 1;
                    return;
                }
                self.evicted.pop(&key);
            }
            if rst || (!syn && p.payload.is_empty()) {
                return;
            }
            let id = self.next_id;
            self.next_id += 1;
            let mut lo_to_hi = TcpFlow {
                conn_id: id,
                ..this_flow
            };
            if side == 1 {
                lo_to_hi = flip(&lo_to_hi);
            }
            let conn = Conn {
                id,
                last_seen: p.ts,
                half: [Half::default(), Half::default()],
                flow_lo_to_hi: lo_to_hi,
            };
            if let Some((old_key, old)) = self.conns.push(key, conn)
                && old_key != key
            {
                self.stats.evicted += 1;
                self.evicted.put(old_key, ());
                out(TcpStreamEvent::End {
                    flow: old.flow_lo_to_hi,
                    ts: p.ts,
                });
            }
            self.stats.connections += 1;
            out(TcpStreamEvent::Start {
                flow: TcpFlow {
                    conn_id: id,
                    ..this_flow
                },
                ts: p.ts,
            });
        }
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        conn.last_seen = p.ts;
        let flow = TcpFlow {
            conn_id: conn.id,
            ..this_flow
        };
        let half = &mut conn.half[side];
        if syn {
            half.next_seq = Some(p.tcp_seq.wrapping_add(1));
            half.ooo.clear();
            half.ooo_bytes = 0;
        }
        if !p.payload.is_empty() {
            let seq = if syn {
                p.tcp_seq.wrapping_add(1)
            } else {
                p.tcp_seq
            };
            deliver(half, seq, p.payload, flow, p.ts, &mut self.stats, out);
        }
        if fin {
            half.fin = true;
        }
        let done = rst || (conn.half[0].fin && conn.half[1].fin);
        if done {
            self.conns.pop(&key);
            out(TcpStreamEvent::End { flow, ts: p.ts });
        }
    }

    /// Closes connections idle for longer than the timeout (a few per call).
    fn close_idle(&mut self, now: Timespec, out: &mut dyn FnMut(TcpStreamEvent<'_>)) {
        for _ in 0..IDLE_CLOSES_PER_PACKET {
            let expired = match self.conns.peek_lru() {
                Some((_, c)) => now.sec.saturating_sub(c.last_seen.sec) > self.idle_timeout_secs,
                None => false,
            };
            if !expired {
                break;
            }
            if let Some((_, c)) = self.conns.pop_lru() {
                self.stats.timed_out += 1;
                out(TcpStreamEvent::End {
                    flow: c.flow_lo_to_hi,
                    ts: now,
                });
            }
        }
    }
}

fn deliver(
    half: &mut Half,
    seq: u32,
    payload: &[u8],
    flow: TcpFlow,
    ts: Timespec,
    stats: &mut TcpReassemblyStats,
    out: &mut dyn FnMut(TcpStreamEvent<'_>),
) {
    let next = *half.next_seq.get_or_insert(seq);
    let ahead = seq.wrapping_sub(next);
    let len = payload.len() as u32;
    if ahead == 0 || ahead > MAX_AHEAD {
        // In order, or starting before `next` (a retransmission, maybe with new bytes).
        let behind = if ahead == 0 {
            0
        } else {
            next.wrapping_sub(seq)
        };
        if ahead != 0 && behind > MAX_AHEAD {
            stats.out_of_window += 1;
            return;
        }
        if behind >= len {
            return; // pure duplicate
        }
        let fresh = payload.get(behind as usize..).unwrap_or_default();
        let after_gap = std::mem::take(&mut half.gap);
        out(TcpStreamEvent::Data {
            flow,
            ts,
            data: fresh,
            after_gap,
        });
        half.next_seq = Some(next.wrapping_add(fresh.len() as u32));
        drain(half, flow, ts, out);
        return;
    }
    // Ahead of what we expect: keep it for later, within bounds.
    if half
        .ooo
        .iter()
        .any(|(s, d)| *s == seq && d.len() >= payload.len())
    {
        return;
    }
    half.ooo.push((seq, payload.to_vec()));
    half.ooo_bytes += payload.len();
    if half.ooo.len() > MAX_OOO_SEGMENTS || half.ooo_bytes > MAX_OOO_BYTES {
        // Give up on the missing bytes: continue from the earliest buffered segment.
        stats.gaps += 1;
        let earliest = half
            .ooo
            .iter()
            .map(|(s, _)| s.wrapping_sub(next))
            .min()
            .unwrap_or(0);
        half.next_seq = Some(next.wrapping_add(earliest));
        half.gap = true;
        drain(half, flow, ts, out);
    }
}

/// Delivers buffered segments that have become contiguous.
fn drain(half: &mut Half, flow: TcpFlow, ts: Timespec, out: &mut dyn FnMut(TcpStreamEvent<'_>)) {
    while let Some(next) = half.next_seq {
        // A buffered segment starting at or before `next` can be (partly) delivered now.
        let Some(i) = half
            .ooo
            .iter()
            .position(|(seq, _)| next.wrapping_sub(*seq) <= MAX_AHEAD)
        else {
            return;
        };
        let (seq, data) = half.ooo.swap_remove(i);
        half.ooo_bytes = half.ooo_bytes.saturating_sub(data.len());
        let skip = next.wrapping_sub(seq) as usize;
        if let Some(fresh) = data.get(skip..).filter(|f| !f.is_empty()) {
            let after_gap = std::mem::take(&mut half.gap);
            out(TcpStreamEvent::Data {
                flow,
                ts,
                data: fresh,
                after_gap,
            });
            half.next_seq = Some(next.wrapping_add(fresh.len() as u32));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt<'a>(
        src: u8,
        sport: u16,
        dport: u16,
        seq: u32,
        fl: u8,
        payload: &'a [u8],
    ) -> PacketInfo<'a> {
        PacketInfo {
            ts: Timespec::new(100, 0),
            l3: L3::Ipv4,
            l4: L4::Tcp,
            src_ip: Some(IpAddr::from([10, 0, 0, src])),
            dst_ip: Some(IpAddr::from([10, 0, 0, 3 - src])),
            src_port: sport,
            dst_port: dport,
            tcp_seq: seq,
            tcp_flags: fl,
            payload,
            transport_ok: true,
            ..PacketInfo::default()
        }
    }

    fn ports(p: &[u16]) -> PortSet {
        let mut s = PortSet::default();
        for x in p {
            s.insert(*x);
        }
        s
    }

    fn collect(r: &mut TcpReassembler, p: &PacketInfo<'_>) -> Vec<(String, bool)> {
        let mut v = Vec::new();
        r.process(p, &mut |e| {
            if let TcpStreamEvent::Data {
                data, after_gap, ..
            } = e
            {
                v.push((String::from_utf8_lossy(data).into_owned(), after_gap));
            }
        });
        v
    }

    #[test]
    fn delivers_in_order_trims_retransmissions_and_reorders() {
        let mut r = TcpReassembler::new(10, ports(&[179]));
        assert!(collect(&mut r, &pkt(1, 5000, 179, 99, flags::SYN, b"")).is_empty());
        assert_eq!(
            collect(&mut r, &pkt(1, 5000, 179, 100, 0, b"abc")),
            [("abc".into(), false)]
        );
        // retransmission with 2 new bytes
        assert_eq!(
            collect(&mut r, &pkt(1, 5000, 179, 101, 0, b"bcde")),
            [("de".into(), false)]
        );
        // out of order then the missing piece: both come out, in order
        assert!(collect(&mut r, &pkt(1, 5000, 179, 107, 0, b"hi")).is_empty());
        assert_eq!(
            collect(&mut r, &pkt(1, 5000, 179, 105, 0, b"fg")),
            [("fg".into(), false), ("hi".into(), false)]
        );
        assert_eq!(
            collect(&mut r, &pkt(1, 5000, 179, 109, 0, b"j")),
            [("j".into(), false)]
        );
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn ignores_other_ports_and_closes_on_fin_both_ways() {
        let mut r = TcpReassembler::new(10, ports(&[179]));
        assert!(collect(&mut r, &pkt(1, 5000, 80, 1, 0, b"x")).is_empty());
        assert_eq!(r.len(), 0);
        collect(&mut r, &pkt(1, 5000, 179, 1, 0, b"x"));
        assert_eq!(r.len(), 1);
        collect(&mut r, &pkt(1, 5000, 179, 2, flags::FIN, b""));
        assert_eq!(r.len(), 1);
        collect(&mut r, &pkt(2, 179, 5000, 7, flags::FIN, b""));
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn table_is_bounded_and_evictions_counted() {
        let mut r = TcpReassembler::new(2, ports(&[53]));
        for sport in 1000..1005 {
            collect(&mut r, &pkt(1, sport, 53, 1, 0, b"q"));
        }
        assert_eq!(r.len(), 2);
        assert_eq!(r.stats().evicted, 3);
        // An evicted connection is not picked up again mid-stream ...
        assert!(collect(&mut r, &pkt(1, 1000, 53, 2, 0, b"more")).is_empty());
        assert_eq!(r.stats().after_eviction, 1);
        // ... but a new SYN on the same addresses starts a fresh one.
        collect(&mut r, &pkt(1, 1000, 53, 99, flags::SYN, b""));
        assert_eq!(
            collect(&mut r, &pkt(1, 1000, 53, 100, 0, b"new")),
            [("new".into(), false)]
        );
    }

    #[test]
    fn gap_is_given_up_when_buffer_overflows() {
        let mut r = TcpReassembler::new(10, ports(&[53]));
        collect(&mut r, &pkt(1, 1000, 53, 1, 0, b"a"));
        let mut seen = Vec::new();
        for i in 0..(MAX_OOO_SEGMENTS as u32 + 1) {
            seen.extend(collect(&mut r, &pkt(1, 1000, 53, 10 + i, 0, b"z")));
        }
        assert_eq!(r.stats().gaps, 1);
        assert!(seen.first().is_some_and(|(_, gap)| *gap));
        assert_eq!(seen.len(), MAX_OOO_SEGMENTS + 1);
    }

    #[test]
    fn idle_connections_time_out() {
        let mut r = TcpReassembler::new(10, ports(&[53]));
        collect(&mut r, &pkt(1, 1000, 53, 1, 0, b"a"));
        let mut later = pkt(1, 2000, 80, 1, 0, b"a");
        later.ts = Timespec::new(200, 0);
        collect(&mut r, &later);
        assert_eq!(r.len(), 0);
        assert_eq!(r.stats().timed_out, 1);
    }
}
