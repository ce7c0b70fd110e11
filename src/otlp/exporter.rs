//! The OTLP push loop: a bounded queue of encoded batches and one task that delivers them
//! in order with the specification's retry rules.
//!
//! This file owns delivery policy and its counters:
//! - `submit` never blocks. The queue holds `queue_size` batches; when full, the **oldest**
//!   queued batch is dropped (newer data matters more, and with cumulative temporality a
//!   newer batch supersedes it) and its data points are counted in `points_dropped`.
//! - One request is in flight at a time (ordered delivery). Retryable failures are retried
//!   with exponential backoff (`initial_backoff` doubling up to `max_backoff`, "equal
//!   jitter": a random delay between half and all of it), or after the delay the server
//!   asked for (RetryInfo / Retry-After), until `max_elapsed` is spent; then the batch
//!   counts as failed. Permanent failures count as failed at once. Partial successes count
//!   their rejected points and are not retried.
//! - `shutdown(deadline)` stops intake, keeps delivering what is queued until the deadline,
//!   and counts whatever is left (queued or mid-retry) as dropped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::config::OtlpConfig;
use super::transport::{SendError, Transport, TransportError};
use crate::export::otlp::ExportBatch;

/// Counters of the push (self-metrics), as a serializable copy.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ExportStats {
    /// Batches the receiver accepted.
    pub batches_sent: u64,
    /// Data points the receiver accepted (rejected ones excluded).
    pub points_sent: u64,
    /// Data points the receiver rejected in partial successes.
    pub points_rejected: u64,
    /// Data points given up on (permanent error or retries exhausted).
    pub points_failed: u64,
    /// Data points of requests that were retried, once per retry.
    pub points_retried: u64,
    /// Retries made.
    pub retries: u64,
    /// Data points dropped: queue overflow, submitted after shutdown, left at shutdown.
    pub points_dropped: u64,
    /// Batches queued now.
    pub queue_depth: u64,
    /// Data points queued now.
    pub queue_points: u64,
    /// Requests made (including retries).
    pub requests: u64,
    /// Total time spent in requests, seconds.
    pub export_seconds_total: f64,
    /// Duration of the last request, seconds.
    pub last_export_seconds: f64,
    /// The last error, if any.
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Counters {
    batches_sent: AtomicU64,
    points_sent: AtomicU64,
    points_rejected: AtomicU64,
    points_failed: AtomicU64,
    points_retried: AtomicU64,
    retries: AtomicU64,
    points_dropped: AtomicU64,
    requests: AtomicU64,
    export_micros_total: AtomicU64,
    last_export_micros: AtomicU64,
}

struct Shared {
    queue: Mutex<VecDeque<ExportBatch>>,
    capacity: usize,
    notify: Notify,
    closing: AtomicBool,
    deadline: Mutex<Option<Instant>>,
    c: Counters,
    last_error: Mutex<Option<String>>,
}

impl Shared {
    fn add(&self, f: &AtomicU64, n: u64) {
        f.fetch_add(n, Ordering::Relaxed);
    }

    fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_error(&self, e: &str) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
    }
}

/// Starts push loops.
pub struct OtlpExporter;

/// The running push loop.
pub struct OtlpHandle {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl OtlpExporter {
    /// Builds the transport and spawns the loop on the current tokio runtime.
    pub fn start(cfg: &OtlpConfig) -> Result<OtlpHandle, TransportError> {
        let transport = Transport::new(cfg)?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::with_capacity(cfg.queue_size)),
            capacity: cfg.queue_size.max(1),
            notify: Notify::new(),
            closing: AtomicBool::new(false),
            deadline: Mutex::new(None),
            c: Counters::default(),
            last_error: Mutex::new(None),
        });
        let worker = Worker {
            shared: shared.clone(),
            transport,
            initial: cfg.initial_backoff,
            max: cfg.max_backoff,
            max_elapsed: cfg.max_elapsed,
            rng: seed(),
        };
        let task = tokio::spawn(worker.run());
        Ok(OtlpHandle {
            shared,
            task: Mutex::new(Some(task)),
        })
    }
}

impl OtlpHandle {
    /// Queues a batch without blocking; false when something was dropped to make room (or
    /// the loop is shutting down and the batch itself was dropped).
    pub fn submit(&self, batch: ExportBatch) -> bool {
        let s = &self.shared;
        if s.closing.load(Ordering::Acquire) {
            s.add(&s.c.points_dropped, batch.data_points);
            return false;
        }
        let mut dropped = false;
        {
            let mut q = s.queue.lock().unwrap_or_else(|e| e.into_inner());
            while q.len() >= s.capacity {
                if let Some(old) = q.pop_front() {
                    s.add(&s.c.points_dropped, old.data_points);
                    dropped = true;
                }
            }
            q.push_back(batch);
        }
        s.notify.notify_one();
        !dropped
    }

