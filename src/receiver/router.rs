//! Spreading one receiver's deliveries over a stream's workers.
//!
//! Frames go to the worker of their symmetric address hash (`decode::shard`), so a query
//! and its reply, every segment of a TCP connection and every fragment of a datagram meet
//! on one worker; dnstap messages by the same hash of their query and response addresses;
//! flow datagrams by their exporter (its templates live in that worker's decoder); probe
//! results whole to worker 0 (a thousand targets at 1 s are a thousand results a second,
//! too few to be worth splitting a batch, and every target's buckets then live on one
//! worker; reads merge workers by target anyway). Capture
//! statistics go whole to worker 0 (the others get only their own TCP errors counted), so
//! drops are not counted once per worker. Start, end and wake-ups reach every worker.
//!
//! A recording's bucket boundaries are set by its packets' times: one worker alone would
//! start a new minute at the first packet past the boundary, but that packet reaches only
//! one of several workers. The router keeps the windows' clock itself and, at each such
//! packet, hands every worker a `Clock` first, so all workers' windows turn over together.

use std::net::IpAddr;
use std::sync::mpsc::{Receiver as ChannelReceiver, SyncSender};

use crate::decode::shard::{pair_hash, shard_of};
use crate::event::{CaptureStats, DnstapEvent};
use crate::receiver::batch::Batch;
use crate::receiver::context::Delivery;
use crate::receiver::dnstap::listener::DnstapBatch;
use crate::receiver::flow::udp::DatagramBatch;
use crate::time::Timespec;

/// Seconds per bucket (the windows' period).
const PERIOD_SECS: i64 = 60;

/// The routing state of one receiver.
#[derive(Debug)]
pub struct Router {
    shards: usize,
    recorded: bool,
    /// The windows' next turn-over second, once the stream started (recorded streams).
    next_shift: Option<i64>,
    /// The last message time (the fallback of dnstap messages without one).
    last_ts: Option<Timespec>,
}

/// Where routed deliveries go.
pub struct Outputs<'a> {
    /// One queue per worker.
    pub txs: &'a [SyncSender<Delivery>],
    /// Recycled frame batches.
    pub recycle: &'a ChannelReceiver<Batch>,
}

impl Outputs<'_> {
    fn send(&self, shard: usize, d: Delivery) -> bool {
        self.txs.get(shard).is_some_and(|tx| tx.send(d).is_ok())
    }

    fn all(&self, d: impl Fn() -> Delivery) -> bool {
        self.txs.iter().all(|tx| tx.send(d()).is_ok())
    }
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

impl Router {
    /// A router over `shards` workers of a live or recorded stream.
    pub fn new(shards: usize, recorded: bool) -> Self {
        Router {
            shards: shards.max(1),
            recorded,
            next_shift: None,
            last_ts: None,
        }
    }

    /// Workers routed to.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Moves the recording's clock to `ts`: what every worker must get before the unit of
    /// time `ts` is routed (its start, or the windows turning over).
    fn clock(&mut self, ts: Timespec) -> Option<Delivery> {
        if !self.recorded {
            return None;
        }
        match self.next_shift {
            None => {
                self.next_shift = Some(ts.sec.saturating_add(PERIOD_SECS));
                Some(Delivery::Start(ts))
            }
            Some(next) if ts.sec >= next => {
                self.next_shift = Some(ts.sec.saturating_add(PERIOD_SECS));
                Some(Delivery::Clock(ts))
            }
            Some(_) => None,
        }
    }

    /// Sends what `clock` asked for to every worker, after the parts routed so far.
    fn tell_all<T>(
        d: Delivery,
        parts: &mut [T],
        out: &Outputs<'_>,
        units: &mut dyn FnMut(u64),
        len: impl Fn(&T) -> usize,
        fresh: impl Fn() -> T,
        wrap: impl Fn(T) -> Delivery,
    ) -> bool {
        if !Self::flush(parts, out, units, len, fresh, wrap) {
            return false;
        }
        match d {
            Delivery::Start(ts) => out.all(|| Delivery::Start(ts)),
            Delivery::Clock(ts) => out.all(|| Delivery::Clock(ts)),
            _ => true,
        }
    }

    /// Routes one delivery; `units` counts the frames, messages or datagrams sent. False
    /// when a worker is gone.
    pub fn route(&mut self, d: Delivery, out: &Outputs<'_>, units: &mut dyn FnMut(u64)) -> bool {
        match d {
            Delivery::Frames(batch) => self.frames(batch, out, units),
            Delivery::Dnstap(batch) => self.dnstap(batch, out, units),
            Delivery::Flow(batch) => self.flow(batch, out, units),
            Delivery::Probes(batch) => {
                units(batch.len() as u64);
                out.send(0, Delivery::Probes(batch))
            }
            Delivery::Stats(s) => {
                let quiet = CaptureStats {
                    os_drops: 0,
                    if_drops: 0,
                    ..s
                };
                (0..self.shards)
                    .all(|i| out.send(i, Delivery::Stats(if i == 0 { s } else { quiet })))
            }
            Delivery::Start(ts) => {
                if self.recorded && self.next_shift.is_none() {
                    self.next_shift = Some(ts.sec.saturating_add(PERIOD_SECS));
                }
                out.all(|| Delivery::Start(ts))
            }
            Delivery::Ended(last) => out.all(|| Delivery::Ended(last)),
            Delivery::Clock(ts) => out.all(|| Delivery::Clock(ts)),
            Delivery::Wake => out.all(|| Delivery::Wake),
        }
    }

