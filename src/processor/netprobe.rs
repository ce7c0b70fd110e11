//! netprobe (`netprobe`): per-target results of the netprobe input's active probes —
//! attempts, successes, connect failures, DNS lookup failures, timeouts, and the response
//! time as a histogram and/or quantiles in microseconds (with its minimum and maximum).
//!
//! JSON `netprobe.targets.<name>.<metric>`, Prometheus `netprobe_*` with the label `target`
//! (pktvisor's names, help texts and groups: `counters` and `histograms` on, `quantiles`
//! off). Over OTLP: attempts, successes and failures (by `error.type`) as Sums of probes,
//! the response time as one histogram in seconds (whose min and max are pktvisor's
//! `response_min_us`/`response_max_us`), every point with `pktvisor.netprobe.target`,
//! `server.address` (the target's host as configured) and, for TCP, `server.port`.
//!
//! The receiver decides each probe's outcome (it matches replies and keeps the timeout), so
//! a probe's attempt and outcome are counted together in the bucket of its outcome and
//! `successes + packets_timeout (+ connect_failures for TCP) = attempts` holds in every
//! bucket. `xact_ttl_ms` / `xact_ttl_secs`, when set, make a slower answer a timeout (the
//! default TTL is the input's `timeout_msec`, which the receiver already applies). Targets
//! per bucket are bounded (`MAX_TARGETS`); results for targets past the bound are counted
//! (table `netprobe_targets`).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::value::ConfigMap;
use crate::event::{Event, ProbeOutcome, ProbeResult};
use crate::metric::otel::key::{ERROR_TYPE, NETPROBE_TARGET, SERVER_ADDRESS, SERVER_PORT};
use crate::metric::otel::{Convert, histogram, in_histogram, sum};
use crate::metric::{Desc, MetricSink, Otel, Scope, Snapshot, TableStat};
use crate::processor::groups::{GroupDef, GroupSet, resolve_groups, validate_config};
use crate::processor::snapshot::{Emit, EmitCtx, ShardWindow, shard_window_of, snapshot_of};
use crate::processor::{
    BuildError, Processor, ProcessorConfig, ProcessorContext, ProcessorKind, Select, parsed,
    time_event,
};
use crate::sketch::Distribution;
use crate::time::Timespec;
use crate::window::{Bucket, BucketMetrics, PeriodError, Window, WindowSettings};

/// Most targets one bucket keeps (a netprobe input has as many as its config lists).
pub const MAX_TARGETS: usize = 65_536;

/// pktvisor's netprobe groups, in its enum order.
pub const GROUPS: [GroupDef; 3] = [
    GroupDef {
        name: "counters",
        default_on: true,
    },
    GroupDef {
        name: "quantiles",
        default_on: false,
    },
    GroupDef {
        name: "histograms",
        default_on: true,
    },
];
const G_COUNTERS: usize = 0;
const G_QUANTILES: usize = 1;
const G_HISTOGRAMS: usize = 2;

/// One target's metrics in one bucket.
#[derive(Clone, Debug, Default)]
pub struct TargetMetrics {
    /// The target as configured (IP address or host name).
    pub host: Arc<str>,
    /// TCP port (TCP probes).
    pub port: Option<u16>,
    /// Probes sent (ICMP echo requests, TCP connects).
    pub attempts: u64,
    /// Probes answered in time.
    pub successes: u64,
    /// TCP connections refused or unreachable, sockets that failed.
    pub connect_failures: u64,
    /// Names that did not resolve.
    pub dns_lookup_failures: u64,
    /// Probes not answered in time.
    pub packets_timeout: u64,
    /// Response times in microseconds (deep-sampled successes).
    pub response_us: Distribution,
}

impl TargetMetrics {
    fn merge(&mut self, o: &TargetMetrics) {
        if self.host.is_empty() {
            self.host = o.host.clone();
            self.port = o.port;
        }
        self.attempts += o.attempts;
        self.successes += o.successes;
        self.connect_failures += o.connect_failures;
        self.dns_lookup_failures += o.dns_lookup_failures;
        self.packets_timeout += o.packets_timeout;
        self.response_us.merge(&o.response_us);
    }
}

/// One bucket of netprobe metrics: every target seen in it.
#[derive(Clone, Debug, Default)]
pub struct NetprobeBucket {
    /// Targets by name (sorted, as pktvisor's `std::map`).
    pub targets: BTreeMap<Arc<str>, TargetMetrics>,
    /// Results for targets the bucket had no room for.
    pub refused: u64,
}

impl BucketMetrics for NetprobeBucket {
    fn merge(&mut self, o: &Self) {
        self.refused += o.refused;
        for (name, t) in &o.targets {
            if let Some(mine) = self.targets.get_mut(name) {
                mine.merge(t);
            } else if self.targets.len() < MAX_TARGETS {
                self.targets.insert(name.clone(), t.clone());
            } else {
                self.refused += t.attempts.max(1);
            }
        }
    }
}

