//! `Rate`: per-second event counts sampled into a [`Distribution`] (a "pps"
//! style metric).
//!
//! This file owns the open-second bookkeeping: the caller supplies time in
//! whole seconds (packet time or wall clock); the rate never reads a clock.
//!
//! A stream spread over several workers has one rate per worker for the same
//! seconds. Merging their distributions would give the distribution of each
//! worker's share, not of the sums, so while per-second logging is on
//! (`log_seconds`, set when a stream is sharded) every rate also keeps the exact
//! count of each completed second (at most `LOG_LIMIT` seconds per rate), and a
//! merge inside `merge_shards` adds the workers' counts second by second and
//! rebuilds the distribution: the same samples one worker would have recorded.
//! Without logs (more seconds than the limit in one bucket) the shard merge
//! falls back to merging the distributions.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Distribution;

/// Completed seconds a rate logs at most (two hours; an agent's bucket holds sixty).
pub const LOG_LIMIT: usize = 7200;

static LOG_SECONDS: AtomicBool = AtomicBool::new(false);

thread_local! {
    static SHARD_MERGE: Cell<bool> = const { Cell::new(false) };
}

/// Turns per-second logging on for rates created or advanced from now on (the runtime
/// does this before it starts a stream with more than one worker).
pub fn log_seconds(on: bool) {
    LOG_SECONDS.store(on, Ordering::Relaxed);
}

/// Runs `f` with `Rate::merge` adding concurrent rates second by second (the buckets
/// of a stream's workers for the same minute), instead of appending consecutive ones.
pub fn merge_shards<R>(f: impl FnOnce() -> R) -> R {
    SHARD_MERGE.with(|c| c.set(true));
    let out = f();
    SHARD_MERGE.with(|c| c.set(false));
    out
}

/// Exact counts of consecutive completed seconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct SecondLog {
    /// The first logged second.
    start: i64,
    /// Counts of `start`, `start + 1`, …
    counts: Vec<u64>,
}

impl SecondLog {
    fn end(&self) -> i64 {
        self.start + self.counts.len() as i64
    }
}

/// Per-second event counts: each completed second contributes one sample (its
/// event count) to a [`Distribution`]; seconds without events contribute zero
/// samples.
#[derive(Clone, Debug, Default)]
pub struct Rate {
    samples: Distribution,
    /// The second currently being counted, if any.
    open_sec: Option<i64>,
    /// Events counted so far in the open second.
    open_count: u64,
    /// Count of the last completed second.
    live: u64,
    /// Exact counts of the completed seconds, while logging is on and they fit.
    log: Option<SecondLog>,
    /// The log overflowed (or logging was off when seconds were recorded).
    log_lost: bool,
}

impl Rate {
    /// An empty rate with no open second.
    pub fn new() -> Self {
        Self::default()
    }

    /// Count `n` events at second `now_sec`. If now_sec is later than the open
    /// second, the open second is closed (its count recorded as one sample) and
    /// every whole second in between is recorded as a zero sample (record_n,
    /// O(1)). Events with an earlier second than the open one (slightly
    /// out-of-order packets) are added to the open second.
    #[inline]
    pub fn add(&mut self, now_sec: i64, n: u64) {
        if self.open_sec != Some(now_sec) {
            self.advance(now_sec);
        }
        self.open_count = self.open_count.saturating_add(n);
    }

    /// Advance time without events (closes seconds before now_sec exactly as
    /// `add` would). With no open second, `now_sec` becomes the open second.
    pub fn tick(&mut self, now_sec: i64) {
        self.advance(now_sec);
    }

    /// Make `now_sec` (or a later open second) the open second, closing
    /// earlier ones.
    fn advance(&mut self, now_sec: i64) {
        match self.open_sec {
            None => {
                self.open_sec = Some(now_sec);
                self.open_count = 0;
            }
            Some(open) if now_sec > open => {
                self.samples.record_u64(self.open_count);
                let gap =
                    (i128::from(now_sec) - i128::from(open) - 1).clamp(0, i128::from(u64::MAX));
                let gap = gap as u64;
                self.samples.record_n(0.0, gap);
                self.log_closed(open, self.open_count, gap);
                self.live = if gap > 0 { 0 } else { self.open_count };
                self.open_sec = Some(now_sec);
                self.open_count = 0;
            }
            Some(_) => {}
        }
    }

