//! pktvisor's JSON: each handler writes `{"<schema_key>": {"period": {...}, ...}}` with
//! keys sorted, compact, and doubles formatted like nlohmann::json.

use std::io;

use serde::Serialize;
use serde_json::{Map, Value};

use super::numfmt::{json_f64, to_string_f64};
use crate::metric::{Desc, MetricSink, QUANTILES, Scope, Snapshot, TopEntry};
use crate::sketch::{Distribution, Rate, histogram};

/// Sets `value` at `path` under `root`, making the objects on the way (a non-object on
/// the way is replaced by one); an empty path sets nothing.
pub fn insert_at(root: &mut Map<String, Value>, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = root;
    for key in parents {
        let entry = node
            .entry((*key).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        node = match entry {
            Value::Object(m) => m,
            _ => return,
        };
    }
    node.insert((*last).to_string(), value);
}

/// A sink writing into one handler object.
pub struct JsonSink<'a> {
    root: &'a mut Map<String, Value>,
}

impl<'a> JsonSink<'a> {
    /// A sink writing into `root` (the object under the handler's schema key).
    pub fn new(root: &'a mut Map<String, Value>) -> Self {
        JsonSink { root }
    }

    fn put(&mut self, d: &Desc, s: &Scope<'_>, value: Value) {
        let path: Vec<&str> = s.json.iter().chain(d.path.iter()).copied().collect();
        insert_at(self.root, &path, value);
    }
}

fn f64_value(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn quantile_object(dist: &Distribution, integer: bool) -> Map<String, Value> {
    let mut m = Map::new();
    if dist.is_empty() {
        return m;
    }
    for (q, key, _) in QUANTILES {
        let v = if integer {
            dist.quantile_u64(q).map(Value::from)
        } else {
            dist.quantile(q).map(f64_value)
        };
        if let Some(v) = v {
            m.insert(key.to_string(), v);
        }
    }
    m
}

impl MetricSink for JsonSink<'_> {
    fn counter(&mut self, d: &Desc, s: &Scope<'_>, value: u64) {
        self.put(d, s, Value::from(value));
    }

    fn cardinality(&mut self, d: &Desc, s: &Scope<'_>, value: u64) {
        self.put(d, s, Value::from(value));
    }

    fn quantiles(&mut self, d: &Desc, s: &Scope<'_>, dist: &Distribution, integer: bool) {
        if !dist.is_empty() {
            self.put(d, s, Value::Object(quantile_object(dist, integer)));
        }
    }

    fn rate(&mut self, d: &Desc, s: &Scope<'_>, rate: &Rate, live: Option<u64>) {
        let mut m = quantile_object(rate.samples(), true);
        if let Some(l) = live {
            m.insert("live".to_string(), Value::from(l));
        }
        if !m.is_empty() {
            self.put(d, s, Value::Object(m));
        }
    }

    fn histogram(&mut self, d: &Desc, s: &Scope<'_>, dist: &Distribution, integer: bool) {
        if dist.is_empty() {
            return;
        }
        let mut buckets = Map::new();
        if integer {
            for (bound, cum) in histogram::cumulative_u64(dist, true) {
                buckets.insert(bound.to_string(), f64_value(cum));
            }
        } else {
            for (bound, cum) in histogram::cumulative_f64(dist) {
                buckets.insert(to_string_f64(bound), f64_value(cum));
            }
        }
        buckets.insert("+Inf".to_string(), f64_value(dist.count() as f64));
        let mut m = Map::new();
        m.insert("buckets".to_string(), Value::Object(buckets));
        self.put(d, s, Value::Object(m));
    }

    fn topn(&mut self, d: &Desc, s: &Scope<'_>, _item_label: &str, items: &[TopEntry]) {
        let list = items
            .iter()
            .map(|e| {
                let mut m = Map::new();
                m.insert("estimate".to_string(), Value::from(e.estimate));
                m.insert("name".to_string(), Value::from(e.name.clone()));
                if let Some((lat, lon)) = &e.lat_lon {
                    m.insert("lat".to_string(), Value::from(lat.clone()));
                    m.insert("lon".to_string(), Value::from(lon.clone()));
                }
                Value::Object(m)
            })
            .collect();
        self.put(d, s, Value::Array(list));
    }
}

