//! pktvisor-reader: analyze a capture file with pktvisor's handlers and print pktvisor's
//! JSON (or Prometheus text) summary on stdout. Logs and progress go to stderr.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, ValueEnum};
use serde_json::{Map, Value};

use pktvisor::config::load::load_files;
use pktvisor::config::value::{ConfigMap, ConfigValue};
use pktvisor::enrich::geo::GeoDatabases;
use pktvisor::enrich::services::ServiceRegistry;
use pktvisor::export::json;
use pktvisor::export::otlp::{HandlerReading, OtlpEncoder, ResourceAttrs};
use pktvisor::export::prometheus::PromWriter;
use pktvisor::metric::TableStat;
use pktvisor::otlp::{LegacyOtelFlags, OtlpConfig, OtlpExporter};
use pktvisor::processor::{ProcessorContext, Select};
use pktvisor::receiver::{InputKind, input_named};
use pktvisor::service::pipeline::PolicyPipeline;
use pktvisor::service::plan::{
    HandlerPlan, InputPlan, PlanDefaults, PolicyPlan, ResolvedPlan, resolve_document,
};
use pktvisor::service::stream::{Finished, Progress, default_workers, run_recorded};
use pktvisor::time::Timespec;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Json,
    Prometheus,
}

/// Analyze a capture file with pktvisor's handlers and print the summary.
#[derive(Parser, Debug)]
#[command(name = "pktvisor-reader", about, disable_version_flag = true)]
struct Args {
    /// Capture file: pcap or pcapng, optionally gzip-compressed.
    file: PathBuf,
    /// Input type: pcap, dnstap, or sflow / netflow / ipfix (a capture of exported datagrams).
    #[arg(short = 'i', default_value = "pcap")]
    input: String,
    /// Deep sample percentage (1-100).
    #[arg(long = "max-deep-sample", default_value_t = 100)]
    max_deep_sample: u64,
    /// Periods (60 s buckets) to keep; 1 summarises the whole file in one bucket.
    #[arg(long, default_value_t = 5)]
    periods: u64,
    /// tcpdump filter expression applied to the file's packets.
    #[arg(short = 'b', value_name = "BPF")]
    bpf: Option<String>,
    /// Host spec: comma-separated CIDRs that are "the host" (sets directions).
    #[arg(short = 'H', value_name = "HOSTSPEC")]
    host_spec: Option<String>,
    /// MaxMind GeoIP2/GeoLite2 City database.
    #[arg(long = "geo-city", value_name = "FILE")]
    geo_city: Option<PathBuf>,
    /// MaxMind GeoIP2 ISP / GeoLite2 ASN database.
    #[arg(long = "geo-asn", value_name = "FILE")]
    geo_asn: Option<PathBuf>,
    /// Entries per geo lookup cache (0 disables caching).
    #[arg(long = "geo-cache-size", default_value_t = 10_000)]
    geo_cache_size: usize,
    /// IANA service-name CSV used to name ports.
    #[arg(long = "iana-service-port-registry", value_name = "FILE")]
    iana_service_port_registry: Option<PathBuf>,
    /// pktvisor YAML whose policies all run over FILE instead of their live sources.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// Debug logging.
    #[arg(short = 'v')]
    verbose: bool,
    /// Also push the results to this OTLP endpoint (as OTEL_EXPORTER_OTLP_ENDPOINT; without a
    /// value, the OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT variable), with the capture's
    /// timestamps. Protocol, headers, TLS, compression, temporality and histogram shape come
    /// from the standard OTEL_* variables; PKTVISOR_OTLP_RATE_HISTOGRAMS=true adds the
    /// per-second rate histograms.
    #[arg(long, value_name = "ENDPOINT", num_args = 0..=1, default_missing_value = "")]
    otlp: Option<String>,
    /// Workers analysing each input (default: the cores this process may use); results
    /// are the same for any number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: Option<u16>,
    /// Seconds to keep retrying the OTLP push before giving up (exit 1).
    #[arg(long = "otlp-retry-secs", default_value_t = 30)]
    otlp_retry_secs: u64,
}

/// Progress on stderr: a bar on a terminal, a log line per second otherwise.
struct StderrProgress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    last_log: Instant,
}

impl StderrProgress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {percent:>3}% {bytes}/{total_bytes} {msg} [{elapsed_precise}, ETA {eta}]",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        StderrProgress {
            bar,
            started: Instant::now(),
            last_log: Instant::now(),
        }
    }
}

