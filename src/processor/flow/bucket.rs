//! One bucket of the flow processor: per device, per interface metrics, their merge, and
//! their walk for the encoders (JSON `devices.<dev>.interfaces.<if>`, Prometheus labels
//! `device` and `device_interface`). Devices and interfaces are keyed by what exporters
//! send, so the live bucket admits them only while it has room (`device_within`,
//! `slot_within`); the processor counts what was refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use foldhash::fast::FixedState;

use super::config::DeviceNames;
use super::descs::*;
use super::dualtop::{DualTop, TopKey};
use super::names::{Endpoint, PortKey, PortNames, dscp_name, ecn_name};
use super::sidemap::SharedIds;
use crate::enrich::geo::GeoLocation;
use crate::metric::otel::key::{FLOW_DEVICE, INTERFACE};
use crate::metric::{MetricSink, Scope, TopEntry};
use crate::processor::snapshot::{Emit, EmitCtx};
use crate::sketch::Cardinality;
use crate::window::{Bucket, BucketMetrics};

/// Group indexes (sorted, as pktvisor lists them).
pub const G_BY_BYTES: usize = 0;
/// `by_packets`.
pub const G_BY_PACKETS: usize = 1;
/// `cardinality`.
pub const G_CARDINALITY: usize = 2;
/// `conversations`.
pub const G_CONVERSATIONS: usize = 3;
/// `counters`.
pub const G_COUNTERS: usize = 4;
/// `top_geo`.
pub const G_TOP_GEO: usize = 5;
/// `top_interfaces`.
pub const G_TOP_INTERFACES: usize = 6;
/// `top_ips`.
pub const G_TOP_IPS: usize = 7;
/// `top_ips_ports`.
pub const G_TOP_IPS_PORTS: usize = 8;
/// `top_ports`.
pub const G_TOP_PORTS: usize = 9;
/// `top_tos`.
pub const G_TOP_TOS: usize = 10;

/// What naming needs: port names and the device map (shared by every bucket).
#[derive(Debug, Default)]
pub struct Naming {
    /// Port keys → names.
    pub ports: PortNames,
    /// Device and interface names.
    pub devices: HashMap<IpAddr, DeviceNames>,
}

/// Top lists of one direction of an interface.
#[derive(Clone, Debug, Default)]
pub struct DirTops {
    pub(super) src_ips: DualTop<Endpoint>,
    pub(super) dst_ips: DualTop<Endpoint>,
    pub(super) src_ports: DualTop<PortKey>,
    pub(super) dst_ports: DualTop<PortKey>,
    pub(super) src_ip_ports: DualTop<(Endpoint, PortKey)>,
    pub(super) dst_ip_ports: DualTop<(Endpoint, PortKey)>,
    pub(super) dscp: DualTop<u8>,
    pub(super) ecn: DualTop<u8>,
}

impl DirTops {
    fn merge(&mut self, o: &Self, o_ids: &SharedIds<Endpoint>, ids: &mut SharedIds<Endpoint>) {
        self.src_ips.merge_with(&o.src_ips, Some(o_ids), Some(ids));
        self.dst_ips.merge_with(&o.dst_ips, Some(o_ids), Some(ids));
        self.src_ports.merge(&o.src_ports);
        self.dst_ports.merge(&o.dst_ports);
        self.src_ip_ports
            .merge_with(&o.src_ip_ports, Some(o_ids), Some(ids));
        self.dst_ip_ports
            .merge_with(&o.dst_ip_ports, Some(o_ids), Some(ids));
        self.dscp.merge(&o.dscp);
        self.ecn.merge(&o.ecn);
    }
}

/// Counter slots of `InterfaceMetrics::counts`.
pub const C_UDP: usize = 0;
/// TCP.
pub const C_TCP: usize = 1;
/// Other L4.
pub const C_OTHER: usize = 2;
/// IPv4.
pub const C_IPV4: usize = 3;
/// IPv6.
pub const C_IPV6: usize = 4;
/// All.
pub const C_TOTAL: usize = 5;

/// Metrics of one interface of a device.
#[derive(Clone, Debug, Default)]
pub struct InterfaceMetrics {
    /// `[dir][slot][aggregator]`.
    pub(super) counts: [[[u64; 2]; 6]; 2],
    pub(super) card_conversations: Cardinality,
    pub(super) card_src_ips: Cardinality,
    pub(super) card_dst_ips: Cardinality,
    pub(super) card_src_ports: Cardinality,
    pub(super) card_dst_ports: Cardinality,
    pub(super) tops: [DirTops; 2],
    pub(super) geo: DualTop<Arc<GeoLocation>>,
    pub(super) asn: DualTop<Arc<str>>,
    pub(super) conversations: DualTop<String>,
}

