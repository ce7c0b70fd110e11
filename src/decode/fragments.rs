//! Bounded IPv4/IPv6 fragment reassembly.
//!
//! Fragments are keyed by (source, destination, identification, protocol). The table holds
//! at most `max_datagrams` datagrams in progress (the oldest is evicted, and counted, when a
//! new one does not fit) and forgets datagrams older than `timeout_secs` of packet time.
//! A datagram is rejected (counted invalid) when fragments overlap with different bytes,
//! disagree about the total length, or exceed 65,535 bytes. The frame that completes a
//! datagram leaves the reassembled transport bytes in `completed()` until the next insert.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::time::Timespec;

/// Largest datagram we reassemble (the IPv4 and non-jumbo IPv6 limit).
pub const MAX_DATAGRAM: usize = 65_535;

/// Identifies the datagram a fragment belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    src: [u8; 16],
    dst: [u8; 16],
    ident: u32,
    proto: u8,
    v6: bool,
}

impl FragmentKey {
    /// Key of an IPv4 fragment.
    pub fn v4(src: Ipv4Addr, dst: Ipv4Addr, ident: u16, proto: u8) -> Self {
        let mut s = [0u8; 16];
        let mut d = [0u8; 16];
        s[..4].copy_from_slice(&src.octets());
        d[..4].copy_from_slice(&dst.octets());
        FragmentKey {
            src: s,
            dst: d,
            ident: u32::from(ident),
            proto,
            v6: false,
        }
    }

    /// Key of an IPv6 fragment.
    pub fn v6(src: Ipv6Addr, dst: Ipv6Addr, ident: u32, proto: u8) -> Self {
        FragmentKey {
            src: src.octets(),
            dst: dst.octets(),
            ident,
            proto,
            v6: true,
        }
    }
}

/// What inserting one fragment did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reassembled {
    /// This fragment completed its datagram; the bytes are in `completed()`.
    pub complete: bool,
    /// The fragment (and its datagram) was rejected as inconsistent.
    pub invalid: bool,
    /// Datagrams evicted to make room.
    pub evicted: u64,
    /// Datagrams dropped because they expired.
    pub timed_out: u64,
}

#[derive(Debug)]
struct Pending {
    first_seen: Timespec,
    data: Vec<u8>,
    /// Sorted, non-overlapping, non-adjacent received ranges.
    ranges: Vec<(usize, usize)>,
    total: Option<usize>,
}

/// The reassembly table.
#[derive(Debug)]
pub struct FragmentTable {
    pending: HashMap<FragmentKey, Pending>,
    max_datagrams: usize,
    timeout_secs: i64,
    last_sweep: i64,
    completed: Vec<u8>,
}

impl Default for FragmentTable {
    fn default() -> Self {
        FragmentTable::new(4096, 30)
    }
}

impl FragmentTable {
    /// A table holding at most `max_datagrams` datagrams, each for at most `timeout_secs`.
    pub fn new(max_datagrams: usize, timeout_secs: i64) -> Self {
        FragmentTable {
            pending: HashMap::new(),
            max_datagrams: max_datagrams.max(1),
            timeout_secs: timeout_secs.max(1),
            last_sweep: i64::MIN,
            completed: Vec::new(),
        }
    }

    /// Datagrams in progress.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no datagram is in progress.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The transport bytes of the datagram completed by the last insert.
    pub fn completed(&self) -> &[u8] {
        &self.completed
    }

    /// Adds a fragment: `offset` in bytes, `more` = more-fragments flag.
    pub fn insert(
        &mut self,
        key: FragmentKey,
        ts: Timespec,
        offset: usize,
        more: bool,
        bytes: &[u8],
    ) -> Reassembled {
        let mut out = Reassembled::default();
        self.completed.clear();
        out.timed_out = self.sweep(ts);
        let end = offset.saturating_add(bytes.len());
        if end > MAX_DATAGRAM
            || (more && !bytes.len().is_multiple_of(8))
            || (more && bytes.is_empty())
        {
            out.invalid = true;
            self.pending.remove(&key);
            return out;
        }
        if !self.pending.contains_key(&key)
            && self.pending.len() >= self.max_datagrams
            && let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.first_seen)
                .map(|(k, _)| *k)
        {
            self.pending.remove(&oldest);
            out.evicted += 1;
        }
        let entry = self.pending.entry(key).or_insert_with(|| Pending {
            first_seen: ts,
            data: Vec::new(),
            ranges: Vec::new(),
            total: None,
        });
        if !add_fragment(entry, offset, more, bytes) {
            out.invalid = true;
            self.pending.remove(&key);
            return out;
        }
        let done = matches!(entry.total, Some(t) if entry.ranges == [(0, t)]);
        if done && let Some(mut p) = self.pending.remove(&key) {
            let total = p.total.unwrap_or(0);
            p.data.truncate(total);
            self.completed = p.data;
            out.complete = true;
        }
        out
    }

    /// Drops expired datagrams (at most once per second of packet time); returns how many.
    fn sweep(&mut self, now: Timespec) -> u64 {
        if now.sec == self.last_sweep {
            return 0;
        }
        self.last_sweep = now.sec;
        let before = self.pending.len();
        let timeout = self.timeout_secs;
        self.pending
            .retain(|_, p| now.sec.saturating_sub(p.first_seen.sec) <= timeout);
        (before - self.pending.len()) as u64
    }
}