impl Progress for StderrProgress {
    fn update(&mut self, packets: u64, bytes_read: u64, total_bytes: Option<u64>) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = packets as f64 / secs;
        if let Some(bar) = &self.bar {
            if let Some(t) = total_bytes {
                bar.set_length(t);
            }
            bar.set_position(bytes_read);
            bar.set_message(format!("{packets} packets ({rate:.0}/s)"));
        } else if self.last_log.elapsed().as_secs() >= 1 {
            self.last_log = Instant::now();
            tracing::info!("processed {packets} packets ({rate:.0}/s)");
        }
    }

    fn done(&mut self, packets: u64) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        tracing::info!(
            "processed {packets} packets in {:.3}s",
            self.started.elapsed().as_secs_f64()
        );
    }
}

fn handler_config(args: &Args) -> ConfigMap {
    let mut c = ConfigMap::new();
    c.set("num_periods", ConfigValue::U64(args.periods));
    c.set("deep_sample_rate", ConfigValue::U64(args.max_deep_sample));
    c.set("recorded_stream", ConfigValue::Bool(true));
    c
}

/// pktvisor-reader's built-in policy: net, dns, dhcp and pcap handlers over FILE.
fn default_plan(args: &Args) -> PolicyPlan {
    let mut input = ConfigMap::new();
    input.set(
        "pcap_file",
        ConfigValue::Str(args.file.display().to_string()),
    );
    if let Some(b) = &args.bpf {
        input.set("bpf", ConfigValue::Str(b.clone()));
    }
    if let Some(h) = &args.host_spec {
        input.set("host_spec", ConfigValue::Str(h.clone()));
    }
    let handler = |name: &str, t: &str| HandlerPlan {
        name: name.to_string(),
        handler_type: t.to_string(),
        version: "1.0".to_string(),
        config: handler_config(args),
    };
    PolicyPlan {
        name: "default".into(),
        input: InputPlan {
            stream_name: "pcap".into(),
            tap: "default".into(),
            input_type: "pcap".into(),
            config: input,
            filter: ConfigMap::new(),
        },
        handlers: vec![
            handler("net", "net"),
            handler("dns", "dns"),
            handler("dhcp", "dhcp"),
            handler("pcap", "pcap"),
        ],
        chained: false,
        merge_like_handlers: false,
    }
}

/// pktvisor-reader's built-in policy for `-i dnstap`: net and dns handlers over FILE.
fn default_dnstap_plan(args: &Args) -> PolicyPlan {
    let mut plan = default_plan(args);
    let mut input = ConfigMap::new();
    input.set(
        "dnstap_file",
        ConfigValue::Str(args.file.display().to_string()),
    );
    plan.input.stream_name = "dnstap".into();
    plan.input.input_type = "dnstap".into();
    plan.input.config = input;
    plan.handlers
        .retain(|h| h.handler_type == "net" || h.handler_type == "dns");
    plan
}

/// pktvisor-reader's built-in policy for flow captures: the flow handler over FILE's UDP
/// datagrams decoded as `flow_type`.
fn default_flow_plan(args: &Args, flow_type: &str) -> PolicyPlan {
    let mut plan = default_plan(args);
    let mut input = ConfigMap::new();
    input.set(
        "pcap_file",
        ConfigValue::Str(args.file.display().to_string()),
    );
    input.set("flow_type", ConfigValue::Str(flow_type.to_string()));
    plan.input.stream_name = "flow".into();
    plan.input.input_type = "flow".into();
    plan.input.config = input;
    plan.handlers = vec![HandlerPlan {
        name: "flow".into(),
        handler_type: "flow".into(),
        version: "1.0".into(),
        config: handler_config(args),
    }];
    plan
}

/// The plans of a `--config` document (either style), every input reading FILE.
fn config_plans(args: &Args, path: &PathBuf) -> Result<Vec<ResolvedPlan>> {
    let (loaded, errors) = load_files(std::slice::from_ref(path), &|k| std::env::var(k).ok());
    if !errors.is_empty() {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        bail!("{}", text.join("\n"));
    }
    let mut forced = ConfigMap::new();
    forced.set("recorded_stream", ConfigValue::Bool(true));
    let defaults = PlanDefaults {
        num_periods: args.periods,
        deep_sample_rate: args.max_deep_sample,
        forced,
        socket_dirs: Vec::new(),
    };
    let mut plans = resolve_document(&loaded.doc, &defaults).map_err(|errors| {
        let text: Vec<String> = errors
            .into_iter()
            .map(|e| loaded.place(e).to_string())
            .collect();
        anyhow!("{}", text.join("\n"))
    })?;
    if plans.is_empty() {
        bail!("no policies found in schema");
    }
    if args.bpf.is_some() || args.host_spec.is_some() {
        tracing::warn!("-b and -H apply only without --config; the taps' settings are used");
    }
    let file = args.file.display().to_string();
    for p in &mut plans {
        p.read_file(&file).map_err(|e| anyhow!("{e}"))?;
    }
    Ok(plans)
}

