//! pktvisor in Rust: a network observability agent that is a drop-in replacement for
//! pktvisor 4.5 and OpenTelemetry-native.
//!
//! ```text
//!  receiver          decode              policy fan-out        processor               exporters
//!  pcap file   ─┐                                              net (v1, v2)    ┐
//!  pcap live   ─┼─► wire views ─► PacketInfo ─► one input,  ─► pcap, dhcp, bgp ├ Window of     ┌► REST JSON
//!  dnstap      ─┤   (zero-copy)   + TCP streams  many policies  dns, flow, …    │ 60 s buckets ─┼► Prometheus
//!  flow        ─┘                                                              ┘ of sketches   └► reader stdout
//! ```
//!
//! Module map:
//! - `agent`: pktvisord — layered settings, taps/policies/streams registry, REST API.
//! - `cli`: pktvisor-cli — the terminal UI over the REST API.
//! - `wire`: zero-copy, panic-free protocol views (Ethernet … BGP, sFlow, NetFlow/IPFIX).
//! - `decode`: frame → `PacketInfo`, fragment reassembly, TCP stream reassembly.
//! - `sketch`: mergeable metric values (counter, rate, distribution, top-N, cardinality).
//! - `window`: 60-second buckets, rotation, merged windows.
//! - `processor`: the stream handlers (net, pcap, dhcp, bgp, dns, flow, …).
//! - `enrich`: GeoIP / ASN lookups and IANA service names.
//! - `metric`: the contract processors → encoders: `Desc` (with each metric's OpenTelemetry
//!   identity, `metric::otel`), `Scope`, `MetricSink`, `Snapshot`.
//! - `export`: the JSON, Prometheus and OTLP encoders (sinks of the metric visitor).
//! - `otlp`: OTLP delivery (config from YAML/env/flags, gRPC and HTTP transports, retry,
//!   bounded queue, self-telemetry through the OpenTelemetry SDK).
//! - `config`: pktvisor's config value model, host specs, taps/policies YAML.
//! - `files`: bounded, regular-file reads of what the agent is pointed at; the log file.
//! - `logging`: the `PKTVISOR_LOG` filter of the binaries.
//! - `receiver`: capture files and BPF; dnstap (Frame Streams over sockets and files);
//!   flow (sFlow / NetFlow / IPFIX datagrams, template caches, capture-file mode);
//!   netprobe (active ICMP echo and TCP connect probes).
//! - `service`: plans, policy pipelines, running inputs.
//! - `ops`: running as a service: systemd readiness (`sd_notify`), log format and colours.
//! - `time`: timestamps.

pub mod agent;
pub mod cli;
pub mod config;
pub mod decode;
pub mod enrich;
pub mod event;
pub mod export;
pub mod files;
pub mod metric;
pub mod ops;
pub mod otlp;
pub mod processor;
pub mod receiver;
pub mod service;
pub mod sketch;
#[doc(hidden)]
pub mod testdata;
pub mod time;
pub mod window;
pub mod wire;

/// The version string pktvisor prints (`pktvisor 4.5.0…`).
pub const VISOR_VERSION: &str = concat!("pktvisor ", env!("CARGO_PKG_VERSION"));
