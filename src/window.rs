//! Time windows: a ring of 60-second buckets per processor, rotation, reads and merges.
//!
//! Index 0 is the live bucket, 1 the most recent complete one, and so on; at most
//! `num_periods` (1–10) are kept. The clock is the event timestamp: packet time for
//! recorded streams, the wall clock (through ticks) for live ones. A shift happens when an
//! event's second reaches `next_shift`; the new bucket starts at that event and the old one
//! becomes read-only, ending there. With one period the bucket never shifts (the reader's
//! whole-file summary). Reads follow pktvisor: `bucket(N)` one bucket, `merged(N)` the
//! newest N merged, with pktvisor's period error messages.

use std::collections::VecDeque;

use crate::config::value::{ConfigError, ConfigMap};
use crate::sketch::Rate;
use crate::time::Timespec;

/// Length of one bucket in seconds.
pub const PERIOD_SECS: i64 = 60;

/// What a bucket's metrics must support.
pub trait BucketMetrics: Default + Clone + Send + 'static {
    /// Adds another bucket's metrics into this one.
    fn merge(&mut self, other: &Self);
    /// Advances time-driven metrics (rates) to second `sec` without events.
    fn tick(&mut self, _sec: i64) {}
    /// Closes the open second of every rate (bucket read-only, or end of a recorded stream).
    fn close(&mut self) {}
}

/// Counters every processor keeps per bucket (names differ per processor).
#[derive(Clone, Debug, Default)]
pub struct BaseMetrics {
    /// Events seen, filtered or not.
    pub events: u64,
    /// Events sampled for deep inspection.
    pub deep_samples: u64,
    /// Events per second.
    pub event_rate: Rate,
}

impl BaseMetrics {
    fn merge(&mut self, other: &BaseMetrics) {
        self.events += other.events;
        self.deep_samples += other.deep_samples;
        self.event_rate.merge(&other.event_rate);
    }
}

/// One period of metrics.
#[derive(Clone, Debug, Default)]
pub struct Bucket<B> {
    /// First event (or shift) time.
    pub start: Timespec,
    /// Last event time (recorded streams) or the shift that closed the bucket.
    pub end: Timespec,
    /// Whether the bucket is complete.
    pub read_only: bool,
    /// Events, deep samples, event rate.
    pub base: BaseMetrics,
    /// The processor's metrics.
    pub metrics: B,
}

/// A bucket read error, with pktvisor's messages.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// `bucket/N` with N outside `[0, num_periods-1]`.
    #[error("invalid metrics period, specify [0, {0}]")]
    SingleOutOfRange(usize),
    /// `bucket/N` with N beyond the buckets accumulated so far.
    #[error("requested metrics period has not yet accumulated, current range is [0, {0}]")]
    NotAccumulated(usize),
    /// `window/N` with N outside `[2, num_periods]`.
    #[error("invalid metrics period, specify [2, {0}]")]
    MergedOutOfRange(usize),
}

/// Window settings read from a handler config (pktvisor's window config keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowSettings {
    /// Buckets kept, 1–10.
    pub num_periods: usize,
    /// Percentage of events sampled for deep inspection, 1–100.
    pub deep_sample_rate: u64,
    /// Items per top-N list.
    pub topn_count: usize,
    /// Top-N percentile threshold, 0–100.
    pub topn_percentile_threshold: u64,
    /// Recorded stream: packet-time lengths, no live rates.
    pub recorded: bool,
}

impl Default for WindowSettings {
    fn default() -> Self {
        WindowSettings {
            num_periods: 5,
            deep_sample_rate: 100,
            topn_count: 10,
            topn_percentile_threshold: 0,
            recorded: false,
        }
    }
}

/// A settings error.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SettingsError {
    /// A key has the wrong type.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `topn_percentile_threshold` above 100 (pktvisor prints the value divided by 100).
    #[error("threshold must be between 0 and 100 but has value {0:.6}")]
    Threshold(f64),
}

