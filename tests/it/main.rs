//! The one integration-test binary: modules per surface.

mod agent_api;
mod agent_dnstap;
mod agent_flow;
mod agent_live;
mod agent_otlp;
mod agent_proc;
mod common;
mod conformance;
mod decode;
mod dns_truth;
mod dns_tshark;
mod dnstap_file;
mod dnstap_listener;
mod dnstap_unbound;
mod flow;
mod flow_udp;
mod otlp_collector;
mod otlp_delivery;
mod otlp_docs;
mod otlp_reader;
mod otlp_receiver;
mod otlp_rotel;
mod otlp_selftel;
mod processors;
mod reader;
mod reader_config;
