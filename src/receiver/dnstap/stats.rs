//! Counters of a dnstap listener, shared by its connection tasks (relaxed atomics, one
//! increment per frame or batch, not per byte) and read as a plain snapshot: connections
//! (with the slots' bound and what it refused or evicted), frames, messages, backpressure,
//! drops, the partial-frame byte budget, and disconnects by reason.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use super::budget::ByteBudget;
use crate::metric::TableStat;

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Disconnect {
    /// STOP received (and FINISH sent when bidirectional): a clean end.
    Stopped,
    /// The peer closed without STOP (every complete frame was still delivered).
    AbruptClose,
    /// Bytes that are not Frame Streams before the handshake (a data frame or an impossible
    /// length where READY or START belongs).
    Garbage,
    /// A malformed control frame (unknown control type, bad field, too long).
    BadFrame,
    /// A data frame longer than the maximum.
    OversizedFrame,
    /// A control frame out of order, or data before START.
    Protocol,
    /// The peer's content type is not `protobuf:dnstap.Dnstap`.
    ContentType,
    /// READY/START did not come in time.
    HandshakeTimeout,
    /// A frame was started and not completed in time.
    Stalled,
    /// No frame for longer than the idle timeout (when one is set).
    IdleTimeout,
    /// Reading or writing the socket failed.
    IoError,
    /// The listener was shut down.
    Shutdown,
    /// The consumer's channel closed.
    ConsumerGone,
    /// Its partial frame would have taken the shared partial-frame budget past its limit.
    MemoryBudget,
    /// Every slot was taken and a new sender took this connection's (it was idle longest).
    Evicted,
}

impl Disconnect {
    /// Every reason, in counter order.
    pub const ALL: [Disconnect; 15] = [
        Disconnect::Stopped,
        Disconnect::AbruptClose,
        Disconnect::Garbage,
        Disconnect::BadFrame,
        Disconnect::OversizedFrame,
        Disconnect::Protocol,
        Disconnect::ContentType,
        Disconnect::HandshakeTimeout,
        Disconnect::Stalled,
        Disconnect::IdleTimeout,
        Disconnect::IoError,
        Disconnect::Shutdown,
        Disconnect::ConsumerGone,
        Disconnect::MemoryBudget,
        Disconnect::Evicted,
    ];

    /// Snake-case name used in snapshots and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Disconnect::Stopped => "stopped",
            Disconnect::AbruptClose => "abrupt_close",
            Disconnect::Garbage => "garbage",
            Disconnect::BadFrame => "bad_frame",
            Disconnect::OversizedFrame => "oversized_frame",
            Disconnect::Protocol => "protocol",
            Disconnect::ContentType => "content_type",
            Disconnect::HandshakeTimeout => "handshake_timeout",
            Disconnect::Stalled => "stalled",
            Disconnect::IdleTimeout => "idle_timeout",
            Disconnect::IoError => "io_error",
            Disconnect::Shutdown => "shutdown",
            Disconnect::ConsumerGone => "consumer_gone",
            Disconnect::MemoryBudget => "memory_budget",
            Disconnect::Evicted => "evicted",
        }
    }

    /// Whether the sender misbehaved (anything but a clean stop, a shutdown or our consumer).
    pub fn is_misbehaviour(self) -> bool {
        !matches!(
            self,
            Disconnect::Stopped
                | Disconnect::Shutdown
                | Disconnect::ConsumerGone
                | Disconnect::Evicted
        )
    }

    fn index(self) -> usize {
        Disconnect::ALL.iter().position(|d| *d == self).unwrap_or(0)
    }
}

/// Live counters of one listener.
#[derive(Debug, Default)]
pub struct ListenerStats {
    accepted: AtomicU64,
    refused: AtomicU64,
    accept_errors: AtomicU64,
    active: AtomicU64,
    bytes: AtomicU64,
    data_frames: AtomicU64,
    control_frames: AtomicU64,
    messages: AtomicU64,
    invalid_messages: AtomicU64,
    not_messages: AtomicU64,
    batches: AtomicU64,
    backpressure_waits: AtomicU64,
    dropped_messages: AtomicU64,
    partial_frames: AtomicU64,
    evicted: AtomicU64,
    disconnects: [AtomicU64; 15],
    max_connections: AtomicUsize,
    budget: OnceLock<Arc<ByteBudget>>,
}

