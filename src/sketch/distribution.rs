//! `Distribution`: a mergeable base-2 exponential histogram (the OpenTelemetry
//! ExponentialHistogram data model) at the fixed scale [`Distribution::SCALE`].
//!
//! This file owns the bucket index mapping (exact, table driven, no `log2` per
//! value), the dense growable bucket storage, quantile estimation, merging and
//! OTel-style downscaling for export.

/// Number of sub-buckets per power of two at [`Distribution::SCALE`] (`2^SCALE`).
const SUB_BUCKETS: i32 = 64;
/// Number of explicit mantissa bits of an IEEE-754 double.
const MANTISSA_BITS: u32 = 52;
/// Mask of the explicit mantissa bits of an IEEE-754 double.
const MANTISSA_MASK: u64 = (1 << MANTISSA_BITS) - 1;
/// Smallest bucket index any finite double can map to (with some margin).
const MIN_INDEX: i32 = -1075 * SUB_BUCKETS;
/// Largest bucket index any finite double can map to (with some margin).
const MAX_INDEX: i32 = 1024 * SUB_BUCKETS;
/// Lowest scale `downscaled` will go to (the OTel minimum).
const MIN_SCALE: i32 = -10;

/// `BOUNDARIES[k] = floor((2^(k/64) - 1) * 2^52)` for `k` in `0..64`, computed
/// offline with exact integer arithmetic (integer 64th roots). A double with
/// mantissa bits `m` is strictly greater than `2^(k/64)` times its power of two
/// exactly when `m > BOUNDARIES[k]` (the boundaries are irrational for k > 0).
/// Entries past 63 are a `u64::MAX` sentinel so any `u8` index is in bounds.
const BOUNDARIES: [u64; 256] = {
    let exact: [u64; 64] = [
        0x0000000000000,
        0x02c9a3e778060,
        0x059b0d3158574,
        0x0874518759bc8,
        0x0b5586cf9890f,
        0x0e3ec32d3d1a2,
        0x11301d0125b50,
        0x1429aaea92ddf,
        0x172b83c7d517a,
        0x1a35beb6fcb75,
        0x1d4873168b9aa,
        0x2063b88628cd6,
        0x2387a6e756238,
        0x26b4565e27cdd,
        0x29e9df51fdee1,
        0x2d285a6e4030b,
        0x306fe0a31b715,
        0x33c08b26416ff,
        0x371a7373aa9ca,
        0x3a7db34e59ff6,
        0x3dea64c123422,
        0x4160a21f72e29,
        0x44e086061892d,
        0x486a2b5c13cd0,
        0x4bfdad5362a27,
        0x4f9b2769d2ca6,
        0x5342b569d4f81,
        0x56f4736b527da,
        0x5ab07dd485429,
        0x5e76f15ad2148,
        0x6247eb03a5584,
        0x6623882552224,
        0x6a09e667f3bcc,
        0x6dfb23c651a2e,
        0x71f75e8ec5f73,
        0x75feb564267c8,
        0x7a11473eb0186,
        0x7e2f336cf4e62,
        0x82589994cce12,
        0x868d99b4492ec,
        0x8ace5422aa0db,
        0x8f1ae99157736,
        0x93737b0cdc5e4,
        0x97d829fde4e4f,
        0x9c49182a3f090,
        0xa0c667b5de564,
        0xa5503b23e255c,
        0xa9e6b5579fdbf,
        0xae89f995ad3ad,
        0xb33a2b84f15fa,
        0xb7f76f2fb5e46,
        0xbcc1e904bc1d2,
        0xc199bdd85529c,
        0xc67f12e57d14b,
        0xcb720dcef9069,
        0xd072d4a07897b,
        0xd5818dcfba487,
        0xda9e603db3285,
        0xdfc97337b9b5e,
        0xe502ee78b3ff6,
        0xea4afa2a490d9,
        0xefa1bee615a27,
        0xf50765b6e4540,
        0xfa7c1819e90d8,
    ];
    let mut table = [u64::MAX; 256];
    let mut k = 0;
    while k < 64 {
        table[k] = exact[k];
        k += 1;
    }
    table
};

/// Number of top mantissa bits used to index [`SLOT_BASE`].
const SLOT_BITS: u32 = 7;
/// Shift that extracts the slot from the mantissa bits.
const SLOT_SHIFT: u32 = MANTISSA_BITS - SLOT_BITS;

