//! Lenient accessors over serde_json values (a missing or mistyped field reads as zero or
//! empty) and the small value types every handler shares: rates, quantiles, top-N lists,
//! periods.

use serde_json::Value;

/// A borrowed JSON object with path accessors (`"xact/in/total"`).
#[derive(Clone, Copy)]
pub(crate) struct J<'a>(pub &'a Value);

impl<'a> J<'a> {
    pub fn at(self, path: &str) -> Option<&'a Value> {
        path.split('/').try_fold(self.0, |v, k| v.get(k))
    }
    pub fn obj(self, path: &str) -> Option<J<'a>> {
        self.at(path).filter(|v| v.is_object()).map(J)
    }
    pub fn opt_u(self, path: &str) -> Option<u64> {
        self.at(path).and_then(as_u64)
    }
    pub fn u(self, path: &str) -> u64 {
        self.opt_u(path).unwrap_or(0)
    }
    pub fn rate(self, path: &str) -> Rate {
        let q = self.quantiles(path);
        Rate {
            live: self.opt_u(&format!("{path}/live")),
            p50: q.p50,
            p90: q.p90,
            p95: q.p95,
            p99: q.p99,
        }
    }
    pub fn quantiles(self, path: &str) -> Quantiles {
        let f = |k: &str| self.at(&format!("{path}/{k}")).and_then(Value::as_f64);
        Quantiles {
            p50: f("p50"),
            p90: f("p90"),
            p95: f("p95"),
            p99: f("p99"),
        }
    }
    pub fn top(self, path: &str) -> Vec<TopItem> {
        self.at(path)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|i| {
                        Some(TopItem {
                            name: match i.get("name")? {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            },
                            estimate: i.get("estimate").and_then(as_u64).unwrap_or(0),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    pub fn period(self) -> Period {
        Period {
            start_ts: self
                .at("period/start_ts")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            length: self
                .at("period/length")
                .and_then(Value::as_i64)
                .unwrap_or(0),
        }
    }
    /// (key, object) pairs of an object-valued field, in the agent's order.
    pub fn entries(self, path: &str) -> Vec<(String, J<'a>)> {
        self.at(path)
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .filter(|(_, v)| v.is_object())
                    .map(|(k, v)| (k.clone(), J(v)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f.round() as u64))
}

/// A window's time span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    pub start_ts: i64,
    pub length: i64,
}

/// pktvisor's rate: the live per-second value and quantiles of per-second samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rate {
    pub live: Option<u64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

impl Rate {
    /// The quantiles alone.
    pub fn quantiles(&self) -> Quantiles {
        Quantiles {
            p50: self.p50,
            p90: self.p90,
            p95: self.p95,
            p99: self.p99,
        }
    }
}

/// p50/p90/p95/p99 (absent when the sketch had no samples).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Quantiles {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

impl Quantiles {
    /// The four values, absent ones as 0.
    pub fn values(&self) -> [f64; 4] {
        [self.p50, self.p90, self.p95, self.p99].map(|v| v.unwrap_or(0.0))
    }
    pub fn is_empty(&self) -> bool {
        self.p50.is_none()
    }
}

/// One top-N row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopItem {
    pub name: String,
    pub estimate: u64,
}

/// Sums several top-N lists by name (flow interfaces → one table), largest first.
pub fn merge_tops<'a>(lists: impl IntoIterator<Item = &'a [TopItem]>) -> Vec<TopItem> {
    let mut sum: Vec<TopItem> = Vec::new();
    for list in lists {
        for i in list {
            match sum.iter_mut().find(|s| s.name == i.name) {
                Some(s) => s.estimate = s.estimate.saturating_add(i.estimate),
                None => sum.push(i.clone()),
            }
        }
    }
    sum.sort_by(|a, b| {
        b.estimate
            .cmp(&a.estimate)
            .then_with(|| a.name.cmp(&b.name))
    });
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_or_mistyped_fields_read_as_zero() {
        let v = json!({"a": {"b": 3, "c": "x", "f": 2.6}, "top": [{"name": "x", "estimate": 5}, {"estimate": 1}, {"name": 7}]});
        let j = J(&v);
        assert_eq!(
            (j.u("a/b"), j.u("a/c"), j.u("a/zz"), j.u("a/f")),
            (3, 0, 0, 3)
        );
        assert_eq!(
            j.top("top"),
            vec![
                TopItem {
                    name: "x".into(),
                    estimate: 5
                },
                TopItem {
                    name: "7".into(),
                    estimate: 0
                }
            ]
        );
        assert!(j.top("a").is_empty());
        assert_eq!(j.rate("nope"), Rate::default());
    }

    #[test]
    fn merged_tops_add_by_name() {
        let a = [
            TopItem {
                name: "x".into(),
                estimate: 2,
            },
            TopItem {
                name: "y".into(),
                estimate: 5,
            },
        ];
        let b = [TopItem {
            name: "x".into(),
            estimate: 4,
        }];
        let m = merge_tops([&a[..], &b[..]]);
        assert_eq!(
            m.iter()
                .map(|i| (i.name.as_str(), i.estimate))
                .collect::<Vec<_>>(),
            vec![("x", 6), ("y", 5)]
        );
    }
}
