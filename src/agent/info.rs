//! pktvisor's info objects (reference §6.3): taps, policies, their inputs and handlers, as
//! `serde_json` values for the REST API, built from a `RegistryView` (no lock held). An
//! input's info also lists its bounded tables (`input.tables`: TCP reassembly, flow
//! template bytes and domains, dnstap connections and partial-frame bytes) with what each
//! bound refused.

use serde_json::{Map, Value, json};

use crate::agent::registry::{PolicyEntry, RegistryView};
use crate::config::visor::TapDef;
use crate::export::json::insert_at;
use crate::processor::Select;
use crate::service::stream::HandlerState;
use crate::time::Timespec;
use crate::window::WindowSettings;

/// `null` for an empty object, as pktvisor renders empty config and tags.
fn or_null(m: Map<String, Value>) -> Value {
    if m.is_empty() {
        Value::Null
    } else {
        Value::Object(m)
    }
}

/// `{"config", "input_type", "interface", "tags"}` of a tap.
pub fn tap_info(t: &TapDef) -> Value {
    let config = match t.config.to_json() {
        Value::Object(m) => or_null(m),
        _ => Value::Null,
    };
    let tags: Map<String, Value> = t
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect();
    json!({
        "config": config,
        "input_type": t.input_type,
        "interface": "visor.module.input/1.0",
        "tags": or_null(tags),
    })
}

/// `{"<tap>": {…}}` for every tap (`null` when there are none, as pktvisor does).
pub fn taps_info(reg: &RegistryView) -> Value {
    let m: Map<String, Value> = reg
        .taps
        .iter()
        .map(|t| (t.name.clone(), tap_info(t)))
        .collect();
    or_null(m)
}

fn tables_json(tables: &[crate::metric::TableStat]) -> Value {
    Value::Array(
        tables
            .iter()
            .map(|t| json!({"name": t.name, "len": t.len, "limit": t.limit, "evicted": t.evicted}))
            .collect(),
    )
}

fn input_info(reg: &RegistryView, stream_name: &str, states: &[HandlerState]) -> Value {
    let Some(s) = reg.stream(stream_name) else {
        return Value::Null;
    };
    let status = &s.status;
    let running = status.running.load(std::sync::atomic::Ordering::SeqCst);
    // A stream whose input takes the policy filter has it merged into its config already.
    let cfg = &s.plan.config;
    let mut m = Map::new();
    m.insert(
        "module".into(),
        json!({"config": cfg.to_json(), "name": stream_name}),
    );
    let mut input = json!({
        "consumers": s.policies.len(),
        "running": running,
        "restarts": status.restarts.load(std::sync::atomic::Ordering::Relaxed),
        "packets": status.packets.load(std::sync::atomic::Ordering::Relaxed),
    });
    if let Some(e) = status.last_error() {
        input["error"] = Value::String(e);
    }
    input["tables"] = tables_json(&s.own_tables(states));
    m.insert("input".into(), input);
    if let Some((key, v)) = s.input.describe(&s.host_spec, status) {
        m.insert(key.into(), v);
    }
    Value::Object(m)
}