/// For each slot (the top 7 mantissa bits), how many boundaries lie strictly
/// below the slot's first mantissa. Boundaries are more than one slot apart,
/// so at most one more boundary can fall inside a slot.
const SLOT_BASE: [u8; 1 << SLOT_BITS] = {
    let mut table = [0u8; 1 << SLOT_BITS];
    let mut slot = 0;
    while slot < (1 << SLOT_BITS) {
        let start = (slot as u64) << SLOT_SHIFT;
        let mut n = 0;
        while n < 64 && BOUNDARIES[n] < start {
            n += 1;
        }
        table[slot] = n as u8;
        slot += 1;
    }
    table
};

/// Number of boundaries `k` in `0..64` with `mantissa > BOUNDARIES[k]`, i.e.
/// the sub-bucket position (0..=64) of a significand with these mantissa bits.
#[inline(always)]
fn boundaries_below(mantissa: u64) -> i32 {
    let slot = ((mantissa >> SLOT_SHIFT) as usize) & ((1 << SLOT_BITS) - 1);
    let base = SLOT_BASE[slot];
    i32::from(base) + i32::from(mantissa > BOUNDARIES[base as usize])
}

/// Bucket index of a positive, finite, non-zero double given by its bits.
/// Bucket `i` covers `(2^(i/64), 2^((i+1)/64)]`.
#[inline(always)]
fn index_of_positive_bits(bits: u64) -> i32 {
    let biased = ((bits >> MANTISSA_BITS) & 0x7ff) as i32;
    let mantissa = bits & MANTISSA_MASK;
    if biased != 0 {
        (biased - 1023) * SUB_BUCKETS - 1 + boundaries_below(mantissa)
    } else {
        // Subnormal: value = mantissa * 2^-1074; normalise the significand.
        let top = 63 - mantissa.leading_zeros() as i32; // position of the leading one, 0..=51
        let normalised = (mantissa << (MANTISSA_BITS as i32 - top)) & MANTISSA_MASK;
        (top - 1074) * SUB_BUCKETS - 1 + boundaries_below(normalised)
    }
}

/// Bucket index of a positive finite value (`v > 0`).
#[inline]
fn index_of_positive(v: f64) -> i32 {
    index_of_positive_bits(v.to_bits())
}

/// Log-midpoint of bucket `index` at scale `SCALE`: `2^((index + 0.5) / 64)`.
fn bucket_midpoint(index: i32) -> f64 {
    ((f64::from(index) + 0.5) / f64::from(SUB_BUCKETS)).exp2()
}

/// Dense bucket counts starting at bucket index `offset`. The vector may carry
/// zero-valued slack at either end; [`Buckets::trimmed`] hides it.
#[derive(Clone, Debug, Default)]
struct Buckets {
    offset: i32,
    counts: Vec<u64>,
}

impl Buckets {
    /// Add `n` to bucket `index`.
    #[inline]
    fn add(&mut self, index: i32, n: u64) {
        let rel = index.wrapping_sub(self.offset) as u32 as usize;
        if let Some(c) = self.counts.get_mut(rel) {
            *c = c.saturating_add(n);
            return;
        }
        self.add_slow(index, n);
    }

    #[cold]
    fn add_slow(&mut self, index: i32, n: u64) {
        self.ensure(index, index);
        let rel = index.wrapping_sub(self.offset) as u32 as usize;
        if let Some(c) = self.counts.get_mut(rel) {
            *c = c.saturating_add(n);
        }
    }

    /// Make sure bucket indices `lo..=hi` are addressable.
    fn ensure(&mut self, lo: i32, hi: i32) {
        let lo = lo.clamp(MIN_INDEX, MAX_INDEX);
        let hi = hi.clamp(lo, MAX_INDEX);
        if self.counts.is_empty() {
            self.offset = lo;
            self.counts.resize((hi - lo) as usize + 1, 0);
            return;
        }
        let len = self.counts.len() as i32;
        if lo < self.offset {
            // Grow at the front with slack (amortised) so long descending runs stay linear.
            let new_offset = lo.saturating_sub(len / 2).max(MIN_INDEX);
            let front = (self.offset - new_offset) as usize;
            let mut grown = Vec::with_capacity(front + self.counts.len());
            grown.resize(front, 0);
            grown.extend_from_slice(&self.counts);
            self.counts = grown;
            self.offset = new_offset;
        }
        let needed = (hi - self.offset) as usize + 1;
        if needed > self.counts.len() {
            self.counts.resize(needed, 0);
        }
    }

