//! A policy's processors and how events reach them: independently (map modules) or as a
//! chain (sequence modules: each processor receives only what the previous one passed;
//! time events reach every processor). Reads produce pktvisor's policy envelopes.

use serde_json::{Map, Value};

use crate::decode::tcp_stream::PortSet;
use crate::event::Event;
use crate::export::json;
use crate::export::prometheus::PromWriter;
use crate::metric::Snapshot;
use crate::processor::{Processor, ProcessorContext, Select};
use crate::receiver::dnstap::filter::HostFilter;
use crate::service::plan::ResolvedPlan;
use crate::time::Timespec;
use crate::window::PeriodError;

/// A snapshot with the name it is output under.
pub type NamedSnapshot = (String, Box<dyn Snapshot>);

/// One running handler.
pub struct HandlerInstance {
    /// Instance name (`<policy>-<tap>-<module id>`).
    pub name: String,
    /// The processor.
    pub processor: Box<dyn Processor>,
}

/// A policy's processors.
pub struct PolicyPipeline {
    /// Policy name.
    pub policy: String,
    /// Tap name (the `tap` label).
    pub tap: String,
    /// Handlers in module order.
    pub handlers: Vec<HandlerInstance>,
    /// Whether events flow through the handlers as a chain.
    pub chained: bool,
    /// Whether reads merge handlers of the same type.
    pub merge_like_handlers: bool,
    /// The policy's own filter of the stream's events.
    pub filter: HostFilter,
}

impl std::fmt::Debug for PolicyPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyPipeline")
            .field("policy", &self.policy)
            .field(
                "handlers",
                &self.handlers.iter().map(|h| &h.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Delivers `ev` to the first handler and whatever it forwards to the rest, in turn.
fn run_chain(handlers: &mut [HandlerInstance], ev: &Event<'_>) {
    if let Some((first, rest)) = handlers.split_first_mut() {
        first
            .processor
            .handle_chained(ev, &mut |next| run_chain(rest, next));
    }
}

impl PolicyPipeline {
    /// Builds every processor of a resolved plan (their configs were checked when the plan
    /// was resolved, so this cannot fail).
    pub fn build(r: &ResolvedPlan, ctx: &ProcessorContext) -> Self {
        let handlers = r
            .plan
            .handlers
            .iter()
            .zip(&r.handlers)
            .map(|(h, c)| HandlerInstance {
                name: h.name.clone(),
                processor: c.build(ctx),
            })
            .collect();
        PolicyPipeline {
            policy: r.plan.name.clone(),
            tap: r.plan.input.tap.clone(),
            handlers,
            chained: r.plan.chained,
            merge_like_handlers: r.plan.merge_like_handlers,
            filter: r.filter.clone(),
        }
    }

    /// Delivers one event.
    pub fn dispatch(&mut self, ev: &Event<'_>) {
        if self.chained {
            run_chain(&mut self.handlers, ev);
        } else {
            for h in &mut self.handlers {
                h.processor.handle(ev);
            }
        }
    }

    /// TCP ports any handler wants reassembled.
    pub fn tcp_ports(&self) -> PortSet {
        let mut ports = PortSet::default();
        for h in &self.handlers {
            ports.extend(&h.processor.tcp_ports());
        }
        ports
    }

    /// End of a recorded stream.
    pub fn finish(&mut self) {
        for h in &mut self.handlers {
            h.processor.finish();
        }
    }

    /// Snapshots keyed by output name: handler instance names, or `<schema>_merged` when
    /// like handlers are merged.
    pub fn snapshots(&self, sel: Select, now: Timespec) -> Result<Vec<NamedSnapshot>, PeriodError> {
        let mut out: Vec<NamedSnapshot> = Vec::new();
        for h in &self.handlers {
            let snap = h.processor.snapshot(sel, now)?;
            if self.merge_like_handlers {
                let key = format!("{}_merged", snap.schema_key());
                if let Some((_, existing)) = out.iter_mut().find(|(k, _)| *k == key)
                    && existing.merge_from(snap.as_ref())
                {
                    continue;
                }
                out.push((key, snap));
            } else {
                out.push((h.name.clone(), snap));
            }
        }
        Ok(out)
    }

    /// `{"<handler>": {"<schema>": {...}}}` for this policy (handlers with no output are
    /// left out).
    pub fn window_json(&self, sel: Select, now: Timespec) -> Result<Value, PeriodError> {
        let mut m = Map::new();
        for (name, snap) in self.snapshots(sel, now)? {
            let v = json::snapshot_value(snap.as_ref());
            if v.as_object().is_some_and(|o| !o.is_empty()) {
                m.insert(name, v);
            }
        }
        Ok(Value::Object(m))
    }

    /// Writes the policy's metrics with `policy`, `handler` and `tap` labels.
    pub fn write_prometheus(
        &self,
        w: &mut PromWriter,
        sel: Select,
        now: Timespec,
    ) -> Result<(), PeriodError> {
        for (name, snap) in self.snapshots(sel, now)? {
            w.write_snapshot(
                snap.as_ref(),
                &[
                    ("policy", self.policy.as_str()),
                    ("handler", name.as_str()),
                    ("tap", self.tap.as_str()),
                ],
            );
        }
        Ok(())
    }
}
