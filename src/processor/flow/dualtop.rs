//! `DualTop<K>`: a heavy-hitters summary counting two weights per item (bytes and
//! packets), so the flow processor's `_bytes` and `_packets` top lists of the same key
//! cost one map update per record instead of two.
//!
//! Each weight behaves like `sketch::TopN`: exact while the items fit in the capacity;
//! beyond it a purge subtracts each weight's median from that weight of every item, adds it
//! to that weight's offset and drops items whose weights both reached zero, so for every
//! tracked item and weight `tracked ≤ true ≤ tracked + offset`. An item whose weight in
//! one dimension is zero is not listed in that dimension.

use std::collections::HashMap;
use std::hash::Hash;

use foldhash::fast::FixedState;

/// Bytes dimension.
pub const BYTES: usize = 0;
/// Packets dimension.
pub const PACKETS: usize = 1;

/// Items tracked: DataSketches' frequent-items map of 2^13 slots (pktvisor's
/// `lg_max_map_size` 13) holds at most 0.75 × 8192 items before it purges.
pub const CAPACITY: usize = 6144;

/// Items sampled to find a purge's median.
const PURGE_SAMPLE: usize = 1024;

/// The summary.
#[derive(Clone, Debug)]
pub struct DualTop<K> {
    map: HashMap<K, [u64; 2], FixedState>,
    capacity: usize,
    offset: [u64; 2],
    evicted: u64,
}

impl<K: Eq + Hash + Clone> Default for DualTop<K> {
    fn default() -> Self {
        DualTop {
            map: HashMap::with_hasher(FixedState::default()),
            capacity: CAPACITY,
            offset: [0; 2],
            evicted: 0,
        }
    }
}

impl<K: Eq + Hash + Clone> DualTop<K> {
    /// Adds `w` (bytes, packets) to `item`.
    #[inline]
    pub fn add(&mut self, item: K, w: [u64; 2]) {
        if w == [0, 0] {
            return;
        }
        let e = self.map.entry(item).or_insert([0; 2]);
        e[0] = e[0].saturating_add(w[0]);
        e[1] = e[1].saturating_add(w[1]);
        if self.map.len() > self.capacity {
            self.purge();
        }
    }

    /// `add` for a borrowed key (cheap to clone: addresses, `Arc`s).
    #[inline]
    pub fn add_ref(&mut self, item: &K, w: [u64; 2]) {
        self.add(item.clone(), w);
    }

    /// Items tracked.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Items dropped by purges.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Adds another summary.
    pub fn merge(&mut self, o: &Self) {
        for (k, w) in &o.map {
            let e = self.map.entry(k.clone()).or_insert([0; 2]);
            e[0] = e[0].saturating_add(w[0]);
            e[1] = e[1].saturating_add(w[1]);
        }
        for d in 0..2 {
            self.offset[d] = self.offset[d].saturating_add(o.offset[d]);
        }
        self.evicted = self.evicted.saturating_add(o.evicted);
        while self.map.len() > self.capacity {
            self.purge();
        }
    }

    /// Subtracts each weight's (sampled) median, drops items whose weights both reach
    /// zero. The median is taken over a sample of at most `PURGE_SAMPLE` items (map order
    /// follows the hash, so the first items are a random sample), as DataSketches does;
    /// one pass then updates and drops.
    #[cold]
    fn purge(&mut self) {
        let before = self.map.len();
        let mut median = [0u64; 2];
        let mut sample: Vec<u64> = Vec::with_capacity(PURGE_SAMPLE);
        for (d, m) in median.iter_mut().enumerate() {
            sample.clear();
            sample.extend(
                self.map
                    .values()
                    .map(|w| w[d])
                    .filter(|&w| w > 0)
                    .take(PURGE_SAMPLE),
            );
            if sample.is_empty() {
                continue;
            }
            let mid = (sample.len() - 1) / 2;
            let (_, &mut v, _) = sample.select_nth_unstable(mid);
            *m = v;
        }
        self.map.retain(|_, w| {
            w[0] = w[0].saturating_sub(median[0]);
            w[1] = w[1].saturating_sub(median[1]);
            *w != [0, 0]
        });
        for (o, m) in self.offset.iter_mut().zip(median) {
            *o = o.saturating_add(m);
        }
        self.evicted = self
            .evicted
            .saturating_add((before - self.map.len()) as u64);
    }
}

impl<K: Eq + Hash + Clone + Ord> DualTop<K> {
    /// The top list of dimension `d` with pktvisor's rules (see `sketch::TopN::top`).
    pub fn top(&self, d: usize, count: usize, percentile_threshold: u64) -> Vec<(&K, u64)> {
        if count == 0 || d > 1 {
            return Vec::new();
        }
        let off = self.offset[d];
        let mut items: Vec<(&K, u64)> = self
            .map
            .iter()
            .filter(|(_, w)| w[d] > 0)
            .map(|(k, w)| (k, w[d].saturating_add(off)))
            .collect();
        let order = |a: &(&K, u64), b: &(&K, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
        if count < items.len() {
            items.select_nth_unstable_by(count - 1, order);
            items.truncate(count);
        }
        items.sort_unstable_by(order);
        let pct = percentile_threshold.min(100);
        if pct > 0 && !items.is_empty() {
            let n = items.len() as u64;
            let rank = (pct * n).div_ceil(100);
            let index = rank.saturating_sub(1).min(n - 1) as usize;
            let threshold = items.get(items.len() - 1 - index).map_or(0, |t| t.1);
            let keep = items.partition_point(|t| t.1 >= threshold);
            items.truncate(keep);
        }
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::TopN;

    #[test]
    fn matches_two_topns_while_items_fit() {
        let mut d = DualTop::default();
        let mut b = TopN::new();
        let mut p = TopN::new();
        for i in 0u64..500 {
            let k = (i * 7919) % 97;
            d.add(k, [i * 3, i % 5]);
            b.update_weighted(k, i * 3);
            p.update_weighted(k, i % 5);
        }
        let want_b: Vec<(u64, u64)> = b.top(10, 0).iter().map(|t| (*t.item, t.estimate)).collect();
        let got_b: Vec<(u64, u64)> = d.top(BYTES, 10, 0).iter().map(|t| (*t.0, t.1)).collect();
        assert_eq!(want_b, got_b);
        let want_p: Vec<(u64, u64)> = p
            .top(10, 50)
            .iter()
            .map(|t| (*t.item, t.estimate))
            .collect();
        let got_p: Vec<(u64, u64)> = d.top(PACKETS, 10, 50).iter().map(|t| (*t.0, t.1)).collect();
        assert_eq!(want_p, got_p);
    }

    #[test]
    fn bounded_heavy_hitters_survive() {
        let mut d = DualTop::default();
        for i in 0u64..100_000 {
            d.add(i, [1, 1]);
            d.add(u64::MAX, [10, 1]);
        }
        assert!(d.len() <= CAPACITY);
        assert!(d.evicted() > 0);
        let top = d.top(BYTES, 1, 0);
        assert_eq!(*top[0].0, u64::MAX);
        assert!(top[0].1 >= 1_000_000);
        let mut m = DualTop::default();
        m.merge(&d);
        assert_eq!(*m.top(PACKETS, 1, 0)[0].0, u64::MAX);
    }
}
