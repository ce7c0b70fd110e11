//! Receivers (pktvisor's inputs): where packets, dnstap messages and flow exports come
//! from. Every input has one anatomy:
//!
//! - a typed config (`ReceiverConfig`), parsed once from the input's merged config map with
//!   pktvisor's error texts, that declares the resources it will claim (UDP port, TCP port,
//!   unix socket) before anything binds, and builds its `Receiver`;
//! - a `Receiver` that runs on its own thread with a `ReceiverContext` (its output toward
//!   the stream's worker, the shutdown signal, its status) until shutdown or end of input.
//!
//! `INPUTS` is the one table that maps pktvisor's `input_type` names to inputs; a new input
//! is its own module plus one line there (and its `InputKind`).
//!
//! Modules: `pcap` (the pcap input: `pcap_live` libpcap, `af_packet` TPACKET_V3 ring,
//! `mock`, `pcap_file` capture files with `bpf` filters), `dnstap` (Frame Streams over
//! unix/TCP sockets and files), `flow` (sFlow / NetFlow / IPFIX over UDP and from captures),
//! `netprobe` (active ping and TCP probes), `batch` (frame batches), `context` (the
//! receiver's context, deliveries, status).

pub mod af_packet;
pub mod batch;
pub mod bpf;
pub mod context;
pub mod dnstap;
pub mod fanout;
pub mod flow;
pub mod mock;
pub mod netprobe;
pub mod pcap;
pub mod pcap_file;
pub mod pcap_live;
pub mod router;

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::hostspec::HostSpec;
use crate::config::value::ConfigMap;
use crate::receiver::context::{ReceiverContext, ReceiverStatus};
use crate::receiver::dnstap::filter::HostFilter;
use crate::receiver::flow::FlowType;

pub use context::{Delivery, FileSummary, Shutdown};

/// pktvisor's input types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputKind {
    /// `pcap`: live capture (libpcap, AF_PACKET, mock) or a capture file.
    Pcap,
    /// `dnstap`: Frame Streams over a unix socket, TCP or a file.
    Dnstap,
    /// `flow` (alias `sflow`): sFlow, NetFlow and IPFIX over UDP or from a capture.
    Flow,
    /// `netprobe`: active ICMP echo and TCP connect probes.
    Netprobe,
}

/// Something a receiver takes for itself: two streams claiming the same one cannot both
/// run, so claims are compared before anything binds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// A UDP port on a bind address.
    UdpPort {
        /// Bind address as configured.
        bind: String,
        /// Port.
        port: u16,
    },
    /// A TCP listening port on a host.
    TcpPort {
        /// Host as configured.
        host: String,
        /// Port.
        port: u16,
    },
    /// A unix socket path.
    UnixSocket(PathBuf),
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resource::UdpPort { bind, port } => write!(f, "UDP port {bind}:{port}"),
            Resource::TcpPort { host, port } => write!(f, "TCP port {host}:{port}"),
            Resource::UnixSocket(p) => write!(f, "unix socket {}", p.display()),
        }
    }
}

impl Resource {
    /// Whether two claims collide (a wildcard bind address collides with every address of
    /// the same port).
    pub fn collides(&self, other: &Resource) -> bool {
        let wild = |a: &str| matches!(a, "0.0.0.0" | "::" | "[::]" | "");
        match (self, other) {
            (Resource::UdpPort { bind: a, port: p }, Resource::UdpPort { bind: b, port: q })
            | (Resource::TcpPort { host: a, port: p }, Resource::TcpPort { host: b, port: q }) => {
                p == q && *p != 0 && (a == b || wild(a) || wild(b))
            }
            (Resource::UnixSocket(a), Resource::UnixSocket(b)) => a == b,
            _ => false,
        }
    }
}

/// How the stream's worker turns this input's deliveries into events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoding {
    /// Bound on reassembled TCP connections (packet inputs).
    pub tcp_limit: usize,
    /// The export protocol of flow datagrams (flow inputs).
    pub flow_type: Option<FlowType>,
}

impl Default for Decoding {
    fn default() -> Self {
        Decoding {
            tcp_limit: crate::decode::tcp_stream::DEFAULT_CONNECTION_LIMIT,
            flow_type: None,
        }
    }
}

/// A receiver built from its config, ready to run.
pub struct Built {
    /// The receiver.
    pub receiver: Box<dyn Receiver>,
    /// The addresses that are "the host" for packet directions (a libpcap capture without
    /// an explicit `host_spec` uses its interface's).
    pub host_spec: HostSpec,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built").finish_non_exhaustive()
    }
}

/// A running input source.
pub trait Receiver: Send {
    /// Runs on the calling thread until `ctx.shutdown` is triggered or the input ends,
    /// delivering into `ctx`. `Err` is a failure that retrying cannot mend (a file that
    /// cannot be read, a filter that does not compile); live sources retry on their own.
    fn run(self: Box<Self>, ctx: &ReceiverContext) -> Result<(), String>;
}