impl WindowSettings {
    /// Reads and clamps the window keys of a handler config.
    pub fn from_config(cfg: &ConfigMap) -> Result<WindowSettings, SettingsError> {
        let d = WindowSettings::default();
        let num_periods = cfg
            .get_u64("num_periods")?
            .map_or(d.num_periods, |v| v.clamp(1, 10) as usize);
        let deep_sample_rate = cfg
            .get_u64("deep_sample_rate")?
            .map_or(d.deep_sample_rate, |v| v.clamp(1, 100));
        let topn_count = cfg
            .get_u64("topn_count")?
            .map_or(d.topn_count, |v| usize::try_from(v).unwrap_or(usize::MAX));
        let topn_percentile_threshold = cfg.get_u64("topn_percentile_threshold")?.unwrap_or(0);
        if topn_percentile_threshold > 100 {
            return Err(SettingsError::Threshold(
                topn_percentile_threshold as f64 / 100.0,
            ));
        }
        Ok(WindowSettings {
            num_periods,
            deep_sample_rate,
            topn_count,
            topn_percentile_threshold,
            recorded: cfg.contains("recorded_stream"),
        })
    }
}

/// pktvisor's deep-sampling coin: a fixed-seed SplitMix64.
#[derive(Clone, Debug)]
pub struct DeepSampler {
    rate: u64,
    state: u64,
    /// The last coin: an event that does not roll (a filtered one) reuses it.
    last: bool,
}

impl DeepSampler {
    /// A sampler keeping `rate` percent of events.
    pub fn new(rate: u64) -> Self {
        DeepSampler {
            rate,
            state: 0x9e37_79b9_7f4a_7c15,
            last: true,
        }
    }

    /// Whether the next event is deep-sampled.
    pub fn roll(&mut self) -> bool {
        if self.rate >= 100 {
            return true;
        }
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        self.last = z % 100 < self.rate;
        self.last
    }

    /// The last coin rolled (true before the first).
    pub fn last(&self) -> bool {
        self.last
    }
}

/// The bucket ring of one processor.
#[derive(Clone, Debug)]
pub struct Window<B> {
    buckets: VecDeque<Bucket<B>>,
    settings: WindowSettings,
    next_shift: i64,
    started: bool,
    sampler: DeepSampler,
}

