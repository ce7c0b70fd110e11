//! The result of one active probe (the netprobe input) as the netprobe processor sees it:
//! which target, which address was probed, how the probe ended and when.
//!
//! The netprobe receiver decides every outcome itself (it matches echo replies to its
//! requests by identifier and sequence number, and knows its own timeout), so a probe is
//! one event: its attempt and its outcome land in the same bucket.

use std::net::IpAddr;
use std::sync::Arc;

use crate::time::Timespec;

/// What kind of probe a netprobe input sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeTest {
    /// ICMP / ICMPv6 echo.
    Ping,
    /// A TCP connect.
    Tcp,
}

impl ProbeTest {
    /// pktvisor's `test_type` name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeTest::Ping => "ping",
            ProbeTest::Tcp => "tcp",
        }
    }
}

/// How one probe ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// An echo reply matched the request, or the TCP connection was established.
    Success {
        /// Round trip (ping) or connect time (TCP) in nanoseconds.
        rtt_ns: u64,
    },
    /// No answer within the input's `timeout_msec`.
    Timeout,
    /// The TCP connection was refused or the target unreachable; also a socket that could
    /// not be opened or a send that failed (pktvisor counts these as connect failures).
    ConnectFailure,
    /// The target's name did not resolve (to an address of the wanted family).
    DnsLookupFailure,
}

/// One probe: the event netprobe processors receive.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeResult {
    /// The target's name (the key under `targets:`): JSON key and the `target` label.
    pub target: Arc<str>,
    /// The target as configured (an IP address or a host name).
    pub host: Arc<str>,
    /// The TCP port (TCP probes).
    pub port: Option<u16>,
    /// The address probed (None when it did not resolve).
    pub address: Option<IpAddr>,
    /// Ping or TCP.
    pub test: ProbeTest,
    /// How it ended.
    pub outcome: ProbeOutcome,
    /// Whether a packet (or a connect) went out: pktvisor's `attempts` counts these.
    pub attempted: bool,
    /// When the probe went out (the test start when nothing was sent).
    pub sent: Timespec,
    /// When its outcome was known.
    pub ts: Timespec,
    /// The input's `timeout_msec` (the processor's default transaction TTL).
    pub timeout_ms: u64,
}
