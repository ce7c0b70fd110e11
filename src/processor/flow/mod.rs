//! The flow processor (pktvisor's `flow` handler, JSON key `flow`): per device and
//! interface, bytes and packets in and out, top talkers, ports, IP:port pairs,
//! conversations, DSCP/ECN, geo and ASN, with pktvisor's filters, device map and IP
//! summarization.
//!
//! Each record counts on its input interface as `in_*` and on its output interface as
//! `out_*`. Counters see every record; top lists and cardinalities only deep-sampled
//! datagrams. Weights: NetFlow/IPFIX records' packets and octets; sFlow samples' one packet
//! of the sampled length, both multiplied by the sampling rate under `sample_rate_scaling`
//! (default on; we also scale NetFlow/IPFIX records whose exporter announced a sampling
//! interval above 1, which pktvisor does not). `fold_dynamic_ports` (ours, off by default)
//! counts ports 49152–65535 as one `dynamic` port in the port tops.
//!
//! Devices (an sFlow agent address, a NetFlow sender) and interfaces come from the
//! datagrams, so each bucket holds at most `max_devices` devices and `max_interfaces`
//! interfaces: a datagram of a device without room is refused whole, a record direction on
//! an interface without room counts for its device only; both are counted (tables
//! `flow_devices` and `flow_interfaces`). A datagram without records creates no device.

pub mod bucket;
pub mod config;
mod deep;
mod descs;
pub mod dualtop;
pub mod names;
pub mod sidemap;
mod summary;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use foldhash::fast::FixedState;

use bucket::*;
use config::{CONFIG_DEFS, EXTRA_KEYS, FlowConfig};
use deep::{DeepWork, Keys, Pass, deep_pass};
use names::{Endpoint, PortNames};

use crate::config::value::ConfigMap;
use crate::enrich::geo::GeoLookup;
use crate::event::Event;
use crate::event::{FlowDatagram, FlowProtocol};
use crate::metric::Snapshot;
use crate::metric::TableStat;
use crate::processor::groups::{GroupDef, GroupSet, resolve_groups, validate_config};
use crate::processor::snapshot::{EmitCtx, snapshot_of};
use crate::processor::{
    BuildError, Processor, ProcessorConfig, ProcessorContext, ProcessorKind, Select, parsed,
    time_event,
};
use crate::time::Timespec;
use crate::window::{PeriodError, Window, WindowSettings};
use crate::wire::flow::FlowRecord;

const fn g(name: &'static str, default_on: bool) -> GroupDef {
    GroupDef { name, default_on }
}

/// Metric groups of the flow processor (index = the `G_*` constants).
pub const GROUPS: [GroupDef; 11] = [
    g("by_bytes", true),
    g("by_packets", true),
    g("cardinality", true),
    g("conversations", false),
    g("counters", true),
    g("top_geo", false),
    g("top_interfaces", false),
    g("top_ips", true),
    g("top_ips_ports", true),
    g("top_ports", true),
    g("top_tos", false),
];

/// Records whose top-table slots are loaded ahead of their updates (one record already
/// issues some 24 line loads, about all a core keeps in flight: 1 measured ~6% faster
/// than 4, and no slower than 2).
const PREFETCH_AHEAD: usize = 1;

/// Addresses whose summary is remembered (the table is cleared when full).
const SUMMARY_CACHE: usize = 65_536;

/// The flow processor.
pub struct Flow {
    window: Window<FlowBucket>,
    groups: GroupSet,
    cfg: FlowConfig,
    naming: Arc<Naming>,
    geo: GeoLookup,
    summaries: HashMap<IpAddr, Endpoint, FixedState>,
    summary_resets: u64,
    /// Whether addresses are summarized (`cfg.summary.active()`, read once).
    summarizing: bool,
    /// The deep work of a datagram (kept between datagrams for its allocation).
    deep_buf: Vec<DeepWork>,
    /// Datagrams refused because their bucket held `max_devices` other devices.
    devices_refused: u64,
    /// Record directions not counted on their interface because their bucket held
    /// `max_interfaces` other interfaces.
    interfaces_refused: u64,
}

/// The flow handler's configuration: window keys, metric groups and the flow options.
#[derive(Clone, Debug)]
pub struct FlowHandlerConfig {
    settings: WindowSettings,
    groups: GroupSet,
    flow: FlowConfig,
}