/// Logs what a flow stream's decoders saw and returns their bounded tables.
fn report_flow(tap: &str, f: &Finished) -> Vec<(String, String, TableStat)> {
    f.flow
        .iter()
        .flat_map(|decoder| report_decoder(tap, decoder))
        .collect()
}

/// Logs what one flow decoder saw and returns its bounded tables.
fn report_decoder(
    tap: &str,
    decoder: &pktvisor::receiver::flow::FlowDecoder,
) -> Vec<(String, String, TableStat)> {
    let stats = decoder.stats();
    if stats.total_errors() > 0 {
        tracing::warn!(
            "{} flow datagrams or parts of them could not be decoded",
            stats.total_errors()
        );
    }
    for (exporter, s) in stats.iter() {
        let errors: Vec<String> = pktvisor::receiver::flow::FlowDropReason::ALL
            .iter()
            .filter(|r| s.error(**r) > 0)
            .map(|r| format!("{}={}", r.as_str(), s.error(*r)))
            .collect();
        tracing::info!(
            "exporter {exporter}: datagrams={} records={} counter_samples={} options_records={} {}",
            s.datagrams,
            s.records,
            s.counter_samples,
            s.options_records,
            errors.join(" ")
        );
    }
    decoder
        .tables()
        .into_iter()
        .map(|t| (tap.to_string(), String::new(), t))
        .collect()
}

/// Logs what a recording's receiver and worker saw.
fn report_run(kind: InputKind, f: &Finished) {
    let summary = f.status.summary().unwrap_or_default();
    if summary.truncated {
        let what = match kind {
            InputKind::Dnstap => {
                "the dnstap file ends inside a frame or without STOP (truncated); results cover every complete frame"
            }
            _ => {
                "the capture file ends inside a record (truncated); results cover every complete record before it"
            }
        };
        tracing::warn!("{what}");
    }
    if let Some(e) = &summary.corrupt {
        tracing::warn!("{e}; results cover every record before it");
    }
    match kind {
        InputKind::Pcap => {
            let drops = f.stats.decode.nonzero();
            if !drops.is_empty() {
                let text: Vec<String> = drops.iter().map(|(k, v)| format!("{k}={v}")).collect();
                tracing::info!("frames not fully decoded: {}", text.join(" "));
            }
            if summary.skipped > 0 {
                tracing::info!("{} records did not match the BPF filter", summary.skipped);
            }
            let t = &f.stats.tcp;
            if t.evicted + t.timed_out + t.gaps > 0 {
                tracing::info!(
                    "tcp reassembly: connections={} evicted={} timed_out={} gaps={}",
                    t.connections,
                    t.evicted,
                    t.timed_out,
                    t.gaps
                );
            }
        }
        InputKind::Dnstap => {
            let skipped = summary.invalid + summary.not_message + f.stats.dnstap_unknown_type;
            if skipped > 0 {
                tracing::warn!(
                    "skipped {skipped} dnstap frames: invalid protobuf={} not a message={} unknown message type={}",
                    summary.invalid,
                    summary.not_message,
                    f.stats.dnstap_unknown_type
                );
            }
        }
        InputKind::Flow | InputKind::Netprobe => {}
    }
}

/// Logs each bounded table: a warning when its bound evicted entries.
fn report_tables(tables: &[(String, String, TableStat)]) {
    for (owner, handler, t) in tables {
        let who = if handler.is_empty() { owner } else { handler };
        if t.evicted > 0 {
            tracing::warn!(
                "{who}: table {} hit its bound of {} and evicted {} entries",
                t.name,
                t.limit,
                t.evicted
            );
        } else {
            tracing::debug!("{who}: table {} holds {} of {}", t.name, t.len, t.limit);
        }
    }
}

/// The bounded tables as Prometheus gauges (entries, bound, evictions).
fn write_tables(w: &mut PromWriter, tables: &[(String, String, TableStat)]) {
    for (owner, handler, t) in tables {
        let labels = [
            ("owner", owner.as_str()),
            ("handler", handler.as_str()),
            ("table", t.name),
        ];
        w.gauge(
            "pktvisor_table_entries",
            "Entries held by a bounded table",
            &labels,
            t.len as u64,
        );
        w.gauge(
            "pktvisor_table_limit",
            "Bound of a bounded table",
            &labels,
            t.limit as u64,
        );
        w.gauge(
            "pktvisor_table_evictions",
            "Entries a bounded table dropped because it was full",
            &labels,
            t.evicted,
        );
    }
}

