//! The per-frame work shared by every packet input: decode each frame once, set its host
//! direction, feed the TCP reassembler, and deliver the events to the policy pipelines.

use crate::config::hostspec::HostSpec;
use crate::decode::Decoder;
use crate::decode::tcp_stream::{PortSet, TcpReassembler};
use crate::event::Event;
use crate::metric::TableStat;
use crate::receiver::batch::Batch;
use crate::service::pipeline::PolicyPipeline;
use crate::time::Timespec;

/// Decoding and delivery state of one input stream.
pub struct Dispatcher {
    decoder: Decoder,
    tcp: TcpReassembler,
    host_spec: HostSpec,
    /// First frame time seen.
    pub first_ts: Option<Timespec>,
    /// Last frame time seen.
    pub last_ts: Option<Timespec>,
    /// Frames delivered.
    pub packets: u64,
    /// Captured bytes delivered.
    pub bytes: u64,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("packets", &self.packets)
            .finish()
    }
}

/// Delivers one event to every pipeline.
pub fn broadcast(pipelines: &mut [PolicyPipeline], ev: &Event<'_>) {
    for p in pipelines.iter_mut() {
        p.dispatch(ev);
    }
}

impl Dispatcher {
    /// A dispatcher with a TCP table of `tcp_limit` connections on `tcp_ports`.
    pub fn new(host_spec: HostSpec, tcp_limit: usize, tcp_ports: PortSet) -> Self {
        Dispatcher {
            decoder: Decoder::new(),
            tcp: TcpReassembler::new(tcp_limit, tcp_ports),
            host_spec,
            first_ts: None,
            last_ts: None,
            packets: 0,
            bytes: 0,
        }
    }

    /// Widens the reassembler's port interest (a pipeline attached later may want more).
    pub fn want_tcp_ports(&mut self, ports: &PortSet) {
        self.tcp.add_ports(ports);
    }

    /// Decodes and delivers every frame of `batch`.
    pub fn batch(&mut self, batch: &Batch, pipelines: &mut [PolicyPipeline]) {
        for (f, data) in batch.iter() {
            if self.first_ts.is_none() {
                self.first_ts = Some(f.ts);
                broadcast(pipelines, &Event::Start(f.ts));
            }
            self.last_ts = Some(f.ts);
            self.packets += 1;
            self.bytes += data.len() as u64;
            let mut info = self.decoder.decode(f.linktype, f.ts, data, f.origlen);
            if let (Some(s), Some(d)) = (info.src_ip, info.dst_ip) {
                info.direction = self.host_spec.direction(&s, &d);
            }
            broadcast(pipelines, &Event::Packet(&info));
            if self.tcp.is_active() {
                self.tcp
                    .process(&info, &mut |ev| broadcast(pipelines, &Event::Tcp(&ev)));
            }
        }
    }

    /// The decoder's counts.
    pub fn decode_stats(&self) -> &crate::decode::DecodeStats {
        self.decoder.stats()
    }

    /// TCP reassembly errors so far (gaps given up on).
    pub fn tcp_errors(&self) -> u64 {
        self.tcp.stats().gaps
    }

    /// The TCP table's occupancy.
    pub fn tcp_table(&self) -> TableStat {
        TableStat {
            name: "tcp_reassembly_connections",
            len: self.tcp.len(),
            limit: self.tcp.limit(),
            evicted: self.tcp.stats().evicted,
        }
    }

    /// The host spec directions are computed with.
    pub fn host_spec(&self) -> &HostSpec {
        &self.host_spec
    }
}
