//! Handlers beyond pktvisor's CLI: flow (per device and interface), netprobe (per target)
//! and input_resources.

use super::json::{J, Period, Quantiles, Rate, TopItem, merge_tops};

/// One flow interface's totals and tops (bytes flavour, else packets).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowInterface {
    pub name: String,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub in_packets: u64,
    pub out_packets: u64,
    pub conversations: u64,
    pub src_ips: Vec<TopItem>,
    pub dst_ips: Vec<TopItem>,
    pub dst_ports: Vec<TopItem>,
    pub conversation_tops: Vec<TopItem>,
    /// Whether the tops are by bytes (else by packets).
    pub by_bytes: bool,
}

/// One exporter (device).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowDevice {
    pub name: String,
    pub records: u64,
    pub filtered: u64,
    pub interfaces: Vec<FlowInterface>,
}

/// flow (reference §5.8).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flow {
    pub period: Period,
    pub devices: Vec<FlowDevice>,
}

fn bytes_else_packets(j: J, stem: &str) -> (Vec<TopItem>, bool) {
    let bytes = j.top(&format!("{stem}_bytes"));
    let packets = format!("{stem}_packets");
    if !bytes.is_empty() || j.at(&packets).is_none() {
        (bytes, true)
    } else {
        (j.top(&packets), false)
    }
}

impl From<J<'_>> for Flow {
    fn from(j: J) -> Self {
        let devices = j
            .entries("devices")
            .into_iter()
            .map(|(name, d)| FlowDevice {
                name,
                records: d.u("records_flows"),
                filtered: d.u("records_filtered"),
                interfaces: d
                    .entries("interfaces")
                    .into_iter()
                    .map(|(name, i)| {
                        let (src_ips, by_bytes) = bytes_else_packets(i, "top_in_src_ips");
                        FlowInterface {
                            name,
                            in_bytes: i.u("in_bytes"),
                            out_bytes: i.u("out_bytes"),
                            in_packets: i.u("in_packets"),
                            out_packets: i.u("out_packets"),
                            conversations: i.u("cardinality/conversations"),
                            src_ips,
                            dst_ips: bytes_else_packets(i, "top_in_dst_ips").0,
                            dst_ports: bytes_else_packets(i, "top_in_dst_ports").0,
                            conversation_tops: bytes_else_packets(i, "top_conversations").0,
                            by_bytes,
                        }
                    })
                    .collect(),
            })
            .collect();
        Flow {
            period: j.period(),
            devices,
        }
    }
}

impl Flow {
    fn interfaces(&self) -> impl Iterator<Item = &FlowInterface> {
        self.devices.iter().flat_map(|d| d.interfaces.iter())
    }
    /// Top source addresses over every interface (each record counts once, on its input
    /// interface).
    pub fn top_talkers(&self) -> Vec<TopItem> {
        merge_tops(self.interfaces().map(|i| i.src_ips.as_slice()))
    }
    pub fn top_destinations(&self) -> Vec<TopItem> {
        merge_tops(self.interfaces().map(|i| i.dst_ips.as_slice()))
    }
    pub fn top_conversations(&self) -> Vec<TopItem> {
        merge_tops(self.interfaces().map(|i| i.conversation_tops.as_slice()))
    }
    pub fn top_ports(&self) -> Vec<TopItem> {
        merge_tops(self.interfaces().map(|i| i.dst_ports.as_slice()))
    }
    /// Whether the tops are by bytes (the default groups) rather than packets.
    pub fn by_bytes(&self) -> bool {
        self.interfaces().all(|i| i.by_bytes)
    }
}

/// One netprobe target (reference §5.9).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeTarget {
    pub name: String,
    pub attempts: u64,
    pub successes: u64,
    pub connect_failures: u64,
    pub dns_lookup_failures: u64,
    pub timeouts: u64,
    pub min_us: Option<u64>,
    pub max_us: Option<u64>,
    pub quantiles_us: Quantiles,
    /// (upper bound in µs, cumulative count), ascending; `+Inf` as infinity.
    pub histogram_us: Vec<(f64, f64)>,
}

