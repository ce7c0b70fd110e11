//! `Cardinality`: a mergeable distinct-count estimate.
//!
//! This file owns item hashing (xxh3-64 with a fixed seed), the exact sparse
//! mode (a set of up to 2048 distinct hashes), the dense HyperLogLog registers
//! (precision 14) and Ertl's 2017 "improved raw estimator" (no empirical bias
//! tables), plus merging across all mode combinations.

use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};

use foldhash::fast::FixedState;
use xxhash_rust::xxh3::{Xxh3, xxh3_64_with_seed};

/// HyperLogLog precision: the number of hash bits that select a register.
const P: u32 = 14;
/// Number of registers.
const M: usize = 1 << P;
/// Hash bits left after the register index.
const Q: u32 = 64 - P;
/// Largest number of distinct hashes kept exactly before switching to registers.
const SPARSE_LIMIT: usize = 2048;
/// Fixed xxh3 seed, so equal items hash equally in every sketch ("pktvisor").
const SEED: u64 = 0x706b_7476_6973_6f72;
/// Bytes of `Hash` output kept on the stack before falling back to streaming.
const INLINE: usize = 128;

/// A `Hasher` computing exactly `xxh3_64_with_seed(all written bytes, SEED)`:
/// short inputs are buffered on the stack and hashed in one shot; longer ones
/// spill into the streaming `Xxh3` state (which yields the same value).
struct ItemHasher {
    buf: [u8; INLINE],
    len: usize,
    spill: Option<Box<Xxh3>>,
}

impl ItemHasher {
    #[inline]
    fn new() -> Self {
        Self {
            buf: [0; INLINE],
            len: 0,
            spill: None,
        }
    }
}

impl Hasher for ItemHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        if let Some(stream) = self.spill.as_mut() {
            stream.update(bytes);
            return;
        }
        let end = self.len.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
            self.len = end;
            return;
        }
        let mut stream = Box::new(Xxh3::with_seed(SEED));
        stream.update(self.buf.get(..self.len).unwrap_or(&[]));
        stream.update(bytes);
        self.spill = Some(stream);
    }

    #[inline]
    fn finish(&self) -> u64 {
        match &self.spill {
            Some(stream) => stream.digest(),
            None => xxh3_64_with_seed(self.buf.get(..self.len).unwrap_or(&[]), SEED),
        }
    }
}

/// Register index (top P bits) and rank (leading zeros of the other Q bits + 1,
/// at most Q + 1) of a 64-bit hash.
#[inline(always)]
fn index_and_rank(hash: u64) -> (usize, u8) {
    let index = (hash >> Q) as usize;
    // The sentinel bit just below the shifted-in bits caps the rank at Q + 1.
    let rank = ((hash << P) | (1 << (P - 1))).leading_zeros() as u8 + 1;
    (index, rank)
}

#[inline(always)]
fn insert_dense(registers: &mut [u8; M], hash: u64) {
    let (index, rank) = index_and_rank(hash);
    if let Some(r) = registers.get_mut(index)
        && rank > *r
    {
        *r = rank;
    }
}

/// σ(x) = x + Σ_{k≥1} x^(2^k) · 2^(k-1) (Ertl 2017), σ(1) = ∞.
fn sigma(mut x: f64) -> f64 {
    if x >= 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    for _ in 0..128 {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if z == previous {
            break;
        }
    }
    z
}

/// τ(x) = (1 - x - Σ_{k≥1} (1 - x^(2^-k))^2 · 2^-k) / 3 (Ertl 2017).
fn tau(mut x: f64) -> f64 {
    if x <= 0.0 || x >= 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    for _ in 0..128 {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if z == previous {
            break;
        }
    }
    z / 3.0
}

/// Ertl's improved raw estimator over the registers.
fn estimate_dense(registers: &[u8; M]) -> f64 {
    let mut histogram = [0u32; Q as usize + 2];
    for &r in registers.iter() {
        if let Some(h) = histogram.get_mut(usize::from(r)) {
            *h += 1;
        }
    }
    let m = M as f64;
    let top = histogram.last().copied().unwrap_or(0);
    let mut z = m * tau(1.0 - f64::from(top) / m);
    for &c in histogram.iter().skip(1).take(Q as usize).rev() {
        z = 0.5 * (z + f64::from(c));
    }
    z += m * sigma(f64::from(histogram[0]) / m);
    let alpha_inf = 1.0 / (2.0 * std::f64::consts::LN_2);
    alpha_inf * m * m / z
}

#[derive(Clone)]
enum Repr {
    /// Exact: the distinct hashes seen so far (at most SPARSE_LIMIT).
    Sparse(HashSet<u64, FixedState>),
    /// HyperLogLog registers.
    Dense(Box<[u8; M]>),
}