/// A receiver's typed configuration.
pub trait ReceiverConfig: Send + Sync + std::fmt::Debug {
    /// Which input this is.
    fn kind(&self) -> InputKind;
    /// Whether it reads a recording (packet time, runs to its end) rather than live.
    fn recorded(&self) -> bool;
    /// What it will claim when it runs.
    fn resources(&self) -> Vec<Resource> {
        Vec::new()
    }
    /// How its deliveries are decoded.
    fn decoding(&self) -> Decoding {
        Decoding::default()
    }
    /// Warnings about defaults taken (logged when the stream starts).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
    /// Builds the receiver: looks up what it needs (an interface) without binding or
    /// opening anything; errors are pktvisor's texts.
    fn build(&self) -> Result<Built, String>;
    /// The receivers of a stream with `workers` workers: one (its deliveries are spread
    /// over the workers), or one per worker when the source fans out by itself.
    fn build_shards(&self, workers: usize) -> Result<Vec<Built>, String> {
        let _ = workers;
        Ok(vec![self.build()?])
    }
    /// The input's section of its policy info (`"pcap": {…}` and so on).
    fn describe(
        &self,
        host: &HostSpec,
        status: &ReceiverStatus,
    ) -> Option<(&'static str, serde_json::Value)>;
}

/// One input type: its names, config keys and how its config is parsed.
#[derive(Clone, Copy)]
pub struct InputSpec {
    /// Which input.
    pub kind: InputKind,
    /// Its `input_type` names, canonical first (`flow`, `sflow`).
    pub names: &'static [&'static str],
    /// Valid keys of its merged input config.
    pub keys: &'static [&'static str],
    /// Whether a policy's `input.filter` is part of the stream (and of its identity) rather
    /// than a per-policy filter of the stream's events.
    pub filter_in_stream: bool,
    /// Parses a merged input config.
    pub parse: fn(&ConfigMap) -> Result<Arc<dyn ReceiverConfig>, String>,
    /// A policy's own filter of the stream's events (`only_hosts`), from the input config
    /// and the policy's `input.filter`.
    pub policy_filter: fn(&ConfigMap, &ConfigMap) -> Result<HostFilter, String>,
    /// Rewrites an input config to read `path` instead of its live source (the reader).
    pub read_file: fn(&mut ConfigMap, &str),
}

impl std::fmt::Debug for InputSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "input {}", self.name())
    }
}

impl InputSpec {
    /// The canonical `input_type` name.
    pub fn name(&self) -> &'static str {
        self.names.first().copied().unwrap_or("")
    }
}

/// No per-policy filter (inputs whose filter is part of the stream).
pub fn no_policy_filter(_: &ConfigMap, _: &ConfigMap) -> Result<HostFilter, String> {
    Ok(HostFilter::default())
}

/// Every input: the one table that maps `input_type` names to receivers.
pub const INPUTS: &[InputSpec] = &[pcap::INPUT, dnstap::INPUT, flow::INPUT, netprobe::INPUT];

/// The input of an `input_type` name (`sflow` is the flow input).
pub fn input(name: &str) -> Option<&'static InputSpec> {
    INPUTS.iter().find(|s| s.names.contains(&name))
}

/// The input a receiver type (collector-style id, the reader's `-i`) names: an
/// `input_type` name, or `sflow`, `netflow`, `ipfix` (the flow input with that `flow_type`).
pub fn input_named(name: &str) -> Option<(&'static InputSpec, Option<&'static str>)> {
    match name {
        "sflow" => Some((&flow::INPUT, Some("sflow"))),
        "netflow" => Some((&flow::INPUT, Some("netflow"))),
        "ipfix" => Some((&flow::INPUT, Some("ipfix"))),
        other => input(other).map(|s| (s, None)),
    }
}

/// The input of a kind.
pub fn input_of(kind: InputKind) -> &'static InputSpec {
    INPUTS.iter().find(|s| s.kind == kind).unwrap_or(&INPUTS[0])
}

/// Keys every input takes besides its own: `workers` (how many workers its stream gets).
pub const COMMON_KEYS: &[&str] = &["workers"];

/// Checks an input config's keys with pktvisor's text.
pub fn check_keys(spec: &InputSpec, cfg: &ConfigMap) -> Result<(), String> {
    for k in cfg.keys() {
        if !spec.keys.contains(&k) && !COMMON_KEYS.contains(&k) {
            let mut valid = spec.keys.to_vec();
            valid.extend(COMMON_KEYS);
            return Err(format!(
                "{k} is an invalid/unsupported config or filter. The valid configs/filters are: {}",
                valid.join(", ")
            ));
        }
    }
    Ok(())
}