impl FlowHandlerConfig {
    /// Parses a merged handler config.
    pub fn parse(cfg: &ConfigMap) -> Result<Self, String> {
        let mut keys = cfg.clone();
        for k in EXTRA_KEYS {
            keys.remove(k);
        }
        validate_config(&keys, &CONFIG_DEFS)?;
        let settings = WindowSettings::from_config(cfg).map_err(|e| e.to_string())?;
        let groups = resolve_groups(&GROUPS, cfg)?;
        let flow = FlowConfig::from_config(cfg)?;
        Ok(FlowHandlerConfig {
            settings,
            groups,
            flow,
        })
    }
}

impl ProcessorConfig for FlowHandlerConfig {
    fn build(&self, ctx: &ProcessorContext) -> Box<dyn Processor> {
        Box::new(Flow::with_config(self, ctx))
    }
}

/// `flow` version 1.0.
pub const KIND: ProcessorKind = ProcessorKind {
    handler_type: "flow",
    version: "1.0",
    parse: |c| parsed(FlowHandlerConfig::parse(c)),
};

impl Flow {
    /// Moves the window to `ts` and bounds the live bucket's shared endpoint ids at `limit`
    /// (for tests of the fallback past the bound; the default bound is 65,536).
    #[doc(hidden)]
    pub fn limit_live_endpoint_ids(&mut self, ts: Timespec, limit: usize) {
        self.window.observe(ts);
        self.window.live_mut().ids = sidemap::SharedIds::with_limit(limit);
    }

    /// Builds from a merged handler config.
    pub fn new(cfg: &ConfigMap, ctx: &ProcessorContext) -> Result<Self, BuildError> {
        Ok(Flow::with_config(
            &FlowHandlerConfig::parse(cfg).map_err(BuildError::Config)?,
            ctx,
        ))
    }

    /// Builds from a parsed config.
    pub fn with_config(c: &FlowHandlerConfig, ctx: &ProcessorContext) -> Self {
        let fc = c.flow.clone();
        let naming = Arc::new(Naming {
            ports: PortNames::new(&ctx.services, fc.fold_dynamic_ports),
            devices: fc.devices.clone(),
        });
        let summarizing = fc.summary.active();
        Flow {
            window: Window::new(c.settings.clone()),
            groups: c.groups,
            cfg: fc,
            naming,
            geo: ctx.geo.lookup(ctx.geo_cache_size),
            summaries: HashMap::with_hasher(FixedState::default()),
            summary_resets: 0,
            summarizing,
            deep_buf: Vec::new(),
            devices_refused: 0,
            interfaces_refused: 0,
        }
    }

    fn max_devices(&self) -> usize {
        match self.cfg.max_devices {
            0 => config::DEFAULT_MAX_DEVICES,
            n => n,
        }
    }

    fn max_interfaces(&self) -> usize {
        match self.cfg.max_interfaces {
            0 => config::DEFAULT_MAX_INTERFACES,
            n => n,
        }
    }

    fn ctx(&self) -> EmitCtx {
        EmitCtx::new(self.window.settings(), self.groups, GROUPS.len())
    }