/// Mergeable distinct-count estimate: exact up to 2048 distinct items, then a
/// HyperLogLog with 16384 one-byte registers (~0.8% standard error).
///
/// Items are hashed with xxh3-64 under a fixed seed, so sketches built in
/// different places (threads, time buckets) merge consistently.
#[derive(Clone)]
pub struct Cardinality {
    repr: Repr,
}

impl Default for Cardinality {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Cardinality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.is_sparse() { "sparse" } else { "dense" };
        f.debug_struct("Cardinality")
            .field("mode", &mode)
            .field("estimate", &self.estimate())
            .finish()
    }
}

impl Cardinality {
    /// An empty (sparse, exact) sketch.
    pub fn new() -> Self {
        Self {
            repr: Repr::Sparse(HashSet::with_hasher(FixedState::default())),
        }
    }

    /// Count `item`: its `Hash` output is hashed with xxh3-64 under a fixed seed.
    /// (Note `insert("ab")` differs from `insert_bytes(b"ab")`: `str`'s `Hash`
    /// appends a terminator byte.)
    #[inline]
    pub fn insert<T: Hash + ?Sized>(&mut self, item: &T) {
        let mut hasher = ItemHasher::new();
        item.hash(&mut hasher);
        self.insert_hash(hasher.finish());
    }

    /// Count a byte string (xxh3-64 of the bytes under the fixed seed).
    #[inline]
    pub fn insert_bytes(&mut self, bytes: &[u8]) {
        self.insert_hash(xxh3_64_with_seed(bytes, SEED));
    }

    /// Count an already-mixed 64-bit hash.
    #[inline]
    pub fn insert_hash(&mut self, hash: u64) {
        if let Repr::Sparse(set) = &mut self.repr {
            if set.len() < SPARSE_LIMIT {
                set.insert(hash);
                return;
            }
            if set.contains(&hash) {
                return;
            }
            self.densify();
        }
        if let Repr::Dense(registers) = &mut self.repr {
            insert_dense(registers, hash);
        }
    }

    /// Switch to registers (no-op when already dense).
    fn densify(&mut self) {
        if let Repr::Sparse(set) = &self.repr {
            let mut registers = Box::new([0u8; M]);
            for &h in set {
                insert_dense(&mut registers, h);
            }
            self.repr = Repr::Dense(registers);
        }
    }

    /// Estimated number of distinct items (exact while sparse).
    pub fn estimate(&self) -> f64 {
        match &self.repr {
            Repr::Sparse(set) => set.len() as f64,
            Repr::Dense(registers) => estimate_dense(registers),
        }
    }

    /// The estimate rounded to the nearest integer (half away from zero).
    pub fn estimate_rounded(&self) -> u64 {
        self.estimate().round() as u64
    }

    /// Merge another sketch: the result equals a sketch fed both streams.
    pub fn merge(&mut self, other: &Self) {
        match &other.repr {
            Repr::Sparse(set) => {
                for &h in set {
                    self.insert_hash(h);
                }
            }
            Repr::Dense(theirs) => {
                self.densify();
                if let Repr::Dense(mine) = &mut self.repr {
                    for (a, &b) in mine.iter_mut().zip(theirs.iter()) {
                        *a = (*a).max(b);
                    }
                }
            }
        }
    }

    /// True while the sketch is exact (at most 2048 distinct hashes).
    pub fn is_sparse(&self) -> bool {
        matches!(self.repr, Repr::Sparse(_))
    }

