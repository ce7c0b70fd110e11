//! Receivers (pktvisor's inputs): where packets come from. Capture files are read by
//! `pcap_file`; `bpf` applies tcpdump filters to their records.

pub mod bpf;
pub mod pcap_file;
