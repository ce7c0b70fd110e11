//! `TopN<K>`: heavy hitters (frequent items) with a Misra–Gries style
//! weighted summary, in the spirit of Apache DataSketches' frequent items
//! sketch.
//!
//! This file owns the item → weight map, the median purge that bounds its
//! size, estimates, merging and pktvisor's "top list" rendering.

use std::borrow::Borrow;
use std::hash::Hash;

use foldhash::fast::FixedState;
use hashbrown::HashMap;
use hashbrown::hash_map::EntryRef;

/// One entry of a [`TopN::top`] list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopItem<'a, K> {
    /// The tracked item.
    pub item: &'a K,
    /// Its estimated weight (tracked weight + global offset).
    pub estimate: u64,
}

/// Heavy hitters summary: tracks at most `capacity` items with their weights.
///
/// While the number of distinct items stays within the capacity every
/// estimate is exact. Beyond it, a purge subtracts the median tracked weight
/// from every item, drops items that reach zero and adds the subtracted amount
/// to a global offset, so for every tracked item
/// `weight <= true weight <= weight + offset`.
#[derive(Clone, Debug)]
pub struct TopN<K> {
    map: HashMap<K, u64, FixedState>,
    capacity: usize,
    offset: u64,
    evicted: u64,
}

impl<K: Eq + Hash + Clone> Default for TopN<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Eq + Hash + Clone> TopN<K> {
    /// Default number of tracked items (pktvisor's lg_max_map_size 13).
    pub const DEFAULT_CAPACITY: usize = 8192;

    /// An empty summary with [`TopN::DEFAULT_CAPACITY`].
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// An empty summary tracking at most `capacity` items (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            // Grows on demand: most summaries track far fewer items than their capacity.
            map: HashMap::with_hasher(FixedState::default()),
            capacity,
            offset: 0,
            evicted: 0,
        }
    }

    /// Count one occurrence of `item`.
    #[inline]
    pub fn update(&mut self, item: K) {
        self.update_weighted(item, 1);
    }

    /// Add `weight` to `item` (a weight of 0 is ignored).
    pub fn update_weighted(&mut self, item: K, weight: u64) {
        if weight == 0 {
            return;
        }
        let w = self.map.entry(item).or_insert(0);
        *w = w.saturating_add(weight);
        self.purge_if_full();
    }

    /// Like update_weighted but takes a borrowed key: one lookup, and the key is built
    /// from `item` only when it is new (no allocation per packet).
    #[inline]
    pub fn update_ref<Q>(&mut self, item: &Q, weight: u64)
    where
        K: Borrow<Q> + for<'q> From<&'q Q>,
        Q: Hash + Eq + ?Sized,
    {
        if weight == 0 {
            return;
        }
        match self.map.entry_ref(item) {
            EntryRef::Occupied(mut e) => {
                let w = e.get_mut();
                *w = w.saturating_add(weight);
            }
            EntryRef::Vacant(e) => {
                e.insert_with_key(K::from(item), weight);
                self.purge_if_full();
            }
        }
    }

    /// Estimated weight of `item`: tracked weight + offset, 0 when untracked.
    pub fn estimate<Q>(&self, item: &Q) -> u64
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map
            .get(item)
            .map_or(0, |&w| w.saturating_add(self.offset))
    }

    /// Guaranteed lower bound of `item`'s true weight (its tracked weight, 0 when untracked).
    pub fn lower_bound<Q>(&self, item: &Q) -> u64
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(item).copied().unwrap_or(0)
    }

    /// Number of tracked items.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no item is tracked.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Total weight subtracted by purges (the maximum under-count of any item).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Number of items dropped by purges.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Maximum number of tracked items.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Add other's weights (and offsets, and eviction counts), purging while
    /// over capacity.
    pub fn merge(&mut self, other: &Self) {
        for (item, &weight) in &other.map {
            if let Some(w) = self.map.get_mut(item) {
                *w = w.saturating_add(weight);
            } else {
                self.map.insert(item.clone(), weight);
            }
        }
        self.offset = self.offset.saturating_add(other.offset);
        self.evicted = self.evicted.saturating_add(other.evicted);
        while self.map.len() > self.capacity {
            self.purge();
        }
    }

    #[inline]
    fn purge_if_full(&mut self) {
        if self.map.len() > self.capacity {
            self.purge();
        }
    }

    /// Subtract the (lower) median weight from every item, drop the items that
    /// reach zero, and add the median to the offset. Drops at least half.
    #[cold]
    fn purge(&mut self) {
        let mut weights: Vec<u64> = self.map.values().copied().collect();
        if weights.is_empty() {
            return;
        }
        let mid = (weights.len() - 1) / 2;
        let (_, &mut median, _) = weights.select_nth_unstable(mid);
        let before = self.map.len();
        self.map.retain(|_, w| {
            *w = w.saturating_sub(median);
            *w > 0
        });
        self.evicted = self
            .evicted
            .saturating_add((before - self.map.len()) as u64);
        self.offset = self.offset.saturating_add(median);
    }
}