impl<B: BucketMetrics> Window<B> {
    /// An empty window; it starts at its first event (recorded) or at `start_live` (live).
    pub fn new(settings: WindowSettings) -> Self {
        let mut buckets = VecDeque::with_capacity(settings.num_periods + 1);
        buckets.push_front(Bucket::default());
        Window {
            buckets,
            sampler: DeepSampler::new(settings.deep_sample_rate),
            settings,
            next_shift: i64::MAX,
            started: false,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &WindowSettings {
        &self.settings
    }

    /// Starts the first bucket at `ts` (the stream's start) if nothing started it yet.
    pub fn start_at(&mut self, ts: Timespec) {
        if !self.started {
            self.started = true;
            if let Some(b) = self.buckets.front_mut() {
                b.start = ts;
                b.end = ts;
            }
            self.next_shift = ts.sec.saturating_add(PERIOD_SECS);
        }
    }

    /// Moves the clock to `ts`: starts, shifts and stretches the live bucket. Returns true
    /// when a new bucket was started (the processor may want to react, e.g. purge state).
    pub fn observe(&mut self, ts: Timespec) -> bool {
        if !self.started {
            self.start_at(ts);
            return false;
        }
        let mut shifted = false;
        if self.settings.num_periods > 1 && ts.sec >= self.next_shift {
            self.shift(ts);
            shifted = true;
        }
        if let Some(b) = self.buckets.front_mut()
            && ts > b.end
        {
            b.end = ts;
        }
        shifted
    }

    fn shift(&mut self, ts: Timespec) {
        if let Some(old) = self.buckets.front_mut() {
            old.read_only = true;
            old.end = ts;
            old.metrics.close();
            old.base.event_rate.close();
        }
        self.buckets.push_front(Bucket {
            start: ts,
            end: ts,
            ..Bucket::default()
        });
        while self.buckets.len() > self.settings.num_periods {
            self.buckets.pop_back();
        }
        self.next_shift = ts.sec.saturating_add(PERIOD_SECS);
    }

    /// Counts one event at `ts` and returns whether it is deep-sampled. A `sample` event
    /// rolls the deep-sampling coin; a filtered one (`sample = false`) reuses the last coin.
    /// As in pktvisor, events and deep samples are counted before any filter: every event
    /// counts, and a filtered event counts as a deep sample when the last coin said so
    /// (always at a 100% rate); its handler does none of the deep work.
    pub fn new_event(&mut self, ts: Timespec, sample: bool) -> bool {
        self.observe(ts);
        let deep = if sample {
            self.sampler.roll()
        } else {
            self.sampler.last()
        };
        if let Some(b) = self.buckets.front_mut() {
            b.base.events += 1;
            b.base.event_rate.add(ts.sec, 1);
            if deep {
                b.base.deep_samples += 1;
            }
        }
        deep
    }

    /// The live bucket's metrics.
    pub fn live_mut(&mut self) -> &mut B {
        &mut self.live_bucket_mut().metrics
    }

    /// The live bucket.
    pub fn live_bucket_mut(&mut self) -> &mut Bucket<B> {
        if self.buckets.is_empty() {
            self.buckets.push_front(Bucket::default());
        }
        // Never empty: pushed above when needed.
        self.buckets.front_mut().expect("window has a live bucket")
    }

    /// A heartbeat at `now` (live streams): rotates without traffic and advances rates.
    pub fn tick(&mut self, now: Timespec) -> bool {
        let shifted = self.observe(now);
        if let Some(b) = self.buckets.front_mut() {
            b.metrics.tick(now.sec);
            b.base.event_rate.tick(now.sec);
        }
        shifted
    }

    /// End of a recorded stream: closes the live bucket's open rate seconds.
    pub fn finish(&mut self) {
        if let Some(b) = self.buckets.front_mut() {
            b.metrics.close();
            b.base.event_rate.close();
        }
    }

    /// Buckets accumulated so far.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether the window has no bucket (never true after construction).
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Bucket `n` (0 = live), with pktvisor's errors.
    pub fn bucket(&self, n: usize) -> Result<&Bucket<B>, PeriodError> {
        if n >= self.settings.num_periods {
            return Err(PeriodError::SingleOutOfRange(self.settings.num_periods - 1));
        }
        self.buckets.get(n).ok_or(PeriodError::NotAccumulated(
            self.buckets.len().saturating_sub(1),
        ))
    }

    /// The newest `n` buckets merged (fewer if fewer exist), with pktvisor's errors.
    pub fn merged(&self, n: usize) -> Result<Bucket<B>, PeriodError> {
        if n < 2 || n > self.settings.num_periods {
            return Err(PeriodError::MergedOutOfRange(self.settings.num_periods));
        }
        let mut out: Bucket<B> = Bucket::default();
        let take = n.min(self.buckets.len());
        // Oldest first, so the newest bucket's live values win.
        for (i, b) in self.buckets.iter().take(take).rev().enumerate() {
            if i == 0 {
                out.start = b.start;
                out.end = b.end;
            }
            out.start = out.start.min(b.start);
            out.end = out.end.max(b.end);
            out.base.merge(&b.base);
            out.metrics.merge(&b.metrics);
        }
        out.read_only = self.buckets.front().is_none_or(|b| b.read_only);
        Ok(out)
    }

    /// Adds the window of another worker of the same stream (the same buckets, filled by
    /// other events), bucket by bucket, rates second by second (`rate::merge_shards`).
    pub fn merge_shard(&mut self, other: &Window<B>) {
        // A worker that saw nothing of the stream has nothing to add (not even a start).
        if !other.started {
            return;
        }
        if !self.started {
            *self = other.clone();
            return;
        }
        crate::sketch::rate::merge_shards(|| {
            for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets.iter()) {
                mine.start = mine.start.min(theirs.start);
                mine.end = mine.end.max(theirs.end);
                mine.read_only &= theirs.read_only;
                mine.base.merge(&theirs.base);
                mine.metrics.merge(&theirs.metrics);
            }
        });
        // A worker that rotated further (it saw the newer minute first) brings its
        // newer buckets' share: keep the longer ring.
        if other.buckets.len() > self.buckets.len() {
            for b in other.buckets.iter().skip(self.buckets.len()) {
                self.buckets.push_back(b.clone());
            }
        }
    }

    /// The length in seconds pktvisor reports for `b`: recorded or read-only buckets use their
    /// stored times, a live bucket of a live stream runs until `now`.
    pub fn period_length(&self, b: &Bucket<B>, now: Timespec) -> i64 {
        if self.settings.recorded || b.read_only {
            b.end.sec - b.start.sec
        } else {
            now.sec - b.start.sec
        }
    }

    /// The merged-window length: the sum of bucket lengths for recorded streams, else
    /// now minus the earliest start.
    pub fn merged_length(&self, n: usize, now: Timespec) -> i64 {
        let take = n.min(self.buckets.len());
        if self.settings.recorded {
            self.buckets
                .iter()
                .take(take)
                .map(|b| b.end.sec - b.start.sec)
                .sum()
        } else {
            let start = self
                .buckets
                .iter()
                .take(take)
                .map(|b| b.start.sec)
                .min()
                .unwrap_or(now.sec);
            now.sec - start
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, Default)]
    struct Count(u64);
    impl BucketMetrics for Count {
        fn merge(&mut self, o: &Self) {
            self.0 += o.0;
        }
    }

    fn ts(sec: i64) -> Timespec {
        Timespec::new(sec, 0)
    }

    fn window(num_periods: usize) -> Window<Count> {
        Window::new(WindowSettings {
            num_periods,
            recorded: true,
            ..WindowSettings::default()
        })
    }

    #[test]
    fn shifts_every_sixty_seconds_of_event_time() {
        let mut w = window(3);
        for s in [100, 130, 159, 160, 219, 220, 300] {
            w.new_event(ts(s), true);
            w.live_mut().0 += 1;
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.bucket(0).unwrap().metrics.0, 1); // 300
        assert_eq!(w.bucket(1).unwrap().metrics.0, 1); // 220
        assert_eq!(w.bucket(2).unwrap().metrics.0, 2); // 160, 219
        assert_eq!(w.bucket(2).unwrap().start, ts(160));
        assert_eq!(w.bucket(2).unwrap().end, ts(220));
        assert!(w.bucket(1).unwrap().read_only);
        let m = w.merged(3).unwrap();
        assert_eq!(m.metrics.0, 4);
        assert_eq!(m.base.events, 4);
        assert_eq!(m.start, ts(160));
    }

    #[test]
    fn one_period_never_shifts() {
        let mut w = window(1);
        w.new_event(ts(0), true);
        w.new_event(ts(10_000), true);
        assert_eq!(w.len(), 1);
        let b = w.bucket(0).unwrap();
        assert_eq!(b.base.events, 2);
        assert_eq!(w.period_length(b, ts(0)), 10_000);
    }

    #[test]
    fn period_errors_use_pktvisor_texts() {
        let w = window(5);
        assert_eq!(
            w.bucket(5).unwrap_err().to_string(),
            "invalid metrics period, specify [0, 4]"
        );
        assert_eq!(
            w.bucket(2).unwrap_err().to_string(),
            "requested metrics period has not yet accumulated, current range is [0, 0]"
        );
        assert_eq!(
            w.merged(1).unwrap_err().to_string(),
            "invalid metrics period, specify [2, 5]"
        );
        assert_eq!(
            w.merged(6).unwrap_err().to_string(),
            "invalid metrics period, specify [2, 5]"
        );
        assert!(w.merged(5).is_ok());
    }

    #[test]
    fn deep_sampling_keeps_about_the_rate() {
        let mut s = DeepSampler::new(30);
        let kept = (0..10_000).filter(|_| s.roll()).count();
        assert!((2_700..3_300).contains(&kept), "{kept}");
        let mut all = DeepSampler::new(100);
        assert!((0..100).all(|_| all.roll()));
    }

    #[test]
    fn settings_clamp_and_validate() {
        let mut c = ConfigMap::new();
        use crate::config::value::ConfigValue::U64;
        c.set("num_periods", U64(50));
        c.set("deep_sample_rate", U64(0));
        let s = WindowSettings::from_config(&c).unwrap();
        assert_eq!((s.num_periods, s.deep_sample_rate), (10, 1));
        c.set("topn_percentile_threshold", U64(150));
        assert_eq!(
            WindowSettings::from_config(&c).unwrap_err().to_string(),
            "threshold must be between 0 and 100 but has value 1.500000"
        );
    }

    #[test]
    fn filtered_events_reuse_the_last_coin() {
        let mut coins = DeepSampler::new(50);
        let rolls: Vec<bool> = (0..64).map(|_| coins.roll()).collect();
        let mut w: Window<Count> = Window::new(WindowSettings {
            num_periods: 1,
            deep_sample_rate: 50,
            recorded: true,
            ..WindowSettings::default()
        });
        let mut want = 0u64;
        let mut last = true;
        let mut n = 0;
        for i in 0..128 {
            // every other event is filtered: it counts with the previous coin
            let sample = i % 2 == 1;
            if sample {
                last = rolls[n];
                n += 1;
            }
            want += u64::from(last);
            w.new_event(ts(0), sample);
        }
        assert!(want > 0 && want < 128);
        assert_eq!(w.bucket(0).unwrap().base.deep_samples, want);
        assert_eq!(w.bucket(0).unwrap().base.events, 128);
    }
}