const fn d(path: &'static [&'static str], help: &'static str, otel: Otel) -> Desc {
    Desc::new("netprobe", path, help, otel)
}

/// Failed probes of one kind.
const fn failures(kind: &'static str) -> Otel {
    const FAILURES: Otel = sum("pktvisor.netprobe.failures", "{probe}");
    FAILURES.with(match kind.as_bytes() {
        b"connect" => &[(ERROR_TYPE, "connect")],
        b"dns_lookup" => &[(ERROR_TYPE, "dns_lookup")],
        b"timeout" => &[(ERROR_TYPE, "timeout")],
        _ => panic!("unknown netprobe failure"),
    })
}

/// The response time, in seconds.
const RESPONSE: Otel =
    histogram("pktvisor.netprobe.response.duration", "s").convert(Convert::MicrosToSeconds);

const ATTEMPTS: Desc = d(
    &["attempts"],
    "Total Net Probe attempts",
    sum("pktvisor.netprobe.attempts", "{probe}"),
);
const SUCCESSES: Desc = d(
    &["successes"],
    "Total Net Probe successes",
    sum("pktvisor.netprobe.successes", "{probe}"),
);
const CONNECT_FAILURES: Desc = d(
    &["connect_failures"],
    "Total Net Probe failures when performing a TCP socket connection",
    failures("connect"),
);
const DNS_FAILURES: Desc = d(
    &["dns_lookup_failures"],
    "Total Net Probe failures when performing a DNS lookup",
    failures("dns_lookup"),
);
const TIMEOUTS: Desc = d(
    &["packets_timeout"],
    "Total Net Probe timeout transactions",
    failures("timeout"),
);
const MIN_US: Desc = d(
    &["response_min_us"],
    "Minimum response time measured in the reporting interval",
    in_histogram(RESPONSE),
);
const MAX_US: Desc = d(
    &["response_max_us"],
    "Maximum response time measured in the reporting interval",
    in_histogram(RESPONSE),
);
const HISTOGRAM_US: Desc = d(
    &["response_histogram_us"],
    "Net Probe histogram in microseconds",
    RESPONSE,
);
const QUANTILES_US: Desc = d(
    &["response_quantiles_us"],
    "Net Probe quantile in microseconds",
    RESPONSE,
);

impl Emit for NetprobeBucket {
    const SCHEMA_KEY: &'static str = "netprobe";

    fn emit(b: &Bucket<Self>, ctx: &EmitCtx, sink: &mut dyn MetricSink) {
        let counters = ctx.on(G_COUNTERS);
        let histograms = ctx.on(G_HISTOGRAMS);
        let quantiles = ctx.on(G_QUANTILES);
        for (name, t) in &b.metrics.targets {
            let port = t.port.map(|p| p.to_string());
            let labels = [("target", name.as_ref())];
            let mut attrs: Vec<(&str, &str)> = vec![
                (NETPROBE_TARGET, name.as_ref()),
                (SERVER_ADDRESS, t.host.as_ref()),
            ];
            if let Some(p) = &port {
                attrs.push((SERVER_PORT, p.as_str()));
            }
            let json = ["targets", name.as_ref()];
            let s = Scope {
                json: &json,
                labels: &labels,
                attrs: &attrs,
            };
            if counters {
                sink.counter(&ATTEMPTS, &s, t.attempts);
                sink.counter(&SUCCESSES, &s, t.successes);
                sink.counter(&CONNECT_FAILURES, &s, t.connect_failures);
                sink.counter(&DNS_FAILURES, &s, t.dns_lookup_failures);
                sink.counter(&TIMEOUTS, &s, t.packets_timeout);
            }
            let dist = &t.response_us;
            // pktvisor: min/max from the histogram's sketch, else from the quantiles' one;
            // absent while nothing was measured.
            if counters
                && (histograms || quantiles)
                && let (Some(min), Some(max)) = (dist.min(), dist.max())
            {
                sink.counter(&MIN_US, &s, min.round() as u64);
                sink.counter(&MAX_US, &s, max.round() as u64);
            }
            if histograms {
                sink.histogram(&HISTOGRAM_US, &s, dist, true);
            }
            if quantiles {
                sink.quantiles(&QUANTILES_US, &s, dist, true);
            }
        }
    }
}

/// The netprobe handler's configuration: window keys, groups and the transaction TTL.
#[derive(Clone, Debug)]
pub struct NetprobeConfig {
    settings: WindowSettings,
    groups: GroupSet,
    ttl_ms: Option<u64>,
}