impl<K: Eq + Hash + Clone + Ord> TopN<K> {
    /// pktvisor's top list: all tracked items sorted by estimate descending
    /// (ties: item ascending, for determinism), truncated to `count`; then if
    /// `percentile_threshold` (0..=100) > 0: threshold = nearest-rank inclusive
    /// quantile at rank threshold/100 over the estimates of those items (sorted
    /// ascending; index = ceil(r*n)-1 clamped to 0), and items are emitted in
    /// order while estimate >= threshold, stopping at the first below.
    pub fn top(&self, count: usize, percentile_threshold: u64) -> Vec<TopItem<'_, K>> {
        if count == 0 {
            return Vec::new();
        }
        let mut items: Vec<TopItem<'_, K>> = self
            .map
            .iter()
            .map(|(item, &w)| TopItem {
                item,
                estimate: w.saturating_add(self.offset),
            })
            .collect();
        let order = |a: &TopItem<'_, K>, b: &TopItem<'_, K>| {
            b.estimate.cmp(&a.estimate).then_with(|| a.item.cmp(b.item))
        };
        if count < items.len() {
            items.select_nth_unstable_by(count - 1, order);
            items.truncate(count);
        }
        items.sort_unstable_by(order);
        let pct = percentile_threshold.min(100);
        if pct > 0 && !items.is_empty() {
            let n = items.len() as u64;
            let rank = (pct * n).div_ceil(100); // ceil(r * n) with r = pct / 100
            let index = rank.saturating_sub(1).min(n - 1) as usize;
            // Ascending position `index` is descending position n - 1 - index.
            let threshold = items.get(items.len() - 1 - index).map_or(0, |t| t.estimate);
            let keep = items.partition_point(|t| t.estimate >= threshold);
            items.truncate(keep);
        }
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64: tiny deterministic PRNG for generated test data.
    struct SplitMix64(u64);

