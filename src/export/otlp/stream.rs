//! `OtlpEncoder`: the stateful encoder the agent calls every export interval.
//!
//! This file owns the mapping from 60-second buckets to OTLP time series. Each handler's
//! completed (read-only) buckets are taken once, in start order:
//!
//! - **cumulative** (default): the completed buckets are merged into a running total per
//!   handler whose start time is the first bucket's start; every call exports that total
//!   plus the live bucket, with time = the newest bucket's end. Counters stay monotonic
//!   across bucket rotation, since the live bucket becomes part of the total when it closes.
//! - **delta**: every newly completed bucket is exported once with start = bucket start and
//!   time = bucket end; the live bucket is not exported until it completes (or on the final
//!   call, `flush_live`), so delta points arrive once a minute whatever the interval.
//!
//! The agent must call at least once per `num_periods` minutes, or buckets that left the
//! window in between are missed.

use std::collections::HashMap;

use opentelemetry_proto::tonic::resource::v1::Resource;

use super::encode::{EncodeOptions, ExportBatch, RequestBuilder, SnapshotRef, Temporality};
use crate::metric::Snapshot;
use crate::processor::{Processor, Select};
use crate::time::Timespec;

/// What the agent read from one handler this interval.
pub struct HandlerReading {
    /// Policy name.
    pub policy: String,
    /// Tap name.
    pub tap: String,
    /// Handler instance name.
    pub handler: String,
    /// Its read-only buckets, any order.
    pub completed: Vec<Box<dyn Snapshot>>,
    /// Its live bucket.
    pub live: Option<Box<dyn Snapshot>>,
}

impl HandlerReading {
    /// Reads every bucket of a processor (`Bucket(0)` live, the rest completed).
    pub fn from_processor(
        policy: &str,
        tap: &str,
        handler: &str,
        p: &dyn Processor,
        now: Timespec,
    ) -> Self {
        let mut completed = Vec::new();
        let mut live = None;
        for n in 0..64usize {
            let Ok(s) = p.snapshot(Select::Bucket(n), now) else {
                break;
            };
            if s.period().live {
                live = Some(s);
            } else {
                completed.push(s);
            }
        }
        HandlerReading {
            policy: policy.to_string(),
            tap: tap.to_string(),
            handler: handler.to_string(),
            completed,
            live,
        }
    }
}

struct Series {
    total: Option<Box<dyn Snapshot>>,
    origin: Timespec,
    last_end: Timespec,
    last_start: Option<Timespec>,
}

/// Stateful encoder of bucket readings into requests (see the module doc).
pub struct OtlpEncoder {
    opts: EncodeOptions,
    resource: Resource,
    series: HashMap<(String, String), Series>,
}

impl OtlpEncoder {
    /// An encoder with no history.
    pub fn new(opts: EncodeOptions, resource: Resource) -> Self {
        OtlpEncoder {
            opts,
            resource,
            series: HashMap::new(),
        }
    }

    /// The options in use.
    pub fn options(&self) -> &EncodeOptions {
        &self.opts
    }

    /// Encodes one interval. `flush_live` treats live buckets as completed (end of a
    /// recorded stream, shutdown). `None` when there is nothing to send.
    pub fn encode(
        &mut self,
        readings: Vec<HandlerReading>,
        flush_live: bool,
    ) -> Option<ExportBatch> {
        let mut b = RequestBuilder::new(self.opts.clone());
        for r in readings {
            let key = (r.policy.clone(), r.handler.clone());
            let mut fresh: Vec<Box<dyn Snapshot>> = r.completed;
            let mut live = r.live;
            if flush_live && let Some(l) = live.take() {
                fresh.push(l);
            }
            fresh.sort_by_key(|s| s.period().start);
            let series = self.series.entry(key).or_insert_with(|| Series {
                total: None,
                origin: fresh
                    .first()
                    .or(live.as_ref())
                    .map(|s| s.period().start)
                    .unwrap_or_default(),
                last_end: Timespec::default(),
                last_start: None,
            });
            fresh.retain(|s| series.last_start.is_none_or(|l| s.period().start > l));
            if let Some(s) = fresh.last() {
                series.last_start = Some(s.period().start);
            }
            match self.opts.temporality {
                Temporality::Delta => {
                    for s in &fresh {
                        let p = s.period();
                        b.add(&SnapshotRef {
                            policy: &r.policy,
                            tap: &r.tap,
                            handler: &r.handler,
                            snapshot: s.as_ref(),
                            start: p.start,
                            end: p.end,
                        });
                    }
                }
                Temporality::Cumulative => {
                    for s in fresh {
                        series.last_end = series.last_end.max(s.period().end);
                        match &mut series.total {
                            None => series.total = Some(s),
                            Some(t) => {
                                t.merge_from(s.as_ref());
                            }
                        }
                    }
                    let mut end = series.last_end;
                    let view: Option<Box<dyn Snapshot>> = match (&series.total, live) {
                        (Some(t), Some(l)) => {
                            end = end.max(l.period().end);
                            let mut v = t.clone_box();
                            v.merge_from(l.as_ref());
                            Some(v)
                        }
                        (Some(t), None) => Some(t.clone_box()),
                        (None, Some(l)) => {
                            end = end.max(l.period().end);
                            Some(l)
                        }
                        (None, None) => None,
                    };
                    if let Some(v) = view {
                        b.add(&SnapshotRef {
                            policy: &r.policy,
                            tap: &r.tap,
                            handler: &r.handler,
                            snapshot: v.as_ref(),
                            start: series.origin,
                            end,
                        });
                    }
                }
            }
        }
        (b.data_points() > 0).then(|| b.finish(&self.resource))
    }
}
