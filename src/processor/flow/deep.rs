//! The flow processor's deep-sampled work: per-record keys computed once (address
//! summaries, port keys, top-table codes, distinct-count hashes) and the top-list and
//! cardinality updates, one kind of table (`Pass`) at a time.

use std::net::IpAddr;

use super::bucket::*;
use super::dualtop::{TopKey, pair_code, shared_code};
use super::names::{self, Endpoint};
use super::sidemap::SharedIds;
use crate::processor::groups::GroupSet;
use crate::wire::flow::FlowRecord;

/// Distinct-count hash of a value (consistent across buckets and processors).
fn card_hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(bytes, 0x666c_6f77_6361_7264)
}

fn ip_hash(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(a) => card_hash(&a.octets()),
        IpAddr::V6(a) => card_hash(&a.octets()),
    }
}

/// What a record contributes to every interface it touches, computed once per record.
pub(super) struct Keys {
    src: Option<(Endpoint, u64)>,
    dst: Option<(Endpoint, u64)>,
    /// Top-table codes of the source and destination (address tables, then address:port
    /// tables), when they have one: exact, or from the bucket's shared ids.
    src_codes: [Option<u64>; 2],
    dst_codes: [Option<u64>; 2],
    sk: names::PortKey,
    dk: names::PortKey,
    src_port_hash: u64,
    dst_port_hash: u64,
}

impl Keys {
    pub(super) fn new(
        r: &FlowRecord,
        src: Option<Endpoint>,
        dst: Option<Endpoint>,
        naming: &Naming,
        ids: &mut SharedIds<Endpoint>,
    ) -> Keys {
        let sk = naming.ports.key(r.src_port, r.protocol);
        let dk = naming.ports.key(r.dst_port, r.protocol);
        Keys {
            src_codes: codes(src.as_ref(), sk, ids),
            dst_codes: codes(dst.as_ref(), dk, ids),
            src: src.zip(r.src_ip.map(ip_hash)),
            dst: dst.zip(r.dst_ip.map(ip_hash)),
            sk,
            dk,
            src_port_hash: card_hash(&r.src_port.to_be_bytes()),
            dst_port_hash: card_hash(&r.dst_port.to_be_bytes()),
        }
    }
}

/// The codes of an endpoint in the address tables and, with `port`, in the address:port
/// tables: exact when the address has one, else from the shared ids (None when full: the
/// tables' own side maps take the key).
fn codes(
    e: Option<&Endpoint>,
    port: names::PortKey,
    ids: &mut SharedIds<Endpoint>,
) -> [Option<u64>; 2] {
    let Some(e) = e else { return [None; 2] };
    let exact = [e.encode(), pair_code(e, port)];
    if exact.iter().all(Option::is_some) {
        return exact;
    }
    match ids.id(e) {
        Some(id) => [
            exact[0].or(Some(shared_code(id, 0))),
            exact[1].or(Some(shared_code(id, port.raw()))),
        ],
        None => exact,
    }
}

/// A record's deep work, done after its counters.
pub(super) struct DeepWork {
    pub(super) r: FlowRecord,
    pub(super) w: [u64; 2],
    pub(super) keys: Keys,
    /// Positions (`DeviceMetrics::slot`) of the input and output interfaces.
    pub(super) slots: [Option<usize>; 2],
}

/// One kind of deep update (one table or two of a kind).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Pass {
    Ports,
    PortCardinality,
    SrcIp,
    DstIp,
    SrcIpPort,
    DstIpPort,
    Tos,
    Conversations,
}

impl Pass {
    pub(super) const ALL: [Pass; 8] = [
        Pass::Ports,
        Pass::PortCardinality,
        Pass::SrcIp,
        Pass::DstIp,
        Pass::SrcIpPort,
        Pass::DstIpPort,
        Pass::Tos,
        Pass::Conversations,
    ];

    pub(super) fn enabled(self, g: GroupSet) -> bool {
        match self {
            Pass::Ports => g.has(G_TOP_PORTS),
            Pass::PortCardinality => g.has(G_CARDINALITY),
            Pass::SrcIp | Pass::DstIp => g.has(G_TOP_IPS) || g.has(G_CARDINALITY),
            Pass::SrcIpPort | Pass::DstIpPort => g.has(G_TOP_IPS_PORTS),
            Pass::Tos => g.has(G_TOP_TOS),
            Pass::Conversations => g.has(G_CONVERSATIONS),
        }
    }
}

