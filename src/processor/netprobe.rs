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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::value::ConfigValue;
    use crate::event::ProbeTest;
    use crate::export::json;
    use crate::export::prometheus::PromWriter;

    fn result(target: &str, outcome: ProbeOutcome, attempted: bool, sec: i64) -> ProbeResult {
        ProbeResult {
            target: Arc::from(target),
            host: Arc::from("192.0.2.1"),
            port: None,
            address: Some("192.0.2.1".parse().unwrap()),
            test: ProbeTest::Ping,
            outcome,
            attempted,
            sent: Timespec::new(sec, 0),
            ts: Timespec::new(sec, 0),
            timeout_ms: 2000,
        }
    }

    fn feed(p: &mut Netprobe, rs: &[ProbeResult]) {
        p.handle(&Event::Start(Timespec::new(1000, 0)));
        for r in rs {
            p.handle(&Event::Probe(r));
        }
    }

    fn window_json(p: &Netprobe) -> serde_json::Value {
        let s = p
            .snapshot(Select::Bucket(0), Timespec::new(1001, 0))
            .unwrap();
        json::snapshot_value(s.as_ref())
    }

    #[test]
    fn counts_per_target_and_min_max_from_the_histogram() {
        let mut p = Netprobe::new(&ConfigMap::new()).unwrap();
        let ok = |us: u64| ProbeOutcome::Success { rtt_ns: us * 1000 };
        feed(
            &mut p,
            &[
                result("a", ok(20_100), true, 1000),
                result("a", ok(20_500), true, 1000),
                result("a", ProbeOutcome::Timeout, true, 1000),
                result("b", ProbeOutcome::DnsLookupFailure, false, 1000),
            ],
        );
        let v = window_json(&p);
        let a = &v["netprobe"]["targets"]["a"];
        assert_eq!(a["attempts"], 3);
        assert_eq!(a["successes"], 2);
        assert_eq!(a["packets_timeout"], 1);
        assert_eq!(a["response_min_us"], 20_100);
        assert_eq!(a["response_max_us"], 20_500);
        assert_eq!(a["response_histogram_us"]["buckets"]["+Inf"], 2.0);
        assert!(a.get("response_quantiles_us").is_none(), "{a}");
        let b = &v["netprobe"]["targets"]["b"];
        assert_eq!(b["attempts"], 0);
        assert_eq!(b["dns_lookup_failures"], 1);
        assert!(b.get("response_min_us").is_none(), "{b}");
        assert!(b.get("response_histogram_us").is_none(), "{b}");
    }

    #[test]
    fn ttl_makes_slow_answers_timeouts_and_groups_apply() {
        let mut c = ConfigMap::new();
        c.set("xact_ttl_ms", ConfigValue::U64(10));
        c.set("enable", ConfigValue::List(vec!["quantiles".into()]));
        c.set("disable", ConfigValue::List(vec!["histograms".into()]));
        let mut p = Netprobe::new(&c).unwrap();
        feed(
            &mut p,
            &[
                result("a", ProbeOutcome::Success { rtt_ns: 9_000_000 }, true, 1000),
                result(
                    "a",
                    ProbeOutcome::Success { rtt_ns: 11_000_000 },
                    true,
                    1000,
                ),
            ],
        );
        let v = window_json(&p);
        let a = &v["netprobe"]["targets"]["a"];
        assert_eq!(a["successes"], 1);
        assert_eq!(a["packets_timeout"], 1);
        assert_eq!(a["response_quantiles_us"]["p50"], 9000);
        assert_eq!(a["response_min_us"], 9000);
        assert!(a.get("response_histogram_us").is_none());
    }

    #[test]
    fn prometheus_has_only_the_target_label() {
        let mut p = Netprobe::new(&ConfigMap::new()).unwrap();
        feed(
            &mut p,
            &[result(
                "a",
                ProbeOutcome::Success { rtt_ns: 1_000_000 },
                true,
                1000,
            )],
        );
        let s = p
            .snapshot(Select::Bucket(0), Timespec::new(1001, 0))
            .unwrap();
        let mut w = PromWriter::new(None);
        w.write_snapshot(s.as_ref(), &[("policy", "p")]);
        let text = w.finish();
        assert!(
            text.contains("netprobe_attempts{policy=\"p\",target=\"a\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "netprobe_response_histogram_us_bucket{le=\"1000\",policy=\"p\",target=\"a\"} 1\n"
            ),
            "{text}"
        );
        assert!(!text.contains("server"), "{text}");
    }

    #[test]
    fn config_errors_are_pktvisors() {
        let mut c = ConfigMap::new();
        c.set("bogus", ConfigValue::U64(1));
        assert_eq!(
            NetprobeConfig::parse(&c).unwrap_err(),
            "bogus is an invalid/unsupported config or filter. The valid configs/filters are: recorded_stream, xact_ttl_secs, xact_ttl_ms, deep_sample_rate, num_periods, topn_count, topn_percentile_threshold"
        );
        let mut c = ConfigMap::new();
        c.set("enable", ConfigValue::List(vec!["top_x".into()]));
        assert_eq!(
            NetprobeConfig::parse(&c).unwrap_err(),
            "top_x is an invalid/unsupported metric group. The valid groups are: all, counters, histograms, quantiles"
        );
    }

    #[test]
    fn nothing_is_output_with_every_group_disabled() {
        let mut c = ConfigMap::new();
        c.set("disable", ConfigValue::List(vec!["all".into()]));
        let p = Netprobe::new(&c).unwrap();
        let s = p
            .snapshot(Select::Bucket(0), Timespec::new(1001, 0))
            .unwrap();
        assert!(!s.has_output());
    }
}
