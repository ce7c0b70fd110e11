//! The one integration-test binary: modules per surface.

mod common;
mod conformance;
mod decode;
mod dns_truth;
mod dns_tshark;
mod dnstap_file;
mod dnstap_listener;
mod dnstap_unbound;
mod flow;
mod processors;
mod reader;
mod reader_config;
