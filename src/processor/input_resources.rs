//! input_resources (`input_resources`): what an input stream costs — events, CPU and memory
//! of the thread that analyses it, and how many policies and handlers it feeds.
//!
//! The agent attaches one to every input stream it creates (policy `<input>-resources`).
//! CPU and memory are sampled at the first event and then at most once per 5 s of stream time (packet time for packet
//! inputs, the wall clock for heartbeats): CPU% = this thread's (utime + stime) delta over
//! the system's jiffies delta divided by the number of CPUs, × 100; memory = the process's
//! resident set (`VmRSS`, threads share it). Policy and handler counts follow the
//! `Topology` events of the stream and are carried into every new bucket; a merged window
//! reports the newest bucket's counts.

use crate::config::value::ConfigMap;
use crate::event::{Event, Topology};
use crate::metric::otel::{Convert, gauge, histogram, sum};
use crate::metric::{Desc, MetricSink, Scope, Snapshot};
use crate::processor::groups::GroupSet;
use crate::processor::snapshot::{Emit, EmitCtx, ShardWindow, shard_window_of, snapshot_of};
use crate::processor::{
    BuildError, Processor, ProcessorConfig, ProcessorContext, ProcessorKind, Select, parsed,
    time_event,
};
use crate::sketch::Distribution;
use crate::time::Timespec;
use crate::window::{Bucket, BucketMetrics, PeriodError, Window, WindowSettings};

/// Seconds between two resource samples.
const SAMPLE_SECS: i64 = 5;

/// One bucket of resource metrics.
#[derive(Clone, Debug, Default)]
pub struct ResourcesBucket {
    cpu_usage: Distribution,
    memory_bytes: Distribution,
    policy_count: u64,
    handler_count: u64,
}

impl BucketMetrics for ResourcesBucket {
    fn merge(&mut self, o: &Self) {
        self.cpu_usage.merge(&o.cpu_usage);
        self.memory_bytes.merge(&o.memory_bytes);
        // Merged oldest first: the newest bucket's counts win.
        self.policy_count = o.policy_count;
        self.handler_count = o.handler_count;
    }
}

const EVENT_RATE: Desc = Desc::new(
    "base",
    &["event_rate"],
    "Rate of events",
    histogram("pktvisor.input_resources.event.rate", "{event}/s"),
);
const TOTAL: Desc = Desc::new(
    "base",
    &["total"],
    "Total number of events",
    sum("pktvisor.input_resources.events", "{event}"),
);
const DEEP: Desc = Desc::new(
    "base",
    &["deep_samples"],
    "Total number of deep samples",
    sum("pktvisor.input_resources.deep_samples", "{event}"),
);
const CPU: Desc = Desc::new(
    "resources",
    &["cpu_usage"],
    "Quantiles of 5s averages of percent cpu usage by the input stream",
    histogram("pktvisor.input_resources.cpu.utilization", "1").convert(Convert::PercentToRatio),
);
const MEMORY: Desc = Desc::new(
    "resources",
    &["memory_bytes"],
    "Quantiles  of 5s averages of memory usage (in bytes) by the input stream",
    histogram("pktvisor.input_resources.memory.usage", "By"),
);
// pktvisor emits these as counters; they are current counts, so Gauges over OTLP.
const POLICIES: Desc = Desc::new(
    "resources",
    &["policy_count"],
    "Total number of policies attached to the input stream",
    gauge("pktvisor.input_resources.policies", "{policy}"),
);
const HANDLERS: Desc = Desc::new(
    "resources",
    &["handler_count"],
    "Total number of handlers attached to the input stream",
    gauge("pktvisor.input_resources.handlers", "{handler}"),
);

impl Emit for ResourcesBucket {
    const SCHEMA_KEY: &'static str = "input_resources";

    fn emit(b: &Bucket<Self>, ctx: &EmitCtx, sink: &mut dyn MetricSink) {
        let m = &b.metrics;
        let r = Scope::ROOT;
        sink.counter(&TOTAL, &r, b.base.events);
        ctx.rate(sink, &EVENT_RATE, &r, &b.base.event_rate);
        sink.counter(&DEEP, &r, b.base.deep_samples);
        sink.quantiles(&CPU, &r, &m.cpu_usage, false);
        sink.quantiles(&MEMORY, &r, &m.memory_bytes, true);
        sink.counter(&POLICIES, &r, m.policy_count);
        sink.counter(&HANDLERS, &r, m.handler_count);
    }
}

/// Reads this thread's CPU time and the system's.
#[derive(Debug, Default)]
struct CpuClock {
    last: Option<(u64, u64)>,
    cpus: u64,
}

impl CpuClock {
    fn new() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        CpuClock { last: None, cpus }
    }

    /// Thread utime + stime in jiffies.
    fn thread_jiffies() -> Option<u64> {
        let text = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        // The command name may hold spaces: fields start after the last ')'.
        let rest = text.get(text.rfind(')')? + 2..)?;
        let f: Vec<&str> = rest.split_whitespace().collect();
        // After the name: state is field 3; utime 14 and stime 15 → indexes 11 and 12.
        let utime: u64 = f.get(11)?.parse().ok()?;
        let stime: u64 = f.get(12)?.parse().ok()?;
        Some(utime + stime)
    }

    /// Sum of the `cpu` line of /proc/stat in jiffies.
    fn system_jiffies() -> Option<u64> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        let line = text.lines().next()?;
        let mut it = line.split_whitespace();
        if it.next()? != "cpu" {
            return None;
        }
        Some(it.filter_map(|v| v.parse::<u64>().ok()).sum())
    }

    /// Percent CPU since the previous call (None the first time).
    fn sample(&mut self) -> Option<f64> {
        let now = (Self::thread_jiffies()?, Self::system_jiffies()?);
        let prev = self.last.replace(now)?;
        let sys = now.1.saturating_sub(prev.1) as f64 / self.cpus.max(1) as f64;
        if sys <= 0.0 {
            return Some(0.0);
        }
        Some(now.0.saturating_sub(prev.0) as f64 / sys * 100.0)
    }
}

