//! Reading a stream whose work is spread over several workers as if one worker had done
//! it: every worker's handlers are copied out (their windows, their bounded tables), the
//! copies of the same handler are merged (`ShardWindow::merge_shard`: counters add,
//! sketches merge, rates add up second by second), and the result is a `PolicyPipeline`
//! whose handlers answer reads from the merged windows, so every read path (JSON,
//! Prometheus, OTLP readings, table stats) is the one-worker path.

use crate::event::Event;
use crate::metric::{Snapshot, TableStat};
use crate::processor::snapshot::ShardWindow;
use crate::processor::{Processor, Select};
use crate::receiver::dnstap::filter::HostFilter;
use crate::service::pipeline::{HandlerInstance, PolicyPipeline};
use crate::time::Timespec;
use crate::window::PeriodError;

/// One handler of one worker, copied out.
pub struct HandlerCopy {
    /// Instance name.
    pub name: String,
    /// JSON schema key.
    pub schema: &'static str,
    /// Its bounded tables.
    pub tables: Vec<TableStat>,
    /// Its window.
    pub window: Box<dyn ShardWindow>,
}

/// One policy of one worker, copied out.
pub struct PolicyCopy {
    /// Policy name.
    pub policy: String,
    /// Tap name.
    pub tap: String,
    /// Sequence modules.
    pub chained: bool,
    /// Reads merge like handlers.
    pub merge_like_handlers: bool,
    /// Its handlers in order.
    pub handlers: Vec<HandlerCopy>,
}

impl PolicyPipeline {
    /// A copy of this pipeline's handlers (windows and tables).
    pub fn copy_out(&self) -> PolicyCopy {
        PolicyCopy {
            policy: self.policy.clone(),
            tap: self.tap.clone(),
            chained: self.chained,
            merge_like_handlers: self.merge_like_handlers,
            handlers: self
                .handlers
                .iter()
                .map(|h| HandlerCopy {
                    name: h.name.clone(),
                    schema: h.processor.schema_key(),
                    tables: h.processor.tables(),
                    window: h.processor.shard_window(),
                })
                .collect(),
        }
    }

    /// This pipeline's handlers given up for a merge (a finished stream: no copies).
    pub fn into_copy(self) -> PolicyCopy {
        PolicyCopy {
            policy: self.policy,
            tap: self.tap,
            chained: self.chained,
            merge_like_handlers: self.merge_like_handlers,
            handlers: self
                .handlers
                .into_iter()
                .map(|h| HandlerCopy {
                    schema: h.processor.schema_key(),
                    tables: h.processor.tables(),
                    window: h.processor.into_shard_window(),
                    name: h.name,
                })
                .collect(),
        }
    }
}

/// A handler that answers reads from a merged window (it receives no events).
struct MergedHandler {
    schema: &'static str,
    tables: Vec<TableStat>,
    window: Box<dyn ShardWindow>,
}

impl Processor for MergedHandler {
    fn schema_key(&self) -> &'static str {
        self.schema
    }

    fn handle(&mut self, _ev: &Event<'_>) -> bool {
        true
    }

    fn tables(&self) -> Vec<TableStat> {
        self.tables.clone()
    }

    fn finish(&mut self) {}

    fn snapshot(&self, sel: Select, now: Timespec) -> Result<Box<dyn Snapshot>, PeriodError> {
        self.window.snapshot(sel, now)
    }

    fn shard_window(&self) -> Box<dyn ShardWindow> {
        self.window.clone_box()
    }
}

/// Adds the counts of `other`'s tables into `mine` (same tables by name).
fn add_tables(mine: &mut Vec<TableStat>, other: &[TableStat]) {
    for t in other {
        match mine.iter_mut().find(|m| m.name == t.name) {
            Some(m) => {
                m.len += t.len;
                m.limit += t.limit;
                m.evicted += t.evicted;
            }
            None => mine.push(t.clone()),
        }
    }
}

/// Merges the copies of every worker (each worker's policies in attach order) into one
/// pipeline per policy, in the first worker's order.
pub fn merge_copies(workers: Vec<Vec<PolicyCopy>>) -> Vec<PolicyPipeline> {
    let mut workers = workers.into_iter();
    let Some(first) = workers.next() else {
        return Vec::new();
    };
    let mut merged: Vec<PolicyCopy> = first;
    for copies in workers {
        for c in copies {
            let Some(m) = merged.iter_mut().find(|m| m.policy == c.policy) else {
                merged.push(c);
                continue;
            };
            for (mh, ch) in m.handlers.iter_mut().zip(c.handlers) {
                mh.window.merge_shard(ch.window.as_ref());
                add_tables(&mut mh.tables, &ch.tables);
            }
        }
    }
    merged
        .into_iter()
        .map(|c| PolicyPipeline {
            policy: c.policy,
            tap: c.tap,
            chained: c.chained,
            merge_like_handlers: c.merge_like_handlers,
            filter: HostFilter::default(),
            handlers: c
                .handlers
                .into_iter()
                .map(|h| HandlerInstance {
                    name: h.name,
                    processor: Box::new(MergedHandler {
                        schema: h.schema,
                        tables: h.tables,
                        window: h.window,
                    }),
                })
                .collect(),
        })
        .collect()
}

/// Merges finished workers' pipelines (a sharded recording read to its end).
pub fn merge_pipelines(workers: Vec<Vec<PolicyPipeline>>) -> Vec<PolicyPipeline> {
    if workers.len() <= 1 {
        return workers.into_iter().next().unwrap_or_default();
    }
    merge_copies(
        workers
            .into_iter()
            .map(|ps| ps.into_iter().map(PolicyPipeline::into_copy).collect())
            .collect(),
    )
}
