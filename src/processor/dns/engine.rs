//! The engine both dns versions run: event routing (UDP packets, DNS-over-TCP framing,
//! dnstap), the dnstap message-type filter, the window and its deep sampling, the question
//! decoded once per message, the pending-transaction table with its timeouts and slow
//! thresholds, geo lookups, the shared top-list updates, building from the typed config
//! (`net::family::Config`), snapshots and table stats.
//!
//! What differs between v1 and v2 is a `Layout`: its `Version` (require_version, config
//! keys, metric groups), which side of a message each filter sees, where a message's counts
//! go (v1 per message into one flat bucket, v2 per transaction into the direction's
//! metrics) and how a bucket is emitted. The engine is generic over it, so the per-packet
//! path is monomorphised.

use super::config::DnsOptions;
use super::filter::Filters;
use super::metrics::{Deep, Metrics, Record, Verdict};
use super::xact::{DEFAULT_LIMIT, XactTable};
use super::{DnsPacket, MAX_TCP_SESSIONS, QuestionCache, TcpSessions, dns_port_set};
use crate::config::value::ConfigMap;
use crate::decode::tcp_stream::{PortSet, TcpStreamEvent};
use crate::enrich::geo::GeoLookup;
use crate::event::{DnstapEvent, Event, TcpMessage};
use crate::metric::{Snapshot, TableStat};
use crate::processor::groups::GroupSet;
use crate::processor::net::family::{Config, Version, Versioned};
use crate::processor::snapshot::{Emit, EmitCtx, snapshot_of};
use crate::processor::{Processor, ProcessorContext, Select, time_event};
use crate::time::Timespec;
use crate::window::{PeriodError, Window};

/// How a version applies the DNS filters (`Filters::by_role`, `Filters::every_message`).
pub type Filter = fn(&mut Filters<'_>, &DnsPacket<'_>) -> bool;

/// What makes a dns version: its metric layout and the rules that differ.
pub trait Layout: Sized + 'static {
    /// One bucket.
    type Bucket: Emit;
    /// What the transaction table keeps of a query until its response.
    type Pending: Send + 'static;
    /// Its `require_version`, config keys and metric groups.
    const VERSION: Version<Record>;
    /// The DNS filters as this version applies them.
    const FILTER: Filter;

    /// The bucket's count of filtered messages.
    fn filtered(b: &mut Self::Bucket) -> &mut u64;
    /// The p90 transaction time of direction `dir` in a completed bucket (0: none).
    fn slow_p90(b: &Self::Bucket, dir: usize) -> u64;
    /// A query that got no response in time (or by the end of a recorded stream).
    fn timed_out(b: &mut Self::Bucket, on: &Record, query: Self::Pending);
    /// Whether a message is seen at all (v1's UDP predicates); an unseen message moves
    /// nothing, not even the window.
    fn seen(_o: &DnsOptions, _q: &mut QuestionCache, _pkt: &DnsPacket<'_>) -> bool {
        true
    }
    /// Counts a message the window has observed; returns whether it passed.
    fn count(live: Live<'_, Self>, pkt: &DnsPacket<'_>, v: Verdict) -> bool;
    /// Counts a passing dnstap message that carries no DNS message.
    fn count_bare(b: &mut Self::Bucket, on: &Record, ev: &DnstapEvent<'_>);
}

/// The engine's state as a layout counts one message.
pub struct Live<'e, L: Layout> {
    /// The live bucket.
    pub b: &'e mut L::Bucket,
    /// The enabled metric groups.
    pub groups: GroupSet,
    /// The shared metrics they turn on.
    pub on: Record,
    /// The queries waiting for their response.
    pub xacts: &'e mut XactTable<L::Pending>,
    /// Per transaction direction: the previous bucket's p90 time (0: none yet).
    pub slow_us: [u64; 3],
    /// What deep-sample updates need.
    pub deep: DeepCtx<'e>,
}

