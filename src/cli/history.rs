//! The last minutes of packet and DNS query rates for the sparklines: the packet rate is the
//! agent's live `pps` value; the query rate is the growth of the window's query counter
//! between two polls (a window that starts later lost a bucket, so that step is skipped).

use std::collections::VecDeque;
use std::time::Instant;

use super::model::PolicyWindow;

/// How many samples are kept (10 minutes at the default 1 s interval).
pub const CAPACITY: usize = 600;

/// One poll's rates.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    pub pps: Option<u64>,
    pub qps: Option<f64>,
}

/// Rate samples, oldest first.
#[derive(Debug, Clone, Default)]
pub struct History {
    samples: VecDeque<Sample>,
    last_queries: Option<(Instant, i64, u64)>,
}

impl History {
    /// Forgets everything (another policy).
    pub fn clear(&mut self) {
        *self = History::default();
    }

    /// Adds the rates of a window polled at `now`.
    pub fn record(&mut self, now: Instant, w: &PolicyWindow) {
        let pps = w
            .net_v1()
            .and_then(|n| n.pps_total.live)
            .or_else(|| w.net_v2().and_then(|n| n.live_pps()));
        let queries = queries(w);
        let qps = match (self.last_queries, queries) {
            (Some((t0, start0, q0)), Some((start, q))) if start == start0 && q >= q0 => {
                let dt = now.saturating_duration_since(t0).as_secs_f64();
                (dt > 0.0).then(|| (q - q0) as f64 / dt)
            }
            _ => None,
        };
        self.last_queries = queries.map(|(start, q)| (now, start, q));
        if self.samples.len() == CAPACITY {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample { pps, qps });
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The newest `n` packet rates (missing ones as 0), oldest first.
    pub fn pps(&self, n: usize) -> Vec<u64> {
        self.tail(n).map(|s| s.pps.unwrap_or(0)).collect()
    }

    /// The newest `n` query rates rounded (missing ones as 0), oldest first.
    pub fn qps(&self, n: usize) -> Vec<u64> {
        self.tail(n)
            .map(|s| s.qps.map(|q| q.round() as u64).unwrap_or(0))
            .collect()
    }

    /// The newest sample.
    pub fn last(&self) -> Option<Sample> {
        self.samples.back().copied()
    }

    fn tail(&self, n: usize) -> impl Iterator<Item = &Sample> {
        self.samples
            .iter()
            .skip(self.samples.len().saturating_sub(n))
    }
}

/// (window start, DNS queries in the window): dns v1 query packets, else dns v2 transactions.
fn queries(w: &PolicyWindow) -> Option<(i64, u64)> {
    w.dns_v1()
        .map(|d| (d.period.start_ts, d.wire.queries))
        .or_else(|| w.dns_v2().map(|d| (d.period.start_ts, d.xacts())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn window(start: i64, queries: u64, live: u64) -> PolicyWindow {
        PolicyWindow::from_json(
            "p",
            &json!({"p": {
                "h-dns": {"dns": {"period": {"start_ts": start, "length": 10}, "wire_packets": {"queries": queries}}},
                "h-net": {"packets": {"rates": {"pps_total": {"live": live}}}}
            }}),
        )
    }

    #[test]
    fn query_rate_is_counter_growth_and_skips_a_shifted_window() {
        let t0 = Instant::now();
        let mut h = History::default();
        h.record(t0, &window(100, 1000, 40));
        h.record(t0 + Duration::from_secs(2), &window(100, 1300, 50));
        h.record(t0 + Duration::from_secs(3), &window(160, 200, 60));
        h.record(t0 + Duration::from_secs(4), &window(160, 260, 70));
        assert_eq!(h.pps(10), vec![40, 50, 60, 70]);
        assert_eq!(h.qps(10), vec![0, 150, 0, 60]);
        assert_eq!(h.qps(2), vec![0, 60]);
        assert_eq!(h.len(), 4);
    }
}