/// Writes `{"<schema_key>": {"period": …, …}}` of a snapshot into `into` (nothing when
/// every metric group of the handler is disabled).
pub fn write_snapshot(snap: &dyn Snapshot, into: &mut Map<String, Value>) {
    if !snap.has_output() {
        return;
    }
    let p = snap.period();
    let mut obj = Map::new();
    let mut period = Map::new();
    period.insert("length".to_string(), Value::from(p.length));
    period.insert("start_ts".to_string(), Value::from(p.start.sec));
    obj.insert("period".to_string(), Value::Object(period));
    snap.visit(&mut JsonSink::new(&mut obj));
    into.insert(snap.schema_key().to_string(), Value::Object(obj));
}

/// The JSON object `{"<schema_key>": {...}}` of one snapshot.
pub fn snapshot_value(snap: &dyn Snapshot) -> Value {
    let mut m = Map::new();
    write_snapshot(snap, &mut m);
    Value::Object(m)
}

struct NlohmannFormatter;

impl serde_json::ser::Formatter for NlohmannFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(json_f64(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        writer.write_all(json_f64(f64::from(value)).as_bytes())
    }
}

/// Serializes like nlohmann::json's `dump()`: compact, keys sorted, pktvisor's doubles.
pub fn to_string(v: &Value) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, NlohmannFormatter);
    if v.serialize(&mut ser).is_err() {
        return "null".to_string();
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Desc = Desc {
        schema: "packets",
        path: &["protocol", "tcp", "syn"],
        help: "Count of TCP SYN packets",
        otel: crate::metric::otel::sum("pktvisor.test", "{packet}"),
    };

    #[test]
    fn nested_paths_sorted_keys_and_doubles() {
        let mut root = Map::new();
        let mut sink = JsonSink::new(&mut root);
        sink.counter(&D, &Scope::ROOT, 3);
        let dir = Scope {
            json: &["in"],
            labels: &[("direction", "in")],
            attrs: &[],
        };
        sink.counter(&D, &dir, 4);
        let mut dist = Distribution::new();
        for v in [12u64, 12, 12, 8] {
            dist.record_u64(v);
        }
        const H: Desc = Desc {
            schema: "dns",
            path: &["xact", "histogram_us"],
            help: "",
            otel: crate::metric::otel::sum("pktvisor.test", "{packet}"),
        };
        sink.histogram(&H, &Scope::ROOT, &dist, true);
        let text = to_string(&Value::Object(root));
        assert_eq!(
            text,
            r#"{"in":{"protocol":{"tcp":{"syn":4}}},"protocol":{"tcp":{"syn":3}},"xact":{"histogram_us":{"buckets":{"+Inf":4.0,"12":4.0,"8":1.0}}}}"#
        );
    }

    #[test]
    fn empty_quantiles_are_absent_and_topn_always_present() {
        let mut root = Map::new();
        let mut sink = JsonSink::new(&mut root);
        const Q: Desc = Desc {
            schema: "packets",
            path: &["payload_size"],
            help: "",
            otel: crate::metric::otel::sum("pktvisor.test", "{packet}"),
        };
        sink.quantiles(&Q, &Scope::ROOT, &Distribution::new(), true);
        const T: Desc = Desc {
            schema: "packets",
            path: &["top_ipv4"],
            help: "",
            otel: crate::metric::otel::sum("pktvisor.test", "{packet}"),
        };
        sink.topn(&T, &Scope::ROOT, "ipv4", &[]);
        assert_eq!(to_string(&Value::Object(root)), r#"{"top_ipv4":[]}"#);
    }
}