    /// Applies the record filters; returns the interfaces kept (in, out) or `None` when
    /// the record is filtered.
    fn filter(&mut self, dev: IpAddr, r: &FlowRecord) -> Option<(Option<u32>, Option<u32>)> {
        let c = &self.cfg;
        if let Some(nets) = &c.only_ips {
            let hit =
                |ip: Option<IpAddr>| ip.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)));
            if !hit(r.src_ip) && !hit(r.dst_ip) {
                return None;
            }
        }
        if let Some(ports) = &c.only_ports {
            let (s, d) = (u32::from(r.src_port), u32::from(r.dst_port));
            if !ports
                .iter()
                .any(|&(a, b)| (a..=b).contains(&s) || (a..=b).contains(&d))
            {
                return None;
            }
        }
        let (mut i, mut o) = (Some(r.in_if), Some(r.out_if));
        if let Some(map) = &c.device_interfaces {
            let allowed = map.get(&dev).map(Vec::as_slice).unwrap_or(&[]);
            let ok = |x: u32| allowed.iter().any(|&(a, b)| (a..=b).contains(&x));
            if !ok(r.in_if) {
                i = None;
            }
            if !ok(r.out_if) {
                o = None;
            }
            if i.is_none() && o.is_none() {
                return None;
            }
        }
        if c.disable_in {
            i = None;
        }
        if c.disable_out {
            o = None;
        }
        if i.is_none() && o.is_none() {
            return None;
        }
        if c.geoloc_notfound && self.geo.city_enabled() {
            let found = |g: &mut GeoLookup, ip: Option<IpAddr>| {
                ip.is_some_and(|ip| g.location(ip).location != "Unknown")
            };
            if found(&mut self.geo, r.src_ip) && found(&mut self.geo, r.dst_ip) {
                return None;
            }
        }
        if self.cfg.asn_notfound && self.geo.asn_enabled() {
            let found = |g: &mut GeoLookup, ip: Option<IpAddr>| {
                ip.is_some_and(|ip| &*g.asn(ip) != "Unknown")
            };
            if found(&mut self.geo, r.src_ip) && found(&mut self.geo, r.dst_ip) {
                return None;
            }
        }
        Some((i, o))
    }

    fn process(&mut self, f: &FlowDatagram<'_>) {
        let dev = f.device;
        let max_devices = self.max_devices();
        let max_interfaces = self.max_interfaces();
        if let Some(map) = &self.cfg.device_interfaces
            && !map.contains_key(&dev)
        {
            self.window.new_event(f.ts, false);
            if self.groups.has(G_COUNTERS) && !f.records.is_empty() {
                let b = self.window.live_mut();
                match b.device_within(dev, max_devices) {
                    Some(d) => d.filtered += f.records.len() as u64,
                    None => self.devices_refused += 1,
                }
            }
            return;
        }
        let deep = self.window.new_event(f.ts, true);
        if f.records.is_empty() {
            return;
        }
        let groups = self.groups;
        let sflow = matches!(f.protocol, FlowProtocol::Sflow(_));
        let scaling = self.cfg.sample_rate_scaling;
        let mut kept = 0u64;
        let mut filtered = 0u64;
        let mut interfaces_refused = 0u64;
        let naming = Arc::clone(&self.naming);
        {
            let b = self.window.live_mut();
            if b.naming.is_none() {
                b.naming = Some(Arc::clone(&naming));
            }
            if b.device_within(dev, max_devices).is_none() {
                self.devices_refused += 1;
                return;
            }
        }
        let mut deep_work = std::mem::take(&mut self.deep_buf);
        deep_work.clear();
        for r in f.records {
            let Some((i, o)) = self.filter(dev, r) else {
                filtered += 1;
                continue;
            };
            kept += 1;
            let w = weights(r, sflow, scaling, groups);
            let endpoints = deep.then(|| self.endpoints(r));
            let geo = deep && groups.has(G_TOP_GEO);
            let (src_geo, dst_geo) = if geo {
                (self.geo_of(r.src_ip), self.geo_of(r.dst_ip))
            } else {
                (None, None)
            };
            let b = self.window.live_mut();
            let keys = endpoints.map(|(src, dst)| Keys::new(r, src, dst, &naming, &mut b.ids));
            let Some((d, held)) = b.device_and_interfaces(dev) else {
                continue;
            };
            let mut slots = [None; 2];
            for (dir, idx) in [(0usize, i), (1usize, o)] {
                let Some(idx) = idx else { continue };
                if deep && groups.has(G_TOP_INTERFACES) {
                    d.top_if[dir].add(idx, w);
                }
                let Some(slot) = d.slot_within(idx, held, max_interfaces) else {
                    interfaces_refused += 1;
                    continue;
                };
                slots[dir] = Some(slot);
                let Some(m) = d.at_mut(slot) else { continue };
                if groups.has(G_COUNTERS) {
                    count(m, dir, r, w);
                }
                if geo {
                    for (loc, asn) in [&src_geo, &dst_geo].into_iter().flatten() {
                        if let Some(l) = loc {
                            m.geo.add_ref(l, w);
                        }
                        if let Some(a) = asn {
                            m.asn.add_ref(a, w);
                        }
                    }
                }
            }
            if let Some(keys) = keys {
                deep_work.push(DeepWork {
                    r: *r,
                    w,
                    keys,
                    slots,
                });
            }
        }
        // Deep updates after the datagram's counters, record by record (measured faster than
        // going table by table over the datagram).
        if !deep_work.is_empty() {
            let d = self.window.live_mut().device(dev);
            // the top tables are large and touched at random: load the slots of the records
            // PREFETCH_AHEAD ahead while updating this one
            let ahead = |d: &DeviceMetrics, job: &DeepWork| {
                for (dir, slot) in job.slots.iter().enumerate() {
                    if let Some(m) = slot.and_then(|s| d.at(s)) {
                        deep::prefetch(m, dir, job, groups);
                    }
                }
            };
            for job in deep_work.iter().take(PREFETCH_AHEAD) {
                ahead(d, job);
            }
            for (n, job) in deep_work.iter().enumerate() {
                if let Some(next) = deep_work.get(n + PREFETCH_AHEAD) {
                    ahead(d, next);
                }
                for (dir, slot) in job.slots.iter().enumerate() {
                    let Some(m) = slot.and_then(|s| d.at_mut(s)) else {
                        continue;
                    };
                    for pass in Pass::ALL {
                        if pass.enabled(groups) {
                            deep_pass(pass, m, dir, job, groups, &naming);
                        }
                    }
                }
            }
        }
        self.deep_buf = deep_work;
        self.interfaces_refused += interfaces_refused;
        if groups.has(G_COUNTERS) {
            let d = self.window.live_mut().device(dev);
            d.total += kept;
            d.filtered += filtered;
        }
    }

    /// City and ASN of an address when the databases are loaded.
    fn geo_of(&mut self, ip: Option<IpAddr>) -> Option<GeoPair> {
        let ip = ip.filter(|ip| !ip.is_unspecified())?;
        let loc = self.geo.city_enabled().then(|| self.geo.location(ip));
        let asn = self.geo.asn_enabled().then(|| self.geo.asn(ip));
        Some((loc, asn))
    }

    fn endpoints(&mut self, r: &FlowRecord) -> (Option<Endpoint>, Option<Endpoint>) {
        let s = r
            .src_ip
            .filter(|ip| !ip.is_unspecified())
            .map(|ip| self.summarize(ip));
        let d = r
            .dst_ip
            .filter(|ip| !ip.is_unspecified())
            .map(|ip| self.summarize(ip));
        (s, d)
    }

    fn summarize(&mut self, ip: IpAddr) -> Endpoint {
        if !self.summarizing {
            return Endpoint::Ip(ip);
        }
        if let Some(e) = self.summaries.get(&ip) {
            return e.clone();
        }
        let e = summary::summary_of(ip, &self.cfg.summary, &mut self.geo);
        if self.summaries.len() >= SUMMARY_CACHE {
            self.summaries.clear();
            self.summary_resets += 1;
        }
        self.summaries.insert(ip, e.clone());
        e
    }
}

