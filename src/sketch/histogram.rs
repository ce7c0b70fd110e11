//! pktvisor's log-bound histogram, rendered from a [`Distribution`].
//!
//! This file owns the fixed boundary lists (for exponent e in [-9, 18) and
//! step b in [0, 18): `10^(b/18) * 10^e`, truncated to the target type,
//! consecutive duplicates removed) and the conversion of a distribution's
//! buckets into cumulative counts at those bounds.

use std::sync::OnceLock;

use super::Distribution;

/// The raw boundary values before conversion: 27 decades of 18 steps each.
fn raw_bounds() -> impl Iterator<Item = f64> {
    (-9i32..18).flat_map(|e| (0..18).map(move |b| 10f64.powf(f64::from(b) / 18.0) * 10f64.powi(e)))
}

/// pktvisor's histogram bounds for integer metrics (truncated, de-duplicated):
/// 0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 14, … up to ≈8.8e17. Computed once.
pub fn bounds_u64() -> &'static [u64] {
    static BOUNDS: OnceLock<Vec<u64>> = OnceLock::new();
    BOUNDS.get_or_init(|| {
        let mut v: Vec<u64> = raw_bounds().map(|x| x as u64).collect();
        v.dedup();
        v
    })
}

/// pktvisor's histogram bounds for floating point metrics (no truncation):
/// 1e-9, 1.136e-9, … up to ≈8.8e17. Computed once.
pub fn bounds_f64() -> &'static [f64] {
    static BOUNDS: OnceLock<Vec<f64>> = OnceLock::new();
    BOUNDS.get_or_init(|| {
        let mut v: Vec<f64> = raw_bounds().collect();
        v.dedup();
        v
    })
}

/// Attribute each `(value, count)` to the bin of the first bound `>= value`
/// and return cumulative counts at every bound whose bin holds mass. Values
/// above the last bound only count towards "+Inf" (not emitted). `values`
/// must be in ascending order.
fn cumulate<B: Copy>(
    bounds: &[B],
    as_f64: impl Fn(B) -> f64,
    values: impl Iterator<Item = (f64, u64)>,
) -> Vec<(B, f64)> {
    let mut out: Vec<(B, f64)> = Vec::new();
    let mut cumulative = 0f64;
    let mut current: Option<usize> = None;
    let mut search_from = 0usize;
    for (value, count) in values {
        let rest = bounds.get(search_from..).unwrap_or(&[]);
        let bin = search_from + rest.partition_point(|&b| as_f64(b) < value);
        search_from = bin;
        if bin >= bounds.len() {
            break; // beyond the last bound: +Inf only
        }
        if let Some(prev) = current
            && prev != bin
            && let Some(&b) = bounds.get(prev)
        {
            out.push((b, cumulative));
        }
        current = Some(bin);
        cumulative += count as f64;
    }
    if let Some(prev) = current
        && let Some(&b) = bounds.get(prev)
    {
        out.push((b, cumulative));
    }
    out
}

/// Cumulative counts at each bound (of [`bounds_u64`]) whose bin holds mass
/// (bin of bound k = (bound[k-1], bound[k]], first bin = (-inf, bound[0]]), in
/// bound order; nothing for +Inf (the caller writes "+Inf" = count). Each
/// Distribution bucket's mass is attributed to the bin holding its
/// representative value (log-midpoint clamped to [min,max]; rounded to the
/// nearest integer when `integer_valued`).
pub fn cumulative_u64(d: &Distribution, integer_valued: bool) -> Vec<(u64, f64)> {
    let values = d.weighted_values().map(move |(v, c)| {
        let v = if integer_valued { v.round() } else { v };
        (v, c)
    });
    cumulate(bounds_u64(), |b| b as f64, values)
}