/// Starts loading the top-table slots `job` will update on `m` (direction `dir`), so the
/// cache misses of several records overlap instead of queueing one after another.
pub(super) fn prefetch(m: &InterfaceMetrics, dir: usize, job: &DeepWork, groups: GroupSet) {
    let (r, k) = (&job.r, &job.keys);
    let Some(t) = m.tops.get(dir) else { return };
    if groups.has(G_TOP_PORTS) {
        t.src_ports.prefetch(&k.sk);
        t.dst_ports.prefetch(&k.dk);
    }
    if groups.has(G_TOP_IPS) {
        if let Some(c) = k.src_codes[0] {
            t.src_ips.prefetch_code(c);
        }
        if let Some(c) = k.dst_codes[0] {
            t.dst_ips.prefetch_code(c);
        }
    }
    if groups.has(G_TOP_IPS_PORTS) {
        if r.src_port > 0
            && let Some(c) = k.src_codes[1]
        {
            t.src_ip_ports.prefetch_code(c);
        }
        if r.dst_port > 0
            && let Some(c) = k.dst_codes[1]
        {
            t.dst_ip_ports.prefetch_code(c);
        }
    }
}

pub(super) fn deep_pass(
    pass: Pass,
    m: &mut InterfaceMetrics,
    dir: usize,
    job: &DeepWork,
    groups: GroupSet,
    naming: &Naming,
) {
    let (r, w, k) = (&job.r, job.w, &job.keys);
    let card = groups.has(G_CARDINALITY);
    let t = &mut m.tops[dir];
    match pass {
        Pass::Ports => {
            if r.src_port > 0 {
                t.src_ports.add(k.sk, w);
            }
            if r.dst_port > 0 {
                t.dst_ports.add(k.dk, w);
            }
        }
        Pass::PortCardinality => {
            if r.src_port > 0 {
                m.card_src_ports.insert_hash(k.src_port_hash);
            }
            if r.dst_port > 0 {
                m.card_dst_ports.insert_hash(k.dst_port_hash);
            }
        }
        Pass::SrcIp => {
            if let Some((e, h)) = &k.src {
                if card {
                    m.card_src_ips.insert_hash(*h);
                }
                if groups.has(G_TOP_IPS) {
                    match k.src_codes[0] {
                        Some(c) => t.src_ips.add_code(c, w),
                        None => t.src_ips.add_ref(e, w),
                    }
                }
            }
        }
        Pass::DstIp => {
            if let Some((e, h)) = &k.dst {
                if card {
                    m.card_dst_ips.insert_hash(*h);
                }
                if groups.has(G_TOP_IPS) {
                    match k.dst_codes[0] {
                        Some(c) => t.dst_ips.add_code(c, w),
                        None => t.dst_ips.add_ref(e, w),
                    }
                }
            }
        }
        Pass::SrcIpPort => {
            if let Some((e, _)) = &k.src
                && r.src_port > 0
            {
                match k.src_codes[1] {
                    Some(c) => t.src_ip_ports.add_code(c, w),
                    None => t.src_ip_ports.add((e.clone(), k.sk), w),
                }
            }
        }
        Pass::DstIpPort => {
            if let Some((e, _)) = &k.dst
                && r.dst_port > 0
            {
                match k.dst_codes[1] {
                    Some(c) => t.dst_ip_ports.add_code(c, w),
                    None => t.dst_ip_ports.add((e.clone(), k.dk), w),
                }
            }
        }
        Pass::Tos => {
            t.dscp.add(r.tos >> 2, w);
            t.ecn.add(r.tos & 3, w);
        }
        Pass::Conversations => {
            if r.src_port > 0
                && r.dst_port > 0
                && let (Some((s, _)), Some((d, _))) = (&k.src, &k.dst)
            {
                let a = format!("{s}:{}", naming.ports.name(k.sk));
                let b = format!("{d}:{}", naming.ports.name(k.dk));
                let conv = if a > b {
                    format!("{b}/{a}")
                } else {
                    format!("{a}/{b}")
                };
                if card {
                    m.card_conversations.insert(conv.as_str());
                }
                m.conversations.add(conv, w);
            }
        }
    }
}