    /// Close the open second too (end of a recorded stream / bucket becoming
    /// read-only). A later `add` opens a fresh second without gap filling.
    pub fn close(&mut self) {
        if let Some(open) = self.open_sec.take() {
            self.samples.record_u64(self.open_count);
            self.log_closed(open, self.open_count, 0);
            self.live = self.open_count;
            self.open_count = 0;
        }
    }

    /// Logs second `sec` closed with `count`, then `gap` empty seconds.
    fn log_closed(&mut self, sec: i64, count: u64, gap: u64) {
        if self.log_lost {
            return;
        }
        if !LOG_SECONDS.load(Ordering::Relaxed) {
            self.log = None;
            self.log_lost = true;
            return;
        }
        let log = self.log.get_or_insert_with(|| SecondLog {
            start: sec,
            counts: Vec::new(),
        });
        let fits = log.end() == sec
            && usize::try_from(gap)
                .ok()
                .and_then(|g| g.checked_add(log.counts.len() + 1))
                .is_some_and(|n| n <= LOG_LIMIT);
        if !fits {
            self.log = None;
            self.log_lost = true;
            return;
        }
        log.counts.push(count);
        log.counts.resize(log.counts.len() + gap as usize, 0);
    }

    /// Count of the last completed second (0 if none).
    pub fn live(&self) -> u64 {
        self.live
    }

    /// Samples of completed seconds.
    pub fn samples(&self) -> &Distribution {
        &self.samples
    }

    /// The open (not yet completed) second and its count so far, if any.
    pub fn open(&self) -> Option<(i64, u64)> {
        self.open_sec.map(|s| (s, self.open_count))
    }

    /// Merge: distributions merge; live taken from other if other's live is
    /// non-zero; open seconds: if both refer to the same second, add counts;
    /// otherwise keep the later open second and record the earlier one as a
    /// closed sample.
    pub fn merge(&mut self, other: &Self) {
        if SHARD_MERGE.with(Cell::get) && self.merge_logged(other) {
            return;
        }
        // Consecutive parts: the log no longer describes consecutive seconds.
        self.log = None;
        self.log_lost = true;
        self.samples.merge(&other.samples);
        if other.live != 0 {
            self.live = other.live;
        }
        match (self.open_sec, other.open_sec) {
            (_, None) => {}
            (None, Some(theirs)) => {
                self.open_sec = Some(theirs);
                self.open_count = other.open_count;
            }
            (Some(mine), Some(theirs)) if mine == theirs => {
                self.open_count = self.open_count.saturating_add(other.open_count);
            }
            (Some(mine), Some(theirs)) if mine < theirs => {
                self.samples.record_u64(self.open_count);
                self.open_sec = Some(theirs);
                self.open_count = other.open_count;
            }
            (Some(_), Some(_)) => {
                self.samples.record_u64(other.open_count);
            }
        }
    }
}

