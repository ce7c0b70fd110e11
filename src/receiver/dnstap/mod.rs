//! The dnstap receiver (pktvisor's `dnstap` input): Frame Streams over unix sockets, TCP
//! and files, carrying `protobuf:dnstap.Dnstap` messages for the dns and net processors.
//!
//! - `proto`: the dnstap protobuf messages (generated from `proto/dnstap.proto`).
//! - `fstrm`: Frame Streams framing (data and control frames), a tokio-util codec.
//! - `session`: the receiver's handshake as a sans-I/O state machine.
//! - `file`: reading `.dnstap` files.
//! - `listener`: unix/TCP listeners, many senders, bounded hand-over, counters (`stats`),
//!   the unix socket file's safe creation and removal (`socket`), the shared byte budget
//!   of partial frames (`budget`).
//! - `config`: the input's config keys; `filter`: the `only_hosts` input filter.
//! - `map`: a dnstap message → the event the processors analyse (`DnstapEvent`).
//! - `receiver`: the input's entry in the input table and its socket and file receivers.

pub mod budget;
pub mod config;
pub mod file;
pub mod filter;
pub mod fstrm;
pub mod listener;
pub mod map;
pub mod proto;
pub mod receiver;
pub mod session;
pub mod socket;
pub mod stats;

pub use crate::event::{DnstapEvent, MsgFamily, MsgType};
pub use budget::ByteBudget;
pub use config::{DnstapInput, DnstapSource, TcpSpec};
pub use file::DnstapFileReader;
pub use filter::HostFilter;
pub use listener::{
    DnstapBatch, DnstapFrame, DnstapListener, ListenAddr, ListenError, ListenerConfig,
};
pub use receiver::INPUT;
pub use stats::{Disconnect, ListenerStats, StatsSnapshot};
