//! The bounded table of DNS queries waiting for their response.
//!
//! Keyed by (flow hash, DNS id). Entries expire `ttl` after their query (their expiry is
//! reported to the caller, who counts a timeout); when the table is full the oldest entry
//! is evicted and counted. Expiry order is kept in a queue with lazy deletion, compacted
//! when stale entries pile up, so both structures stay bounded.

use std::collections::{HashMap, VecDeque};

use foldhash::fast::FixedState;

use crate::time::Timespec;

/// Default bound on pending queries per processor.
pub const DEFAULT_LIMIT: usize = 1 << 18;

/// Transaction key: symmetric flow hash and DNS message id.
pub type XactKey = (u64, u16);

#[derive(Debug)]
struct Slot<V> {
    seq: u64,
    ts: Timespec,
    value: V,
}

/// Pending queries.
#[derive(Debug)]
pub struct XactTable<V> {
    map: HashMap<XactKey, Slot<V>, FixedState>,
    order: VecDeque<(Timespec, XactKey, u64)>,
    next_seq: u64,
    ttl_us: i64,
    limit: usize,
    evicted: u64,
}

impl<V> XactTable<V> {
    /// A table whose entries live `ttl_ms` milliseconds, holding at most `limit`.
    pub fn new(ttl_ms: u64, limit: usize) -> Self {
        XactTable {
            map: HashMap::with_hasher(FixedState::with_seed(0x5eed)),
            order: VecDeque::new(),
            next_seq: 0,
            ttl_us: i64::try_from(ttl_ms.saturating_mul(1000)).unwrap_or(i64::MAX),
            limit: limit.max(1),
            evicted: 0,
        }
    }

    /// The timeout in microseconds.
    pub fn ttl_us(&self) -> i64 {
        self.ttl_us
    }

    /// The time from a query at `qts` to its response at `ts`, if within the TTL.
    #[inline]
    pub fn elapsed_us(&self, qts: Timespec, ts: Timespec) -> Option<u64> {
        let us = ts.micros_since(qts);
        (us <= self.ttl_us).then(|| us.max(0) as u64)
    }

    /// Pending queries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The bound.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Entries evicted because the table was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Records a query (a repeated key replaces the earlier one).
    pub fn insert(&mut self, key: XactKey, ts: Timespec, value: V) {
        if !self.map.contains_key(&key) {
            while self.map.len() >= self.limit {
                match self.order.pop_front() {
                    Some((_, k, seq)) => {
                        if self.map.get(&k).is_some_and(|s| s.seq == seq) {
                            self.map.remove(&k);
                            self.evicted += 1;
                        }
                    }
                    None => break,
                }
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.map.insert(key, Slot { seq, ts, value });
        self.order.push_back((ts, key, seq));
        if self.order.len() > 2 * self.limit.max(self.map.len()) + 1024 {
            self.compact();
        }
    }

    /// Takes the query matching a response: (query time, value).
    pub fn take(&mut self, key: &XactKey) -> Option<(Timespec, V)> {
        self.map.remove(key).map(|s| (s.ts, s.value))
    }

    /// Removes every query older than the TTL at `now`, calling `expired` for each.
    pub fn purge_expired(&mut self, now: Timespec, mut expired: impl FnMut(Timespec, V)) {
        while let Some(&(ts, key, seq)) = self.order.front() {
            if now.micros_since(ts) <= self.ttl_us {
                break;
            }
            self.order.pop_front();
            if self.map.get(&key).is_some_and(|s| s.seq == seq)
                && let Some(s) = self.map.remove(&key)
            {
                expired(s.ts, s.value);
            }
        }
    }

    /// Removes every pending query (end of a recorded stream), calling `expired` for each.
    pub fn drain(&mut self, mut expired: impl FnMut(Timespec, V)) {
        self.order.clear();
        for (_, s) in self.map.drain() {
            expired(s.ts, s.value);
        }
    }

    fn compact(&mut self) {
        let map = &self.map;
        self.order
            .retain(|(_, k, seq)| map.get(k).is_some_and(|s| s.seq == *seq));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ms: i64) -> Timespec {
        Timespec::new(ms / 1000, ((ms % 1000) * 1_000_000) as u32)
    }

    #[test]
    fn matches_expires_and_evicts() {
        let mut t: XactTable<&str> = XactTable::new(5000, 2);
        t.insert((1, 1), ts(0), "a");
        t.insert((1, 2), ts(100), "b");
        assert_eq!(t.take(&(1, 1)), Some((ts(0), "a")));
        assert_eq!(t.take(&(1, 1)), None);
        t.insert((1, 3), ts(200), "c");
        t.insert((1, 4), ts(300), "d");
        assert_eq!(t.evicted(), 1, "b was the oldest live entry");
        assert_eq!(t.len(), 2);
        let mut gone = Vec::new();
        t.purge_expired(ts(5250), |_, v| gone.push(v));
        assert_eq!(gone, vec!["c"]);
        t.drain(|_, v| gone.push(v));
        assert_eq!(gone, vec!["c", "d"]);
        assert!(t.is_empty());
    }

    #[test]
    fn order_queue_stays_bounded_under_matched_traffic() {
        let mut t: XactTable<()> = XactTable::new(5000, 16);
        for i in 0..100_000u32 {
            let key = (u64::from(i), 0);
            t.insert(key, ts(0), ());
            t.take(&key);
        }
        assert!(t.order.len() <= 2 * 16 + 1024 + 1);
    }
}