    /// The non-zero span: (index of the first count, counts up to the last non-zero one).
    fn trimmed(&self) -> (i32, &[u64]) {
        let Some(first) = self.counts.iter().position(|&c| c != 0) else {
            return (0, &[]);
        };
        let last = self.counts.iter().rposition(|&c| c != 0).unwrap_or(first);
        let span = self.counts.get(first..=last).unwrap_or(&[]);
        (self.offset.saturating_add(first as i32), span)
    }

    /// Add every count of `other`.
    fn merge(&mut self, other: &Buckets) {
        let (offset, counts) = other.trimmed();
        if counts.is_empty() {
            return;
        }
        let hi = offset.saturating_add(counts.len() as i32 - 1);
        self.ensure(offset, hi);
        let start = offset.wrapping_sub(self.offset) as u32 as usize;
        if let Some(dst) = self.counts.get_mut(start..) {
            for (d, &c) in dst.iter_mut().zip(counts) {
                *d = d.saturating_add(c);
            }
        }
    }
}

/// Buckets of a [`Distribution`] re-expressed at a lower scale (see
/// [`Distribution::downscaled`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Downscaled {
    /// The OTel scale of these buckets (bucket base `2^(2^-scale)`).
    pub scale: i32,
    /// Index of the first positive bucket.
    pub positive_offset: i32,
    /// Positive bucket counts, bucket `positive_offset + j` at position `j`.
    pub positive: Vec<u64>,
    /// Index of the first negative bucket (buckets of absolute values).
    pub negative_offset: i32,
    /// Negative bucket counts (by absolute value), bucket `negative_offset + j` at position `j`.
    pub negative: Vec<u64>,
}

/// A mergeable distribution of `f64` observations: a base-2 exponential
/// histogram at scale 6 (bucket base `2^(1/64)`, ~0.55% relative error) plus
/// count, sum, min, max and the count of exact zeros.
///
/// Bucket index `i` covers `(base^i, base^(i+1)]` (upper-inclusive, as in
/// OpenTelemetry). Negative values are kept in a second bucket set by absolute
/// value. NaN and infinities are ignored and counted in
/// [`Distribution::dropped_non_finite`].
#[derive(Clone, Debug)]
pub struct Distribution {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    zero_count: u64,
    dropped: u64,
    positive: Buckets,
    negative: Buckets,
}

impl Default for Distribution {
    fn default() -> Self {
        Self::new()
    }
}

impl Distribution {
    /// The fixed OTel scale of the buckets: base `2^(2^-6)`.
    pub const SCALE: i32 = 6;