impl InterfaceMetrics {
    fn merge(&mut self, o: &Self, o_ids: &SharedIds<Endpoint>, ids: &mut SharedIds<Endpoint>) {
        for (a, b) in self
            .counts
            .iter_mut()
            .flatten()
            .zip(o.counts.iter().flatten())
        {
            a[0] = a[0].saturating_add(b[0]);
            a[1] = a[1].saturating_add(b[1]);
        }
        self.card_conversations.merge(&o.card_conversations);
        self.card_src_ips.merge(&o.card_src_ips);
        self.card_dst_ips.merge(&o.card_dst_ips);
        self.card_src_ports.merge(&o.card_src_ports);
        self.card_dst_ports.merge(&o.card_dst_ports);
        self.tops[0].merge(&o.tops[0], o_ids, ids);
        self.tops[1].merge(&o.tops[1], o_ids, ids);
        self.geo.merge(&o.geo);
        self.asn.merge(&o.asn);
        self.conversations.merge(&o.conversations);
    }
}

/// Metrics of one device.
#[derive(Clone, Debug, Default)]
pub struct DeviceMetrics {
    pub(super) total: u64,
    pub(super) filtered: u64,
    /// Top input / output interfaces.
    pub(super) top_if: [DualTop<u32>; 2],
    /// Interface index → position in `ifaces` (records look an interface up once, then
    /// use its position).
    pub(super) interfaces: HashMap<u32, usize, FixedState>,
    pub(super) ifaces: Vec<(u32, Box<InterfaceMetrics>)>,
}

impl DeviceMetrics {
    fn merge(&mut self, o: &Self, o_ids: &SharedIds<Endpoint>, ids: &mut SharedIds<Endpoint>) {
        self.total += o.total;
        self.filtered += o.filtered;
        self.top_if[0].merge(&o.top_if[0]);
        self.top_if[1].merge(&o.top_if[1]);
        for (k, v) in &o.ifaces {
            let slot = self.slot(*k);
            if let Some(m) = self.at_mut(slot) {
                m.merge(v, o_ids, ids);
            }
        }
    }

    /// The position of interface `idx`, created on first use only while `held` (the
    /// bucket's interfaces) is below `max`; `None` when there is no room for it.
    #[inline]
    pub fn slot_within(&mut self, idx: u32, held: &mut usize, max: usize) -> Option<usize> {
        if let Some(&s) = self.interfaces.get(&idx) {
            return Some(s);
        }
        if *held >= max {
            return None;
        }
        *held += 1;
        Some(self.slot(idx))
    }

    /// Interfaces held.
    pub fn interface_count(&self) -> usize {
        self.ifaces.len()
    }

    /// The position of interface `idx`, created on first use.
    #[inline]
    pub fn slot(&mut self, idx: u32) -> usize {
        let ifaces = &mut self.ifaces;
        *self.interfaces.entry(idx).or_insert_with(|| {
            ifaces.push((idx, Box::default()));
            ifaces.len() - 1
        })
    }

    /// The metrics of the interface at `slot`.
    #[inline]
    pub fn at(&self, slot: usize) -> Option<&InterfaceMetrics> {
        self.ifaces.get(slot).map(|(_, m)| &**m)
    }

    /// The metrics of the interface at `slot`, to update.
    #[inline]
    pub fn at_mut(&mut self, slot: usize) -> Option<&mut InterfaceMetrics> {
        self.ifaces.get_mut(slot).map(|(_, m)| &mut **m)
    }
}

/// One bucket.
#[derive(Clone, Debug, Default)]
pub struct FlowBucket {
    pub(super) naming: Option<Arc<Naming>>,
    pub(super) devices: HashMap<IpAddr, Box<DeviceMetrics>, FixedState>,
    /// Ids of the endpoints without an exact code (IPv6 addresses, summaries), shared by
    /// the bucket's address tables.
    pub(super) ids: SharedIds<Endpoint>,
    /// Interfaces of every device together.
    pub(super) interfaces: usize,
}

impl FlowBucket {
    /// The metrics of `device`, created on first use.
    #[inline]
    pub fn device(&mut self, device: IpAddr) -> &mut DeviceMetrics {
        self.devices.entry(device).or_default()
    }

