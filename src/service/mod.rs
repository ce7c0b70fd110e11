//! The service layer: taps and policies resolved into plans, policies as processor
//! pipelines, and running an input to completion.
//!
//! `plan` turns a parsed document into per-policy plans (selected taps, merged input and
//! handler configs, pktvisor's errors). `pipeline` owns a policy's processors, delivers
//! events to them (independently or as a chain) and reads them back as JSON or Prometheus.
//! `file_run` drives a capture file through decode, TCP reassembly and the pipelines.
//! `dnstap_run` maps dnstap messages into the pipelines (live and from files).

pub mod dispatch;
pub mod dnstap_run;
pub mod file_run;
pub mod pipeline;
pub mod plan;