impl Rate {
    /// The shard merge: adds the other worker's counts second by second when both
    /// rates logged every completed second; false (nothing changed) otherwise.
    fn merge_logged(&mut self, other: &Self) -> bool {
        let mut merged: Option<SecondLog> = match (&self.log, &other.log) {
            _ if self.log_lost || other.log_lost => return false,
            (None, None) => None,
            (Some(a), None) => Some(a.clone()),
            (None, Some(b)) => Some(b.clone()),
            (Some(a), Some(b)) => {
                let start = a.start.min(b.start);
                let end = a.end().max(b.end());
                let Ok(len) = usize::try_from(end - start) else {
                    return false;
                };
                if len > LOG_LIMIT {
                    return false;
                }
                let mut counts = vec![0u64; len];
                for l in [a, b] {
                    let off = (l.start - start) as usize;
                    for (i, c) in l.counts.iter().enumerate() {
                        counts[off + i] = counts[off + i].saturating_add(*c);
                    }
                }
                Some(SecondLog { start, counts })
            }
        };
        // Open seconds: the same second adds up; an earlier one counts as completed.
        let (open, count) = match (self.open_sec, other.open_sec) {
            (Some(a), Some(b)) if a == b => (Some(a), self.open_count + other.open_count),
            (Some(a), Some(b)) => {
                let (early, early_count, late, late_count) = if a < b {
                    (a, self.open_count, b, other.open_count)
                } else {
                    (b, other.open_count, a, self.open_count)
                };
                let log = merged.get_or_insert_with(|| SecondLog {
                    start: early,
                    counts: Vec::new(),
                });
                if early < log.start || early >= log.end() {
                    return false;
                }
                let i = (early - log.start) as usize;
                log.counts[i] = log.counts[i].saturating_add(early_count);
                (Some(late), late_count)
            }
            (a, b) => (a.or(b), self.open_count + other.open_count),
        };
        let mut samples = Distribution::default();
        for &c in merged.iter().flat_map(|l| l.counts.iter()) {
            samples.record_u64(c);
        }
        self.live = merged
            .as_ref()
            .and_then(|l| l.counts.last().copied())
            .unwrap_or(0);
        self.samples = samples;
        self.log = merged;
        self.open_sec = open;
        self.open_count = count;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorted sample values of a rate (exact for small integers).
    fn sample_values(r: &Rate) -> Vec<(u64, u64)> {
        r.samples()
            .weighted_values()
            .map(|(v, c)| (v.round() as u64, c))
            .collect()
    }

    #[test]
    fn seconds_gaps_and_live() {
        let mut r = Rate::new();
        assert_eq!(r.live(), 0);
        r.add(10, 1);
        r.add(10, 2);
        assert!(r.samples().is_empty());
        assert_eq!(r.open(), Some((10, 3)));
        r.add(12, 5);
        // Second 10 closed with 3, second 11 recorded as zero; the last completed second (11) had 0.
        assert_eq!(r.samples().count(), 2);
        assert_eq!(r.live(), 0);
        r.tick(13);
        assert_eq!(r.live(), 5);
        assert_eq!(r.samples().count(), 3);
        assert_eq!(sample_values(&r), vec![(0, 1), (3, 1), (5, 1)]);
        assert_eq!(r.samples().sum(), 8.0);
        assert_eq!(r.open(), Some((13, 0)));
    }

    #[test]
    fn out_of_order_events_join_open_second() {
        let mut r = Rate::new();
        r.add(100, 4);
        r.add(99, 2);
        r.tick(50);
        assert_eq!(r.open(), Some((100, 6)));
        r.add(101, 1);
        assert_eq!(r.live(), 6);
        assert_eq!(sample_values(&r), vec![(6, 1)]);
    }

    #[test]
    fn long_gap_is_constant_time() {
        let mut r = Rate::new();
        r.add(0, 7);
        r.add(1_000_000_000, 1);
        assert_eq!(r.samples().count(), 1_000_000_000);
        assert_eq!(r.samples().zero_count(), 999_999_999);
        assert_eq!(r.samples().max(), Some(7.0));
        // Extreme seconds do not overflow.
        let mut x = Rate::new();
        x.add(i64::MIN, 1);
        x.add(i64::MAX, 1);
        assert_eq!(x.samples().count(), u64::MAX);
    }

    #[test]
    fn close_records_open_second() {
        let mut r = Rate::new();
        r.add(5, 9);
        r.close();
        assert_eq!(r.live(), 9);
        assert_eq!(r.open(), None);
        assert_eq!(sample_values(&r), vec![(9, 1)]);
        r.close();
        assert_eq!(r.samples().count(), 1);
        r.add(20, 1);
        assert_eq!(r.samples().count(), 1, "no gap filling after close");
        assert_eq!(r.open(), Some((20, 1)));
    }

    #[test]
    fn tick_starts_the_clock() {
        let mut r = Rate::new();
        r.tick(10);
        r.tick(13);
        assert_eq!(sample_values(&r), vec![(0, 3)]);
        assert_eq!(r.live(), 0);
    }

    #[test]
    fn merge_same_and_different_open_seconds() {
        let mut a = Rate::new();
        a.add(10, 3);
        let mut b = Rate::new();
        b.add(10, 4);
        a.merge(&b);
        assert_eq!(a.open(), Some((10, 7)));
        assert!(a.samples().is_empty());

        // Other's open second is later: ours is recorded as a closed sample.
        let mut c = Rate::new();
        c.add(11, 2);
        a.merge(&c);
        assert_eq!(a.open(), Some((11, 2)));
        assert_eq!(sample_values(&a), vec![(7, 1)]);

        // Other's open second is earlier: theirs is recorded, ours kept.
        let mut d = Rate::new();
        d.add(3, 1);
        a.merge(&d);
        assert_eq!(a.open(), Some((11, 2)));
        assert_eq!(sample_values(&a), vec![(1, 1), (7, 1)]);

        // Empty other changes nothing; empty self takes other's open second.
        let before = a.samples().count();
        a.merge(&Rate::new());
        assert_eq!(a.samples().count(), before);
        let mut e = Rate::new();
        e.merge(&a);
        assert_eq!(e.open(), Some((11, 2)));
    }

    #[test]
    fn merge_live_prefers_non_zero_other() {
        let mut a = Rate::new();
        a.add(1, 5);
        a.tick(2);
        assert_eq!(a.live(), 5);
        let mut b = Rate::new();
        b.add(1, 8);
        b.tick(2);
        let mut zero = Rate::new();
        zero.tick(1);
        zero.tick(2);
        a.merge(&zero);
        assert_eq!(a.live(), 5);
        a.merge(&b);
        assert_eq!(a.live(), 8);
        assert_eq!(sample_values(&a), vec![(0, 1), (5, 1), (8, 1)]);
    }

    #[test]
    fn merge_of_time_split_parts_equals_whole() {
        // Events in seconds 0..300 (every second has events), split into 1-minute parts.
        let mut x = 12345u64;
        let mut events = Vec::new();
        for sec in 0..300i64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = 1 + (x >> 40) % 20;
            for _ in 0..n {
                events.push(sec);
            }
        }
        let mut whole = Rate::new();
        for &s in &events {
            whole.add(s, 1);
        }
        whole.close();
        let mut merged = Rate::new();
        for minute in 0..5 {
            let mut part = Rate::new();
            for &s in events.iter().filter(|&&s| s / 60 == minute) {
                part.add(s, 1);
            }
            part.close();
            merged.merge(&part);
        }
        assert_eq!(merged.samples().count(), 300);
        assert_eq!(
            merged.samples().positive_buckets(),
            whole.samples().positive_buckets()
        );
        assert_eq!(merged.samples().sum(), whole.samples().sum());
        assert_eq!(merged.live(), whole.live());
    }