impl NetprobeConfig {
    /// Parses a merged handler config (pktvisor's keys and texts).
    pub fn parse(cfg: &ConfigMap) -> Result<Self, String> {
        validate_config(cfg, &["recorded_stream", "xact_ttl_secs", "xact_ttl_ms"])?;
        let settings = WindowSettings::from_config(cfg).map_err(|e| e.to_string())?;
        let groups = resolve_groups(&GROUPS, cfg)?;
        let cfg_err = |e: crate::config::value::ConfigError| e.to_string();
        let ttl_ms = match cfg.get_u64("xact_ttl_ms").map_err(cfg_err)? {
            Some(ms) => Some(ms),
            None => cfg
                .get_u64("xact_ttl_secs")
                .map_err(cfg_err)?
                .map(|s| s.saturating_mul(1000)),
        };
        Ok(NetprobeConfig {
            settings,
            groups,
            ttl_ms,
        })
    }
}

impl ProcessorConfig for NetprobeConfig {
    fn build(&self, _ctx: &ProcessorContext) -> Box<dyn Processor> {
        Box::new(Netprobe::with_config(self))
    }
}

/// `netprobe` version 1.0.
pub const KIND: ProcessorKind = ProcessorKind {
    handler_type: "netprobe",
    version: "1.0",
    parse: |c| parsed(NetprobeConfig::parse(c)),
};

/// The netprobe processor.
pub struct Netprobe {
    window: Window<NetprobeBucket>,
    groups: GroupSet,
    ttl_ms: Option<u64>,
    refused: u64,
}

impl Netprobe {
    /// Builds from a merged handler config.
    pub fn new(cfg: &ConfigMap) -> Result<Self, BuildError> {
        Ok(Netprobe::with_config(
            &NetprobeConfig::parse(cfg).map_err(BuildError::Config)?,
        ))
    }

    /// Builds from a parsed config.
    pub fn with_config(cfg: &NetprobeConfig) -> Self {
        Netprobe {
            window: Window::new(cfg.settings.clone()),
            groups: cfg.groups,
            ttl_ms: cfg.ttl_ms,
            refused: 0,
        }
    }

    fn ctx(&self) -> EmitCtx {
        EmitCtx::new(self.window.settings(), self.groups, GROUPS.len())
    }

    fn probe(&mut self, r: &ProbeResult) {
        let deep = self.window.new_event(r.ts, true);
        let measure = self.groups.has(G_HISTOGRAMS) || self.groups.has(G_QUANTILES);
        let ttl_us = self.ttl_ms.map(|ms| ms.saturating_mul(1000));
        let b = self.window.live_mut();
        if !b.targets.contains_key(&r.target) {
            if b.targets.len() >= MAX_TARGETS {
                b.refused += 1;
                self.refused += 1;
                return;
            }
            b.targets.insert(
                r.target.clone(),
                TargetMetrics {
                    host: r.host.clone(),
                    port: r.port,
                    ..TargetMetrics::default()
                },
            );
        }
        let Some(t) = b.targets.get_mut(&r.target) else {
            return;
        };
        if r.attempted {
            t.attempts += 1;
        }
        match r.outcome {
            ProbeOutcome::Success { rtt_ns } => {
                let us = rtt_ns / 1000;
                if ttl_us.is_some_and(|ttl| us > ttl) {
                    t.packets_timeout += 1;
                } else {
                    t.successes += 1;
                    if deep && measure {
                        t.response_us.record_u64(us);
                    }
                }
            }
            ProbeOutcome::Timeout => t.packets_timeout += 1,
            ProbeOutcome::ConnectFailure => t.connect_failures += 1,
            ProbeOutcome::DnsLookupFailure => t.dns_lookup_failures += 1,
        }
    }
}

impl Processor for Netprobe {
    fn schema_key(&self) -> &'static str {
        NetprobeBucket::SCHEMA_KEY
    }

    fn handle(&mut self, ev: &Event<'_>) -> bool {
        if time_event(&mut self.window, ev).is_some() {
            return false;
        }
        if let Event::Probe(r) = ev {
            self.probe(r);
        }
        false
    }

    fn tables(&self) -> Vec<TableStat> {
        let len = self
            .window
            .bucket(0)
            .map(|b| b.metrics.targets.len())
            .unwrap_or(0);
        vec![TableStat {
            name: "netprobe_targets",
            len,
            limit: MAX_TARGETS,
            evicted: self.refused,
        }]
    }

    fn finish(&mut self) {
        self.window.finish();
    }

    fn snapshot(&self, sel: Select, now: Timespec) -> Result<Box<dyn Snapshot>, PeriodError> {
        snapshot_of(&self.window, sel, now, self.ctx())
    }

    fn shard_window(&self) -> Box<dyn ShardWindow> {
        shard_window_of(&self.window, self.ctx())
    }
}
