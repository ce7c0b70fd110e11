//! The netprobe input (`input_type: netprobe`): active ICMP / ICMPv6 echo ("ping") and TCP
//! connect probes to named targets at a fixed interval, as pktvisor's netprobe input.
//!
//! - `config`: the typed config with pktvisor's keys, defaults, checks and error texts;
//! - `schedule`: the drift-free timer heap (tests on a fixed grid, targets spread over the
//!   interval);
//! - `probe`: the loop on the receiver's thread (shared ICMP sockets per family, TCP
//!   connects, reply matching by identifier and sequence number, timeouts);
//! - `resolve`: per-test name lookups on a small thread pool;
//! - `sys`: the Linux calls (raw or unprivileged datagram ICMP sockets, kernel send and
//!   receive timestamps, epoll, eventfd, `TCP_INFO`).
//!
//! Every probe's outcome is delivered as a `ProbeResult` to the stream's worker (all to
//! worker 0, see `receiver::router`); the `netprobe` processor counts them per target. The
//! policy info shows pktvisor's `netprobe.current_targets_total` and `ping_sockets`, and
//! our `netprobe.probes` counters.

pub mod config;
pub mod probe;
pub mod resolve;
pub mod schedule;
pub mod sys;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::json;

use crate::config::hostspec::HostSpec;
use crate::event::ProbeTest;
use crate::receiver::context::{ReceiverContext, ReceiverStatus};
use crate::receiver::{Built, InputKind, InputSpec, Receiver, ReceiverConfig, no_policy_filter};

use config::INPUT_KEYS;
pub use config::{Family, NetprobeInput, TargetDef, TargetHost};
use probe::{ProbeStats, Prober};

/// The netprobe input in the table of inputs.
pub const INPUT: InputSpec = InputSpec {
    kind: InputKind::Netprobe,
    names: &["netprobe"],
    keys: INPUT_KEYS,
    filter_in_stream: false,
    parse: |c| Ok(Arc::new(NetprobeInput::from_config(c)?)),
    policy_filter: no_policy_filter,
    // Probes have no recording to read: the config stays live (the reader refuses it).
    read_file: |_, _| {},
};

impl ReceiverConfig for NetprobeInput {
    fn kind(&self) -> InputKind {
        InputKind::Netprobe
    }

    fn recorded(&self) -> bool {
        false
    }

    fn build(&self) -> Result<Built, String> {
        Ok(Built {
            receiver: Box::new(NetprobeReceiver { cfg: self.clone() }),
            host_spec: HostSpec::default(),
        })
    }

    fn describe(
        &self,
        _host: &HostSpec,
        status: &ReceiverStatus,
    ) -> Option<(&'static str, serde_json::Value)> {
        let v = status.info().unwrap_or_else(|| {
            let mut v = json!({"current_targets_total": self.targets.len()});
            if self.test == ProbeTest::Ping {
                v["ping_sockets"] = json!(0);
            }
            v
        });
        Some(("netprobe", v))
    }
}

/// Runs an input's probes on the receiver's thread until the stream stops.
#[derive(Debug)]
pub struct NetprobeReceiver {
    cfg: NetprobeInput,
}

impl Receiver for NetprobeReceiver {
    fn run(self: Box<Self>, ctx: &ReceiverContext) -> Result<(), String> {
        let stats = Arc::new(ProbeStats {
            targets: self.cfg.targets.len(),
            ping: self.cfg.test == ProbeTest::Ping,
            ..ProbeStats::default()
        });
        let mut prober = Prober::new(self.cfg, Arc::clone(&stats))
            .map_err(|e| format!("netprobe: cannot start: {e}"))?;
        ctx.status.set_info(stats);
        ctx.status.running.store(true, Ordering::SeqCst);
        prober.run(ctx);
        ctx.status.running.store(false, Ordering::SeqCst);
        Ok(())
    }
}