    /// A stream split over three workers: each worker's rate sees its share of the
    /// events; the shard merge gives exactly the rate of the whole stream.
    #[test]
    fn shard_merge_equals_the_whole_stream() {
        log_seconds(true);
        let mut x = 99u64;
        let mut whole = Rate::new();
        let mut parts = [Rate::new(), Rate::new(), Rate::new()];
        for sec in 1000..1070i64 {
            if sec % 7 == 3 {
                continue; // quiet seconds become zero samples
            }
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = (x >> 40) % 9;
            for k in 0..n {
                whole.add(sec, 1);
                parts[((x >> (8 + k)) % 3) as usize].add(sec, 1);
            }
        }
        whole.close();
        for p in &mut parts {
            p.close();
        }
        let mut merged = parts[0].clone();
        merge_shards(|| {
            merged.merge(&parts[1]);
            merged.merge(&parts[2]);
        });
        assert_eq!(merged.samples().count(), whole.samples().count());
        assert_eq!(sample_values(&merged), sample_values(&whole));
        assert_eq!(merged.live(), whole.live());
        // outside merge_shards a merge appends, and the log is gone
        let mut seq = parts[0].clone();
        seq.merge(&parts[1]);
        assert!(seq.log.is_none());
        let mut again = seq.clone();
        merge_shards(|| again.merge(&parts[2]));
        assert_eq!(
            again.samples().count(),
            seq.samples().count() + parts[2].samples().count(),
            "no log: the distributions merge"
        );
    }
}
