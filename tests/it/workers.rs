//! Results do not depend on the number of workers: the same plan run with one, two and
//! three workers (three catches odd splits) must give the same JSON for every handler —
//! every counter equal, and sketches within their documented error (exponential
//! histograms and HyperLogLog registers merge exactly, rates add up second by second, so
//! in practice the documents are identical). Every pktvisor conformance case and the
//! generator-truth capture go through this check (`conformance.rs`, `dns_truth.rs`).

use pktvisor::processor::{ProcessorContext, Select};
use pktvisor::service::plan::PolicyPlan;
use pktvisor::time::Timespec;
use serde_json::Value;

use crate::common::run_plan_with;

/// Whether `key` names a sketch estimate (a quantile or a distinct count).
fn estimate_key(key: &str) -> Option<f64> {
    match key {
        "p50" | "p90" | "p95" | "p99" => Some(0.01),
        _ if key.contains("cardinality") || key == "qname" || key.ends_with("_ips") => Some(0.02),
        _ => None,
    }
}

/// Measurements of the process itself (CPU, memory), not of the traffic: they differ
/// with the number of workers by nature.
const SELF_MEASURED: [&str; 2] = ["cpu_usage", "memory_bytes"];

/// The largest error of an estimate in a top-N list past its exact capacity: a
/// frequent-items summary of `capacity` slots over `weight` counted events errs by at most
/// `weight / capacity` (in either summary, so twice that between two).
pub fn top_error(weight: u64) -> f64 {
    2.0 * weight as f64 / pktvisor::sketch::TopN::<u8>::DEFAULT_CAPACITY as f64
}

/// Compares two top-N lists. While the lists are exact (every estimate equal) the items
/// must be the same; a list past its exact capacity is a frequent-items summary whose
/// merges may pick different items near the cut-off, so then the estimates must agree
/// within the summaries' error (`top_error`) and the names are not compared.
fn same_top(path: &str, x: &[Value], y: &[Value], error: f64) -> Result<(), String> {
    if x.len() != y.len() {
        return Err(format!("{path}: {} vs {} items", x.len(), y.len()));
    }
    let est = |v: &Value| v["estimate"].as_f64().unwrap_or(0.0);
    if x.iter().zip(y).all(|(a, b)| est(a) == est(b)) {
        for (i, (a, b)) in x.iter().zip(y).enumerate() {
            same_document(&format!("{path}[{i}]"), a, b, None, 0.0)
                .map_err(|e| format!("{e} (exact top list)"))?;
        }
        return Ok(());
    }
    for (i, (a, b)) in x.iter().zip(y).enumerate() {
        if (est(a) - est(b)).abs() > error {
            return Err(format!(
                "{path}[{i}]: estimate {} vs {} (error bound {error})",
                est(a),
                est(b)
            ));
        }
    }
    Ok(())
}

/// Compares two documents: equal, except estimates within their error (`tolerance` for
/// quantiles and distinct counts, relative; `top_error` for top lists past their exact
/// capacity, absolute).
pub fn same_document(
    path: &str,
    a: &Value,
    b: &Value,
    tolerance: Option<f64>,
    top_error: f64,
) -> Result<(), String> {
    match (a, b) {
        (Value::Array(x), Value::Array(y))
            if path
                .rsplit('.')
                .next()
                .is_some_and(|k| k.starts_with("top_")) =>
        {
            same_top(path, x, y, top_error)
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() || x.keys().any(|k| !y.contains_key(k)) {
                let xk: Vec<&String> = x.keys().collect();
                let yk: Vec<&String> = y.keys().collect();
                return Err(format!("{path}: keys {xk:?} vs {yk:?}"));
            }
            for (k, v) in x {
                if SELF_MEASURED.contains(&k.as_str()) {
                    continue;
                }
                let t = tolerance.or_else(|| estimate_key(k));
                same_document(&format!("{path}.{k}"), v, &y[k], t, top_error)?;
            }
            Ok(())
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Err(format!("{path}: {} vs {} items", x.len(), y.len()));
            }
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                same_document(&format!("{path}[{i}]"), v, w, tolerance, top_error)?;
            }
            Ok(())
        }
        (Value::Number(x), Value::Number(y)) if tolerance.is_some() => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            let t = tolerance.unwrap_or(0.0);
            if (x - y).abs() <= t * x.abs().max(y.abs()) + 1.0 {
                Ok(())
            } else {
                Err(format!("{path}: {x} vs {y} (tolerance {t})"))
            }
        }
        _ if a == b => Ok(()),
        _ => Err(format!("{path}: {a} vs {b}")),
    }
}