type GeoPair = (
    Option<Arc<crate::enrich::geo::GeoLocation>>,
    Option<Arc<str>>,
);

/// (bytes, packets) of a record, zeroed for a disabled aggregator.
fn weights(r: &FlowRecord, sflow: bool, scaling: bool, groups: GroupSet) -> [u64; 2] {
    let (mut bytes, mut packets) = if sflow {
        (r.bytes, 1u64)
    } else {
        (r.bytes, r.packets)
    };
    if scaling && (sflow || r.sampling > 1) {
        let rate = u64::from(r.sampling.max(1));
        bytes = bytes.saturating_mul(rate);
        packets = packets.saturating_mul(rate);
    }
    [
        if groups.has(G_BY_BYTES) { bytes } else { 0 },
        if groups.has(G_BY_PACKETS) { packets } else { 0 },
    ]
}

#[inline]
fn count(m: &mut InterfaceMetrics, dir: usize, r: &FlowRecord, w: [u64; 2]) {
    let c = &mut m.counts[dir];
    let l4 = match r.protocol {
        17 => C_UDP,
        6 => C_TCP,
        _ => C_OTHER,
    };
    let l3 = if r.ipv6 { C_IPV6 } else { C_IPV4 };
    for slot in [l4, l3, C_TOTAL] {
        c[slot][0] = c[slot][0].saturating_add(w[0]);
        c[slot][1] = c[slot][1].saturating_add(w[1]);
    }
}

impl Processor for Flow {
    fn schema_key(&self) -> &'static str {
        "flow"
    }

    fn handle(&mut self, ev: &Event<'_>) -> bool {
        if time_event(&mut self.window, ev).is_some() {
            return true;
        }
        if let Event::Flow(f) = ev {
            self.process(f);
        }
        true
    }

    fn tables(&self) -> Vec<TableStat> {
        let mut stats = vec![TableStat {
            name: "flow_ip_summaries",
            len: self.summaries.len(),
            limit: SUMMARY_CACHE,
            evicted: self.summary_resets,
        }];
        // the live bucket's shared endpoint ids (a new bucket starts them afresh)
        let live = self.window.bucket(0).ok();
        if let Some(b) = live {
            let ids = &b.metrics.ids;
            stats.push(TableStat {
                name: "flow_endpoint_ids",
                len: ids.len(),
                limit: ids.limit(),
                evicted: ids.refused(),
            });
        }
        // devices and interfaces of the live bucket; refusals over the handler's life
        stats.push(TableStat {
            name: "flow_devices",
            len: live.map_or(0, |b| b.metrics.device_count()),
            limit: self.max_devices(),
            evicted: self.devices_refused,
        });
        stats.push(TableStat {
            name: "flow_interfaces",
            len: live.map_or(0, |b| b.metrics.interface_count()),
            limit: self.max_interfaces(),
            evicted: self.interfaces_refused,
        });
        stats
    }

    fn finish(&mut self) {
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
}