impl<L: Layout> Live<'_, L> {
    /// Counts `n` filtered messages.
    #[inline]
    pub fn count_filtered(&mut self, n: u64) {
        if self.on.counters {
            *L::filtered(self.b) += n;
        }
    }
}

/// What the deep-sample updates of a message need besides its metrics: the enabled
/// shared metrics, the message's question, the geo databases and the QNAME aggregation.
pub struct DeepCtx<'e> {
    on: Record,
    q: &'e mut QuestionCache,
    geo: &'e mut GeoLookup,
    public_suffix: bool,
}

impl DeepCtx<'_> {
    /// The top-list updates of a deep-sampled message into `m`.
    #[inline(always)]
    pub fn record(&mut self, m: &mut Metrics, d: &Deep<'_>) {
        let question = self.q.qtype(&d.msg).map(|t| (t, self.q.name()));
        m.deep(&self.on, d, question, self.public_suffix, self.geo);
    }
}

/// A dns processor of layout `L`.
pub struct Dns<L: Layout> {
    window: Window<L::Bucket>,
    groups: GroupSet,
    on: Record,
    opts: DnsOptions,
    geo: GeoLookup,
    xacts: XactTable<L::Pending>,
    tcp: TcpSessions,
    q: QuestionCache,
    /// Whether any DNS message filter is configured (else every message passes them).
    filtering: bool,
    /// Per transaction direction: the previous bucket's p90 time (0: none yet).
    slow_us: [u64; 3],
}

impl<L: Layout> Versioned for Dns<L> {
    type Record = Record;
    type Options = DnsOptions;
    const VERSION: Version<Record> = L::VERSION;

    fn options(cfg: &ConfigMap) -> Result<DnsOptions, String> {
        DnsOptions::from_config(cfg)
    }

    fn with_config(c: &Config<Self>, ctx: &ProcessorContext) -> Self {
        Dns {
            window: Window::new(c.settings.clone()),
            groups: c.groups,
            on: (L::VERSION.record)(c.groups),
            opts: c.options.clone(),
            geo: ctx.geo.lookup(ctx.geo_cache_size),
            xacts: XactTable::new(c.options.ttl_ms, DEFAULT_LIMIT),
            tcp: TcpSessions::default(),
            q: QuestionCache::default(),
            filtering: c.options.has_message_filters(),
            slow_us: [0; 3],
        }
    }
}

impl<L: Layout> Dns<L> {
    /// Moves the window to `ts`; a new bucket expires old queries and sets the thresholds.
    #[inline]
    fn observe(&mut self, ts: Timespec) {
        if self.window.observe(ts) {
            self.on_shift(ts);
        }
    }

    /// A new bucket started at `now`.
    fn on_shift(&mut self, now: Timespec) {
        let (b, on) = (self.window.live_mut(), &self.on);
        self.xacts
            .purge_expired(now, |_, query| L::timed_out(b, on, query));
        if let Ok(prev) = self.window.bucket(1) {
            for (dir, slot) in self.slow_us.iter_mut().enumerate() {
                *slot = L::slow_p90(&prev.metrics, dir);
            }
        }
    }