/// Every handler's JSON for `sel`, by handler name.
fn documents(plan: &PolicyPlan, ctx: &ProcessorContext, workers: usize, sel: Select) -> Value {
    let (p, _) = run_plan_with(plan, ctx, workers).expect("run");
    let mut out = serde_json::Map::new();
    for h in &p.handlers {
        if let Ok(s) = h.processor.snapshot(sel, Timespec::now()) {
            out.insert(
                h.name.clone(),
                pktvisor::export::json::snapshot_value(s.as_ref()),
            );
        }
    }
    Value::Object(out)
}

/// Runs `plan` with 1, 2 and 3 workers and checks every handler's documents agree (the
/// live bucket and, where the plan keeps several buckets, the merged window).
pub fn same_for_any_worker_count(id: &str, plan: &PolicyPlan, ctx: &ProcessorContext) {
    // Each worker keeps its share of a bounded table; once one worker's run overflows a
    // bound the results depend on which entries each bound dropped.
    let (one, report) = run_plan_with(plan, ctx, 1).expect("run");
    let mut overflowed: Vec<String> = one
        .handlers
        .iter()
        .flat_map(|h| h.processor.tables())
        .filter(|t| t.evicted > 0)
        .map(|t| t.name.to_string())
        .collect();
    if report.tcp_evicted > 0 {
        overflowed.push("tcp_reassembly_connections".into());
    }
    if !overflowed.is_empty() {
        eprintln!("{id}: bounded tables overflow ({overflowed:?}): not compared across workers");
        return;
    }
    for sel in [Select::Bucket(0), Select::Window(5)] {
        let one = documents(plan, ctx, 1, sel);
        for n in [2, 3] {
            let many = documents(plan, ctx, n, sel);
            if let Err(e) = same_document("", &one, &many, None, 0.0) {
                panic!("{id}: {n} workers differ from one ({sel:?}): {e}");
            }
        }
    }
}

/// The reader's own output (`--periods 5`: the last five minutes of a long capture, so
/// bucket boundaries matter) with one, two and three workers, for each input.
#[test]
fn the_reader_gives_the_same_results_with_any_worker_count() {
    use crate::common::{own_fixture, shared_fixtures};
    let mut runs: Vec<(Vec<&str>, std::path::PathBuf)> = vec![
        (
            vec!["-i", "dnstap", "--periods", "5"],
            own_fixture("dnstap/unbound.dnstap"),
        ),
        (
            vec!["-i", "ipfix", "--periods", "1"],
            own_fixture("flow/softflowd-ipfix.pcap"),
        ),
        (
            vec!["-i", "sflow", "--periods", "1"],
            own_fixture("flow/pmacct-sflow.pcap"),
        ),
        (vec!["--periods", "5"], own_fixture("dns/dns-perf.pcap")),
    ];
    if let Some(dir) = shared_fixtures() {
        // 22 days of ECS queries: many turned-over minutes.
        runs.push((vec!["--periods", "5"], dir.join("ecs.pcap")));
        runs.push((vec!["--periods", "1"], dir.join("dhcp-flow.pcap")));
    }
    for (args, file) in runs {
        let read = |workers: &str| -> Value {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_pktvisor-reader"))
                .args(&args)
                .args(["--workers", workers])
                .arg(&file)
                .output()
                .expect("reader runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).expect("json")
        };
        let one = read("1");
        for n in ["2", "3"] {
            if let Err(e) = same_document("", &one, &read(n), None, 0.0) {
                panic!("{} {args:?}: --workers {n} differs: {e}", file.display());
            }
        }
    }
}