/// The process's resident set in bytes.
fn resident_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The input_resources processor.
pub struct InputResources {
    window: Window<ResourcesBucket>,
    cpu: CpuClock,
    next_sample: Option<i64>,
    topology: Topology,
}

/// The input_resources handler's configuration (window keys only; pktvisor validates
/// nothing else).
#[derive(Clone, Debug)]
pub struct InputResourcesConfig {
    settings: WindowSettings,
}

impl InputResourcesConfig {
    /// Parses a merged handler config.
    pub fn parse(cfg: &ConfigMap) -> Result<Self, String> {
        let settings = WindowSettings::from_config(cfg).map_err(|e| e.to_string())?;
        Ok(InputResourcesConfig { settings })
    }
}

impl ProcessorConfig for InputResourcesConfig {
    fn build(&self, _ctx: &ProcessorContext) -> Box<dyn Processor> {
        Box::new(InputResources::with_config(self))
    }
}

/// `input_resources` version 1.0.
pub const KIND: ProcessorKind = ProcessorKind {
    handler_type: "input_resources",
    version: "1.0",
    parse: |c| parsed(InputResourcesConfig::parse(c)),
};

impl InputResources {
    /// Builds from a merged handler config.
    pub fn new(cfg: &ConfigMap) -> Result<Self, BuildError> {
        Ok(InputResources::with_config(
            &InputResourcesConfig::parse(cfg).map_err(BuildError::Config)?,
        ))
    }

    /// Builds from a parsed config.
    pub fn with_config(cfg: &InputResourcesConfig) -> Self {
        InputResources {
            window: Window::new(cfg.settings.clone()),
            cpu: CpuClock::new(),
            next_sample: None,
            topology: Topology::default(),
        }
    }

    fn carry_counts(&mut self) {
        let t = self.topology;
        let b = self.window.live_mut();
        b.policy_count = t.policies as u64;
        b.handler_count = t.handlers as u64;
    }

    fn maybe_sample(&mut self, ts: Timespec) {
        if self.next_sample.is_some_and(|next| ts.sec < next) {
            return;
        }
        self.next_sample = Some(ts.sec + SAMPLE_SECS);
        // The first CPU reading covers the time since the stream started (primed then).
        let cpu = self.cpu.sample();
        let mem = resident_bytes();
        let b = self.window.live_mut();
        if let Some(c) = cpu {
            b.cpu_usage.record(c);
        }
        if let Some(m) = mem {
            b.memory_bytes.record_u64(m);
        }
    }

    fn event(&mut self, ts: Timespec) {
        self.window.new_event(ts, true);
        self.carry_counts();
        self.maybe_sample(ts);
    }
}

impl Processor for InputResources {
    fn schema_key(&self) -> &'static str {
        ResourcesBucket::SCHEMA_KEY
    }

    fn handle(&mut self, ev: &Event<'_>) -> bool {
        if let Some(_shifted) = time_event(&mut self.window, ev) {
            self.carry_counts();
            if let Event::Start(_) = ev {
                // Prime the CPU clock on the thread that analyses the stream.
                self.cpu.sample();
            }
            if let Event::Tick(now) = ev {
                self.maybe_sample(*now);
            }
            return false;
        }
        match ev {
            Event::Packet(p) => self.event(p.ts),
            Event::Dnstap(m) => self.event(m.ts),
            Event::Flow(_) => self.event(Timespec::now()),
            Event::Topology(t) => {
                self.topology = **t;
                self.carry_counts();
            }
            _ => {}
        }
        false
    }

    fn finish(&mut self) {
        self.window.finish();
    }

    fn snapshot(&self, sel: Select, now: Timespec) -> Result<Box<dyn Snapshot>, PeriodError> {
        let ctx = EmitCtx::new(self.window.settings(), GroupSet::ALL, 0);
        snapshot_of(&self.window, sel, now, ctx)
    }

    fn shard_window(&self) -> Box<dyn ShardWindow> {
        let ctx = EmitCtx::new(self.window.settings(), GroupSet::ALL, 0);
        shard_window_of(&self.window, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_threads_cpu_and_the_process_memory() {
        assert!(CpuClock::thread_jiffies().is_some());
        assert!(CpuClock::system_jiffies().unwrap() > 0);
        assert!(resident_bytes().unwrap() > 1024 * 1024);
    }

    #[test]
    fn counts_follow_topology_into_new_buckets() {
        let mut cfg = ConfigMap::new();
        cfg.set("num_periods", crate::config::value::ConfigValue::U64(3));
        let mut p = InputResources::new(&cfg).unwrap();
        let t0 = Timespec::new(1000, 0);
        p.handle(&Event::Start(t0));
        p.handle(&Event::Topology(&Topology {
            policies: 2,
            handlers: 5,
        }));
        p.handle(&Event::Tick(Timespec::new(1070, 0)));
        let b = p.window.bucket(0).unwrap();
        assert_eq!((b.metrics.policy_count, b.metrics.handler_count), (2, 5));
        let old = p.window.bucket(1).unwrap();
        assert_eq!(old.metrics.policy_count, 2);
    }
}