/// netprobe sends probes: there is nothing to read from a file.
const NETPROBE_NO_FILE: &str =
    "input type 'netprobe' sends live probes and cannot read a file (use pktvisord)";

fn run(args: &Args) -> Result<String> {
    let Some((input, flow_type)) = input_named(&args.input.to_ascii_lowercase()) else {
        bail!(
            "input type '{}' is not supported (supported: pcap, dnstap, sflow, netflow, ipfix)",
            args.input
        );
    };
    if !args.file.exists() {
        bail!(
            "Cannot open pcap/pcapng file: {}: file not found",
            args.file.display()
        );
    }
    let geo = GeoDatabases::open(args.geo_city.as_deref(), args.geo_asn.as_deref())
        .map_err(|e| anyhow!("{e}"))?;
    let services = match &args.iana_service_port_registry {
        Some(p) => ServiceRegistry::load(p).map_err(|e| anyhow!("{e}"))?,
        None => ServiceRegistry::default(),
    };
    let ctx = ProcessorContext {
        geo,
        geo_cache_size: args.geo_cache_size,
        services: Arc::new(services),
    };
    let plans = match &args.config {
        Some(path) => config_plans(args, path)?,
        None => {
            let plan = match input.kind {
                InputKind::Pcap => default_plan(args),
                InputKind::Dnstap => default_dnstap_plan(args),
                InputKind::Flow => default_flow_plan(args, flow_type.unwrap_or("sflow")),
                InputKind::Netprobe => bail!("{NETPROBE_NO_FILE}"),
            };
            vec![ResolvedPlan::from_plan(plan).map_err(|e| anyhow!("{e}"))?]
        }
    };
    if plans
        .iter()
        .any(|r| r.input_spec.kind == InputKind::Netprobe)
    {
        bail!("{NETPROBE_NO_FILE}");
    }
    // One run per distinct input stream, shared by every policy that reads it.
    let mut streams: BTreeMap<String, Vec<&ResolvedPlan>> = BTreeMap::new();
    for r in &plans {
        streams
            .entry(r.plan.input.stream_name.clone())
            .or_default()
            .push(r);
    }
    let mut finished: Vec<PolicyPipeline> = Vec::new();
    let mut tables: Vec<(String, String, TableStat)> = Vec::new();
    for policies in streams.into_values() {
        let r = policies[0];
        let workers = r
            .workers
            .or(args.workers.map(usize::from))
            .unwrap_or_else(default_workers);
        let make = || {
            policies
                .iter()
                .map(|p| PolicyPipeline::build(p, &ctx))
                .collect()
        };
        let mut progress = StderrProgress::new();
        let f = run_recorded(r.input.as_ref(), workers, &make, &mut progress)
            .map_err(|e| anyhow!("{e}"))?;
        let kind = r.input_spec.kind;
        report_run(kind, &f);
        match kind {
            InputKind::Pcap => {
                tables.push((r.plan.input.tap.clone(), String::new(), f.tcp_table.clone()));
                for p in &f.pipelines {
                    for h in &p.handlers {
                        for t in h.processor.tables() {
                            tables.push((p.policy.clone(), h.name.clone(), t));
                        }
                    }
                }
            }
            InputKind::Flow => tables.extend(report_flow(&r.plan.input.tap, &f)),
            InputKind::Dnstap | InputKind::Netprobe => {}
        }
        finished.extend(f.pipelines);
    }
    // Output in policy order.
    let pos = |p: &PolicyPipeline| plans.iter().position(|x| x.plan.name == p.policy);
    finished.sort_by_key(|p| pos(p));
    let sel = if args.periods <= 1 {
        Select::Bucket(0)
    } else {
        Select::Window(usize::try_from(args.periods).unwrap_or(usize::MAX))
    };
    report_tables(&tables);
    let now = Timespec::now();
    if let Some(endpoint) = &args.otlp {
        push_otlp(args, endpoint, &finished, now)?;
    }
    match (args.config.is_some(), args.format) {
        (false, Format::Json) => {
            let p = finished.first().ok_or_else(|| anyhow!("no pipeline"))?;
            let mut inner = Map::new();
            for h in &p.handlers {
                let snap = h.processor.snapshot(sel, now).map_err(|e| anyhow!("{e}"))?;
                json::write_snapshot(snap.as_ref(), &mut inner);
            }
            let key = format!("{}m", args.periods.max(1));
            let mut out = Map::new();
            out.insert(key, Value::Object(inner));
            Ok(json::to_string(&Value::Object(out)))
        }
        (true, Format::Json) => {
            let mut out = Map::new();
            for p in &finished {
                match p.window_json(sel, now) {
                    Ok(v) => {
                        out.insert(p.policy.clone(), v);
                    }
                    Err(e) => tracing::warn!("policy {}: {e}", p.policy),
                }
            }
            Ok(json::to_string(&Value::Object(out)))
        }
        (false, Format::Prometheus) => {
            let mut w = PromWriter::new(None);
            if let Some(p) = finished.first() {
                for h in &p.handlers {
                    let snap = h.processor.snapshot(sel, now).map_err(|e| anyhow!("{e}"))?;
                    w.write_snapshot(snap.as_ref(), &[]);
                }
            }
            write_tables(&mut w, &tables);
            Ok(w.finish())
        }
        (true, Format::Prometheus) => {
            let mut w = PromWriter::new(None);
            for p in &finished {
                if let Err(e) = p.write_prometheus(&mut w, sel, now) {
                    tracing::warn!("policy {}: {e}", p.policy);
                }
            }
            write_tables(&mut w, &tables);
            Ok(w.finish())
        }
    }
}