    impl SplitMix64 {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn next_f64(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// A Zipf-like stream over `distinct` items: item k (1-based) drawn with
    /// probability ~ 1/k, via inverse transform on the harmonic CDF.
    fn zipf_stream(distinct: u64, len: usize, seed: u64) -> Vec<u64> {
        let mut rng = SplitMix64(seed);
        let mut cdf = Vec::with_capacity(distinct as usize);
        let mut acc = 0.0;
        for k in 1..=distinct {
            acc += 1.0 / k as f64;
            cdf.push(acc);
        }
        (0..len)
            .map(|_| {
                let u = rng.next_f64() * acc;
                let k = cdf.partition_point(|&c| c < u) as u64;
                // Scatter item ids so rank is not the key order.
                k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20
            })
            .collect()
    }

    fn exact_counts(stream: &[u64]) -> HashMap<u64, u64> {
        let mut m = HashMap::new();
        for &x in stream {
            *m.entry(x).or_insert(0) += 1;
        }
        m
    }

    #[test]
    fn exact_within_capacity() {
        // Every one of 8000 items appears at least once, plus a Zipf tail.
        let mut stream: Vec<u64> = (0..8000u64)
            .map(|k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20)
            .collect();
        stream.extend(zipf_stream(8000, 200_000, 1));
        let exact = exact_counts(&stream);
        assert_eq!(exact.len(), 8000);
        let mut t = TopN::new();
        for &x in &stream {
            t.update(x);
        }
        assert_eq!(t.len(), 8000);
        assert_eq!(t.offset(), 0);
        assert_eq!(t.evicted(), 0);
        for (k, &c) in &exact {
            assert_eq!(t.estimate(k), c);
            assert_eq!(t.lower_bound(k), c);
        }
        assert_eq!(t.estimate(&u64::MAX), 0);
        // The top list is exactly the sorted exact counts.
        let mut expected: Vec<(u64, u64)> = exact.iter().map(|(&k, &c)| (k, c)).collect();
        expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let top: Vec<(u64, u64)> = t.top(25, 0).iter().map(|i| (*i.item, i.estimate)).collect();
        assert_eq!(top, expected[..25].to_vec());
    }

    #[test]
    fn heavy_hitters_beyond_capacity() {
        let stream = zipf_stream(100_000, 400_000, 2);
        let exact = exact_counts(&stream);
        assert!(exact.len() > 50_000);
        let mut t = TopN::new();
        for &x in &stream {
            t.update(x);
        }
        assert!(t.evicted() > 0);
        assert!(t.offset() > 0);
        assert!(t.len() <= TopN::<u64>::DEFAULT_CAPACITY);
        let mut truth: Vec<(u64, u64)> = exact.iter().map(|(&k, &c)| (k, c)).collect();
        truth.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for &(k, c) in &truth[..10] {
            let est = t.estimate(&k);
            assert!(
                est >= c && est <= c + t.offset(),
                "item {k}: est {est} true {c} offset {}",
                t.offset()
            );
        }
        // Bounds hold for every tracked item.
        for item in t.top(usize::MAX, 0) {
            let c = exact[item.item];
            assert!(t.lower_bound(item.item) <= c && c <= item.estimate);
        }
        // The true top 10 are the top 10 of the list.
        let top: Vec<u64> = t.top(10, 0).iter().map(|i| *i.item).collect();
        let mut want: Vec<u64> = truth[..10].iter().map(|&(k, _)| k).collect();
        let mut got = top.clone();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn merge_of_parts_equals_whole_exact() {
        let stream = zipf_stream(5000, 100_000, 3);
        let mut whole = TopN::new();
        for &x in &stream {
            whole.update(x);
        }
        let mut merged = TopN::new();
        for part in stream.chunks(30_000) {
            let mut p = TopN::new();
            for &x in part {
                p.update(x);
            }
            merged.merge(&p);
        }
        assert_eq!(merged.len(), whole.len());
        assert_eq!(merged.offset(), 0);
        for (k, &w) in &whole.map {
            assert_eq!(merged.estimate(k), w);
        }
        assert_eq!(merged.top(100, 0), whole.top(100, 0));
    }

    #[test]
    fn merge_beyond_capacity_keeps_bounds() {
        let stream = zipf_stream(50_000, 200_000, 4);
        let exact = exact_counts(&stream);
        let mut merged = TopN::with_capacity(1024);
        for part in stream.chunks(50_000) {
            let mut p = TopN::with_capacity(1024);
            for &x in part {
                p.update(x);
            }
            merged.merge(&p);
        }
        assert!(merged.len() <= 1024);
        assert!(merged.offset() > 0);
        assert!(merged.evicted() > 0);
        for item in merged.top(usize::MAX, 0) {
            let c = exact[item.item];
            assert!(merged.lower_bound(item.item) <= c, "lower bound");
            assert!(c <= item.estimate, "upper bound");
        }
    }

    #[test]
    fn threshold_semantics() {
        let mut t = TopN::new();
        for (k, w) in [("a", 10u64), ("b", 8), ("c", 5), ("d", 1)] {
            t.update_weighted(k.to_string(), w);
        }
        let names = |v: Vec<TopItem<'_, String>>| -> Vec<(String, u64)> {
            v.into_iter()
                .map(|i| (i.item.clone(), i.estimate))
                .collect()
        };
        let s = |x: &str, n: u64| (x.to_string(), n);
        assert_eq!(names(t.top(10, 50)), vec![s("a", 10), s("b", 8), s("c", 5)]);
        assert_eq!(names(t.top(10, 0)).len(), 4);
        assert_eq!(names(t.top(10, 100)), vec![s("a", 10)]);
        assert_eq!(names(t.top(10, 1)).len(), 4); // rank ceil(0.04) = 1 → index 0 → threshold 1
        assert_eq!(names(t.top(10, 75)), vec![s("a", 10), s("b", 8)]);
        assert_eq!(names(t.top(10, 1000)), vec![s("a", 10)]); // clamped to 100
        // Truncation first, then threshold over the truncated list: [10, 8] → rank 1 → 8.
        assert_eq!(names(t.top(2, 50)), vec![s("a", 10), s("b", 8)]);
        assert_eq!(names(t.top(0, 0)), vec![]);
        assert!(TopN::<String>::new().top(10, 50).is_empty());
    }

    #[test]
    fn weighted_and_ref_updates() {
        let mut t: TopN<String> = TopN::new();
        t.update_ref("example.com", 3);
        t.update_ref("example.com", 4);
        t.update_weighted("other.org".to_string(), 2);
        t.update_ref("other.org", 0);
        t.update_weighted("zero".to_string(), 0);
        t.update("other.org".to_string());
        assert_eq!(t.estimate("example.com"), 7);
        assert_eq!(t.estimate("other.org"), 3);
        assert_eq!(t.estimate("zero"), 0);
        assert_eq!(t.len(), 2);
        t.update_weighted("example.com".to_string(), u64::MAX);
        assert_eq!(t.estimate("example.com"), u64::MAX);
    }

    #[test]
    fn ties_are_ordered_by_item() {
        let mut t = TopN::new();
        for k in [5u32, 3, 9, 1, 7] {
            t.update_weighted(k, 4);
        }
        t.update_weighted(8, 6);
        let order: Vec<u32> = t.top(10, 0).iter().map(|i| *i.item).collect();
        assert_eq!(order, vec![8, 1, 3, 5, 7, 9]);
        let order: Vec<u32> = t.top(3, 0).iter().map(|i| *i.item).collect();
        assert_eq!(order, vec![8, 1, 3]);
    }

    #[test]
    fn purge_drops_light_items_and_tiny_capacity_works() {
        let mut t = TopN::with_capacity(4);
        for (k, w) in [(1u8, 100u64), (2, 50), (3, 10), (4, 5)] {
            t.update_weighted(k, w);
        }
        assert_eq!(t.evicted(), 0);
        t.update(5); // weights [100, 50, 10, 5, 1] → lower median 10
        assert_eq!(t.offset(), 10);
        assert_eq!(t.evicted(), 3);
        assert_eq!(t.len(), 2);
        assert_eq!(t.estimate(&1), 100);
        assert_eq!(t.lower_bound(&1), 90);
        assert_eq!(t.estimate(&2), 50);
        assert_eq!(t.estimate(&3), 0);

        let mut one = TopN::with_capacity(0);
        assert_eq!(one.capacity(), 1);
        for k in 0..1000u32 {
            one.update(k % 3);
            one.update(7);
            one.update(7);
        }
        assert_eq!(one.len(), 1);
        assert!(one.estimate(&7) >= 1000);
    }
}