/// A copy of the counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatsSnapshot {
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections refused because `max_connections` were open and none idle long enough
    /// to give up its slot.
    pub connections_refused: u64,
    /// Connections closed to give their slot to a new sender (idle longest).
    pub connections_evicted: u64,
    /// The bound on connections open at once.
    pub max_connections: u64,
    /// accept() failures (e.g. out of file descriptors).
    pub accept_errors: u64,
    /// Connections open now.
    pub connections_active: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Data frames read.
    pub data_frames: u64,
    /// Control frames read.
    pub control_frames: u64,
    /// dnstap messages handed to the consumer.
    pub messages: u64,
    /// Data frames that are not valid dnstap protobuf (skipped, as pktvisor does).
    pub invalid_messages: u64,
    /// Valid protobuf that is not a MESSAGE with a message (skipped).
    pub not_messages: u64,
    /// Batches handed to the consumer.
    pub batches: u64,
    /// Times a connection waited because the consumer's channel was full (backpressure).
    pub backpressure_waits: u64,
    /// Decoded messages that could not be handed over (consumer gone or shutdown timeout).
    pub dropped_messages: u64,
    /// Connections closed, timed out or shut down inside a frame (that frame is lost).
    pub partial_frames: u64,
    /// Bytes of frames not yet complete held now, by every dnstap connection of the
    /// process (the shared budget).
    pub partial_bytes: u64,
    /// The shared partial-frame budget.
    pub partial_budget: u64,
    /// Connections of every listener closed because their partial frame did not fit the
    /// shared budget.
    pub partial_budget_refused: u64,
    /// Ended connections by reason.
    pub disconnects: BTreeMap<&'static str, u64>,
}

impl StatsSnapshot {
    /// Disconnects for one reason.
    pub fn disconnects_for(&self, d: Disconnect) -> u64 {
        self.disconnects.get(d.as_str()).copied().unwrap_or(0)
    }
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl ListenerStats {
    pub(crate) fn accepted(&self) {
        add(&self.accepted, 1);
        add(&self.active, 1);
    }
    pub(crate) fn refused(&self) {
        add(&self.refused, 1);
    }
    pub(crate) fn evicted(&self) {
        add(&self.evicted, 1);
    }
    pub(crate) fn set_limits(&self, max_connections: usize, budget: Arc<ByteBudget>) {
        self.max_connections
            .store(max_connections, Ordering::Relaxed);
        let _ = self.budget.set(budget);
    }
    pub(crate) fn accept_error(&self) {
        add(&self.accept_errors, 1);
    }
    pub(crate) fn ended(&self, d: Disconnect) {
        self.active.fetch_sub(1, Ordering::Relaxed);
        add(&self.disconnects[d.index()], 1);
    }
    pub(crate) fn bytes(&self, n: usize) {
        add(&self.bytes, n as u64);
    }
    pub(crate) fn frames(&self, data: u64, control: u64) {
        add(&self.data_frames, data);
        add(&self.control_frames, control);
    }
    pub(crate) fn skipped(&self, invalid: u64, not_message: u64) {
        add(&self.invalid_messages, invalid);
        add(&self.not_messages, not_message);
    }
    pub(crate) fn delivered(&self, messages: usize) {
        add(&self.messages, messages as u64);
        add(&self.batches, 1);
    }
    pub(crate) fn backpressure(&self) {
        add(&self.backpressure_waits, 1);
    }
    pub(crate) fn dropped(&self, messages: usize) {
        add(&self.dropped_messages, messages as u64);
    }
    pub(crate) fn partial_frame(&self) {
        add(&self.partial_frames, 1);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            connections_accepted: g(&self.accepted),
            connections_refused: g(&self.refused),
            connections_evicted: g(&self.evicted),
            max_connections: self.max_connections.load(Ordering::Relaxed) as u64,
            accept_errors: g(&self.accept_errors),
            connections_active: g(&self.active),
            bytes: g(&self.bytes),
            data_frames: g(&self.data_frames),
            control_frames: g(&self.control_frames),
            messages: g(&self.messages),
            invalid_messages: g(&self.invalid_messages),
            not_messages: g(&self.not_messages),
            batches: g(&self.batches),
            backpressure_waits: g(&self.backpressure_waits),
            dropped_messages: g(&self.dropped_messages),
            partial_frames: g(&self.partial_frames),
            partial_bytes: self.budget.get().map_or(0, |b| b.held() as u64),
            partial_budget: self.budget.get().map_or(0, |b| b.limit() as u64),
            partial_budget_refused: self.budget.get().map_or(0, |b| b.refused()),
            disconnects: Disconnect::ALL
                .iter()
                .map(|d| (d.as_str(), g(&self.disconnects[d.index()])))
                .collect(),
        }
    }
}

impl ListenerStats {
    /// The listener's bounded tables: connections (refusals as losses) and the shared
    /// partial-frame budget in bytes (connections it closed as losses).
    pub fn tables(&self) -> Vec<TableStat> {
        let s = self.snapshot();
        vec![
            TableStat {
                name: "dnstap_connections",
                len: s.connections_active as usize,
                limit: s.max_connections as usize,
                evicted: s.connections_refused,
            },
            TableStat {
                name: "dnstap_partial_frame_bytes",
                len: s.partial_bytes as usize,
                limit: s.partial_budget as usize,
                evicted: s.partial_budget_refused,
            },
        ]
    }
}
