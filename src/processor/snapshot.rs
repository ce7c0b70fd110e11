//! Snapshots of processor windows: a copied (or merged) bucket plus what its encoders need
//! to know (enabled groups, top-N settings, whether live rates are shown).

use std::any::Any;
use std::fmt::Display;
use std::hash::Hash;

use crate::metric::{Desc, MetricSink, Period, Scope, Snapshot, TopEntry};
use crate::processor::Select;
use crate::processor::groups::GroupSet;
use crate::sketch::{Rate, TopN};
use crate::time::Timespec;
use crate::window::{Bucket, BucketMetrics, PeriodError, Window, WindowSettings};

/// What emitting a bucket depends on besides the bucket.
#[derive(Clone, Copy, Debug)]
pub struct EmitCtx {
    /// Enabled metric groups.
    pub groups: GroupSet,
    /// Items per top list.
    pub topn_count: usize,
    /// Top-N percentile threshold.
    pub topn_threshold: u64,
    /// Whether rates show their `live` value (live bucket of a live stream).
    pub live: bool,
    /// False when every group is disabled (nothing is emitted).
    pub has_output: bool,
}

impl EmitCtx {
    /// The context of a processor with `group_count` metric groups (0 for processors
    /// without groups, which always have output).
    pub fn new(settings: &WindowSettings, groups: GroupSet, group_count: usize) -> Self {
        EmitCtx {
            groups,
            topn_count: settings.topn_count,
            topn_threshold: settings.topn_percentile_threshold,
            live: false,
            has_output: group_count == 0 || !groups.none_of(group_count),
        }
    }

    /// Emits a rate with its live value when live rates are shown.
    pub fn rate(&self, sink: &mut dyn MetricSink, d: &Desc, s: &Scope<'_>, r: &Rate) {
        sink.rate(d, s, r, self.live_of(r));
    }

    /// Whether group `i` is on.
    pub fn on(&self, i: usize) -> bool {
        self.groups.has(i)
    }

    /// A top list ready for output.
    pub fn top<K: Eq + Hash + Clone + Ord + Display>(&self, t: &TopN<K>) -> Vec<TopEntry> {
        t.top(self.topn_count, self.topn_threshold)
            .into_iter()
            .map(|e| TopEntry {
                name: e.item.to_string(),
                estimate: e.estimate,
                lat_lon: None,
            })
            .collect()
    }

    /// The live value of a rate when live rates are shown.
    pub fn live_of(&self, r: &Rate) -> Option<u64> {
        self.live.then(|| r.live())
    }
}

/// Bucket metrics that can walk themselves.
pub trait Emit: BucketMetrics + Sync {
    /// The handler's JSON key.
    const SCHEMA_KEY: &'static str;
    /// Walks every metric of `bucket` in emission order.
    fn emit(bucket: &Bucket<Self>, ctx: &EmitCtx, sink: &mut dyn MetricSink);
}

/// A snapshot of one processor type's bucket.
#[derive(Clone, Debug)]
pub struct BucketSnapshot<B> {
    bucket: Bucket<B>,
    period: Period,
    ctx: EmitCtx,
}

impl<B: Emit> Snapshot for BucketSnapshot<B> {
    fn schema_key(&self) -> &'static str {
        B::SCHEMA_KEY
    }

    fn period(&self) -> Period {
        self.period
    }

    fn has_output(&self) -> bool {
        self.ctx.has_output
    }

    fn visit(&self, sink: &mut dyn MetricSink) {
        B::emit(&self.bucket, &self.ctx, sink);
    }

    fn merge_from(&mut self, other: &dyn Snapshot) -> bool {
        let Some(o) = other.as_any().downcast_ref::<BucketSnapshot<B>>() else {
            return false;
        };
        self.bucket.base.events += o.bucket.base.events;
        self.bucket.base.deep_samples += o.bucket.base.deep_samples;
        self.bucket.base.event_rate.merge(&o.bucket.base.event_rate);
        self.bucket.metrics.merge(&o.bucket.metrics);
        self.period.start = self.period.start.min(o.period.start);
        self.period.length = self.period.length.max(o.period.length);
        true
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clone_box(&self) -> Box<dyn Snapshot> {
        Box::new(self.clone())
    }
}

/// Reads `sel` from `window` as a snapshot.
pub fn snapshot_of<B: Emit>(
    window: &Window<B>,
    sel: Select,
    now: Timespec,
    mut ctx: EmitCtx,
) -> Result<Box<dyn Snapshot>, PeriodError> {
    let recorded = window.settings().recorded;
    let (bucket, period) = match sel {
        Select::Bucket(n) => {
            let b = window.bucket(n)?;
            let length = window.period_length(b, now);
            let end = if recorded || b.read_only { b.end } else { now };
            (
                b.clone(),
                Period {
                    start: b.start,
                    end,
                    length,
                    live: !b.read_only,
                },
            )
        }
        Select::Window(n) => {
            let b = window.merged(n)?;
            let length = window.merged_length(n, now);
            let end = if recorded || b.read_only { b.end } else { now };
            let live = !b.read_only;
            let start = b.start;
            (
                b,
                Period {
                    start,
                    end,
                    length,
                    live,
                },
            )
        }
    };
    ctx.live = period.live && !recorded;
    Ok(Box::new(BucketSnapshot {
        bucket,
        period,
        ctx,
    }))
}

/// A processor's window copied out of its worker thread, so the windows of a stream's
/// workers can be merged and read as one.
pub trait ShardWindow: Send {
    /// Adds another worker's window of the same processor; false when the types differ.
    fn merge_shard(&mut self, other: &dyn ShardWindow) -> bool;
    /// A snapshot of the (merged) window.
    fn snapshot(&self, sel: Select, now: Timespec) -> Result<Box<dyn Snapshot>, PeriodError>;
    /// For downcasting in `merge_shard`.
    fn as_any(&self) -> &dyn Any;
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn ShardWindow>;
}

/// A copied window and how its buckets are emitted.
#[derive(Clone)]
pub struct WindowCopy<B> {
    window: Window<B>,
    ctx: EmitCtx,
}

impl<B: Emit> ShardWindow for WindowCopy<B> {
    fn merge_shard(&mut self, other: &dyn ShardWindow) -> bool {
        let Some(o) = other.as_any().downcast_ref::<WindowCopy<B>>() else {
            return false;
        };
        self.window.merge_shard(&o.window);
        true
    }

    fn snapshot(&self, sel: Select, now: Timespec) -> Result<Box<dyn Snapshot>, PeriodError> {
        snapshot_of(&self.window, sel, now, self.ctx)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clone_box(&self) -> Box<dyn ShardWindow> {
        Box::new(self.clone())
    }
}

/// A copy of `window` for merging with the stream's other workers.
pub fn shard_window_of<B: Emit>(window: &Window<B>, ctx: EmitCtx) -> Box<dyn ShardWindow> {
    into_shard_window(window.clone(), ctx)
}

/// `window` itself for merging with the stream's other workers (a finished stream).
pub fn into_shard_window<B: Emit>(window: Window<B>, ctx: EmitCtx) -> Box<dyn ShardWindow> {
    Box::new(WindowCopy { window, ctx })
}
