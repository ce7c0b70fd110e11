//! Timestamps: the one time type every event, bucket and period carries.
//!
//! A `Timespec` is seconds and nanoseconds since the Unix epoch. Recorded streams use
//! packet time; live streams use the wall clock. Both are the same type, so every clock
//! decision lives in the window code and not in the type.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timespec {
    /// Whole seconds since the epoch.
    pub sec: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub nsec: u32,
}

impl Timespec {
    /// A timestamp from seconds and nanoseconds; nanoseconds beyond one second carry over.
    pub fn new(sec: i64, nsec: u32) -> Self {
        Timespec {
            sec: sec + i64::from(nsec / 1_000_000_000),
            nsec: nsec % 1_000_000_000,
        }
    }

    /// The wall clock now.
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timespec {
            sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nsec: d.subsec_nanos(),
        }
    }

    /// Nanoseconds since the epoch (saturating).
    pub fn as_nanos(&self) -> i128 {
        i128::from(self.sec) * 1_000_000_000 + i128::from(self.nsec)
    }

    /// Microseconds elapsed from `earlier` to `self`, negative if `earlier` is later.
    pub fn micros_since(&self, earlier: Timespec) -> i64 {
        let d = self.as_nanos() - earlier.as_nanos();
        i64::try_from(d / 1_000).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
    }

    /// `self` moved forward by whole seconds.
    pub fn plus_secs(&self, secs: i64) -> Self {
        Timespec {
            sec: self.sec.saturating_add(secs),
            nsec: self.nsec,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_nanoseconds_and_measures_micros() {
        let t = Timespec::new(10, 1_500_000_000);
        assert_eq!(
            t,
            Timespec {
                sec: 11,
                nsec: 500_000_000
            }
        );
        let u = Timespec::new(12, 0);
        assert_eq!(u.micros_since(t), 500_000);
        assert_eq!(t.micros_since(u), -500_000);
        assert_eq!(t.plus_secs(60).sec, 71);
    }
}
