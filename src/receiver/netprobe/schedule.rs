//! The netprobe scheduler: one timer heap for every test, packet and timeout of an input,
//! on the monotonic clock.
//!
//! Tests do not drift: a target's k-th test is due at `first + k × interval`, computed
//! from its previous due time and never from when the loop happened to wake up, so wake-up
//! latency is never added up (over hours the interval is exact to the monotonic clock).
//! Targets start spread evenly over the first interval (target i of n at `i/n` of it), so
//! a thousand targets at 1 s send one probe a millisecond instead of a burst a second. A
//! loop that fell more than an interval behind (a suspended machine) skips the tests it
//! missed and counts them instead of sending them in a burst.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// When target `index` of `count` runs its first test.
pub fn first_due(start: Instant, interval: Duration, index: usize, count: usize) -> Instant {
    let count = count.max(1) as u128;
    let offset = interval.as_nanos() * index as u128 / count;
    start + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX))
}

/// The test after the one due at `due`, given the time `now` it ran: the next point of
/// the grid after `now`, and how many grid points were skipped to get there.
pub fn next_due(due: Instant, interval: Duration, now: Instant) -> (Instant, u64) {
    let mut next = due + interval;
    if next > now || interval.is_zero() {
        return (next, 0);
    }
    let behind = now.duration_since(next).as_nanos() / interval.as_nanos();
    let skipped = u64::try_from(behind).unwrap_or(u64::MAX).saturating_add(1);
    next += interval.saturating_mul(u32::try_from(skipped).unwrap_or(u32::MAX));
    (next, skipped)
}

/// One timed job.
#[derive(Debug)]
struct Timer<J> {
    at: Instant,
    order: u64,
    job: J,
}

impl<J> PartialEq for Timer<J> {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.order == o.order
    }
}

impl<J> Eq for Timer<J> {}

impl<J> PartialOrd for Timer<J> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl<J> Ord for Timer<J> {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.at, self.order).cmp(&(o.at, o.order))
    }
}

/// Jobs by due time (equal times in insertion order).
#[derive(Debug)]
pub struct Timers<J> {
    heap: BinaryHeap<Reverse<Timer<J>>>,
    order: u64,
}

impl<J> Default for Timers<J> {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            order: 0,
        }
    }
}

impl<J> Timers<J> {
    /// Adds `job` due at `at`.
    pub fn push(&mut self, at: Instant, job: J) {
        self.order = self.order.wrapping_add(1);
        self.heap.push(Reverse(Timer {
            at,
            order: self.order,
            job,
        }));
    }

    /// When the next job is due.
    pub fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(t)| t.at)
    }

    /// The next job if it is due by `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, J)> {
        if self.next_at()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(t)| (t.at, t.job))
    }

    /// Jobs waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no job waits.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_hours_of_late_wakeups_do_not_drift() {
        let start = Instant::now();
        let interval = Duration::from_millis(1000);
        let mut due = first_due(start, interval, 3, 4);
        assert_eq!(due - start, Duration::from_millis(750));
        // Every wake-up is up to 40 ms late (a busy machine); 36,000 tests later the
        // grid is still exact.
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for k in 1..=36_000u32 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let now = due + Duration::from_micros(rng % 40_000);
            let (next, skipped) = next_due(due, interval, now);
            assert_eq!(skipped, 0);
            assert_eq!(
                next - start,
                Duration::from_millis(750) + interval * k,
                "test {k}"
            );
            due = next;
        }
    }

    #[test]
    fn a_loop_that_fell_behind_skips_missed_tests() {
        let start = Instant::now();
        let interval = Duration::from_millis(100);
        let (next, skipped) = next_due(start, interval, start + Duration::from_millis(350));
        assert_eq!(skipped, 3);
        assert_eq!(next - start, Duration::from_millis(400));
        let (next, skipped) = next_due(start, interval, start + Duration::from_millis(100));
        assert_eq!((next - start, skipped), (Duration::from_millis(200), 1));
    }

    #[test]
    fn timers_pop_in_time_then_insertion_order() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.push(t0 + Duration::from_millis(5), "b");
        t.push(t0 + Duration::from_millis(1), "a");
        t.push(t0 + Duration::from_millis(5), "c");
        assert_eq!(t.pop_due(t0), None);
        let now = t0 + Duration::from_millis(10);
        let got: Vec<&str> = std::iter::from_fn(|| t.pop_due(now).map(|(_, j)| j)).collect();
        assert_eq!(got, ["a", "b", "c"]);
        assert!(t.is_empty());
    }
}
