//! The service layer: the one runtime both binaries use.
//!
//! - `plan`: a parsed document resolved into typed, runnable plans (selected taps, merged
//!   input and handler configs, every problem with its path and pktvisor's text).
//! - `pipeline`: a policy's processors, delivering events to them (independently or as a
//!   chain) and reading them back as JSON or Prometheus.
//! - `worker`: turns a receiver's deliveries into events (decode, directions, TCP
//!   reassembly, dnstap mapping and filters, flow decoding).
//! - `stream`: receiver threads feeding the stream's workers; live in the agent
//!   (`Stream::start`), to the end of a recording in the reader (`run_recorded`).
//! - `shards`: reading the workers of a stream as one (merged windows).

pub mod pipeline;
pub mod plan;
pub mod shards;
pub mod stream;
pub mod worker;