/// Merges one fragment into a pending datagram; false when inconsistent.
fn add_fragment(p: &mut Pending, offset: usize, more: bool, bytes: &[u8]) -> bool {
    let end = offset + bytes.len();
    if !more {
        if matches!(p.total, Some(t) if t != end) {
            return false;
        }
        if p.ranges.last().is_some_and(|r| r.1 > end) {
            return false;
        }
        p.total = Some(end);
    } else if matches!(p.total, Some(t) if end > t) {
        return false;
    }
    // Overlapping bytes must agree.
    for &(s, e) in &p.ranges {
        let lo = s.max(offset);
        let hi = e.min(end);
        if lo < hi {
            let old = p.data.get(lo..hi);
            let new = bytes.get(lo - offset..hi - offset);
            if old != new {
                return false;
            }
        }
    }
    if p.data.len() < end {
        p.data.resize(end, 0);
    }
    if let Some(dst) = p.data.get_mut(offset..end) {
        dst.copy_from_slice(bytes);
    }
    // Insert and coalesce the range.
    let mut merged = (offset, end);
    let mut kept = Vec::with_capacity(p.ranges.len() + 1);
    for &(s, e) in &p.ranges {
        if e < merged.0 || s > merged.1 {
            kept.push((s, e));
        } else {
            merged = (merged.0.min(s), merged.1.max(e));
        }
    }
    kept.push(merged);
    kept.sort_unstable();
    p.ranges = kept;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FragmentKey {
        FragmentKey::v4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            7,
            17,
        )
    }

    fn ts(sec: i64) -> Timespec {
        Timespec::new(sec, 0)
    }

    #[test]
    fn reassembles_out_of_order_fragments() {
        let mut t = FragmentTable::default();
        let data: Vec<u8> = (0..40u8).collect();
        assert!(!t.insert(key(), ts(1), 16, true, &data[16..32]).complete);
        assert!(!t.insert(key(), ts(1), 32, false, &data[32..]).complete);
        let r = t.insert(key(), ts(1), 0, true, &data[..16]);
        assert!(r.complete);
        assert_eq!(t.completed(), &data[..]);
        assert!(t.is_empty());
    }

    #[test]
    fn duplicate_fragments_are_fine_conflicting_ones_are_invalid() {
        let mut t = FragmentTable::default();
        let data = [1u8; 24];
        t.insert(key(), ts(1), 0, true, &data[..16]);
        assert!(!t.insert(key(), ts(1), 0, true, &data[..16]).invalid);
        let evil = [2u8; 16];
        assert!(t.insert(key(), ts(1), 8, true, &evil).invalid);
        assert!(t.is_empty());
    }

    #[test]
    fn bounded_by_count_and_time() {
        let mut t = FragmentTable::new(2, 30);
        for id in 0..3u16 {
            let k = FragmentKey::v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, id, 17);
            let r = t.insert(k, ts(i64::from(id)), 0, true, &[0u8; 8]);
            assert_eq!(r.evicted, u64::from(id == 2));
        }
        assert_eq!(t.len(), 2);
        let k = FragmentKey::v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 99, 17);
        let r = t.insert(k, ts(100), 0, true, &[0u8; 8]);
        assert_eq!(r.timed_out, 2);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn rejects_oversized_and_misaligned() {
        let mut t = FragmentTable::default();
        assert!(t.insert(key(), ts(1), 65_530, false, &[0u8; 16]).invalid);
        assert!(t.insert(key(), ts(1), 0, true, &[0u8; 7]).invalid);
        assert!(t.insert(key(), ts(1), 0, false, &[0u8; 7]).complete);
    }
}