    /// The engine's state as a layout counts one message.
    #[inline]
    fn live(&mut self) -> Live<'_, L> {
        Live {
            b: self.window.live_mut(),
            groups: self.groups,
            on: self.on,
            xacts: &mut self.xacts,
            slow_us: self.slow_us,
            deep: DeepCtx {
                on: self.on,
                q: &mut self.q,
                geo: &mut self.geo,
                public_suffix: self.opts.public_suffix_list,
            },
        }
    }

    /// Handles one DNS message; returns whether it passed the filters.
    fn process(&mut self, pkt: &DnsPacket<'_>) -> bool {
        self.q.reset();
        if !L::seen(&self.opts, &mut self.q, pkt) {
            return false;
        }
        let mut f = Filters {
            o: &self.opts,
            q: &mut self.q,
            geo: &mut self.geo,
            suffix: 0,
        };
        let passed = self.opts.dnstap_type_ok(pkt.dnstap.map(|d| d.family))
            && (!self.filtering || L::FILTER(&mut f, pkt));
        let suffix = f.suffix;
        self.observe(pkt.ts);
        // Counted (and a deep sample) before the filters, as in pktvisor; only a message
        // that passed does the deep-sampled work.
        let deep = self.window.new_event(pkt.ts, passed) && passed;
        L::count(
            self.live(),
            pkt,
            Verdict {
                passed,
                deep,
                suffix,
            },
        )
    }

    /// A dnstap message without a DNS message: it passes only without message filters.
    fn process_bare(&mut self, ev: &DnstapEvent<'_>) -> bool {
        let passed = self.opts.dnstap_type_ok(Some(ev.msg_type.family)) && !self.filtering;
        self.observe(ev.ts);
        self.window.new_event(ev.ts, passed);
        if !passed {
            self.live().count_filtered(1);
            return false;
        }
        L::count_bare(self.window.live_mut(), &self.on, ev);
        true
    }

    /// Routes one event, forwarding what passed to the next in a chain: UDP packets as
    /// themselves, messages framed from TCP streams as `TcpMessage`s.
    fn route(&mut self, ev: &Event<'_>, forward: &mut dyn FnMut(&Event<'_>)) -> bool {
        if let Some(shifted) = time_event(&mut self.window, ev) {
            if shifted && let Event::Tick(now) | Event::End(now) | Event::Clock(now) = ev {
                self.on_shift(*now);
            }
            forward(ev);
            return true;
        }
        let pass = match ev {
            Event::Packet(pi) => match DnsPacket::from_udp(pi) {
                Some(pkt) => self.process(&pkt),
                None => {
                    // not DNS: the window moves, without the new bucket's bookkeeping
                    self.window.observe(pi.ts);
                    return false;
                }
            },
            Event::TcpMessage(m) => {
                DnsPacket::from_tcp(&m.flow, m.ts, m.data).is_some_and(|pkt| self.process(&pkt))
            }
            Event::Dnstap(d) => match DnsPacket::from_dnstap(d) {
                Some(pkt) => self.process(&pkt),
                None => self.process_bare(d),
            },
            Event::Tcp(TcpStreamEvent::Data {
                flow,
                ts,
                data,
                after_gap,
            }) => {
                let mut tcp = std::mem::take(&mut self.tcp);
                tcp.data(flow, data, *after_gap, &mut |msg| {
                    if let Some(pkt) = DnsPacket::from_tcp(flow, *ts, msg)
                        && self.process(&pkt)
                    {
                        forward(&Event::TcpMessage(&TcpMessage {
                            flow: *flow,
                            ts: *ts,
                            data: msg,
                        }));
                    }
                });
                self.tcp = tcp;
                return false;
            }
            Event::Tcp(TcpStreamEvent::End { flow, .. }) => {
                self.tcp.end(flow);
                return false;
            }
            _ => return false,
        };
        if pass {
            forward(ev);
        }
        pass
    }

    fn ctx(&self) -> EmitCtx {
        EmitCtx::new(self.window.settings(), self.groups, L::VERSION.groups.len())
    }
}