    /// The metrics of `device`, created on first use only while fewer than `max` devices
    /// are held; `None` when there is no room for it.
    #[inline]
    pub fn device_within(&mut self, device: IpAddr, max: usize) -> Option<&mut DeviceMetrics> {
        if !self.devices.contains_key(&device) && self.devices.len() >= max {
            return None;
        }
        Some(self.devices.entry(device).or_default())
    }

    /// A held device with the bucket's interface count (for `DeviceMetrics::slot_within`).
    #[inline]
    pub fn device_and_interfaces(
        &mut self,
        device: IpAddr,
    ) -> Option<(&mut DeviceMetrics, &mut usize)> {
        let d = self.devices.get_mut(&device)?;
        Some((&mut **d, &mut self.interfaces))
    }

    /// Devices held.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// Interfaces of every device held.
    pub fn interface_count(&self) -> usize {
        self.interfaces
    }
}

impl BucketMetrics for FlowBucket {
    fn merge(&mut self, o: &Self) {
        if self.naming.is_none() {
            self.naming.clone_from(&o.naming);
        }
        for (k, v) in &o.devices {
            self.devices
                .entry(*k)
                .or_default()
                .merge(v, &o.ids, &mut self.ids);
        }
        self.interfaces = self.devices.values().map(|d| d.interface_count()).sum();
    }
}

fn entries<K: TopKey>(
    t: &DualTop<K>,
    dim: usize,
    ctx: &EmitCtx,
    ids: Option<&SharedIds<K::Side>>,
    name: impl Fn(&K) -> String,
) -> Vec<TopEntry> {
    t.top_with(dim, ctx.topn_count, ctx.topn_threshold, ids)
        .into_iter()
        .map(|(k, estimate)| TopEntry {
            name: name(&k),
            estimate,
            lat_lon: None,
        })
        .collect()
}

impl Emit for FlowBucket {
    const SCHEMA_KEY: &'static str = "flow";