    /// The HyperLogLog registers (16384, precision 14), `None` while sparse.
    pub fn registers(&self) -> Option<&[u8]> {
        match &self.repr {
            Repr::Sparse(_) => None,
            Repr::Dense(registers) => Some(&registers[..]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(range: std::ops::Range<u64>) -> Cardinality {
        let mut c = Cardinality::new();
        for i in range {
            c.insert(&i);
        }
        c
    }

    #[test]
    fn exact_for_small_sets() {
        for n in [0u64, 1, 3, 5, 8, 1000, 2048] {
            let mut c = Cardinality::new();
            for round in 0..3 {
                for i in 0..n {
                    c.insert(&(i * 7919 + 13));
                }
                assert!(c.is_sparse());
                assert_eq!(c.estimate(), n as f64, "n={n} round={round}");
                assert_eq!(c.estimate_rounded(), n);
            }
        }
        let mut c = Cardinality::new();
        c.insert("example.com");
        c.insert("example.com");
        c.insert_bytes(b"example.com");
        c.insert_bytes(b"example.com");
        assert_eq!(c.estimate_rounded(), 2);
        assert!(c.registers().is_none());
    }

    #[test]
    fn switches_to_dense_after_limit() {
        let mut c = fed(0..2048);
        assert!(c.is_sparse());
        c.insert(&5u64); // duplicate: stays sparse
        assert!(c.is_sparse());
        c.insert(&2048u64);
        assert!(!c.is_sparse());
        assert_eq!(c.registers().map(<[u8]>::len), Some(M));
        let e = c.estimate();
        assert!((e - 2049.0).abs() / 2049.0 < 0.02, "{e}");
    }

    #[test]
    fn within_two_percent() {
        let base = 0x5151_0000_0000u64;
        let mut c = Cardinality::new();
        let mut inserted = 0u64;
        for n in [1_000u64, 10_000, 100_000, 1_000_000] {
            for i in inserted..n {
                c.insert(&(base + i));
            }
            inserted = n;
            // Duplicates do not move the estimate.
            let before = c.estimate();
            for i in 0..100 {
                c.insert(&(base + i));
            }
            assert_eq!(c.estimate(), before);
            let rel = (before - n as f64).abs() / n as f64;
            assert!(rel < 0.02, "n={n}: estimate {before} rel err {rel}");
        }
    }

    #[test]
    fn merge_of_parts_equals_whole() {
        let whole = fed(0..100_000);
        let mut merged = Cardinality::new();
        for p in 0..4u64 {
            merged.merge(&fed(p * 25_000..(p + 1) * 25_000));
        }
        assert_eq!(merged.registers(), whole.registers());
        assert!(merged.registers().is_some());
        assert_eq!(merged.estimate(), whole.estimate());
        // Overlapping parts too.
        let mut overlapping = fed(0..60_000);
        overlapping.merge(&fed(40_000..100_000));
        assert_eq!(overlapping.registers(), whole.registers());
    }

    #[test]
    fn merge_mode_combinations() {
        // sparse + sparse staying sparse: exact union.
        let mut a = fed(0..1000);
        a.merge(&fed(500..1500));
        assert!(a.is_sparse());
        assert_eq!(a.estimate_rounded(), 1500);

        // sparse + sparse overflowing: same registers as the whole.
        let mut b = fed(0..1500);
        b.merge(&fed(1000..3000));
        assert!(!b.is_sparse());
        assert_eq!(b.registers(), fed(0..3000).registers());

        // sparse + dense and dense + sparse.
        let mut c = fed(0..100);
        c.merge(&fed(100..20_000));
        assert_eq!(c.registers(), fed(0..20_000).registers());
        let mut d = fed(100..20_000);
        d.merge(&fed(0..100));
        assert_eq!(d.registers(), fed(0..20_000).registers());

        // dense + dense.
        let mut e = fed(0..10_000);
        e.merge(&fed(10_000..20_000));
        assert_eq!(e.registers(), fed(0..20_000).registers());
        assert_eq!(e.estimate(), fed(0..20_000).estimate());

        // Merging empties changes nothing.
        let mut f = fed(0..10);
        f.merge(&Cardinality::new());
        assert_eq!(f.estimate_rounded(), 10);
        let mut g = Cardinality::new();
        g.merge(&Cardinality::new());
        assert_eq!(g.estimate(), 0.0);
    }

    #[test]
    fn item_hasher_equals_one_shot_xxh3() {
        let data: Vec<u8> = (0..700u32).map(|i| (i * 31 % 251) as u8).collect();
        for len in (0..700).step_by(7).chain([127, 128, 129, 240, 241]) {
            let bytes = &data[..len];
            let expected = xxh3_64_with_seed(bytes, SEED);
            for chunk in [1usize, 5, 64, 1000] {
                let mut h = ItemHasher::new();
                for part in bytes.chunks(chunk) {
                    h.write(part);
                }
                assert_eq!(h.finish(), expected, "len {len} chunk {chunk}");
            }
        }
        // insert() hashes the Hash output, so equal items in separate sketches agree.
        let long = "x".repeat(1000);
        let mut a = Cardinality::new();
        a.insert(long.as_str());
        let mut b = Cardinality::new();
        b.insert(long.as_str());
        b.insert("short");
        a.merge(&b);
        assert_eq!(a.estimate_rounded(), 2);
    }

    #[test]
    fn rank_is_capped() {
        assert_eq!(index_and_rank(0), (0, Q as u8 + 1));
        assert_eq!(index_and_rank(u64::MAX), (M - 1, 1));
        assert_eq!(index_and_rank(1), (0, Q as u8));
        assert_eq!(index_and_rank(1 << Q), (1, Q as u8 + 1));
        // Extreme registers give finite, sane estimates.
        let mut regs = Box::new([0u8; M]);
        assert_eq!(estimate_dense(&regs), 0.0);
        regs.fill(Q as u8 + 1);
        assert!(estimate_dense(&regs) > 1e15); // saturated: no finite estimate, no panic
        regs.fill(20);
        assert!(estimate_dense(&regs).is_finite());
        assert!(sigma(0.5) > 0.5 && sigma(1.0).is_infinite());
        assert_eq!(tau(0.0), 0.0);
        assert_eq!(tau(1.0), 0.0);
    }
}