impl<L: Layout> Processor for Dns<L> {
    fn schema_key(&self) -> &'static str {
        L::Bucket::SCHEMA_KEY
    }

    fn handle(&mut self, ev: &Event<'_>) -> bool {
        self.route(ev, &mut |_| {})
    }

    fn handle_chained(&mut self, ev: &Event<'_>, forward: &mut dyn FnMut(&Event<'_>)) -> bool {
        self.route(ev, forward)
    }

    fn tcp_ports(&self) -> PortSet {
        dns_port_set()
    }

    fn finish(&mut self) {
        let (b, on) = (self.window.live_mut(), &self.on);
        self.xacts.drain(|_, query| L::timed_out(b, on, query));
        self.window.finish();
    }

    fn snapshot(&self, sel: Select, now: Timespec) -> Result<Box<dyn Snapshot>, PeriodError> {
        snapshot_of(&self.window, sel, now, self.ctx())
    }

    fn shard_window(&self) -> Box<dyn crate::processor::snapshot::ShardWindow> {
        crate::processor::snapshot::shard_window_of(&self.window, self.ctx())
    }

    fn into_shard_window(self: Box<Self>) -> Box<dyn crate::processor::snapshot::ShardWindow> {
        let ctx = self.ctx();
        crate::processor::snapshot::into_shard_window(self.window, ctx)
    }

    fn tables(&self) -> Vec<TableStat> {
        vec![
            TableStat {
                name: "dns_pending_queries",
                len: self.xacts.len(),
                limit: self.xacts.limit(),
                evicted: self.xacts.evicted(),
            },
            TableStat {
                name: "dns_tcp_sessions",
                len: self.tcp.len(),
                limit: MAX_TCP_SESSIONS,
                evicted: self.tcp.dropped(),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::dns::{v1::V1, v2::V2};
    use crate::processor::groups::{GroupDef, resolve_groups};

    use crate::processor::net::family::config_map as cfg;

    #[test]
    fn typed_configs_check_keys_then_groups_then_options() {
        let v1 = |y: &str| Config::<Dns<V1>>::parse(&cfg(y)).map(|_| ());
        let v2 = |y: &str| Config::<Dns<V2>>::parse(&cfg(y)).map(|_| ());
        assert_eq!(v1("only_queries: true\nonly_responses: false\n"), Ok(()));
        let unknown = v2("only_queries: true\nenable: [nope]\nonly_rcode: x\n").unwrap_err();
        assert!(
            unknown.starts_with("only_queries is an invalid/unsupported config or filter."),
            "{unknown}"
        );
        let group = v1("enable: [top_qtypes]\nonly_rcode: x\n").unwrap_err();
        assert!(
            group.starts_with("top_qtypes is an invalid/unsupported metric group."),
            "{group}"
        );
        assert_eq!(
            v2("only_rcode: x\n"),
            Err("DnsStreamHandler: wrong value type for only_rcode filter. It should be an integer or an array".to_string())
        );
    }

    #[test]
    fn kinds_name_their_version_and_build_what_they_parsed() {
        let ctx = ProcessorContext::default();
        for (kind, version) in [
            (super::super::v1::KIND, "1.0"),
            (super::super::v2::KIND, "2.0"),
        ] {
            assert_eq!((kind.handler_type, kind.version), ("dns", version));
            let parsed = (kind.parse)(&cfg("xact_ttl_ms: 10\n")).expect("valid config");
            let p = parsed.build(&ctx);
            assert_eq!(p.schema_key(), "dns");
            assert_eq!(p.tables()[0].limit, DEFAULT_LIMIT);
        }
    }

    #[test]
    fn each_version_maps_its_groups_to_the_shared_metrics() {
        let groups = |y: &str| (V1::VERSION.record)(resolve(V1::VERSION.groups, y));
        let details = groups("enable: [top_qnames_details]\n");
        assert!(details.top_qtype && details.top_rcodes && details.top_noerror);
        let no_qnames = groups("enable: [top_qnames_details]\ndisable: [top_qnames]\n");
        assert!(no_qnames.top_qtype && !no_qnames.top_rcodes && !no_qnames.top_noerror);
        let v2 = (V2::VERSION.record)(resolve(V2::VERSION.groups, "disable: [top_qtypes]\n"));
        assert!(!v2.top_qtype && v2.top_rcodes && v2.top_noerror && !v2.top_resp_bytes);
    }

    fn resolve(defs: &[GroupDef], y: &str) -> GroupSet {
        resolve_groups(defs, &cfg(y)).expect("groups")
    }
}
