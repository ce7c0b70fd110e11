//! The bucket of the v2 handlers (net and dns): metrics per direction (`in`, `out`,
//! `unknown`), each created once something was counted in it, plus the filtered count
//! (filtered events have no direction). It merges, rotates and is walked the same way for
//! both: the root metrics, then each direction under its scope (a JSON key, a `direction`
//! label and a `pktvisor.direction` attribute).

use crate::config::hostspec::Direction;
use crate::metric::otel::key::DIRECTION;
use crate::metric::{Desc, MetricSink, Scope};
use crate::processor::snapshot::{Emit, EmitCtx};
use crate::window::{Bucket, BucketMetrics};

/// Index of direction `in`: toward the host (for a transaction: the host answered).
pub const IN: usize = 0;
/// Index of direction `out`: from the host (for a transaction: the host asked).
pub const OUT: usize = 1;
/// Index of direction `unknown`.
pub const UNKNOWN: usize = 2;
/// The directions' names, by index.
pub const NAMES: [&str; 3] = ["in", "out", "unknown"];

/// The index of a packet's host direction.
pub fn index(d: Direction) -> usize {
    match d {
        Direction::ToHost => IN,
        Direction::FromHost => OUT,
        Direction::Unknown => UNKNOWN,
    }
}

/// What a v2 handler emits before its directions.
pub struct Root {
    /// The handler's JSON key.
    pub schema_key: &'static str,
    /// Events before filtering, per second.
    pub observed_pps: Desc,
    /// Events before filtering.
    pub observed: Desc,
    /// Deep-sampled events.
    pub deep: Desc,
    /// Filtered events.
    pub filtered: Desc,
    /// The group that shows `filtered`.
    pub counters_group: usize,
}

/// The metrics of one direction of a v2 handler.
pub trait DirectionEmit: BucketMetrics + Sync {
    /// What the handler emits before its directions.
    const ROOT: Root;
    /// Walks the direction's metrics under its scope.
    fn emit(&self, ctx: &EmitCtx, sink: &mut dyn MetricSink, scope: &Scope<'_>);
}

/// One bucket of a v2 handler.
#[derive(Clone, Debug, Default)]
pub struct PerDirection<M> {
    dirs: [Option<Box<M>>; 3],
    /// Events that did not pass the handler's filters.
    pub filtered: u64,
}

impl<M: BucketMetrics> PerDirection<M> {
    /// Direction `i`'s metrics, created if absent.
    pub fn get_mut(&mut self, i: usize) -> &mut M {
        self.dirs[i].get_or_insert_with(Box::default)
    }

    /// Direction `i`'s metrics, if any.
    pub fn get(&self, i: usize) -> Option<&M> {
        self.dirs[i].as_deref()
    }
}

impl<M: BucketMetrics> BucketMetrics for PerDirection<M> {
    fn merge(&mut self, o: &Self) {
        for (mine, theirs) in self.dirs.iter_mut().zip(o.dirs.iter()) {
            if let Some(t) = theirs {
                mine.get_or_insert_with(Box::default).merge(t);
            }
        }
        self.filtered += o.filtered;
    }

    fn tick(&mut self, sec: i64) {
        for m in self.dirs.iter_mut().flatten() {
            m.tick(sec);
        }
    }

    fn close(&mut self) {
        for m in self.dirs.iter_mut().flatten() {
            m.close();
        }
    }
}

impl<M: DirectionEmit> Emit for PerDirection<M> {
    const SCHEMA_KEY: &'static str = M::ROOT.schema_key;

    fn emit(b: &Bucket<Self>, ctx: &EmitCtx, sink: &mut dyn MetricSink) {
        let (root, r) = (&M::ROOT, Scope::ROOT);
        ctx.rate(sink, &root.observed_pps, &r, &b.base.event_rate);
        sink.counter(&root.observed, &r, b.base.events);
        sink.counter(&root.deep, &r, b.base.deep_samples);
        if ctx.on(root.counters_group) {
            sink.counter(&root.filtered, &r, b.metrics.filtered);
        }
        for (i, m) in b.metrics.dirs.iter().enumerate() {
            let Some(m) = m else { continue };
            let json = [NAMES[i]];
            let labels = [("direction", NAMES[i])];
            let attrs = [(DIRECTION, NAMES[i])];
            let scope = Scope {
                json: &json,
                labels: &labels,
                attrs: &attrs,
            };
            m.emit(ctx, sink, &scope);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packets counted in one direction.
    #[derive(Clone, Debug, Default)]
    struct Packets {
        n: u64,
    }

    impl BucketMetrics for Packets {
        fn merge(&mut self, o: &Self) {
            self.n += o.n;
        }
    }

    #[test]
    fn directions_exist_once_used_and_merge_with_the_filtered_count() {
        let mut a: PerDirection<Packets> = PerDirection::default();
        a.get_mut(index(Direction::FromHost)).n += 2;
        a.filtered = 1;
        let mut b: PerDirection<Packets> = PerDirection::default();
        b.get_mut(UNKNOWN).n += 5;
        b.get_mut(OUT).n += 1;
        b.filtered = 3;
        a.merge(&b);
        assert!(a.get(IN).is_none(), "no packet in, no direction object");
        assert_eq!(a.get(OUT).map(|c| c.n), Some(3));
        assert_eq!(a.get(UNKNOWN).map(|c| c.n), Some(5));
        assert_eq!(a.filtered, 4);
    }
}