    /// Sends the non-empty parts and starts them afresh.
    pub(crate) fn flush<T>(
        parts: &mut [T],
        out: &Outputs<'_>,
        units: &mut dyn FnMut(u64),
        len: impl Fn(&T) -> usize,
        fresh: impl Fn() -> T,
        wrap: impl Fn(T) -> Delivery,
    ) -> bool {
        for (i, p) in parts.iter_mut().enumerate() {
            let n = len(p);
            if n == 0 {
                continue;
            }
            units(n as u64);
            if !out.send(i, wrap(std::mem::replace(p, fresh()))) {
                return false;
            }
        }
        true
    }

    /// The worker of one frame (`ts`, `linktype`, `data`), after what the recording's clock
    /// asks every worker first (the batches gathered so far, `parts`, are sent before it).
    /// None when a worker is gone.
    pub(crate) fn frame_shard(
        &mut self,
        parts: &mut [Batch],
        (ts, linktype, data): (Timespec, u16, &[u8]),
        out: &Outputs<'_>,
        units: &mut dyn FnMut(u64),
    ) -> Option<usize> {
        let fresh = || out.recycle.try_recv().unwrap_or_default();
        if let Some(d) = self.clock(ts)
            && !Self::tell_all(d, parts, out, units, Batch::len, fresh, Delivery::Frames)
        {
            return None;
        }
        Some(shard_of(linktype, data, self.shards))
    }

    fn frames(&mut self, batch: Batch, out: &Outputs<'_>, units: &mut dyn FnMut(u64)) -> bool {
        let fresh = || out.recycle.try_recv().unwrap_or_default();
        let mut parts: Vec<Batch> = (0..self.shards).map(|_| fresh()).collect();
        for (f, data) in batch.iter() {
            if let Some(d) = self.clock(f.ts)
                && !Self::tell_all(
                    d,
                    &mut parts,
                    out,
                    units,
                    Batch::len,
                    fresh,
                    Delivery::Frames,
                )
            {
                return false;
            }
            let i = shard_of(f.linktype, data, self.shards);
            parts[i].push(f.ts, f.linktype, data, f.origlen);
        }
        Self::flush(&mut parts, out, units, Batch::len, fresh, Delivery::Frames)
    }

    fn dnstap(
        &mut self,
        batch: DnstapBatch,
        out: &Outputs<'_>,
        units: &mut dyn FnMut(u64),
    ) -> bool {
        let mut parts: Vec<DnstapBatch> = (0..self.shards).map(|_| Vec::new()).collect();
        for f in batch {
            let Some(m) = f.message.message.as_ref() else {
                continue;
            };
            let fallback = self.last_ts.unwrap_or_else(Timespec::now);
            let (shard, ts) = match DnstapEvent::from_message(m, f.frame_len, fallback) {
                Ok(ev) => {
                    let a = ev.query_address.as_ref().map(ip_bytes).unwrap_or_default();
                    let b = ev
                        .response_address
                        .as_ref()
                        .map(ip_bytes)
                        .unwrap_or_default();
                    let h = pair_hash(&a, &b);
                    let shard = ((u128::from(h) * self.shards as u128) >> 64) as usize;
                    (shard, Some(ev.ts))
                }
                Err(_) => (0, None),
            };
            if let Some(ts) = ts {
                self.last_ts = Some(self.last_ts.map_or(ts, |l| l.max(ts)));
                if let Some(d) = self.clock(ts)
                    && !Self::tell_all(
                        d,
                        &mut parts,
                        out,
                        units,
                        Vec::len,
                        Vec::new,
                        Delivery::Dnstap,
                    )
                {
                    return false;
                }
            }
            parts[shard].push(f);
        }
        Self::flush(&mut parts, out, units, Vec::len, Vec::new, Delivery::Dnstap)
    }

    fn flow(
        &mut self,
        batch: DatagramBatch,
        out: &Outputs<'_>,
        units: &mut dyn FnMut(u64),
    ) -> bool {
        let mut parts: Vec<DatagramBatch> =
            (0..self.shards).map(|_| DatagramBatch::default()).collect();
        for d in batch.iter() {
            if let Some(c) = self.clock(d.ts)
                && !Self::tell_all(
                    c,
                    &mut parts,
                    out,
                    units,
                    DatagramBatch::len,
                    DatagramBatch::default,
                    Delivery::Flow,
                )
            {
                return false;
            }
            let h = pair_hash(&ip_bytes(&d.from.ip()), &[]);
            let shard = ((u128::from(h) * self.shards as u128) >> 64) as usize;
            parts[shard].push(d.from, d.ts, d.data);
        }
        Self::flush(
            &mut parts,
            out,
            units,
            DatagramBatch::len,
            DatagramBatch::default,
            Delivery::Flow,
        )
    }
}