/// Cumulative counts at each bound (of [`bounds_f64`]) whose bin holds mass
/// (bin of bound k = (bound[k-1], bound[k]], first bin = (-inf, bound[0]]), in
/// bound order; nothing for +Inf. Each Distribution bucket's mass is
/// attributed to the bin holding its representative value (log-midpoint
/// clamped to [min,max]).
pub fn cumulative_f64(d: &Distribution) -> Vec<(f64, f64)> {
    cumulate(bounds_f64(), |b| b, d.weighted_values())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_u64_bounds() {
        let expected: [u64; 28] = [
            0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 14, 16, 18, 21, 24, 27, 31, 35, 40, 46, 52, 59,
            68, 77, 87, 100,
        ];
        let b = bounds_u64();
        assert_eq!(&b[..expected.len()], &expected);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        let last = *b.last().unwrap();
        assert!((8.7e17..8.9e17).contains(&(last as f64)), "{last}");
        // 9 decades truncate to 0 and the first decade has duplicates: 486 raw → 315.
        assert_eq!(b.len(), 315);
    }

    #[test]
    fn f64_bounds() {
        let b = bounds_f64();
        assert_eq!(b.len(), 486);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        assert!((b[0] - 1e-9).abs() < 1e-20);
        // 10^(2/18) * 10 = 12.915496650148839
        let twelve = b.iter().find(|&&x| x > 12.0 && x < 13.0).copied().unwrap();
        assert!((twelve - 12.915_496_650_148_84).abs() < 1e-9, "{twelve}");
        assert!((b[485] - 10f64.powf(17.0 / 18.0) * 1e17).abs() < 1e3);
    }

    #[test]
    fn integers_land_on_their_bounds() {
        let mut d = Distribution::new();
        for v in [12u64, 12, 12, 8] {
            d.record_u64(v);
        }
        assert_eq!(cumulative_u64(&d, true), vec![(8, 1.0), (12, 4.0)]);
        assert_eq!(cumulative_u64(&d, false), vec![(8, 1.0), (12, 4.0)]);
    }

    #[test]
    fn bins_are_upper_inclusive_and_cumulative() {
        let mut d = Distribution::new();
        // 9 goes to bin (8, 10]; 13 to (12, 14]; 0 to the first bin; 1e19 only to +Inf.
        for v in [0u64, 9, 9, 13, 100, 1_000_000, 10_000_000_000_000_000_000] {
            d.record_u64(v);
        }
        let c = cumulative_u64(&d, true);
        assert_eq!(c[0], (0, 1.0));
        assert_eq!(c[1], (10, 3.0));
        assert_eq!(c[2], (14, 4.0));
        assert_eq!(c[3], (100, 5.0));
        let (b, n) = c[4];
        assert_eq!(n, 6.0);
        assert!((1_000_000..1_200_000).contains(&b), "{b}");
        assert_eq!(c.len(), 5);
        assert!(c.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
        assert_eq!(cumulative_u64(&Distribution::new(), true), vec![]);
    }

    #[test]
    fn f64_cumulative_covers_negatives_and_small_values() {
        let mut d = Distribution::new();
        for v in [-2.0, 1e-12, 0.5, 0.5, 3.0] {
            d.record(v);
        }
        let c = cumulative_f64(&d);
        let bounds = bounds_f64();
        // -2 and 1e-12 both fall in the first bin (-inf, 1e-9].
        assert_eq!(c[0], (bounds[0], 2.0));
        let (b1, n1) = c[1];
        assert_eq!(n1, 4.0);
        assert!((0.5..0.6).contains(&b1), "{b1}");
        let (b2, n2) = c[2];
        assert_eq!(n2, 5.0);
        assert!((3.0..3.6).contains(&b2), "{b2}");
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn total_mass_matches_count_below_last_bound() {
        let mut d = Distribution::new();
        let mut x = 1u64;
        for i in 0..5000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            d.record_u64((x >> 33) % (1 + i * 37));
        }
        let c = cumulative_u64(&d, true);
        assert_eq!(c.last().map(|&(_, n)| n), Some(d.count() as f64));
        let f = cumulative_f64(&d);
        assert_eq!(f.last().map(|&(_, n)| n), Some(d.count() as f64));
    }
}