    fn emit(b: &Bucket<Self>, ctx: &EmitCtx, sink: &mut dyn MetricSink) {
        let fallback = Naming::default();
        let naming = b.metrics.naming.as_deref().unwrap_or(&fallback);
        let mut devices: Vec<(&IpAddr, &DeviceMetrics)> =
            b.metrics.devices.iter().map(|(k, v)| (k, &**v)).collect();
        devices.sort_by_key(|(k, _)| **k);
        let dims: Vec<usize> = [G_BY_BYTES, G_BY_PACKETS]
            .into_iter()
            .filter(|g| ctx.on(*g))
            .collect();
        for (ip, dev) in devices {
            let names = naming.devices.get(ip);
            let dev_id = names.map_or_else(|| ip.to_string(), |n| n.name.clone());
            let if_name = |idx: u32| {
                names
                    .and_then(|n| n.interfaces.get(&idx).cloned())
                    .unwrap_or_else(|| idx.to_string())
            };
            let json = ["devices", dev_id.as_str()];
            let labels = [("device", dev_id.as_str())];
            let attrs = [(FLOW_DEVICE, dev_id.as_str())];
            let ds = Scope {
                json: &json,
                labels: &labels,
                attrs: &attrs,
            };
            if ctx.on(G_COUNTERS) {
                sink.counter(&RECORDS_FLOWS, &ds, dev.total);
                sink.counter(&RECORDS_FILTERED, &ds, dev.filtered);
            }
            if ctx.on(G_TOP_INTERFACES) {
                for &m in &dims {
                    for (top, descs) in dev.top_if.iter().zip(&TOP_INTERFACES) {
                        let e = entries(top, m, ctx, None, |i| if_name(*i));
                        sink.topn(&descs[m], &ds, "interface", &e);
                    }
                }
            }
            let mut ifs: Vec<(&u32, &InterfaceMetrics)> =
                dev.ifaces.iter().map(|(k, v)| (k, &**v)).collect();
            ifs.sort_by_key(|(k, _)| **k);
            for (idx, m) in ifs {
                let ifn = if_name(*idx);
                let di = format!("{dev_id}|{ifn}");
                let json = ["devices", dev_id.as_str(), "interfaces", ifn.as_str()];
                let labels = [
                    ("device", dev_id.as_str()),
                    ("device_interface", di.as_str()),
                ];
                let attrs = [(FLOW_DEVICE, dev_id.as_str()), (INTERFACE, ifn.as_str())];
                let s = Scope {
                    json: &json,
                    labels: &labels,
                    attrs: &attrs,
                };
                emit_interface(m, naming, &b.metrics.ids, ctx, &dims, &s, &ds, sink);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn emit_interface(
    m: &InterfaceMetrics,
    naming: &Naming,
    ids: &SharedIds<Endpoint>,
    ctx: &EmitCtx,
    dims: &[usize],
    s: &Scope<'_>,
    ds: &Scope<'_>,
    sink: &mut dyn MetricSink,
) {
    if ctx.on(G_CARDINALITY) {
        if ctx.on(G_CONVERSATIONS) {
            // pktvisor's Prometheus quirk: device labels only (OTLP keeps the interface,
            // or the interfaces' points would collide)
            let conv = Scope {
                json: s.json,
                labels: ds.labels,
                attrs: s.attrs,
            };
            sink.cardinality(
                &CARDINALITY[0],
                &conv,
                m.card_conversations.estimate_rounded(),
            );
        }
        sink.cardinality(&CARDINALITY[1], s, m.card_src_ips.estimate_rounded());
        sink.cardinality(&CARDINALITY[2], s, m.card_dst_ips.estimate_rounded());
        sink.cardinality(&CARDINALITY[3], s, m.card_src_ports.estimate_rounded());
        sink.cardinality(&CARDINALITY[4], s, m.card_dst_ports.estimate_rounded());
    }
    if ctx.on(G_COUNTERS) {
        for (counts, descs) in m.counts.iter().zip(&COUNTERS) {
            for &d in dims {
                for (slot, desc) in descs[d].iter().enumerate() {
                    sink.counter(desc, s, counts[slot][d]);
                }
            }
        }
    }
    let port = |k: &PortKey| naming.ports.name(*k);
    let ip_port = |k: &(Endpoint, PortKey)| format!("{}:{}", k.0, naming.ports.name(k.1));
    for (t, dir_descs) in m.tops.iter().zip(&TOPS) {
        for &d in dims {
            let descs = &dir_descs[d];
            if ctx.on(G_TOP_IPS) {
                sink.topn(
                    &descs[0],
                    s,
                    TOP_LABELS[0],
                    &entries(&t.src_ips, d, ctx, Some(ids), |e| e.to_string()),
                );
                sink.topn(
                    &descs[1],
                    s,
                    TOP_LABELS[1],
                    &entries(&t.dst_ips, d, ctx, Some(ids), |e| e.to_string()),
                );
            }
            if ctx.on(G_TOP_PORTS) {
                sink.topn(
                    &descs[2],
                    s,
                    TOP_LABELS[2],
                    &entries(&t.src_ports, d, ctx, None, port),
                );
                sink.topn(
                    &descs[3],
                    s,
                    TOP_LABELS[3],
                    &entries(&t.dst_ports, d, ctx, None, port),
                );
            }
            if ctx.on(G_TOP_IPS_PORTS) {
                sink.topn(
                    &descs[4],
                    s,
                    TOP_LABELS[4],
                    &entries(&t.src_ip_ports, d, ctx, Some(ids), ip_port),
                );
                sink.topn(
                    &descs[5],
                    s,
                    TOP_LABELS[5],
                    &entries(&t.dst_ip_ports, d, ctx, Some(ids), ip_port),
                );
            }
            if ctx.on(G_TOP_TOS) {
                sink.topn(
                    &descs[6],
                    s,
                    TOP_LABELS[6],
                    &entries(&t.dscp, d, ctx, None, |c| dscp_name(*c)),
                );
                sink.topn(
                    &descs[7],
                    s,
                    TOP_LABELS[7],
                    &entries(&t.ecn, d, ctx, None, |c| ecn_name(*c).to_string()),
                );
            }
        }
    }
    for &d in dims {
        if ctx.on(G_TOP_GEO) {
            let geo: Vec<TopEntry> = m
                .geo
                .top(d, ctx.topn_count, ctx.topn_threshold)
                .into_iter()
                .map(|(g, estimate)| TopEntry {
                    name: g.location.clone(),
                    estimate,
                    lat_lon: (!g.latitude.is_empty() && !g.longitude.is_empty())
                        .then(|| (g.latitude.clone(), g.longitude.clone())),
                })
                .collect();
            sink.topn(&TOP_OTHER[d][0], s, "geo_loc", &geo);
            sink.topn(
                &TOP_OTHER[d][1],
                s,
                "asn",
                &entries(&m.asn, d, ctx, None, |a| a.to_string()),
            );
        }
        if ctx.on(G_CONVERSATIONS) {
            sink.topn(
                &TOP_OTHER[d][2],
                s,
                "conversation",
                &entries(&m.conversations, d, ctx, None, |c| c.clone()),
            );
        }
    }
}
