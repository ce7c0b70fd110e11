//! The byte budget that bounds what dnstap senders can make the agent hold in partial
//! frames: bytes read from a connection that do not yet form a complete frame. Every
//! connection of every listener draws on one process-wide budget (`ByteBudget::global`,
//! 64 MiB unless the agent sets another limit); a connection whose partial frame would take
//! the total past the limit is disconnected, and the refusal is counted. Without it, max
//! connections × `max_frame_size` (1 GiB by default) could be held by senders that never
//! finish a frame.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

/// The default limit of the process-wide budget.
pub const DEFAULT_PARTIAL_BUDGET: usize = 64 << 20;

/// A shared byte budget.
#[derive(Debug)]
pub struct ByteBudget {
    limit: AtomicUsize,
    held: AtomicUsize,
    refused: AtomicU64,
}

static GLOBAL: LazyLock<Arc<ByteBudget>> =
    LazyLock::new(|| Arc::new(ByteBudget::new(DEFAULT_PARTIAL_BUDGET)));

impl ByteBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> ByteBudget {
        ByteBudget {
            limit: AtomicUsize::new(limit),
            held: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The process-wide budget of dnstap partial frames.
    pub fn global() -> Arc<ByteBudget> {
        Arc::clone(&GLOBAL)
    }

    /// Changes the limit (what is held stays held).
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Bytes held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Growths refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Moves one holder from `from` to `to` bytes: always true when shrinking; when
    /// growing, false (nothing taken, the refusal counted) if the total would pass the limit.
    pub fn resize(&self, from: usize, to: usize) -> bool {
        if to <= from {
            self.held.fetch_sub(from - to, Ordering::Relaxed);
            return true;
        }
        let add = to - from;
        let before = self.held.fetch_add(add, Ordering::Relaxed);
        if before.saturating_add(add) > self.limit() {
            self.held.fetch_sub(add, Ordering::Relaxed);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_within_the_limit_and_counts_refusals() {
        let b = ByteBudget::new(100);
        assert!(b.resize(0, 60));
        assert!(!b.resize(0, 50), "60 + 50 > 100");
        assert_eq!(b.refused(), 1);
        assert!(b.resize(60, 90));
        assert!(b.resize(90, 10));
        assert_eq!(b.held(), 10);
        assert!(b.resize(0, 90));
        assert_eq!(b.held(), 100);
        assert!(b.resize(90, 0) && b.resize(10, 0));
        assert_eq!(b.held(), 0);
    }
}