/// Pushes every handler's buckets (the live one included) once, then waits for delivery.
fn push_otlp(
    args: &Args,
    endpoint: &str,
    pipelines: &[PolicyPipeline],
    now: Timespec,
) -> Result<()> {
    let env = |k: &str| -> Option<String> {
        if !endpoint.is_empty() {
            if k == "OTEL_EXPORTER_OTLP_ENDPOINT" {
                return Some(endpoint.to_string());
            }
            if k == "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" {
                return None;
            }
        }
        std::env::var(k).ok()
    };
    let mut cfg = OtlpConfig::resolve(None, &env, &LegacyOtelFlags::default())?;
    if !cfg.enabled {
        bail!("--otlp needs an endpoint (a value or OTEL_EXPORTER_OTLP_ENDPOINT)");
    }
    cfg.max_elapsed = std::time::Duration::from_secs(args.otlp_retry_secs);
    cfg.max_backoff = cfg
        .max_backoff
        .min(cfg.max_elapsed.max(std::time::Duration::from_secs(1)));
    let resource = ResourceAttrs::detect(&env, &cfg.resource_attributes);
    let mut encoder = OtlpEncoder::new(cfg.encode.clone(), resource.to_proto());
    let mut readings = Vec::new();
    for p in pipelines {
        for h in &p.handlers {
            readings.push(HandlerReading::from_processor(
                &p.policy,
                &p.tap,
                &h.name,
                h.processor.as_ref(),
                now,
            ));
        }
    }
    let t0 = std::time::Instant::now();
    let Some(batch) = encoder.encode(readings, true) else {
        tracing::info!("OTLP: nothing to push");
        return Ok(());
    };
    let points = batch.data_points;
    tracing::info!(
        "OTLP: encoded {points} data points ({} bytes) in {:.3} ms",
        prost::Message::encoded_len(&batch.request),
        t0.elapsed().as_secs_f64() * 1e3
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the OTLP runtime")?;
    let deadline = cfg.max_elapsed + cfg.timeout;
    let stats = rt.block_on(async {
        let handle = OtlpExporter::start(&cfg)?;
        handle.submit(batch);
        Ok::<_, anyhow::Error>(handle.shutdown(deadline).await)
    })?;
    if stats.points_sent + stats.points_rejected < points {
        bail!(
            "OTLP push to {} failed: {} of {points} data points not delivered ({})",
            cfg.endpoint,
            points - stats.points_sent - stats.points_rejected,
            stats.last_error.unwrap_or_else(|| "no answer".into())
        );
    }
    if stats.points_rejected > 0 {
        tracing::warn!(
            "OTLP: the receiver rejected {} of {points} data points",
            stats.points_rejected
        );
    }
    tracing::info!(
        "OTLP: pushed {} data points to {} ({})",
        stats.points_sent,
        cfg.endpoint,
        cfg.describe()
    );
    Ok(())
}

fn main() -> ExitCode {
    // pktvisor prints its own version string ("pktvisor 4.5.0"), also without FILE.
    if std::env::args().skip(1).any(|a| a == "--version") {
        println!("{}", pktvisor::VISOR_VERSION);
        return ExitCode::SUCCESS;
    }
    let args = Args::parse();
    let filter = match pktvisor::ops::logging::env_filter(args.verbose) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .init();
    match run(&args) {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            let end = if text.ends_with('\n') { "" } else { "\n" };
            if write!(out, "{text}{end}")
                .and_then(|_| out.flush())
                .is_err()
            {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