    /// A copy of the counters.
    pub fn stats(&self) -> ExportStats {
        let s = &self.shared;
        let c = &s.c;
        let (depth, points) = {
            let q = s.queue.lock().unwrap_or_else(|e| e.into_inner());
            (q.len() as u64, q.iter().map(|b| b.data_points).sum())
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ExportStats {
            batches_sent: get(&c.batches_sent),
            points_sent: get(&c.points_sent),
            points_rejected: get(&c.points_rejected),
            points_failed: get(&c.points_failed),
            points_retried: get(&c.points_retried),
            retries: get(&c.retries),
            points_dropped: get(&c.points_dropped),
            queue_depth: depth,
            queue_points: points,
            requests: get(&c.requests),
            export_seconds_total: get(&c.export_micros_total) as f64 / 1e6,
            last_export_seconds: get(&c.last_export_micros) as f64 / 1e6,
            last_error: s
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    /// Stops intake, delivers what is queued until `deadline` from now, then stops; what is
    /// left counts as dropped. Idempotent.
    pub async fn shutdown(&self, deadline: Duration) -> ExportStats {
        let s = &self.shared;
        {
            let mut d = s.deadline.lock().unwrap_or_else(|e| e.into_inner());
            if d.is_none() {
                *d = Some(Instant::now() + deadline);
            }
        }
        s.closing.store(true, Ordering::Release);
        s.notify.notify_one();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut t) = task {
            let grace = deadline + Duration::from_millis(200);
            if tokio::time::timeout(grace, &mut t).await.is_err() {
                t.abort();
                let _ = t.await;
            }
            let left: Vec<ExportBatch> = s
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain(..)
                .collect();
            for b in left {
                s.add(&s.c.points_dropped, b.data_points);
            }
        }
        self.stats()
    }
}

struct Worker {
    shared: Arc<Shared>,
    transport: Transport,
    initial: Duration,
    max: Duration,
    max_elapsed: Duration,
    rng: u64,
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9e37_79b9);
    (t ^ u64::from(std::process::id()).rotate_left(32)) | 1
}

impl Worker {
    fn next_random(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Backoff before retry `n` (0-based): equal jitter over `initial * 2^n` capped at `max`.
    fn backoff(&mut self, n: u32) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32.checked_shl(n.min(20)).unwrap_or(u32::MAX))
            .min(self.max);
        let half = base / 2;
        let span = (base - half).as_micros() as u64;
        let jitter = if span == 0 {
            0
        } else {
            self.next_random() % (span + 1)
        };
        half + Duration::from_micros(jitter)
    }

    async fn run(mut self) {
        loop {
            let next = self
                .shared
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
            match next {
                Some(b) => {
                    if self.past_deadline() {
                        self.shared
                            .add(&self.shared.c.points_dropped, b.data_points);
                        continue;
                    }
                    self.deliver(b).await;
                }
                None => {
                    if self.shared.closing.load(Ordering::Acquire) {
                        return;
                    }
                    self.shared.notify.notified().await;
                }
            }
        }
    }

    fn past_deadline(&self) -> bool {
        self.shared.deadline().is_some_and(|d| Instant::now() >= d)
    }

    async fn deliver(&mut self, b: ExportBatch) {
        let s = self.shared.clone();
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            let t0 = Instant::now();
            let r = self.transport.send(&b.request).await;
            let micros = t0.elapsed().as_micros() as u64;
            s.add(&s.c.requests, 1);
            s.add(&s.c.export_micros_total, micros);
            s.c.last_export_micros.store(micros, Ordering::Relaxed);
            let err: SendError = match r {
                Ok(d) => {
                    s.add(&s.c.batches_sent, 1);
                    let rejected = d.rejected.min(b.data_points);
                    s.add(&s.c.points_sent, b.data_points - rejected);
                    if rejected > 0 {
                        s.add(&s.c.points_rejected, rejected);
                        s.set_error(&format!(
                            "receiver rejected {rejected} data points: {}",
                            d.message
                        ));
                        tracing::warn!(
                            "OTLP receiver rejected {rejected} data points: {}",
                            d.message
                        );
                    }
                    return;
                }
                Err(e) => e,
            };
            s.set_error(&err.message);
            if !err.retryable {
                tracing::warn!("OTLP export failed (not retryable): {}", err.message);
                s.add(&s.c.points_failed, b.data_points);
                return;
            }
            let delay = match err.retry_after {
                Some(d) => d,
                None => self.backoff(attempt),
            };
            attempt += 1;
            if started.elapsed() + delay > self.max_elapsed {
                tracing::warn!(
                    "OTLP export failed after {attempt} attempts: {}",
                    err.message
                );
                s.add(&s.c.points_failed, b.data_points);
                return;
            }
            if let Some(d) = s.deadline() {
                let now = Instant::now();
                if now + delay >= d {
                    // no time left before the shutdown deadline
                    s.add(&s.c.points_dropped, b.data_points);
                    return;
                }
            }
            tracing::debug!(
                "OTLP export retry {attempt} in {:?}: {}",
                delay,
                err.message
            );
            s.add(&s.c.retries, 1);
            s.add(&s.c.points_retried, b.data_points);
            tokio::time::sleep(delay).await;
        }
    }
}