fn ts_text(t: Timespec) -> String {
    let secs = t.sec;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Collects a snapshot's counters named `events`, `total` or `deep_samples` at their JSON
/// paths (the `events` object of a period), without building the snapshot's whole JSON: for
/// a flow bucket of a thousand devices that would be a hundred MB of transient memory.
struct EventsSink(Map<String, Value>);

impl EventsSink {
    fn keep(&mut self, d: &crate::metric::Desc, s: &crate::metric::Scope<'_>, value: u64) {
        let path: Vec<&str> = s.json.iter().chain(d.path.iter()).copied().collect();
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        if !matches!(*last, "events" | "total" | "deep_samples")
            || parents.first() == Some(&"period")
        {
            return;
        }
        insert_at(&mut self.0, &path, Value::from(value));
    }
}

impl crate::metric::MetricSink for EventsSink {
    fn counter(&mut self, d: &crate::metric::Desc, s: &crate::metric::Scope<'_>, value: u64) {
        self.keep(d, s, value);
    }
    fn cardinality(&mut self, d: &crate::metric::Desc, s: &crate::metric::Scope<'_>, value: u64) {
        self.keep(d, s, value);
    }
    fn quantiles(
        &mut self,
        _: &crate::metric::Desc,
        _: &crate::metric::Scope<'_>,
        _: &crate::sketch::Distribution,
        _: bool,
    ) {
    }
    fn rate(
        &mut self,
        _: &crate::metric::Desc,
        _: &crate::metric::Scope<'_>,
        _: &crate::sketch::Rate,
        _: Option<u64>,
    ) {
    }
    fn histogram(
        &mut self,
        _: &crate::metric::Desc,
        _: &crate::metric::Scope<'_>,
        _: &crate::sketch::Distribution,
        _: bool,
    ) {
    }
    fn topn(
        &mut self,
        _: &crate::metric::Desc,
        _: &crate::metric::Scope<'_>,
        _: &str,
        _: &[crate::metric::TopEntry],
    ) {
    }
}

/// The `events` object of a period: the handler's counters named `events`, `total` or
/// `deep_samples`, and its event rates, at their own JSON paths.
fn period_events(snap: &dyn crate::metric::Snapshot) -> Value {
    if !snap.has_output() {
        return Value::Object(Map::new());
    }
    let mut sink = EventsSink(Map::new());
    snap.visit(&mut sink);
    Value::Object(sink.0)
}

/// The same from a snapshot's JSON (what `period_events` must agree with).
#[cfg(test)]
fn period_events_of_json(v: &Value) -> Value {
    fn walk(v: &Value, out: &mut Map<String, Value>) {
        let Value::Object(m) = v else { return };
        for (k, child) in m {
            match (k.as_str(), child) {
                ("events" | "total" | "deep_samples", Value::Number(_)) => {
                    out.insert(k.clone(), child.clone());
                }
                ("period", _) => {}
                (_, Value::Object(_)) => {
                    let mut sub = Map::new();
                    walk(child, &mut sub);
                    if !sub.is_empty() {
                        out.insert(k.clone(), Value::Object(sub));
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Map::new();
    if let Some(inner) = v.as_object().and_then(|o| o.values().next()) {
        walk(inner, &mut out);
    }
    Value::Object(out)
}

fn handler_info(
    reg: &RegistryView,
    entry: &PolicyEntry,
    name: &str,
    states: &[HandlerState],
) -> Option<Value> {
    let plan = entry
        .plans
        .iter()
        .find_map(|p| p.handlers.iter().find(|h| h.name == name).map(|h| (p, h)))?;
    let (plan, h) = plan;
    let settings = WindowSettings::from_config(&h.config).ok();
    let state = states
        .iter()
        .find(|s| s.policy == entry.name && s.name == name);
    let schema = state.map_or("", |s| s.schema);
    let mut periods = Vec::new();
    if let Some(s) = reg.stream(&plan.input.stream_name) {
        let n = settings.as_ref().map_or(1, |w| w.num_periods);
        for i in 0..n {
            let snaps =
                s.handle
                    .snapshots_now(Some(&entry.name), Select::Bucket(i), Timespec::now());
            let Some(Ok(list)) = snaps.into_iter().next().map(|p| p.snapshots) else {
                break;
            };
            let Some((_, snap)) = list.into_iter().find(|(n, _)| n == name) else {
                break;
            };
            let p = snap.period();
            let mut o = json!({
                "start_tstamp": ts_text(p.start),
                "read_only": !p.live,
                "length": p.length,
                "events": period_events(snap.as_ref()),
            });
            if !p.live {
                o["end_tstamp"] = Value::String(ts_text(p.end));
            }
            periods.push(o);
        }
    }
    let tables = state.map_or(Value::Array(Vec::new()), |s| tables_json(&s.tables));
    Some(json!({
        "module": {
            "config": h.config.to_json(),
            "name": name,
            "running": true,
            "type": schema,
        },
        "metrics": {
            "deep_sample_rate": settings.as_ref().map_or(100, |w| w.deep_sample_rate),
            "periods_configured": settings.as_ref().map_or(1, |w| w.num_periods),
            "periods": periods,
            "tables": tables,
        },
    }))
}

/// The info object of one policy.
pub fn policy_info(reg: &RegistryView, entry: &PolicyEntry) -> Value {
    let mut inputs = Map::new();
    let mut modules = Map::new();
    let mut taps = Map::new();
    for plan in &entry.plans {
        let sname = &plan.input.stream_name;
        let states = reg.handler_states(sname);
        inputs.insert(sname.clone(), input_info(reg, sname, &states));
        for h in &plan.handlers {
            if let Some(v) = handler_info(reg, entry, &h.name, &states) {
                modules.insert(h.name.clone(), v);
            }
        }
        if let Some(t) = reg.taps.iter().find(|t| t.name == plan.input.tap) {
            taps.insert(t.name.clone(), tap_info(t));
        }
    }
    let mut m = Map::new();
    m.insert("input".into(), Value::Object(inputs));
    m.insert("modules".into(), Value::Object(modules));
    if entry.resources_of.is_none() {
        m.insert("taps".into(), Value::Object(taps));
    }
    Value::Object(m)
}

/// `{"<policy>": {…}}` for every policy.
pub fn policies_info(reg: &RegistryView) -> Value {
    let m: Map<String, Value> = reg
        .policies
        .iter()
        .map(|p| (p.name.clone(), policy_info(reg, p)))
        .collect();
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(ts_text(Timespec::new(0, 0)), "1970-01-01 00:00:00");
        assert_eq!(
            ts_text(Timespec::new(1_614_874_231, 0)),
            "2021-03-04 16:10:31"
        );
        assert_eq!(
            ts_text(Timespec::new(951_782_400, 0)),
            "2000-02-29 00:00:00"
        );
    }

    #[test]
    fn period_events_keep_event_counters_at_their_paths() {
        let v = json!({"dns": {"wire_packets": {"events": 5, "deep_samples": 4, "udp": 3},
            "period": {"length": 1}, "cardinality": {"qname": 2}}});
        assert_eq!(
            period_events_of_json(&v),
            json!({"wire_packets": {"events": 5, "deep_samples": 4}})
        );
    }

    #[test]
    fn period_events_from_the_walk_equal_those_from_the_json() {
        use crate::config::value::{ConfigMap, ConfigValue};
        use crate::export::json::snapshot_value;
        use crate::processor::{Processor, ProcessorContext, Select};
        let ctx = ProcessorContext::default();
        let mut c = ConfigMap::new();
        c.set("num_periods", ConfigValue::U64(2));
        for (t, v) in [
            ("net", "1.0"),
            ("dns", "1.0"),
            ("dns", "2.0"),
            ("pcap", "1.0"),
        ] {
            let mut p: Box<dyn Processor> =
                crate::processor::build(t, v, &c, &ctx).expect("builds");
            let now = Timespec::now();
            p.handle(&crate::event::Event::Start(now));
            p.handle(&crate::event::Event::Tick(now));
            let snap = p.snapshot(Select::Bucket(0), now).expect("bucket 0");
            assert_eq!(
                period_events(snap.as_ref()),
                period_events_of_json(&snapshot_value(snap.as_ref())),
                "{t} {v}"
            );
        }
    }
}