    /// An empty distribution.
    pub fn new() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            zero_count: 0,
            dropped: 0,
            positive: Buckets::default(),
            negative: Buckets::default(),
        }
    }

    /// Record one observation. Non-finite values are dropped (and counted).
    #[inline]
    pub fn record(&mut self, v: f64) {
        self.record_n(v, 1);
    }

    /// Record `n` observations of the same value in O(1). `n == 0` is a no-op.
    pub fn record_n(&mut self, v: f64, n: u64) {
        if n == 0 {
            return;
        }
        if !v.is_finite() {
            self.dropped = self.dropped.saturating_add(n);
            return;
        }
        self.count = self.count.saturating_add(n);
        self.sum += if n == 1 { v } else { v * n as f64 };
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if v > 0.0 {
            self.positive.add(index_of_positive(v), n);
        } else if v < 0.0 {
            self.negative.add(index_of_positive(-v), n);
        } else {
            self.zero_count = self.zero_count.saturating_add(n);
        }
    }

    /// Record one non-negative integer observation (sizes, microseconds,
    /// per-second counts). Same result as `record(v as f64)`, but faster.
    #[inline]
    pub fn record_u64(&mut self, v: u64) {
        let f = v as f64;
        self.count = self.count.saturating_add(1);
        self.sum += f;
        self.min = self.min.min(f);
        self.max = self.max.max(f);
        if v == 0 {
            self.zero_count = self.zero_count.saturating_add(1);
        } else {
            // `f` is a normal double here, so its bits map directly.
            self.positive.add(index_of_positive_bits(f.to_bits()), 1);
        }
    }

    /// Number of (finite) observations.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of the observations.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Smallest observation, `None` when empty.
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    /// Largest observation, `None` when empty.
    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    /// Arithmetic mean of the observations, `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// True when nothing (finite) was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of observations equal to zero.
    pub fn zero_count(&self) -> u64 {
        self.zero_count
    }

    /// Number of NaN / infinite observations that were ignored.
    pub fn dropped_non_finite(&self) -> u64 {
        self.dropped
    }

    /// Every non-empty bucket as `(representative value, count)` in ascending
    /// value order: negative buckets, the zero bucket (value 0), positive
    /// buckets. The representative value is the bucket's log-midpoint clamped
    /// to `[min, max]`.
    pub fn weighted_values(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let (lo, hi) = (self.min, self.max);
        let clamp = move |v: f64| v.max(lo).min(hi);
        let (neg_offset, neg) = self.negative.trimmed();
        let (pos_offset, pos) = self.positive.trimmed();
        let negative = neg
            .iter()
            .enumerate()
            .rev()
            .filter(|&(_, &c)| c > 0)
            .map(move |(j, &c)| {
                let index = neg_offset.saturating_add(j as i32);
                (clamp(-bucket_midpoint(index)), c)
            });
        let zero = (self.zero_count > 0).then_some((clamp(0.0), self.zero_count));
        let positive = pos
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c > 0)
            .map(move |(j, &c)| {
                let index = pos_offset.saturating_add(j as i32);
                (clamp(bucket_midpoint(index)), c)
            });
        negative.chain(zero).chain(positive)
    }

    /// Nearest-rank quantile with inclusive ranks: the value of the item of rank
    /// `ceil(q*n)` (q in [0,1], q=0 → min), estimated as the log-midpoint of the
    /// bucket holding that rank, clamped to [min, max] (ranks 1 and n give the
    /// exact min and max). None when empty (or q is NaN).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 || q.is_nan() {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        if q == 0.0 {
            return Some(self.min);
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        // The extreme ranks are known exactly.
        if rank == self.count {
            return Some(self.max);
        }
        if rank == 1 {
            return Some(self.min);
        }
        let mut cumulative = 0u64;
        for (value, c) in self.weighted_values() {
            cumulative = cumulative.saturating_add(c);
            if cumulative >= rank {
                return Some(value);
            }
        }
        Some(self.max)
    }

    /// The same as [`Distribution::quantile`], rounded to the nearest integer
    /// (for integer-valued metrics such as sizes and rates; negatives give 0).
    pub fn quantile_u64(&self, q: f64) -> Option<u64> {
        self.quantile(q).map(|v| v.round() as u64)
    }

    /// Merge another distribution into this one (the result is what a single
    /// distribution fed both streams would hold; the sum up to float rounding).
    pub fn merge(&mut self, other: &Self) {
        self.dropped = self.dropped.saturating_add(other.dropped);
        if other.count == 0 {
            return;
        }
        self.count = self.count.saturating_add(other.count);
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.zero_count = self.zero_count.saturating_add(other.zero_count);
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
    }

    /// Every observation multiplied by `factor` (> 0; e.g. 1e-6 for microseconds to
    /// seconds): count, sum, min, max and zeros exact, each bucket's count moved to the
    /// bucket of its representative value times `factor` (one more bucket width of error).
    /// A factor that is not a positive finite number gives an empty distribution.
    pub fn scaled(&self, factor: f64) -> Distribution {
        let mut out = Distribution::new();
        if !(factor.is_finite() && factor > 0.0) || self.count == 0 {
            out.dropped = self.dropped;
            return out;
        }
        for (v, c) in self.weighted_values() {
            out.record_n(v * factor, c);
        }
        out.count = self.count;
        out.sum = self.sum * factor;
        out.min = self.min * factor;
        out.max = self.max * factor;
        out.zero_count = self.zero_count;
        out.dropped = self.dropped;
        out
    }

    /// Positive buckets for export: (offset, counts), scale = [`Distribution::SCALE`].
    /// Leading and trailing empty buckets are trimmed.
    pub fn positive_buckets(&self) -> (i32, &[u64]) {
        self.positive.trimmed()
    }

    /// Negative buckets (by absolute value) for export: (offset, counts),
    /// scale = [`Distribution::SCALE`]. Leading and trailing empty buckets are trimmed.
    pub fn negative_buckets(&self) -> (i32, &[u64]) {
        self.negative.trimmed()
    }

    /// The buckets re-expressed at the highest scale `<= SCALE` at which the
    /// positive and negative spans each fit in `max_buckets` (OTel downscaling:
    /// bucket `i` becomes `i >> k`, merging `2^k` adjacent buckets). The scale
    /// never goes below -10 (where any finite data spans at most 3 buckets), so
    /// `max_buckets < 3` may be exceeded only for data spanning extreme ranges.
    pub fn downscaled(&self, max_buckets: usize) -> Downscaled {
        let limit = max_buckets.max(1) as i64;
        let (pos_offset, pos) = self.positive.trimmed();
        let (neg_offset, neg) = self.negative.trimmed();
        let span = |offset: i32, len: usize, shift: u32| -> i64 {
            if len == 0 {
                return 0;
            }
            let last = i64::from(offset) + len as i64 - 1;
            (last >> shift) - (i64::from(offset) >> shift) + 1
        };
        let mut shift = 0u32;
        while Self::SCALE - (shift as i32) > MIN_SCALE
            && (span(pos_offset, pos.len(), shift) > limit
                || span(neg_offset, neg.len(), shift) > limit)
        {
            shift += 1;
        }
        let reduce = |offset: i32, counts: &[u64]| -> (i32, Vec<u64>) {
            if counts.is_empty() {
                return (0, Vec::new());
            }
            let new_offset = offset >> shift;
            let mut out = vec![0u64; span(offset, counts.len(), shift) as usize];
            for (j, &c) in counts.iter().enumerate() {
                let index = (i64::from(offset) + j as i64) >> shift;
                if let Some(slot) = out.get_mut((index - i64::from(new_offset)) as usize) {
                    *slot = slot.saturating_add(c);
                }
            }
            (new_offset, out)
        };
        let (positive_offset, positive) = reduce(pos_offset, pos);
        let (negative_offset, negative) = reduce(neg_offset, neg);
        Downscaled {
            scale: Self::SCALE - shift as i32,
            positive_offset,
            positive,
            negative_offset,
            negative,
        }
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

        /// Uniform in [0, 1).
        fn next_f64(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }

        /// Roughly standard normal (Irwin–Hall with 12 uniforms).
        fn next_normal(&mut self) -> f64 {
            (0..12).map(|_| self.next_f64()).sum::<f64>() - 6.0
        }
    }

    #[test]
    fn scaled_keeps_counts_and_extremes_and_moves_quantiles() {
        let mut d = Distribution::new();
        for v in latencies(10_000, 7) {
            d.record(v.round());
        }
        d.record(0.0);
        let s = d.scaled(1e-6);
        assert_eq!(s.count(), d.count());
        assert_eq!(s.zero_count(), 1);
        assert_eq!(s.min(), Some(0.0));
        assert!((s.max().unwrap() - d.max().unwrap() * 1e-6).abs() < 1e-15);
        assert!((s.sum() - d.sum() * 1e-6).abs() < 1e-9);
        for q in [0.5, 0.9, 0.99] {
            let want = d.quantile(q).unwrap() * 1e-6;
            let got = s.quantile(q).unwrap();
            assert!((got - want).abs() / want < 0.012, "q{q}: {got} vs {want}");
        }
        assert!(d.scaled(-1.0).is_empty());
    }

    fn packet_sizes(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = SplitMix64(seed);
        (0..n).map(|_| (1 + rng.next_u64() % 1500) as f64).collect()
    }

    fn latencies(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = SplitMix64(seed);
        (0..n)
            .map(|_| {
                (1000f64.ln() + 1.5 * rng.next_normal())
                    .exp()
                    .clamp(10.0, 1e6)
            })
            .collect()
    }

    fn wide_doubles(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = SplitMix64(seed);
        (0..n)
            .map(|_| 10f64.powf(-3.0 + 6.0 * rng.next_f64()))
            .collect()
    }

    fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
        let n = sorted.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        sorted[rank - 1]
    }

    fn feed(values: &[f64]) -> Distribution {
        let mut d = Distribution::new();
        for &v in values {
            d.record(v);
        }
        d
    }

    fn assert_same_buckets(a: &Distribution, b: &Distribution) {
        assert_eq!(a.positive_buckets(), b.positive_buckets());
        assert_eq!(a.negative_buckets(), b.negative_buckets());
        assert_eq!(a.count(), b.count());
        assert_eq!(a.zero_count(), b.zero_count());
        assert_eq!(a.min(), b.min());
        assert_eq!(a.max(), b.max());
    }

    #[test]
    fn boundary_table_matches_exp2() {
        for k in 0..64 {
            let approx = ((k as f64 / 64.0).exp2() - 1.0) * (1u64 << 52) as f64;
            let diff = (approx - BOUNDARIES[k] as f64).abs();
            assert!(diff <= 2.0, "k={k} approx={approx} table={}", BOUNDARIES[k]);
            if k > 0 {
                assert!(BOUNDARIES[k] > BOUNDARIES[k - 1]);
            }
        }
        assert!(BOUNDARIES[64..].iter().all(|&b| b == u64::MAX));
        // Each slot holds at most one boundary, which boundaries_below relies on.
        for slot in 0..(1u64 << SLOT_BITS) {
            let start = slot << SLOT_SHIFT;
            let end = start + (1 << SLOT_SHIFT);
            let inside = BOUNDARIES[..64]
                .iter()
                .filter(|&&b| b >= start && b < end)
                .count();
            assert!(inside <= 1, "slot {slot}");
        }
    }

    #[test]
    fn boundaries_below_matches_linear_count() {
        let mut rng = SplitMix64(7);
        let mut probes: Vec<u64> = Vec::new();
        for &b in &BOUNDARIES[..64] {
            probes.extend([b.saturating_sub(1), b, b + 1]);
        }
        probes.extend((0..20_000).map(|_| rng.next_u64() & MANTISSA_MASK));
        probes.push(MANTISSA_MASK);
        for m in probes {
            let linear = BOUNDARIES[..64].iter().filter(|&&b| m > b).count() as i32;
            assert_eq!(boundaries_below(m), linear, "mantissa {m:#x}");
        }
    }

    #[test]
    fn index_mapping_is_upper_inclusive() {
        for e in [-1074, -1022, -20, -1, 0, 1, 3, 10, 52, 63, 1023] {
            let p = (e as f64).exp2();
            assert_eq!(index_of_positive(p), e * 64 - 1, "2^{e}");
            if e > -1074 {
                assert_eq!(index_of_positive(p.next_up()), e * 64, "next_up 2^{e}");
            }
        }
        assert_eq!(index_of_positive(f64::MAX), 1023 * 64 + 63);
        assert_eq!(index_of_positive(1.5), 37); // log2(1.5)*64 = 37.44
        // Generic values agree with the float formula ceil(64*log2 v) - 1 away from boundaries.
        let mut rng = SplitMix64(11);
        for _ in 0..50_000 {
            let v = 10f64.powf(-300.0 + 600.0 * rng.next_f64());
            let x = v.log2() * 64.0;
            if (x - x.round()).abs() < 1e-6 {
                continue;
            }
            assert_eq!(index_of_positive(v), x.ceil() as i32 - 1, "v={v}");
        }
        // Subnormals are normalised correctly.
        let tiny = f64::from_bits(1); // 2^-1074
        assert_eq!(index_of_positive(tiny), -1074 * 64 - 1);
        let sub = f64::from_bits(3); // 1.5 * 2^-1073
        assert_eq!(index_of_positive(sub), -1073 * 64 + 37);
    }

    #[test]
    fn record_u64_matches_float_path() {
        let mut values: Vec<u64> = (0..20_000).collect();
        for e in 0..64 {
            let p = 1u64 << e;
            values.extend([p - 1, p, p + 1, p.wrapping_mul(3) / 2]);
        }
        let mut rng = SplitMix64(3);
        for _ in 0..20_000 {
            let bits = rng.next_u64() % 64;
            values.push(rng.next_u64() >> bits);
        }
        values.push(u64::MAX);
        for &v in &values {
            let mut fast = Distribution::new();
            fast.record_u64(v);
            let mut slow = Distribution::new();
            slow.record(v as f64);
            assert_same_buckets(&fast, &slow);
            assert_eq!(fast.sum(), slow.sum());
        }
        let mut fast = Distribution::new();
        let mut slow = Distribution::new();
        for &v in &values {
            fast.record_u64(v);
            slow.record(v as f64);
        }
        assert_same_buckets(&fast, &slow);
        assert_eq!(fast.sum(), slow.sum());
    }

    #[test]
    fn quantiles_within_one_percent() {
        let datasets = [
            ("packet sizes", packet_sizes(100_000, 1)),
            ("latencies", latencies(100_000, 2)),
            ("wide doubles", wide_doubles(100_000, 3)),
        ];
        for (name, data) in datasets {
            let d = feed(&data);
            let mut sorted = data.clone();
            sorted.sort_by(f64::total_cmp);
            for q in [0.5, 0.9, 0.95, 0.99] {
                let exact = exact_quantile(&sorted, q);
                let est = d.quantile(q).unwrap();
                let rel = (est - exact).abs() / exact;
                assert!(rel <= 0.01, "{name} q={q}: est {est} exact {exact}");
            }
            assert_eq!(d.quantile(0.0), Some(sorted[0]));
            assert_eq!(d.quantile(1.0), Some(sorted[sorted.len() - 1]));
            assert_eq!(d.count(), data.len() as u64);
        }
    }

    #[test]
    fn quantile_u64_rounds() {
        let mut d = Distribution::new();
        for v in 1..=100u64 {
            d.record_u64(v);
        }
        assert_eq!(d.quantile_u64(0.5), Some(50));
        assert_eq!(d.quantile_u64(0.0), Some(1));
        assert_eq!(d.quantile_u64(1.0), Some(100));
        let p90 = d.quantile_u64(0.9).unwrap();
        assert!((89..=91).contains(&p90), "{p90}");
    }

    #[test]
    fn merge_of_parts_equals_whole() {
        let datasets = [
            packet_sizes(30_000, 4),
            latencies(30_000, 5),
            wide_doubles(30_000, 6),
        ];
        for data in datasets {
            let mut with_specials = data.clone();
            with_specials.extend([0.0, -3.5, -1e-3, 0.0, -250.0]);
            let whole = feed(&with_specials);
            let mut merged = Distribution::new();
            for part in with_specials.chunks(7_001) {
                merged.merge(&feed(part));
            }
            merged.merge(&Distribution::new());
            assert_same_buckets(&whole, &merged);
            let tol = whole.sum().abs() * 1e-12;
            assert!((whole.sum() - merged.sum()).abs() <= tol);
            for q in [0.1, 0.5, 0.99] {
                assert_eq!(whole.quantile(q), merged.quantile(q));
            }
        }
        // Merging into an empty one copies.
        let src = feed(&packet_sizes(1000, 9));
        let mut empty = Distribution::new();
        empty.merge(&src);
        assert_same_buckets(&empty, &src);
    }

    #[test]
    fn single_value_is_exact() {
        for v in [1500.0, 0.001, 7.0, 1e-300, -3.5, 0.0, 12.915497, 1e300] {
            let mut d = Distribution::new();
            for _ in 0..5 {
                d.record(v);
            }
            for q in [0.0, 0.01, 0.5, 0.9, 0.99, 1.0] {
                assert_eq!(d.quantile(q), Some(v), "v={v} q={q}");
            }
        }
        let mut d = Distribution::new();
        d.record_u64(1234);
        assert_eq!(d.quantile_u64(0.5), Some(1234));
    }

    #[test]
    fn record_n_equals_repeated_records() {
        let mut rng = SplitMix64(8);
        let mut a = Distribution::new();
        let mut b = Distribution::new();
        for _ in 0..500 {
            let v = (rng.next_u64() % 3000) as f64 - 100.0;
            let n = rng.next_u64() % 20;
            a.record_n(v, n);
            for _ in 0..n {
                b.record(v);
            }
        }
        assert_same_buckets(&a, &b);
        assert_eq!(a.sum(), b.sum());
        // n = 0 changes nothing, not even min/max.
        let mut c = Distribution::new();
        c.record_n(5.0, 0);
        assert!(c.is_empty());
        assert_eq!(c.min(), None);
    }

    #[test]
    fn downscaled_keeps_counts_and_fits() {
        let mut d = feed(&wide_doubles(20_000, 10));
        for v in [-1.0, -1e6, -0.5] {
            d.record(v);
        }
        let total_pos: u64 = d.positive_buckets().1.iter().sum();
        let total_neg: u64 = d.negative_buckets().1.iter().sum();
        for max in [1usize, 2, 3, 8, 20, 160, 5000] {
            let ds = d.downscaled(max);
            assert_eq!(ds.positive.iter().sum::<u64>(), total_pos);
            assert_eq!(ds.negative.iter().sum::<u64>(), total_neg);
            assert!(ds.positive.len() <= max.max(3), "max {max}");
            assert!(ds.negative.len() <= max.max(3), "max {max}");
            if max >= 3 {
                assert!(ds.positive.len() <= max && ds.negative.len() <= max);
            }
            assert!(ds.scale <= Distribution::SCALE && ds.scale >= MIN_SCALE);
            // The scale is the highest that fits: one more scale would not.
            if ds.scale < Distribution::SCALE && max >= 3 {
                let shift = (Distribution::SCALE - ds.scale - 1) as u32;
                let (o, c) = d.positive_buckets();
                let (no, nc) = d.negative_buckets();
                let span =
                    |o: i32, n: usize| (((o + n as i32 - 1) >> shift) - (o >> shift) + 1) as usize;
                assert!(span(o, c.len()) > max || span(no, nc.len()) > max);
            }
        }
        // Enough room: identical to the native buckets.
        let ds = d.downscaled(1_000_000);
        assert_eq!(ds.scale, Distribution::SCALE);
        assert_eq!((ds.positive_offset, &ds.positive[..]), d.positive_buckets());
        assert_eq!((ds.negative_offset, &ds.negative[..]), d.negative_buckets());
        // Each value lands in the bucket that contains it at the lower scale.
        for v in [3.0, 1000.0, 0.3, 77.7] {
            let mut one = Distribution::new();
            one.record(v);
            one.record(v * 1e4);
            let ds = one.downscaled(4);
            let base = (2f64).powf((2f64).powi(-ds.scale));
            let idx = ds.positive_offset;
            assert_eq!(ds.positive.first().copied(), Some(1));
            assert!(base.powi(idx) < v * (1.0 + 1e-9) && v <= base.powi(idx + 1) * (1.0 + 1e-9));
        }
    }

    #[test]
    fn extreme_values_do_not_panic() {
        let mut d = Distribution::new();
        let values = [
            0.0,
            -0.0,
            u64::MAX as f64,
            1e300,
            1e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::from_bits(1),
            -f64::MAX,
            -1e-300,
            -5.0,
        ];
        for v in values {
            d.record(v);
        }
        d.record_u64(u64::MAX);
        d.record_u64(0);
        assert_eq!(d.count(), values.len() as u64 + 2);
        assert_eq!(d.zero_count(), 3);
        assert_eq!(d.min(), Some(-f64::MAX));
        assert_eq!(d.max(), Some(f64::MAX));
        assert_eq!(d.quantile(0.0), Some(-f64::MAX));
        assert_eq!(d.quantile(1.0), Some(f64::MAX));
        for q in [0.1, 0.3, 0.5, 0.7, 0.9] {
            assert!(d.quantile(q).is_some_and(f64::is_finite));
        }
        let ds = d.downscaled(160);
        assert_eq!(
            ds.positive.iter().sum::<u64>() + ds.negative.iter().sum::<u64>() + d.zero_count(),
            d.count()
        );
        // Ascending descending runs stay consistent (front growth with slack).
        let mut e = Distribution::new();
        let mut v = 1e300;
        while v > 1e-300 {
            e.record(v);
            v /= 1.3;
        }
        let (_, counts) = e.positive_buckets();
        assert_eq!(counts.iter().sum::<u64>(), e.count());
        assert_eq!(d.quantile(f64::NAN), None);
        assert_eq!(d.quantile(7.0), Some(f64::MAX));
        assert_eq!(d.quantile(-1.0), Some(-f64::MAX));
    }

    #[test]
    fn non_finite_values_are_dropped() {
        let mut d = Distribution::new();
        d.record(f64::NAN);
        d.record(f64::INFINITY);
        d.record_n(f64::NEG_INFINITY, 3);
        assert!(d.is_empty());
        assert_eq!(d.dropped_non_finite(), 5);
        assert_eq!(d.quantile(0.5), None);
        assert_eq!(d.min(), None);
        d.record(2.0);
        let mut other = Distribution::new();
        other.record(f64::NAN);
        d.merge(&other);
        assert_eq!(d.dropped_non_finite(), 6);
        assert_eq!(d.count(), 1);
        assert_eq!(d.sum(), 2.0);
        assert_eq!(d.mean(), Some(2.0));
    }

    #[test]
    fn negative_and_zero_ordering() {
        let mut d = Distribution::new();
        for v in [-100.0, -10.0, 0.0, 10.0, 100.0] {
            d.record(v);
        }
        let values: Vec<f64> = d.weighted_values().map(|(v, _)| v).collect();
        assert_eq!(values.len(), 5);
        assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");
        assert_eq!(d.quantile(0.2), Some(-100.0));
        assert_eq!(d.quantile(0.6), Some(0.0));
        let m = d.quantile(0.4).unwrap();
        assert!((m + 10.0).abs() < 0.06, "{m}");
    }
}
