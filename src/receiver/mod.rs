//! Receivers (pktvisor's inputs): where packets come from. Capture files are read by
//! `pcap_file`; `bpf` applies tcpdump filters to their records. `dnstap` takes dnstap over
//! Frame Streams (unix/TCP listeners and files). `flow` decodes sFlow, NetFlow and IPFIX
//! datagrams (per-exporter template caches, capture-file mode).

pub mod af_packet;
pub mod batch;
pub mod bpf;
pub mod dnstap;
pub mod flow;
pub mod mock;
pub mod pcap_file;
pub mod pcap_live;