impl ProbeTarget {
    /// Failed attempts in percent (0 without attempts).
    pub fn loss_pct(&self) -> f64 {
        if self.attempts == 0 {
            0.0
        } else {
            self.attempts.saturating_sub(self.successes) as f64 * 100.0 / self.attempts as f64
        }
    }

    /// A latency quantile in µs: the quantile sketch when present, else the upper bound of
    /// the histogram bucket holding it.
    pub fn latency_us(&self, q: f64) -> Option<f64> {
        let from_sketch = match q {
            x if x <= 0.5 => self.quantiles_us.p50,
            x if x <= 0.9 => self.quantiles_us.p90,
            x if x <= 0.95 => self.quantiles_us.p95,
            _ => self.quantiles_us.p99,
        };
        if from_sketch.is_some() {
            return from_sketch;
        }
        let total = self.histogram_us.last()?.1;
        if total <= 0.0 {
            return None;
        }
        self.histogram_us
            .iter()
            .find(|(_, cum)| *cum >= q * total)
            .map(|(b, _)| *b)
            .filter(|b| b.is_finite())
            .or(self.max_us.map(|m| m as f64))
    }
}

/// netprobe: one entry per target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Netprobe {
    pub period: Period,
    pub targets: Vec<ProbeTarget>,
}

impl From<J<'_>> for Netprobe {
    fn from(j: J) -> Self {
        let targets = j
            .entries("targets")
            .into_iter()
            .map(|(name, t)| {
                let mut histogram_us: Vec<(f64, f64)> = t
                    .at("response_histogram_us/buckets")
                    .and_then(|b| b.as_object())
                    .map(|o| {
                        o.iter()
                            .filter_map(|(k, v)| {
                                let bound = if k == "+Inf" {
                                    f64::INFINITY
                                } else {
                                    k.parse().ok()?
                                };
                                Some((bound, v.as_f64()?))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                histogram_us.sort_by(|a, b| a.0.total_cmp(&b.0));
                ProbeTarget {
                    name,
                    attempts: t.u("attempts"),
                    successes: t.u("successes"),
                    connect_failures: t.u("connect_failures"),
                    dns_lookup_failures: t.u("dns_lookup_failures"),
                    timeouts: t.u("packets_timeout"),
                    min_us: t.opt_u("response_min_us"),
                    max_us: t.opt_u("response_max_us"),
                    quantiles_us: t.quantiles("response_quantiles_us"),
                    histogram_us,
                }
            })
            .collect();
        Netprobe {
            period: j.period(),
            targets,
        }
    }
}

/// input_resources (reference §5.10).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub period: Period,
    pub event_rate: Rate,
    pub total: u64,
    pub deep_samples: u64,
    pub cpu_pct: Quantiles,
    pub memory_bytes: Quantiles,
    pub policy_count: u64,
    pub handler_count: u64,
}

impl From<J<'_>> for Resources {
    fn from(j: J) -> Self {
        Resources {
            period: j.period(),
            event_rate: j.rate("event_rate"),
            total: j.u("total"),
            deep_samples: j.u("deep_samples"),
            cpu_pct: j.quantiles("cpu_usage"),
            memory_bytes: j.quantiles("memory_bytes"),
            policy_count: j.u("policy_count"),
            handler_count: j.u("handler_count"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn probe_latency_falls_back_to_histogram_bounds() {
        let v = json!({"targets": {"t": {"attempts": 10, "successes": 8,
            "response_max_us": 900,
            "response_histogram_us": {"buckets": {"100": 2.0, "200": 6.0, "500": 8.0, "+Inf": 8.0}}}}});
        let p = Netprobe::from(J(&v));
        let t = &p.targets[0];
        assert_eq!(t.loss_pct(), 20.0);
        assert_eq!(t.latency_us(0.5), Some(200.0));
        assert_eq!(t.latency_us(0.99), Some(500.0));
    }
}
